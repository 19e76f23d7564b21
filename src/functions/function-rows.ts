/**
 * Reading and writing `functions` and `function_versions` rows, and turning a row into the
 * {@link FunctionVersion} the registry hands out. Shared by the versions and aliases rooms.
 */
import { awsError } from '../errors/catalogue.js';
import type { StatementCache } from '../store/database.js';
import type { CodeStore } from './code-store.js';
import { parseVpc } from './function-config.js';
import type { VersionRow } from './function-schema.js';
import type { FunctionState, UpdateStatus } from './function-state.js';
import { LATEST, type FunctionVersion, type TracingMode } from './function-version.js';
import { functionArn, type Caller } from './names.js';

/** The rows of functions and their versions (prepared statements come from the registry's cache). */
export class FunctionRows {
  constructor(
    private readonly sql: StatementCache,
    private readonly code: Pick<CodeStore, 'dirFor'>,
  ) {}

  /** The function's own row. */
  functionRow(caller: Caller, name: string): { last_version: number } | undefined {
    return this
      .sql('SELECT last_version FROM functions WHERE account = ? AND region = ? AND name = ?')
      .get(caller.account, caller.region, name) as { last_version: number } | undefined;
  }

  /** One version's row. */
  versionRow(caller: Caller, name: string, version: string): VersionRow | undefined {
    return this
      .sql('SELECT * FROM function_versions WHERE account = ? AND region = ? AND name = ? AND version = ?')
      .get(caller.account, caller.region, name, version) as VersionRow | undefined;
  }

  /** Every version's row of a function, `$LATEST` first. */
  versionRows(caller: Caller, name: string): VersionRow[] {
    return this
      .sql('SELECT * FROM function_versions WHERE account = ? AND region = ? AND name = ? ORDER BY version_num')
      .all(caller.account, caller.region, name) as VersionRow[];
  }

  /** One version's row, or functionNotFound (with the qualified ARN when the caller named the version). */
  requireVersionRow(caller: Caller, name: string, version: string, qualified: boolean): VersionRow {
    const row = this.versionRow(caller, name, version);
    if (!row) {
      throw awsError('functionNotFound', { arn: functionArn(caller.region, caller.account, name, qualified ? version : undefined) });
    }
    return row;
  }

  /** Writes a new version's row. */
  insertVersion(row: VersionRow): void {
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

  /** Rewrites `$LATEST`'s row (code, configuration, state and update status). */
  updateLatest(row: VersionRow): void {
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

  /** The frozen record of a row. */
  toVersion(r: VersionRow): FunctionVersion {
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
}
