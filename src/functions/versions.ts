/**
 * The versions room: functions, their `$LATEST` and published versions. CreateFunction,
 * UpdateFunctionCode / Configuration, PublishVersion, DeleteFunction and the listings, plus the
 * State / LastUpdateStatus changes the VPC layer reports (the transitions are in function-state.ts).
 *
 * Every write is one SQLite transaction, so a failure never half-writes; code is stored before
 * it (see code-gc.ts). Committed changes are announced on the change bus.
 */
import { awsError } from '../errors/catalogue.js';
import type { Database, StatementCache } from '../store/database.js';
import type { Clock } from '../util/clock.js';
import type { ChangeBus } from './change-events.js';
import type { CodeGc } from './code-gc.js';
import { architecturesJson, DEFAULT_EPHEMERAL, DEFAULT_MEMORY, DEFAULT_TIMEOUT, normalizeEnv, normalizeVpc, vpcJson } from './function-config.js';
import type { FunctionRows } from './function-rows.js';
import type { VersionRow } from './function-schema.js';
import {
  assertUpdatable,
  COMPLETED_UPDATE,
  reconfigured,
  runnableRow,
  withLastUpdateStatus,
  withState,
  type FunctionState,
  type InitialState,
  type StateInfo,
  type UpdateStatusInfo,
} from './function-state.js';
import {
  formatLastModified,
  LATEST,
  type ConfigPatch,
  type CreateFunctionInput,
  type FunctionVersion,
  type PublishInput,
  type UpdateCodeInput,
  type VpcConfig,
} from './function-version.js';
import { DEFAULT_LIST_ITEMS, decodeVersionMarker, encodeVersionMarker } from './list-pages.js';
import { functionArn, qualifierKind, type Caller, type FunctionRef } from './names.js';
import { assertRunnableRuntime } from './runtimes.js';

/**
 * The State a new or reconfigured `$LATEST` starts in, given its VpcConfig (`from`: the State
 * before an update). See RegistryOptions.initialState.
 */
export type InitialStateRule = (v: { readonly vpcConfig?: VpcConfig; readonly reason: 'create' | 'update'; readonly from?: FunctionState }) => InitialState;

/** What the versions room works with. */
export interface VersionsOptions {
  readonly db: Database;
  readonly sql: StatementCache;
  readonly rows: FunctionRows;
  readonly gc: CodeGc;
  readonly bus: ChangeBus;
  /** LastModified and the functions' creation time. */
  readonly clock: Clock;
  /** RevisionId source. */
  readonly uuid: () => string;
  readonly initialState: InitialStateRule;
}

/** Functions and their versions (see the file comment). */
export class Versions {
  constructor(private readonly o: VersionsOptions) {}

  /** CreateFunction. Code is stored first, then one transaction writes `$LATEST` (and version 1 if `publish`). */
  async create(caller: Caller, input: CreateFunctionInput): Promise<FunctionVersion> {
    const { rows, sql } = this.o;
    const name = input.functionName;
    assertRunnableRuntime(input.runtime);
    const vpc = normalizeVpc(input.vpcConfig);
    const env = normalizeEnv(input.environment);
    // Fail fast before extracting anything; checked again inside the transaction.
    if (rows.functionRow(caller, name)) throw awsError('functionExists', { name });

    const created = await this.o.gc.writeWithCode(input.code, 'CreateFunction', (stored) => {
      if (rows.functionRow(caller, name)) throw awsError('functionExists', { name });
      const now = this.now();
      sql('INSERT INTO functions (account, region, name, last_version, created_at) VALUES (?, ?, ?, 0, ?)').run(caller.account, caller.region, name, now.toISOString());
      const st = this.o.initialState({ reason: 'create', ...(vpc ? { vpcConfig: vpc } : {}) });
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
        architectures: architecturesJson(input.architectures),
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
      rows.insertVersion(row);
      const out = [rows.toVersion(row)];
      if (input.publish) out.push(this.publishLocked(caller, name, undefined));
      return out;
    });
    for (const v of created) this.o.bus.emit({ kind: 'created', caller, name, version: v.version });
    // CreateFunction answers with the published version's config when Publish is set.
    return created[created.length - 1] as FunctionVersion;
  }

  /** ListFunctions: `$LATEST` of each function (or every version with `allVersions`), by name. */
  list(caller: Caller, opts: { marker?: string; maxItems?: number; allVersions?: boolean } = {}): { functions: FunctionVersion[]; nextMarker?: string } {
    const limit = opts.maxItems ?? DEFAULT_LIST_ITEMS;
    const after = opts.marker === undefined ? undefined : decodeVersionMarker(opts.marker);
    const rows = this.o
      .sql(
        `SELECT * FROM function_versions WHERE account = ? AND region = ?
           ${opts.allVersions ? '' : 'AND version_num = 0'}
           ${after ? 'AND (name > ? OR (name = ? AND version_num > ?))' : ''}
         ORDER BY name, version_num LIMIT ?`,
      )
      .all(caller.account, caller.region, ...(after ? [after.name, after.name, after.num] : []), limit + 1) as VersionRow[];
    const page = rows.slice(0, limit).map((r) => this.o.rows.toVersion(r));
    const last = rows[limit - 1];
    return rows.length > limit && last ? { functions: page, nextMarker: encodeVersionMarker(last.name, last.version_num) } : { functions: page };
  }

  /** UpdateFunctionCode. */
  async updateCode(caller: Caller, name: string, input: UpdateCodeInput): Promise<FunctionVersion> {
    this.checkUpdatable(caller, name, input.revisionId);
    const changed = await this.o.gc.writeWithCode(input.code, 'UpdateFunctionCode', (stored) => {
      const latest = this.checkUpdatable(caller, name, input.revisionId);
      const row: VersionRow = {
        ...latest,
        code_sha256: stored.sha256,
        code_size: stored.size,
        architectures: input.architectures === undefined ? latest.architectures : architecturesJson(input.architectures),
        // New code replaces whatever ran, also the previous configuration of a failed update.
        ...this.newRevision(this.now()),
      };
      this.o.rows.updateLatest(row);
      const out = [this.o.rows.toVersion(row)];
      if (input.publish) out.push(this.publishLocked(caller, name, undefined));
      return out;
    });
    this.o.bus.emit({ kind: 'updated', caller, name, version: LATEST });
    if (changed.length > 1) this.o.bus.emit({ kind: 'created', caller, name, version: (changed[1] as FunctionVersion).version });
    return changed[changed.length - 1] as FunctionVersion;
  }

  /** UpdateFunctionConfiguration. */
  updateConfiguration(caller: Caller, name: string, patch: ConfigPatch, revisionId?: string): FunctionVersion {
    if (patch.runtime !== undefined) assertRunnableRuntime(patch.runtime);
    const vpc = patch.vpcConfig === undefined ? undefined : normalizeVpc(patch.vpcConfig ?? undefined) ?? null;
    const env = patch.environment === undefined ? undefined : normalizeEnv(patch.environment ?? undefined) ?? null;
    const updated = this.o.db.transaction(() => {
      const latest = this.checkUpdatable(caller, name, revisionId);
      let row: VersionRow = {
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
        const st = this.o.initialState({ reason: 'update', from: latest.state as FunctionState, ...(vpc ? { vpcConfig: vpc } : {}) });
        row = reconfigured(latest, row, st);
      }
      this.o.rows.updateLatest(row);
      return this.o.rows.toVersion(row);
    })();
    this.o.bus.emit({ kind: 'updated', caller, name, version: LATEST });
    return updated;
  }

  /**
   * DeleteFunction: the whole function (versions, aliases) without a qualifier, or one
   * published version. Code no longer referenced is removed in the background.
   */
  delete(caller: Caller, ref: FunctionRef): void {
    const { rows, sql } = this.o;
    const shas: string[] = [];
    const removed = this.o.db.transaction(() => {
      const fn = rows.functionRow(caller, ref.name);
      if (!fn) throw awsError('functionNotFound', { arn: functionArn(caller.region, caller.account, ref.name) });
      if (ref.qualifier === undefined) {
        const versions = rows.versionRows(caller, ref.name);
        sql('DELETE FROM functions WHERE account = ? AND region = ? AND name = ?').run(caller.account, caller.region, ref.name);
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
      const row = rows.versionRow(caller, ref.name, ref.qualifier);
      if (!row) throw awsError('functionNotFound', { arn: functionArn(caller.region, caller.account, ref.name, ref.qualifier) });
      const users = sql(
        `SELECT alias FROM aliases WHERE account = ? AND region = ? AND name = ? AND function_version = ?
           UNION SELECT alias FROM alias_routes WHERE account = ? AND region = ? AND name = ? AND version = ?
           ORDER BY alias`,
      ).all(caller.account, caller.region, ref.name, ref.qualifier, caller.account, caller.region, ref.name, ref.qualifier) as { alias: string }[];
      if (users.length > 0) {
        throw awsError('conflict', {
          what: `Unable to delete version because the following aliases reference it: [${users.map((u) => u.alias).join(', ')}]`,
        });
      }
      sql('DELETE FROM function_versions WHERE account = ? AND region = ? AND name = ? AND version = ?').run(caller.account, caller.region, ref.name, ref.qualifier);
      // A $LATEST that was "published as" this version may be published again.
      sql(`UPDATE function_versions SET published_as = NULL WHERE account = ? AND region = ? AND name = ? AND version = ? AND published_as = ?`).run(
        caller.account,
        caller.region,
        ref.name,
        LATEST,
        ref.qualifier,
      );
      shas.push(row.code_sha256);
      return [ref.qualifier];
    })();
    for (const version of removed) this.o.bus.emit({ kind: 'deleted', caller, name: ref.name, version });
    this.o.gc.removeUnreferenced(shas);
  }

  /**
   * PublishVersion. Returns the existing version if `$LATEST` has not changed since it was
   * last published (as AWS does).
   */
  publishVersion(caller: Caller, name: string, input: PublishInput = {}): FunctionVersion {
    let isNew = false;
    const v = this.o.db.transaction(() => {
      const latest = this.checkUpdatable(caller, name, input.revisionId);
      if (input.codeSha256 !== undefined && input.codeSha256 !== latest.code_sha256) {
        throw awsError('invalidParameter', {
          what: `CodeSHA256 (${input.codeSha256}) is different from current CodeSHA256 in $LATEST (${latest.code_sha256}). Please try again with the current CodeSHA256.`,
        });
      }
      if (latest.published_as !== null) {
        const existing = this.o.rows.versionRow(caller, name, latest.published_as);
        if (existing) return this.o.rows.toVersion(existing);
      }
      isNew = true;
      return this.publishLocked(caller, name, input.description);
    })();
    if (isNew) this.o.bus.emit({ kind: 'created', caller, name, version: v.version });
    return v;
  }

  /** ListVersionsByFunction: `$LATEST` first, then published versions in order. */
  listVersions(caller: Caller, name: string, marker?: string, maxItems?: number): { versions: FunctionVersion[]; nextMarker?: string } {
    const limit = maxItems ?? DEFAULT_LIST_ITEMS;
    if (!this.o.rows.functionRow(caller, name)) throw awsError('functionNotFound', { arn: functionArn(caller.region, caller.account, name) });
    const after = marker === undefined ? undefined : decodeVersionMarker(marker, name);
    const rows = this.o
      .sql(
        `SELECT * FROM function_versions WHERE account = ? AND region = ? AND name = ? AND version_num > ?
         ORDER BY version_num LIMIT ?`,
      )
      .all(caller.account, caller.region, name, after ? after.num : -1, limit + 1) as VersionRow[];
    const page = rows.slice(0, limit).map((r) => this.o.rows.toVersion(r));
    const last = rows[limit - 1];
    return rows.length > limit && last ? { versions: page, nextMarker: encodeVersionMarker(name, last.version_num) } : { versions: page };
  }

  /** Every `$LATEST` and published version of every account and region (start-up). */
  listAll(): FunctionVersion[] {
    return (this.o.sql('SELECT * FROM function_versions ORDER BY account, region, name, version_num').all() as VersionRow[]).map((r) =>
      this.o.rows.toVersion(r),
    );
  }

  /** Sets the State of a version (the VPC layer: Pending -> Active / Failed). */
  setState(caller: Caller, name: string, version: string, s: StateInfo): FunctionVersion {
    const v = this.o.db.transaction(() => {
      const next = withState(this.o.rows.requireVersionRow(caller, name, version, true), s);
      this.o
        .sql(
          `UPDATE function_versions SET state = ?, state_reason = ?, state_reason_code = ?
           WHERE account = ? AND region = ? AND name = ? AND version = ?`,
        )
        .run(next.state, next.state_reason, next.state_reason_code, caller.account, caller.region, name, version);
      return this.o.rows.toVersion(next);
    })();
    this.o.bus.emit({ kind: 'state', caller, name, version });
    return v;
  }

  /** Sets LastUpdateStatus of a version (the VPC layer: InProgress -> Successful / Failed). */
  setLastUpdateStatus(caller: Caller, name: string, version: string, u: UpdateStatusInfo): FunctionVersion {
    const v = this.o.db.transaction(() => {
      const next = withLastUpdateStatus(this.o.rows.requireVersionRow(caller, name, version, true), u);
      this.o
        .sql(
          `UPDATE function_versions SET last_update_status = ?, last_update_status_reason = ?, last_update_status_reason_code = ?,
             previous_config = ? WHERE account = ? AND region = ? AND name = ? AND version = ?`,
        )
        .run(next.last_update_status, next.last_update_status_reason, next.last_update_status_reason_code, next.previous_config, caller.account, caller.region, name, version);
      return this.o.rows.toVersion(next);
    })();
    this.o.bus.emit({ kind: 'state', caller, name, version });
    return v;
  }

  /**
   * The configuration invocations of a version still run while its last update is not complete
   * (LastUpdateStatus InProgress, or Failed), with the version's current State; undefined when
   * they run the version as it is.
   */
  previousConfiguration(v: FunctionVersion): FunctionVersion | undefined {
    const row = this.o.rows.versionRow({ account: v.account, region: v.region }, v.functionName, v.version);
    return row && row.previous_config !== null ? this.o.rows.toVersion(runnableRow(row)) : undefined;
  }

  private now(): Date {
    return new Date(this.o.clock.now());
  }

  /** The row fields every change of code or configuration renews; the change counts as a completed update. */
  private newRevision(now: Date) {
    return {
      last_modified: formatLastModified(now),
      revision_id: this.o.uuid(),
      config_id: this.o.uuid(),
      ...COMPLETED_UPDATE,
      published_as: null,
    } as const satisfies Partial<VersionRow>;
  }

  /** `$LATEST` of an existing, updatable function whose RevisionId matches (when one is given). */
  private checkUpdatable(caller: Caller, name: string, revisionId: string | undefined): VersionRow {
    const arn = functionArn(caller.region, caller.account, name);
    const latest = this.o.rows.versionRow(caller, name, LATEST);
    if (!latest) throw awsError('functionNotFound', { arn });
    if (revisionId !== undefined && revisionId !== latest.revision_id) throw awsError('revisionMismatch', {});
    assertUpdatable(latest, arn);
    return latest;
  }

  /** Inside a transaction: snapshot `$LATEST` as the next version number. */
  private publishLocked(caller: Caller, name: string, description: string | undefined): FunctionVersion {
    const { rows } = this.o;
    const fn = rows.functionRow(caller, name);
    const latest = rows.versionRow(caller, name, LATEST);
    if (!fn || !latest) throw awsError('functionNotFound', { arn: functionArn(caller.region, caller.account, name) });
    const num = fn.last_version + 1;
    const version = String(num);
    this.o.sql('UPDATE functions SET last_version = ? WHERE account = ? AND region = ? AND name = ?').run(num, caller.account, caller.region, name);
    const row: VersionRow = {
      ...latest,
      version,
      version_num: num,
      description: description ?? latest.description,
      ...this.newRevision(this.now()),
    };
    rows.insertVersion(row);
    this.o.sql('UPDATE function_versions SET published_as = ? WHERE account = ? AND region = ? AND name = ? AND version = ?').run(version, caller.account, caller.region, name, LATEST);
    return rows.toVersion(row);
  }
}
