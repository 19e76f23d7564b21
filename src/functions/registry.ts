/**
 * The function registry: functions, their `$LATEST` and published versions, and aliases, per
 * (account, region), in SQLite, with code in the content-addressed {@link CodeStore}.
 *
 * Every write is one SQLite transaction, so a failure never half-writes. Code is stored BEFORE
 * the transaction (extraction is slow and async); if the transaction then fails, the code is
 * unreferenced and removed again (and {@link FunctionRegistry.collectGarbage} catches anything
 * a crash left behind).
 *
 * The request's shape, types, ranges and list lengths are validated once, at the frontend
 * (`frontend/lambda-requests.ts`), and trusted here; the registry checks what needs its state or
 * lambkin's semantics (runtime, VpcConfig ids, environment keys, revisions, references).
 */
import { createHash, randomUUID } from 'node:crypto';
import { awsError, constraintMessage } from '../errors/catalogue.js';
import { applyMigrations, statementCache, type Database, type Migration, type StatementCache } from '../store/database.js';
import { decodePageToken, encodePageToken } from '../store/page-token.js';
import { realClock, type Clock } from '../util/clock.js';
import type { CodeStore, StoredCode } from './code-store.js';
import { aliasArn, checkAliasName, checkVersion, functionArn, qualifierKind, type Caller, type FunctionRef } from './names.js';
import { assertRunnableRuntime } from './runtimes.js';

/** The registry's tables. Append new migrations; never edit an applied one. */
export const functionsMigrations: readonly Migration[] = [
  {
    id: 'functions-001',
    sql: `
CREATE TABLE functions (
  account TEXT NOT NULL,
  region TEXT NOT NULL,
  name TEXT NOT NULL,
  last_version INTEGER NOT NULL DEFAULT 0,
  created_at TEXT NOT NULL,
  PRIMARY KEY (account, region, name)
) STRICT;

CREATE TABLE function_versions (
  account TEXT NOT NULL,
  region TEXT NOT NULL,
  name TEXT NOT NULL,
  version TEXT NOT NULL,
  version_num INTEGER NOT NULL,
  runtime TEXT NOT NULL,
  role TEXT NOT NULL,
  handler TEXT,
  description TEXT NOT NULL,
  timeout INTEGER NOT NULL,
  memory_size INTEGER NOT NULL,
  ephemeral_storage INTEGER NOT NULL,
  architectures TEXT NOT NULL,
  package_type TEXT NOT NULL,
  environment TEXT,
  vpc_config TEXT,
  tracing_mode TEXT NOT NULL,
  code_sha256 TEXT NOT NULL,
  code_size INTEGER NOT NULL,
  last_modified TEXT NOT NULL,
  revision_id TEXT NOT NULL,
  config_id TEXT NOT NULL,
  state TEXT NOT NULL,
  state_reason TEXT,
  state_reason_code TEXT,
  last_update_status TEXT NOT NULL,
  published_as TEXT,
  PRIMARY KEY (account, region, name, version),
  FOREIGN KEY (account, region, name) REFERENCES functions (account, region, name) ON DELETE CASCADE
) STRICT;
CREATE INDEX function_versions_code ON function_versions (code_sha256);

CREATE TABLE aliases (
  account TEXT NOT NULL,
  region TEXT NOT NULL,
  name TEXT NOT NULL,
  alias TEXT NOT NULL,
  function_version TEXT NOT NULL,
  description TEXT NOT NULL,
  revision_id TEXT NOT NULL,
  PRIMARY KEY (account, region, name, alias),
  FOREIGN KEY (account, region, name) REFERENCES functions (account, region, name) ON DELETE CASCADE,
  FOREIGN KEY (account, region, name, function_version) REFERENCES function_versions (account, region, name, version)
) STRICT;

CREATE TABLE alias_routes (
  account TEXT NOT NULL,
  region TEXT NOT NULL,
  name TEXT NOT NULL,
  alias TEXT NOT NULL,
  version TEXT NOT NULL,
  weight REAL NOT NULL,
  PRIMARY KEY (account, region, name, alias, version),
  FOREIGN KEY (account, region, name, alias) REFERENCES aliases (account, region, name, alias) ON DELETE CASCADE,
  FOREIGN KEY (account, region, name, version) REFERENCES function_versions (account, region, name, version)
) STRICT;
`,
  },
  {
    // LastUpdateStatusReason / ReasonCode, and the configuration invocations still run while an
    // update is not complete (hyperplane VPC changes: LastUpdateStatus InProgress until the ENI exists).
    id: 'functions-002',
    sql: `
ALTER TABLE function_versions ADD COLUMN last_update_status_reason TEXT;
ALTER TABLE function_versions ADD COLUMN last_update_status_reason_code TEXT;
ALTER TABLE function_versions ADD COLUMN previous_config TEXT;
`,
  },
];

/** Lambda's function State. */
export type FunctionState = 'Pending' | 'Active' | 'Inactive' | 'Failed';
/** TracingConfig Mode. */
export type TracingMode = 'Active' | 'PassThrough';

/** A function's VpcConfig as stored and shown. */
export interface VpcConfig {
  readonly subnetIds: readonly string[];
  readonly securityGroupIds: readonly string[];
  /** A stable fake id derived from the subnets (there is no EC2 to ask). */
  readonly vpcId: string;
}

/** VpcConfig as a request gives it; both lists empty (or absent) means "no VPC". */
export interface VpcConfigInput {
  readonly subnetIds?: readonly string[];
  readonly securityGroupIds?: readonly string[];
}

/** One version of a function (`$LATEST` or published), with everything FunctionConfiguration shows. */
export interface FunctionVersion {
  readonly account: string;
  readonly region: string;
  readonly functionName: string;
  /** As AWS returns it: unqualified for `$LATEST`, `...:function:f:3` for version 3. */
  readonly functionArn: string;
  /** Always qualified (`...:function:f:$LATEST` for `$LATEST`). */
  readonly qualifiedArn: string;
  readonly version: string;
  readonly runtime: string;
  readonly role: string;
  readonly handler?: string;
  readonly description: string;
  readonly timeout: number;
  readonly memorySize: number;
  readonly ephemeralStorageMb: number;
  readonly architectures: readonly string[];
  readonly packageType: 'Zip';
  readonly environment?: Readonly<Record<string, string>>;
  readonly vpcConfig?: VpcConfig;
  readonly tracingMode: TracingMode;
  readonly codeSha256: string;
  readonly codeSize: number;
  /** The extracted code (LAMBDA_TASK_ROOT). */
  readonly codeDir: string;
  /** AWS format: `2019-07-31T06:40:18.123+0000`. */
  readonly lastModified: string;
  readonly revisionId: string;
  readonly state: FunctionState;
  readonly stateReason?: string;
  readonly stateReasonCode?: string;
  readonly lastUpdateStatus: UpdateStatus;
  readonly lastUpdateStatusReason?: string;
  readonly lastUpdateStatusReasonCode?: string;
  /**
   * Changes whenever the code or configuration of this version changes (not on state changes):
   * a sandbox made for one key must not serve another.
   */
  readonly versionKey: string;
}

/**
 * What CreateFunction gives; absent members take Lambda's defaults. The frontend has validated
 * the request's shape, types and ranges: a plain function name, at most one architecture, list
 * lengths within AWS's limits.
 */
export interface CreateFunctionInput {
  readonly functionName: string;
  readonly runtime: string;
  readonly role: string;
  readonly handler?: string;
  readonly code: Buffer;
  readonly description?: string;
  readonly memorySize?: number;
  readonly timeout?: number;
  readonly environment?: Readonly<Record<string, string>>;
  readonly vpcConfig?: VpcConfigInput;
  readonly tracingMode?: TracingMode;
  readonly ephemeralStorageMb?: number;
  readonly architectures?: readonly string[];
  readonly publish?: boolean;
}

/** What UpdateFunctionConfiguration may change. `environment: {}` / `null` removes all variables. */
export interface ConfigPatch {
  readonly runtime?: string;
  readonly role?: string;
  readonly handler?: string;
  readonly description?: string;
  readonly memorySize?: number;
  readonly timeout?: number;
  readonly environment?: Readonly<Record<string, string>> | null;
  readonly vpcConfig?: VpcConfigInput | null;
  readonly tracingMode?: TracingMode;
  readonly ephemeralStorageMb?: number;
}

/** What UpdateFunctionCode gives; `architectures: []` means the default (x86_64). */
export interface UpdateCodeInput {
  readonly code: Buffer;
  readonly publish?: boolean;
  readonly revisionId?: string;
  readonly architectures?: readonly string[];
}

/** What PublishVersion gives; `codeSha256` and `revisionId` guard against publishing something else. */
export interface PublishInput {
  readonly description?: string;
  readonly codeSha256?: string;
  readonly revisionId?: string;
}

/** An alias with its routing. */
export interface Alias {
  readonly account: string;
  readonly region: string;
  readonly functionName: string;
  readonly aliasArn: string;
  readonly name: string;
  readonly functionVersion: string;
  readonly description: string;
  /** Version -> weight (0..1) of traffic shifted away from `functionVersion`. */
  readonly additionalVersionWeights: Readonly<Record<string, number>>;
  readonly revisionId: string;
}

/** What CreateAlias gives. */
export interface AliasInput {
  readonly name: string;
  readonly functionVersion: string;
  readonly description?: string;
  readonly additionalVersionWeights?: Readonly<Record<string, number>>;
}

/** What UpdateAlias may change. */
export interface AliasPatch {
  readonly functionVersion?: string;
  readonly description?: string;
  /** `{}` removes the routing. */
  readonly additionalVersionWeights?: Readonly<Record<string, number>>;
  readonly revisionId?: string;
}

/** What {@link FunctionRegistry.resolve} answers for an Invoke. */
export interface Resolved {
  readonly version: FunctionVersion;
  /** The version that runs (AWS's `X-Amz-Executed-Version`). */
  readonly executedVersion: string;
  /** The alias the reference named, if any. */
  readonly alias?: string;
}

/** A committed change, as {@link FunctionRegistry.onChange} listeners receive it. */
export interface ChangeEvent {
  /**
   * `state`: only State/StateReason or LastUpdateStatus changed (code and config did not). When an
   * update completes, invocations switch from the previous configuration to the current one.
   */
  readonly kind: 'created' | 'updated' | 'deleted' | 'state';
  readonly caller: Caller;
  readonly name: string;
  readonly version: string;
}

/** State with its reason fields. */
export interface StateInfo {
  readonly state: FunctionState;
  readonly reason?: string;
  readonly reasonCode?: string;
}

/** LastUpdateStatus. */
export type UpdateStatus = 'Successful' | 'Failed' | 'InProgress';

/** LastUpdateStatus with its reason fields. */
export interface UpdateStatusInfo {
  readonly status: UpdateStatus;
  readonly reason?: string;
  readonly reasonCode?: string;
}

/**
 * What `initialState` answers: the State, and for an update optionally a LastUpdateStatus. An
 * update answered with `InProgress` keeps the previous configuration runnable (see
 * {@link FunctionRegistry.previousConfiguration}) until {@link FunctionRegistry.setLastUpdateStatus}
 * reports `Successful`.
 */
export interface InitialState extends StateInfo {
  readonly lastUpdate?: UpdateStatusInfo;
}

/** What a {@link FunctionRegistry} is built from; the sources of time and randomness are injectable for tests. */
export interface RegistryOptions {
  readonly db: Database;
  readonly code: CodeStore;
  /** Time for LastModified (default: the real clock). */
  readonly clock?: Clock;
  /** [0, 1) source for alias traffic shifting (default Math.random). */
  readonly random?: () => number;
  /** RevisionId source (default crypto.randomUUID). */
  readonly uuid?: () => string;
  /**
   * The State a new or reconfigured `$LATEST` starts in (default Active, LastUpdateStatus
   * Successful). The VPC layer in hyperplane mode answers Pending for new functions with a
   * VpcConfig, and Active + LastUpdateStatus InProgress when an Active function's VpcConfig changes
   * (`from` is the State before that update), then calls setState / setLastUpdateStatus later.
   */
  readonly initialState?: (v: { readonly vpcConfig?: VpcConfig; readonly reason: 'create' | 'update'; readonly from?: FunctionState }) => InitialState;
  /** Receives exceptions thrown by onChange listeners (default: console.error). */
  readonly onListenerError?: (e: unknown) => void;
}

const LATEST = '$LATEST';
const DEFAULT_TIMEOUT = 3;
const DEFAULT_MEMORY = 128;
const DEFAULT_EPHEMERAL = 512;
const DEFAULT_LIST_ITEMS = 50;
const MAX_ENV_BYTES = 4096;
const SUBNET_RE = /^subnet-[0-9a-f]{8}(?:[0-9a-f]{9})?$/;
const SG_RE = /^sg-[0-9a-f]{8}(?:[0-9a-f]{9})?$/;
const ENV_KEY_RE = /^[a-zA-Z][a-zA-Z0-9_]+$/;
/** Variables Lambda sets itself; AWS refuses them in Environment. */
export const RESERVED_ENV_KEYS: readonly string[] = [
  '_HANDLER',
  '_X_AMZN_TRACE_ID',
  'AWS_DEFAULT_REGION',
  'AWS_REGION',
  'AWS_EXECUTION_ENV',
  'AWS_LAMBDA_FUNCTION_NAME',
  'AWS_LAMBDA_FUNCTION_MEMORY_SIZE',
  'AWS_LAMBDA_FUNCTION_VERSION',
  'AWS_LAMBDA_INITIALIZATION_TYPE',
  'AWS_LAMBDA_LOG_GROUP_NAME',
  'AWS_LAMBDA_LOG_STREAM_NAME',
  'AWS_ACCESS_KEY',
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'AWS_LAMBDA_RUNTIME_API',
  'LAMBDA_TASK_ROOT',
  'LAMBDA_RUNTIME_DIR',
];

interface VersionRow {
  account: string;
  region: string;
  name: string;
  version: string;
  version_num: number;
  runtime: string;
  role: string;
  handler: string | null;
  description: string;
  timeout: number;
  memory_size: number;
  ephemeral_storage: number;
  architectures: string;
  package_type: string;
  environment: string | null;
  vpc_config: string | null;
  tracing_mode: string;
  code_sha256: string;
  code_size: number;
  last_modified: string;
  revision_id: string;
  config_id: string;
  state: string;
  state_reason: string | null;
  state_reason_code: string | null;
  last_update_status: string;
  last_update_status_reason: string | null;
  last_update_status_reason_code: string | null;
  /** JSON of the {@link PREVIOUS_COLUMNS} invocations still run while an update is not complete. */
  previous_config: string | null;
  published_as: string | null;
}

/** The columns of the configuration that runs (kept as `previous_config` while an update is in progress). */
const PREVIOUS_COLUMNS = [
  'runtime', 'role', 'handler', 'description', 'timeout', 'memory_size', 'ephemeral_storage', 'architectures',
  'environment', 'vpc_config', 'tracing_mode', 'code_sha256', 'code_size', 'last_modified', 'revision_id', 'config_id',
] as const satisfies readonly (keyof VersionRow)[];

interface AliasRow {
  account: string;
  region: string;
  name: string;
  alias: string;
  function_version: string;
  description: string;
  revision_id: string;
}

/** AWS's LastModified format: `2019-07-31T06:40:18.123+0000`. */
export function formatLastModified(d: Date): string {
  return d.toISOString().replace('Z', '+0000');
}

/** The stable fake VpcId for a set of subnets. */
export function vpcIdFor(subnetIds: readonly string[]): string {
  const h = createHash('sha256').update([...subnetIds].sort().join(',')).digest('hex');
  return `vpc-${h.slice(0, 17)}`;
}

/** The function registry (see the file comment). */
export class FunctionRegistry {
  private readonly db: Database;
  private readonly code: CodeStore;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly uuid: () => string;
  private readonly initialState: NonNullable<RegistryOptions['initialState']>;
  private readonly onListenerError: (e: unknown) => void;
  private readonly listeners = new Set<(e: ChangeEvent) => void>();
  private pendingGc: Promise<unknown> = Promise.resolve();
  /** Prepared statements by SQL text (Invoke resolves on every call). */
  private readonly sql: StatementCache;

  constructor(options: RegistryOptions) {
    this.db = options.db;
    this.code = options.code;
    this.clock = options.clock ?? realClock;
    this.random = options.random ?? Math.random;
    this.uuid = options.uuid ?? randomUUID;
    this.initialState = options.initialState ?? (() => ({ state: 'Active' }));
    this.onListenerError = options.onListenerError ?? ((e) => console.error('lambkin: a function registry listener failed:', e));
    applyMigrations(this.db, functionsMigrations);
    this.sql = statementCache(this.db);
  }

  // ---------------------------------------------------------------- functions

  /** CreateFunction. Code is stored first, then one transaction writes `$LATEST` (and version 1 if `publish`). */
  async create(caller: Caller, input: CreateFunctionInput): Promise<FunctionVersion> {
    const name = input.functionName;
    assertRunnableRuntime(input.runtime);
    const vpc = normalizeVpc(input.vpcConfig);
    const env = normalizeEnv(input.environment);
    const architectures = architecturesOrDefault(input.architectures);
    // Fail fast before extracting anything; checked again inside the transaction.
    if (this.functionRow(caller, name)) throw awsError('functionExists', { name });

    const created = await this.writeWithCode(input.code, 'CreateFunction', (stored) => {
      if (this.functionRow(caller, name)) throw awsError('functionExists', { name });
      const now = this.now();
      this.sql('INSERT INTO functions (account, region, name, last_version, created_at) VALUES (?, ?, ?, 0, ?)').run(caller.account, caller.region, name, now.toISOString());
      const st = this.initialState({ reason: 'create', ...(vpc ? { vpcConfig: vpc } : {}) });
      const row: VersionRow = {
        account: caller.account,
        region: caller.region,
        name,
        version: LATEST,
        version_num: 0,
        runtime: input.runtime,
        role: input.role,
        handler: input.handler ?? null,
        description: input.description ?? '',
        timeout: input.timeout ?? DEFAULT_TIMEOUT,
        memory_size: input.memorySize ?? DEFAULT_MEMORY,
        ephemeral_storage: input.ephemeralStorageMb ?? DEFAULT_EPHEMERAL,
        architectures: JSON.stringify(architectures),
        package_type: 'Zip',
        environment: env ? JSON.stringify(env) : null,
        vpc_config: vpcJson(vpc),
        tracing_mode: input.tracingMode ?? 'PassThrough',
        code_sha256: stored.sha256,
        code_size: stored.size,
        ...this.newRevision(now),
        state: st.state,
        state_reason: st.reason ?? null,
        state_reason_code: st.reasonCode ?? null,
      };
      this.insertVersion(row);
      const out = [this.toVersion(row)];
      if (input.publish) out.push(this.publishLocked(caller, name, undefined));
      return out;
    });
    for (const v of created) this.emit({ kind: 'created', caller, name, version: v.version });
    // CreateFunction answers with the published version's config when Publish is set.
    return created[created.length - 1] as FunctionVersion;
  }

  /** GetFunction / GetFunctionConfiguration: the version a reference names (an alias resolves to its primary version). */
  get(caller: Caller, ref: FunctionRef): FunctionVersion {
    const q = ref.qualifier ?? LATEST;
    const kind = qualifierKind(q);
    if (kind !== 'alias') return this.requireVersion(caller, ref.name, q, ref.qualifier !== undefined);
    const alias = this.requireAliasForFunction(caller, ref.name, q, 'function');
    return this.requireVersion(caller, ref.name, alias.function_version, true);
  }

  /**
   * For Invoke: the version to run, honouring an alias's weighted routing. While an update of
   * `$LATEST` is not complete (LastUpdateStatus InProgress, or Failed), this is the previous
   * configuration (its versionKey, VpcConfig, ...) with the current State, as on Lambda.
   */
  resolve(caller: Caller, ref: FunctionRef): Resolved {
    const q = ref.qualifier ?? LATEST;
    if (qualifierKind(q) !== 'alias') {
      const version = this.requireVersion(caller, ref.name, q, ref.qualifier !== undefined, true);
      return { version, executedVersion: version.version };
    }
    const alias = this.requireAliasForFunction(caller, ref.name, q, 'function');
    const routes = this.routesOf(caller, ref.name, q);
    let chosen = alias.function_version;
    const entries = Object.entries(routes);
    if (entries.length > 0) {
      const r = this.random();
      let acc = 0;
      for (const [v, w] of entries) {
        acc += w;
        if (r < acc) {
          chosen = v;
          break;
        }
      }
    }
    const version = this.requireVersion(caller, ref.name, chosen, true, true);
    return { version, executedVersion: version.version, alias: q };
  }

  /**
   * ListFunctions: `$LATEST` of each function (or every version with `allVersions`), by name.
   */
  list(caller: Caller, opts: { marker?: string; maxItems?: number; allVersions?: boolean } = {}): { functions: FunctionVersion[]; nextMarker?: string } {
    const limit = opts.maxItems ?? DEFAULT_LIST_ITEMS;
    const after = opts.marker === undefined ? undefined : decodeMarker(opts.marker);
    const rows = this
      .sql(
        `SELECT * FROM function_versions WHERE account = ? AND region = ?
           ${opts.allVersions ? '' : 'AND version_num = 0'}
           ${after ? 'AND (name > ? OR (name = ? AND version_num > ?))' : ''}
         ORDER BY name, version_num LIMIT ?`,
      )
      .all(caller.account, caller.region, ...(after ? [after.name, after.name, after.num] : []), limit + 1) as VersionRow[];
    const page = rows.slice(0, limit).map((r) => this.toVersion(r));
    const last = rows[limit - 1];
    return rows.length > limit && last ? { functions: page, nextMarker: encodeMarker(last.name, last.version_num) } : { functions: page };
  }

  /** UpdateFunctionCode. */
  async updateCode(caller: Caller, name: string, input: UpdateCodeInput): Promise<FunctionVersion> {
    const architectures = input.architectures === undefined ? undefined : architecturesOrDefault(input.architectures);
    this.checkUpdatable(caller, name, input.revisionId);
    const changed = await this.writeWithCode(input.code, 'UpdateFunctionCode', (stored) => {
      const latest = this.checkUpdatable(caller, name, input.revisionId);
      const row: VersionRow = {
        ...latest,
        code_sha256: stored.sha256,
        code_size: stored.size,
        architectures: architectures ? JSON.stringify(architectures) : latest.architectures,
        // New code replaces whatever ran, also the previous configuration of a failed update.
        ...this.newRevision(this.now()),
      };
      this.updateLatest(row);
      const out = [this.toVersion(row)];
      if (input.publish) out.push(this.publishLocked(caller, name, undefined));
      return out;
    });
    this.emit({ kind: 'updated', caller, name, version: LATEST });
    if (changed.length > 1) this.emit({ kind: 'created', caller, name, version: (changed[1] as FunctionVersion).version });
    return changed[changed.length - 1] as FunctionVersion;
  }

  /** UpdateFunctionConfiguration. */
  updateConfiguration(caller: Caller, name: string, patch: ConfigPatch, revisionId?: string): FunctionVersion {
    if (patch.runtime !== undefined) assertRunnableRuntime(patch.runtime);
    const vpc = patch.vpcConfig === undefined ? undefined : normalizeVpc(patch.vpcConfig ?? undefined) ?? null;
    const env = patch.environment === undefined ? undefined : normalizeEnv(patch.environment ?? undefined) ?? null;
    const updated = this.db.transaction(() => {
      const latest = this.checkUpdatable(caller, name, revisionId);
      const row: VersionRow = {
        ...latest,
        runtime: patch.runtime ?? latest.runtime,
        role: patch.role ?? latest.role,
        handler: patch.handler ?? latest.handler,
        description: patch.description ?? latest.description,
        memory_size: patch.memorySize ?? latest.memory_size,
        timeout: patch.timeout ?? latest.timeout,
        ephemeral_storage: patch.ephemeralStorageMb ?? latest.ephemeral_storage,
        tracing_mode: patch.tracingMode ?? latest.tracing_mode,
        environment: env === undefined ? latest.environment : env === null ? null : JSON.stringify(env),
        vpc_config: vpc === undefined ? latest.vpc_config : vpcJson(vpc ?? undefined),
        ...this.newRevision(this.now()),
      };
      if (vpc !== undefined && row.vpc_config !== latest.vpc_config) {
        // A new VpcConfig may need new network attachments (hyperplane mode: InProgress until ready).
        const st = this.initialState({ reason: 'update', from: latest.state as FunctionState, ...(vpc ? { vpcConfig: vpc } : {}) });
        row.state = st.state;
        row.state_reason = st.reason ?? null;
        row.state_reason_code = st.reasonCode ?? null;
        if (st.lastUpdate !== undefined) {
          row.last_update_status = st.lastUpdate.status;
          row.last_update_status_reason = st.lastUpdate.reason ?? null;
          row.last_update_status_reason_code = st.lastUpdate.reasonCode ?? null;
          // Invocations keep running what ran before: after a failed update that is still its previous configuration.
          if (st.lastUpdate.status !== 'Successful') row.previous_config = latest.previous_config ?? previousConfigOf(latest);
        }
      }
      this.updateLatest(row);
      return this.toVersion(row);
    })();
    this.emit({ kind: 'updated', caller, name, version: LATEST });
    return updated;
  }

  /**
   * DeleteFunction: the whole function (versions, aliases) without a qualifier, or one
   * published version. Code no longer referenced is removed in the background
   * (await {@link collectGarbage} or {@link close} to wait for it).
   */
  delete(caller: Caller, ref: FunctionRef): void {
    const shas: string[] = [];
    const removed = this.db.transaction(() => {
      const fn = this.functionRow(caller, ref.name);
      if (!fn) throw awsError('functionNotFound', { arn: functionArn(caller.region, caller.account, ref.name) });
      if (ref.qualifier === undefined) {
        const versions = this.versionRows(caller, ref.name);
        this.sql('DELETE FROM functions WHERE account = ? AND region = ? AND name = ?').run(caller.account, caller.region, ref.name);
        for (const v of versions) shas.push(v.code_sha256);
        return versions.map((v) => v.version);
      }
      const kind = qualifierKind(ref.qualifier);
      if (kind === 'latest') {
        throw awsError('invalidParameter', { what: '$LATEST version cannot be deleted without deleting the function.' });
      }
      if (kind === 'alias') {
        throw awsError('invalidParameter', {
          what: `Qualifier '${ref.qualifier}' is an alias; DeleteFunction deletes versions only. Use DeleteAlias to delete an alias.`,
        });
      }
      const row = this.versionRow(caller, ref.name, ref.qualifier);
      if (!row) throw awsError('functionNotFound', { arn: functionArn(caller.region, caller.account, ref.name, ref.qualifier) });
      const users = this
        .sql(
          `SELECT alias FROM aliases WHERE account = ? AND region = ? AND name = ? AND function_version = ?
           UNION SELECT alias FROM alias_routes WHERE account = ? AND region = ? AND name = ? AND version = ?
           ORDER BY alias`,
        )
        .all(caller.account, caller.region, ref.name, ref.qualifier, caller.account, caller.region, ref.name, ref.qualifier) as { alias: string }[];
      if (users.length > 0) {
        throw awsError('conflict', {
          what: `Unable to delete version because the following aliases reference it: [${users.map((u) => u.alias).join(', ')}]`,
        });
      }
      this
        .sql('DELETE FROM function_versions WHERE account = ? AND region = ? AND name = ? AND version = ?')
        .run(caller.account, caller.region, ref.name, ref.qualifier);
      // A $LATEST that was "published as" this version may be published again.
      this
        .sql(`UPDATE function_versions SET published_as = NULL WHERE account = ? AND region = ? AND name = ? AND version = ? AND published_as = ?`)
        .run(caller.account, caller.region, ref.name, LATEST, ref.qualifier);
      shas.push(row.code_sha256);
      return [ref.qualifier];
    })();
    for (const version of removed) this.emit({ kind: 'deleted', caller, name: ref.name, version });
    this.scheduleGc(shas);
  }

  /**
   * PublishVersion. Returns the existing version if `$LATEST` has not changed since it was
   * last published (as AWS does).
   */
  publishVersion(caller: Caller, name: string, input: PublishInput = {}): FunctionVersion {
    let isNew = false;
    const v = this.db.transaction(() => {
      const latest = this.checkUpdatable(caller, name, input.revisionId);
      if (input.codeSha256 !== undefined && input.codeSha256 !== latest.code_sha256) {
        throw awsError('invalidParameter', {
          what: `CodeSHA256 (${input.codeSha256}) is different from current CodeSHA256 in $LATEST (${latest.code_sha256}). Please try again with the current CodeSHA256.`,
        });
      }
      if (latest.published_as !== null) {
        const existing = this.versionRow(caller, name, latest.published_as);
        if (existing) return this.toVersion(existing);
      }
      isNew = true;
      return this.publishLocked(caller, name, input.description);
    })();
    if (isNew) this.emit({ kind: 'created', caller, name, version: v.version });
    return v;
  }

  /** ListVersionsByFunction: `$LATEST` first, then published versions in order. */
  listVersions(caller: Caller, name: string, marker?: string, maxItems?: number): { versions: FunctionVersion[]; nextMarker?: string } {
    const limit = maxItems ?? DEFAULT_LIST_ITEMS;
    if (!this.functionRow(caller, name)) throw awsError('functionNotFound', { arn: functionArn(caller.region, caller.account, name) });
    const after = marker === undefined ? undefined : decodeMarker(marker);
    if (after && after.name !== name) throw badMarker();
    const rows = this
      .sql(
        `SELECT * FROM function_versions WHERE account = ? AND region = ? AND name = ? AND version_num > ?
         ORDER BY version_num LIMIT ?`,
      )
      .all(caller.account, caller.region, name, after ? after.num : -1, limit + 1) as VersionRow[];
    const page = rows.slice(0, limit).map((r) => this.toVersion(r));
    const last = rows[limit - 1];
    return rows.length > limit && last ? { versions: page, nextMarker: encodeMarker(name, last.version_num) } : { versions: page };
  }

  /** Sets the State of a version (the VPC layer: Pending -> Active / Failed). */
  setState(caller: Caller, name: string, version: string, state: FunctionState, reason?: string, reasonCode?: string): FunctionVersion {
    const v = this.db.transaction(() => {
      const row = this.versionRow(caller, name, version);
      if (!row) throw awsError('functionNotFound', { arn: functionArn(caller.region, caller.account, name, version) });
      const next: VersionRow = { ...row, state, state_reason: reason ?? null, state_reason_code: reasonCode ?? null };
      this
        .sql(
          `UPDATE function_versions SET state = ?, state_reason = ?, state_reason_code = ?
           WHERE account = ? AND region = ? AND name = ? AND version = ?`,
        )
        .run(state, next.state_reason, next.state_reason_code, caller.account, caller.region, name, version);
      return this.toVersion(next);
    })();
    this.emit({ kind: 'state', caller, name, version });
    return v;
  }

  /**
   * Sets LastUpdateStatus of a version (the VPC layer: InProgress -> Successful / Failed). Successful
   * drops the previous configuration, so invocations run the current one from now on; Failed keeps it
   * running, as Lambda does.
   */
  setLastUpdateStatus(caller: Caller, name: string, version: string, status: UpdateStatus, reason?: string, reasonCode?: string): FunctionVersion {
    const v = this.db.transaction(() => {
      const row = this.versionRow(caller, name, version);
      if (!row) throw awsError('functionNotFound', { arn: functionArn(caller.region, caller.account, name, version) });
      const next: VersionRow = {
        ...row,
        last_update_status: status,
        last_update_status_reason: reason ?? null,
        last_update_status_reason_code: reasonCode ?? null,
        previous_config: status === 'Successful' ? null : row.previous_config,
      };
      this
        .sql(
          `UPDATE function_versions SET last_update_status = ?, last_update_status_reason = ?, last_update_status_reason_code = ?,
             previous_config = ? WHERE account = ? AND region = ? AND name = ? AND version = ?`,
        )
        .run(status, next.last_update_status_reason, next.last_update_status_reason_code, next.previous_config, caller.account, caller.region, name, version);
      return this.toVersion(next);
    })();
    this.emit({ kind: 'state', caller, name, version });
    return v;
  }

  /**
   * The configuration invocations of a version still run while its last update is not complete
   * (LastUpdateStatus InProgress, or Failed), with the version's current State; undefined when
   * they run the version as it is.
   */
  previousConfiguration(v: FunctionVersion): FunctionVersion | undefined {
    const row = this.versionRow({ account: v.account, region: v.region }, v.functionName, v.version);
    return row && row.previous_config !== null ? this.toVersion(runnableRow(row)) : undefined;
  }

  /** Every `$LATEST` and published version of every account and region (start-up). */
  listAll(): FunctionVersion[] {
    return (this.sql('SELECT * FROM function_versions ORDER BY account, region, name, version_num').all() as VersionRow[]).map((r) =>
      this.toVersion(r),
    );
  }

  /** Subscribes to changes (after they are committed). Returns the unsubscribe function. */
  onChange(listener: (e: ChangeEvent) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  // ---------------------------------------------------------------- aliases

  /** CreateAlias. */
  createAlias(caller: Caller, functionName: string, input: AliasInput): Alias {
    checkAliasName(input.name);
    const weights = input.additionalVersionWeights ?? {};
    return this.db.transaction(() => {
      if (!this.functionRow(caller, functionName)) {
        throw awsError('functionNotFound', { arn: functionArn(caller.region, caller.account, functionName) });
      }
      if (this.aliasRow(caller, functionName, input.name)) {
        throw awsError('aliasExists', { arn: aliasArn(caller.region, caller.account, functionName, input.name) });
      }
      this.checkAliasTargets(caller, functionName, input.functionVersion, weights);
      const row: AliasRow = {
        account: caller.account,
        region: caller.region,
        name: functionName,
        alias: input.name,
        function_version: input.functionVersion,
        description: input.description ?? '',
        revision_id: this.uuid(),
      };
      this
        .sql(
          `INSERT INTO aliases (account, region, name, alias, function_version, description, revision_id)
           VALUES (@account, @region, @name, @alias, @function_version, @description, @revision_id)`,
        )
        .run(row);
      this.writeRoutes(caller, functionName, input.name, weights);
      return this.toAlias(row, weights);
    })();
  }

  /** GetAlias. */
  getAlias(caller: Caller, functionName: string, name: string): Alias {
    const row = this.requireAliasForFunction(caller, functionName, name, 'alias');
    return this.toAlias(row, this.routesOf(caller, functionName, name));
  }

  /** ListAliases (optionally only those whose primary or additional version is `functionVersion`). */
  listAliases(
    caller: Caller,
    functionName: string,
    opts: { functionVersion?: string; marker?: string; maxItems?: number } = {},
  ): { aliases: Alias[]; nextMarker?: string } {
    const limit = opts.maxItems ?? DEFAULT_LIST_ITEMS;
    if (!this.functionRow(caller, functionName)) {
      throw awsError('functionNotFound', { arn: functionArn(caller.region, caller.account, functionName) });
    }
    const after = opts.marker === undefined ? undefined : decodeAliasMarker(opts.marker);
    const params: unknown[] = [caller.account, caller.region, functionName];
    let filter = '';
    if (opts.functionVersion !== undefined) {
      filter = `AND (a.function_version = ? OR EXISTS (SELECT 1 FROM alias_routes r WHERE r.account = a.account AND r.region = a.region
                AND r.name = a.name AND r.alias = a.alias AND r.version = ?))`;
      params.push(opts.functionVersion, opts.functionVersion);
    }
    if (after !== undefined) {
      filter += ' AND a.alias > ?';
      params.push(after);
    }
    const rows = this
      .sql(`SELECT a.* FROM aliases a WHERE a.account = ? AND a.region = ? AND a.name = ? ${filter} ORDER BY a.alias LIMIT ?`)
      .all(...params, limit + 1) as AliasRow[];
    const page = rows.slice(0, limit).map((r) => this.toAlias(r, this.routesOf(caller, functionName, r.alias)));
    const last = rows[limit - 1];
    return rows.length > limit && last ? { aliases: page, nextMarker: encodeAliasMarker(last.alias) } : { aliases: page };
  }

  /** UpdateAlias. */
  updateAlias(caller: Caller, functionName: string, name: string, patch: AliasPatch): Alias {
    return this.db.transaction(() => {
      const row = this.requireAliasForFunction(caller, functionName, name, 'alias');
      if (patch.revisionId !== undefined && patch.revisionId !== row.revision_id) throw awsError('revisionMismatch', {});
      const weights = patch.additionalVersionWeights ?? this.routesOf(caller, functionName, name);
      const next: AliasRow = {
        ...row,
        function_version: patch.functionVersion ?? row.function_version,
        description: patch.description ?? row.description,
        revision_id: this.uuid(),
      };
      this.checkAliasTargets(caller, functionName, next.function_version, weights);
      this
        .sql(
          `UPDATE aliases SET function_version = @function_version, description = @description, revision_id = @revision_id
           WHERE account = @account AND region = @region AND name = @name AND alias = @alias`,
        )
        .run(next);
      this.writeRoutes(caller, functionName, name, weights);
      return this.toAlias(next, weights);
    })();
  }

  /** DeleteAlias. */
  deleteAlias(caller: Caller, functionName: string, name: string): void {
    this.db.transaction(() => {
      this.requireAliasForFunction(caller, functionName, name, 'alias');
      this
        .sql('DELETE FROM aliases WHERE account = ? AND region = ? AND name = ? AND alias = ?')
        .run(caller.account, caller.region, functionName, name);
    })();
  }

  // ---------------------------------------------------------------- code

  /** The code shas any version references. */
  referencedCode(): Set<string> {
    // The previous configuration of an incomplete update still runs, so its code stays too.
    const rows = this
      .sql(
        `SELECT code_sha256 AS sha FROM function_versions
         UNION SELECT json_extract(previous_config, '$.code_sha256') FROM function_versions WHERE previous_config IS NOT NULL`,
      )
      .all() as { sha: string | null }[];
    return new Set(rows.flatMap((r) => (r.sha === null ? [] : [r.sha])));
  }

  /** Removes code no version references (and leftovers of interrupted uploads). Returns the removed shas. */
  async collectGarbage(): Promise<string[]> {
    await this.pendingGc;
    const run = this.code.collect(this.referencedCode());
    this.pendingGc = run.catch(() => undefined);
    return run;
  }

  /** Waits for background code removal. The database stays open (its owner closes it). */
  async close(): Promise<void> {
    await this.pendingGc;
    this.listeners.clear();
  }

  // ---------------------------------------------------------------- internals

  private now(): Date {
    return new Date(this.clock.now());
  }

  /**
   * Stores `zip`, then runs `write` with it in one transaction. Extraction is slow and async, so it
   * happens first; if the transaction then fails, the code is given up again.
   */
  private async writeWithCode<T>(zip: Buffer, operation: string, write: (stored: StoredCode) => T): Promise<T> {
    const stored = await this.code.put(zip, operation);
    let out: T;
    try {
      out = this.db.transaction(() => write(stored))();
    } catch (e) {
      this.discardCode(stored.sha256);
      throw e;
    }
    // Committed: the version row references the code now, so the pin is no longer needed.
    this.code.release(stored.sha256);
    return out;
  }

  /** The row fields every change of code or configuration renews; the change counts as a completed update. */
  private newRevision(now: Date) {
    return {
      last_modified: formatLastModified(now),
      revision_id: this.uuid(),
      config_id: this.uuid(),
      last_update_status: 'Successful',
      last_update_status_reason: null,
      last_update_status_reason_code: null,
      previous_config: null,
      published_as: null,
    } as const satisfies Partial<VersionRow>;
  }

  private emit(e: ChangeEvent): void {
    for (const l of [...this.listeners]) {
      try {
        l(e);
      } catch (err) {
        // The change is committed; a listener's failure must not turn it into an API error.
        this.onListenerError(err);
      }
    }
  }

  /** After a failed write: drop our pin and remove the code if nothing else references it. */
  private discardCode(sha: string): void {
    this.code.release(sha);
    this.scheduleGc([sha]);
  }

  private scheduleGc(shas: readonly string[]): void {
    if (shas.length === 0) return;
    const referenced = this.referencedCode();
    const unreferenced = [...new Set(shas)].filter((s) => !referenced.has(s));
    if (unreferenced.length === 0) return;
    this.pendingGc = this.pendingGc
      .then(() => {
        // Asked again when the removal runs: a later write may have referenced the code meanwhile.
        const inUse = this.referencedCode();
        return Promise.all(unreferenced.map((s) => this.code.remove(s, inUse)));
      })
      .catch((e: unknown) => this.onListenerError(e));
  }

  private functionRow(caller: Caller, name: string): { last_version: number } | undefined {
    return this
      .sql('SELECT last_version FROM functions WHERE account = ? AND region = ? AND name = ?')
      .get(caller.account, caller.region, name) as { last_version: number } | undefined;
  }

  private versionRow(caller: Caller, name: string, version: string): VersionRow | undefined {
    return this
      .sql('SELECT * FROM function_versions WHERE account = ? AND region = ? AND name = ? AND version = ?')
      .get(caller.account, caller.region, name, version) as VersionRow | undefined;
  }

  private versionRows(caller: Caller, name: string): VersionRow[] {
    return this
      .sql('SELECT * FROM function_versions WHERE account = ? AND region = ? AND name = ? ORDER BY version_num')
      .all(caller.account, caller.region, name) as VersionRow[];
  }

  private aliasRow(caller: Caller, name: string, alias: string): AliasRow | undefined {
    return this
      .sql('SELECT * FROM aliases WHERE account = ? AND region = ? AND name = ? AND alias = ?')
      .get(caller.account, caller.region, name, alias) as AliasRow | undefined;
  }

  private routesOf(caller: Caller, name: string, alias: string): Record<string, number> {
    const rows = this
      .sql('SELECT version, weight FROM alias_routes WHERE account = ? AND region = ? AND name = ? AND alias = ? ORDER BY version')
      .all(caller.account, caller.region, name, alias) as { version: string; weight: number }[];
    return Object.fromEntries(rows.map((r) => [r.version, r.weight]));
  }

  /** `runnable`: the configuration invocations run (the previous one while an update is not complete). */
  private requireVersion(caller: Caller, name: string, version: string, qualified: boolean, runnable = false): FunctionVersion {
    const row = this.versionRow(caller, name, version);
    if (!row) {
      throw awsError('functionNotFound', { arn: functionArn(caller.region, caller.account, name, qualified ? version : undefined) });
    }
    return this.toVersion(runnable ? runnableRow(row) : row);
  }

  /**
   * The alias row, or: functionNotFound (unqualified ARN) if the function does not exist;
   * for a missing alias, functionNotFound with the qualified ARN when reached through a
   * function reference (GetFunction, Invoke) or aliasNotFound (GetAlias, ...).
   */
  private requireAliasForFunction(caller: Caller, name: string, alias: string, via: 'function' | 'alias'): AliasRow {
    const row = this.aliasRow(caller, name, alias);
    if (row) return row;
    if (!this.functionRow(caller, name)) throw awsError('functionNotFound', { arn: functionArn(caller.region, caller.account, name) });
    const arn = aliasArn(caller.region, caller.account, name, alias);
    throw via === 'alias' ? awsError('aliasNotFound', { arn }) : awsError('functionNotFound', { arn });
  }

  /** `$LATEST` of an existing, updatable function whose RevisionId matches (when one is given). */
  private checkUpdatable(caller: Caller, name: string, revisionId: string | undefined): VersionRow {
    const latest = this.versionRow(caller, name, LATEST);
    if (!latest) throw awsError('functionNotFound', { arn: functionArn(caller.region, caller.account, name) });
    if (revisionId !== undefined && revisionId !== latest.revision_id) throw awsError('revisionMismatch', {});
    if (latest.state === 'Pending') {
      throw awsError('functionNotReady', { state: latest.state, reason: latest.state_reason ?? '' });
    }
    if (latest.last_update_status === 'InProgress') throw awsError('updateInProgress', { arn: functionArn(caller.region, caller.account, name) });
    return latest;
  }

  /** Inside a transaction: snapshot `$LATEST` as the next version number. */
  private publishLocked(caller: Caller, name: string, description: string | undefined): FunctionVersion {
    const fn = this.functionRow(caller, name);
    const latest = this.versionRow(caller, name, LATEST);
    if (!fn || !latest) throw awsError('functionNotFound', { arn: functionArn(caller.region, caller.account, name) });
    const num = fn.last_version + 1;
    const version = String(num);
    this
      .sql('UPDATE functions SET last_version = ? WHERE account = ? AND region = ? AND name = ?')
      .run(num, caller.account, caller.region, name);
    const row: VersionRow = {
      ...latest,
      version,
      version_num: num,
      description: description ?? latest.description,
      ...this.newRevision(this.now()),
    };
    this.insertVersion(row);
    this
      .sql('UPDATE function_versions SET published_as = ? WHERE account = ? AND region = ? AND name = ? AND version = ?')
      .run(version, caller.account, caller.region, name, LATEST);
    return this.toVersion(row);
  }

  private insertVersion(row: VersionRow): void {
    this
      .sql(
        `INSERT INTO function_versions (account, region, name, version, version_num, runtime, role, handler, description,
           timeout, memory_size, ephemeral_storage, architectures, package_type, environment, vpc_config, tracing_mode,
           code_sha256, code_size, last_modified, revision_id, config_id, state, state_reason, state_reason_code,
           last_update_status, last_update_status_reason, last_update_status_reason_code, previous_config, published_as)
         VALUES (@account, @region, @name, @version, @version_num, @runtime, @role, @handler, @description,
           @timeout, @memory_size, @ephemeral_storage, @architectures, @package_type, @environment, @vpc_config, @tracing_mode,
           @code_sha256, @code_size, @last_modified, @revision_id, @config_id, @state, @state_reason, @state_reason_code,
           @last_update_status, @last_update_status_reason, @last_update_status_reason_code, @previous_config, @published_as)`,
      )
      .run(row);
  }

  private updateLatest(row: VersionRow): void {
    this
      .sql(
        `UPDATE function_versions SET runtime = @runtime, role = @role, handler = @handler, description = @description,
           timeout = @timeout, memory_size = @memory_size, ephemeral_storage = @ephemeral_storage,
           architectures = @architectures, environment = @environment, vpc_config = @vpc_config,
           tracing_mode = @tracing_mode, code_sha256 = @code_sha256, code_size = @code_size,
           last_modified = @last_modified, revision_id = @revision_id, config_id = @config_id, state = @state,
           state_reason = @state_reason, state_reason_code = @state_reason_code, last_update_status = @last_update_status,
           last_update_status_reason = @last_update_status_reason, last_update_status_reason_code = @last_update_status_reason_code,
           previous_config = @previous_config, published_as = @published_as
         WHERE account = @account AND region = @region AND name = @name AND version = @version`,
      )
      .run(row);
  }

  private checkAliasTargets(caller: Caller, name: string, primary: string, weights: Readonly<Record<string, number>>): void {
    const entries = Object.entries(weights);
    checkVersion(primary);
    const exists = (v: string) => {
      if (!this.versionRow(caller, name, v)) throw awsError('functionNotFound', { arn: functionArn(caller.region, caller.account, name, v) });
    };
    exists(primary);
    if (entries.length === 0) return;
    if (entries.length > 1) {
      throw awsError('invalidParameter', { what: 'RoutingConfig can shift traffic to one additional version only.' });
    }
    if (primary === LATEST) {
      throw awsError('invalidParameter', { what: '$LATEST is not supported for an alias pointing to more than 1 version' });
    }
    // The weights are within 0..1 (the frontend checks them).
    for (const [v] of entries) {
      if (!/^[0-9]+$/.test(v)) {
        throw awsError('validation', {
          errors: [constraintMessage(v, 'routingConfig.additionalVersionWeights', 'Map keys must satisfy constraint: [Member must satisfy regular expression pattern: [0-9]+]')],
        });
      }
      if (v === primary) {
        throw awsError('invalidParameter', { what: `Version ${v} is the alias's FunctionVersion; an additional version must be a different version.` });
      }
      exists(v);
    }
  }

  private writeRoutes(caller: Caller, name: string, alias: string, weights: Readonly<Record<string, number>>): void {
    this
      .sql('DELETE FROM alias_routes WHERE account = ? AND region = ? AND name = ? AND alias = ?')
      .run(caller.account, caller.region, name, alias);
    const ins = this.sql('INSERT INTO alias_routes (account, region, name, alias, version, weight) VALUES (?, ?, ?, ?, ?, ?)');
    for (const [v, w] of Object.entries(weights)) ins.run(caller.account, caller.region, name, alias, v, w);
  }

  private toVersion(r: VersionRow): FunctionVersion {
    const unqualified = functionArn(r.region, r.account, r.name);
    const qualifiedArn = functionArn(r.region, r.account, r.name, r.version);
    const vpc = parseVpc(r.vpc_config);
    const env = r.environment === null ? undefined : (JSON.parse(r.environment) as Record<string, string>);
    const v: FunctionVersion = {
      account: r.account,
      region: r.region,
      functionName: r.name,
      functionArn: r.version === LATEST ? unqualified : qualifiedArn,
      qualifiedArn,
      version: r.version,
      runtime: r.runtime,
      role: r.role,
      ...(r.handler === null ? {} : { handler: r.handler }),
      description: r.description,
      timeout: r.timeout,
      memorySize: r.memory_size,
      ephemeralStorageMb: r.ephemeral_storage,
      architectures: Object.freeze(JSON.parse(r.architectures) as string[]),
      packageType: 'Zip',
      ...(env ? { environment: Object.freeze(env) } : {}),
      ...(vpc ? { vpcConfig: vpc } : {}),
      tracingMode: r.tracing_mode as TracingMode,
      codeSha256: r.code_sha256,
      codeSize: r.code_size,
      codeDir: this.code.dirFor(r.code_sha256),
      lastModified: r.last_modified,
      revisionId: r.revision_id,
      state: r.state as FunctionState,
      ...(r.state_reason === null ? {} : { stateReason: r.state_reason }),
      ...(r.state_reason_code === null ? {} : { stateReasonCode: r.state_reason_code }),
      lastUpdateStatus: r.last_update_status as UpdateStatus,
      ...(r.last_update_status_reason === null ? {} : { lastUpdateStatusReason: r.last_update_status_reason }),
      ...(r.last_update_status_reason_code === null ? {} : { lastUpdateStatusReasonCode: r.last_update_status_reason_code }),
      versionKey: `${qualifiedArn}#${r.config_id}`,
    };
    return Object.freeze(v);
  }

  private toAlias(r: AliasRow, weights: Readonly<Record<string, number>>): Alias {
    return Object.freeze({
      account: r.account,
      region: r.region,
      functionName: r.name,
      aliasArn: aliasArn(r.region, r.account, r.name, r.alias),
      name: r.alias,
      functionVersion: r.function_version,
      description: r.description,
      additionalVersionWeights: Object.freeze({ ...weights }),
      revisionId: r.revision_id,
    });
  }
}

/**
 * The FunctionConfiguration JSON AWS returns for a version. `qualifyLatest` renders `$LATEST`'s
 * FunctionArn qualified, as ListVersionsByFunction does.
 */
export function toFunctionConfiguration(v: FunctionVersion, opts: { qualifyLatest?: boolean } = {}): Record<string, unknown> {
  const out: Record<string, unknown> = {
    FunctionName: v.functionName,
    FunctionArn: opts.qualifyLatest ? v.qualifiedArn : v.functionArn,
    Runtime: v.runtime,
    Role: v.role,
  };
  if (v.handler !== undefined) out.Handler = v.handler;
  Object.assign(out, {
    CodeSize: v.codeSize,
    Description: v.description,
    Timeout: v.timeout,
    MemorySize: v.memorySize,
    LastModified: v.lastModified,
    CodeSha256: v.codeSha256,
    Version: v.version,
  });
  if (v.vpcConfig) {
    out.VpcConfig = { SubnetIds: [...v.vpcConfig.subnetIds], SecurityGroupIds: [...v.vpcConfig.securityGroupIds], VpcId: v.vpcConfig.vpcId };
  }
  if (v.environment) out.Environment = { Variables: { ...v.environment } };
  out.TracingConfig = { Mode: v.tracingMode };
  out.RevisionId = v.revisionId;
  out.State = v.state;
  if (v.stateReason !== undefined) out.StateReason = v.stateReason;
  if (v.stateReasonCode !== undefined) out.StateReasonCode = v.stateReasonCode;
  out.LastUpdateStatus = v.lastUpdateStatus;
  if (v.lastUpdateStatusReason !== undefined) out.LastUpdateStatusReason = v.lastUpdateStatusReason;
  if (v.lastUpdateStatusReasonCode !== undefined) out.LastUpdateStatusReasonCode = v.lastUpdateStatusReasonCode;
  out.PackageType = v.packageType;
  out.Architectures = [...v.architectures];
  out.EphemeralStorage = { Size: v.ephemeralStorageMb };
  return out;
}

/** The AliasConfiguration JSON AWS returns. */
export function toAliasConfiguration(a: Alias): Record<string, unknown> {
  const out: Record<string, unknown> = {
    AliasArn: a.aliasArn,
    Name: a.name,
    FunctionVersion: a.functionVersion,
    Description: a.description,
  };
  if (Object.keys(a.additionalVersionWeights).length > 0) {
    out.RoutingConfig = { AdditionalVersionWeights: { ...a.additionalVersionWeights } };
  }
  out.RevisionId = a.revisionId;
  return out;
}

// ---------------------------------------------------------------- update status helpers

function previousConfigOf(row: VersionRow): string {
  return JSON.stringify(Object.fromEntries(PREVIOUS_COLUMNS.map((c) => [c, row[c]])));
}

/** The row invocations run: its previous configuration while an update is not complete, with the current State. */
function runnableRow(row: VersionRow): VersionRow {
  if (row.previous_config === null) return row;
  return { ...row, ...(JSON.parse(row.previous_config) as Partial<VersionRow>) };
}

// ---------------------------------------------------------------- validation helpers

function normalizeVpc(input: VpcConfigInput | undefined): VpcConfig | undefined {
  if (!input) return undefined;
  // Duplicates dropped; the frontend has checked the lists' lengths.
  const subnets = [...new Set(input.subnetIds ?? [])];
  const sgs = [...new Set(input.securityGroupIds ?? [])];
  if (subnets.length === 0 && sgs.length === 0) return undefined; // detaches the function from its VPC
  for (const s of subnets) {
    if (!SUBNET_RE.test(s)) {
      throw awsError('invalidParameter', {
        what: `Error occurred while DescribeSubnets. EC2 Error Code: InvalidSubnetID.Malformed. EC2 Error Message: Invalid id: "${s}"`,
      });
    }
  }
  for (const g of sgs) {
    if (!SG_RE.test(g)) {
      throw awsError('invalidParameter', {
        what: `Error occurred while DescribeSecurityGroups. EC2 Error Code: InvalidGroupId.Malformed. EC2 Error Message: Invalid id: "${g}" (expecting "sg-...")`,
      });
    }
  }
  if (subnets.length === 0 || sgs.length === 0) {
    throw awsError('invalidParameter', {
      what: 'VpcConfig needs both SubnetIds and SecurityGroupIds, or neither (empty lists detach the function from its VPC).',
    });
  }
  return Object.freeze({ subnetIds: Object.freeze(subnets), securityGroupIds: Object.freeze(sgs), vpcId: vpcIdFor(subnets) });
}

/** The stored form of a VpcConfig (the VpcId is derived again when read). */
function vpcJson(vpc: VpcConfig | undefined): string | null {
  return vpc ? JSON.stringify({ subnetIds: vpc.subnetIds, securityGroupIds: vpc.securityGroupIds }) : null;
}

function parseVpc(json: string | null): VpcConfig | undefined {
  if (json === null) return undefined;
  const v = JSON.parse(json) as { subnetIds: string[]; securityGroupIds: string[] };
  return Object.freeze({ subnetIds: Object.freeze(v.subnetIds), securityGroupIds: Object.freeze(v.securityGroupIds), vpcId: vpcIdFor(v.subnetIds) });
}

function normalizeEnv(vars: Readonly<Record<string, string>> | undefined): Record<string, string> | undefined {
  if (!vars) return undefined;
  const keys = Object.keys(vars);
  if (keys.length === 0) return undefined;
  const bad = keys.filter((k) => !ENV_KEY_RE.test(k));
  if (bad.length > 0) {
    throw awsError('validation', {
      errors: bad.map((k) =>
        constraintMessage(k, 'environment.variables', 'Map keys must satisfy constraint: [Member must satisfy regular expression pattern: [a-zA-Z]([a-zA-Z0-9_])+]'),
      ),
    });
  }
  const reserved = keys.filter((k) => RESERVED_ENV_KEYS.includes(k));
  if (reserved.length > 0) {
    throw awsError('invalidParameter', {
      what:
        'Lambda was unable to configure your environment variables because the environment variables you have provided contains ' +
        `reserved keys that are currently not supported for modification. Reserved keys used in this request: ${reserved.join(', ')}`,
    });
  }
  const measured = JSON.stringify(vars);
  if (Buffer.byteLength(measured) > MAX_ENV_BYTES) {
    throw awsError('invalidParameter', {
      what: `Lambda was unable to configure your environment variables because the environment variables you have provided exceeded the 4KB limit. String measured: ${measured}`,
    });
  }
  return { ...vars };
}

/** The given architecture, or x86_64 when none is given (also for `[]`). */
function architecturesOrDefault(a: readonly string[] | undefined): string[] {
  return a === undefined || a.length === 0 ? ['x86_64'] : [...a];
}

function badMarker() {
  return awsError('invalidParameter', { what: 'The Marker is not valid. Pass the NextMarker of the previous page unchanged.' });
}

/** Marker of ListFunctions / ListVersionsByFunction: the (name, version number) a page ended at. */
function encodeMarker(name: string, num: number): string {
  return encodePageToken([name, num]);
}

function decodeMarker(marker: string): { name: string; num: number } {
  const v = decodePageToken(marker);
  if (Array.isArray(v) && v.length === 2 && typeof v[0] === 'string' && Number.isInteger(v[1])) return { name: v[0], num: v[1] as number };
  throw badMarker();
}

/** Marker of ListAliases: the alias a page ended at. */
function encodeAliasMarker(alias: string): string {
  return encodePageToken(['alias', alias]);
}

function decodeAliasMarker(marker: string): string {
  const v = decodePageToken(marker);
  if (Array.isArray(v) && v.length === 2 && v[0] === 'alias' && typeof v[1] === 'string') return v[1];
  throw badMarker();
}
