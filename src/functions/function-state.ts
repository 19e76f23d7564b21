/**
 * The function state machine: a version's State and its LastUpdateStatus, as Lambda reports them.
 *
 *   State             Pending ──> Active | Failed      (set by the VPC layer; a new version without
 *                                                      a network to wait for starts Active)
 *   LastUpdateStatus  InProgress ──> Successful | Failed
 *
 * A change of code or configuration is refused while the State is Pending or an update is
 * InProgress. While an update is not complete (InProgress, or Failed), invocations run the
 * configuration from before it (`previous_config`) with the current State; Successful drops it.
 * Every change of code or configuration that completes at once counts as a Successful update.
 *
 * These are pure transitions on a `function_versions` row; the versions room stores them.
 */
import { awsError } from '../errors/catalogue.js';
import { PREVIOUS_COLUMNS, type VersionRow } from './function-schema.js';

/** Lambda's function State. */
export type FunctionState = 'Pending' | 'Active' | 'Inactive' | 'Failed';

/** LastUpdateStatus. */
export type UpdateStatus = 'Successful' | 'Failed' | 'InProgress';

/** State with its reason fields. */
export interface StateInfo {
  readonly state: FunctionState;
  readonly reason?: string;
  readonly reasonCode?: string;
}

/** LastUpdateStatus with its reason fields. */
export interface UpdateStatusInfo {
  readonly status: UpdateStatus;
  readonly reason?: string;
  readonly reasonCode?: string;
}

/**
 * What the registry's `initialState` answers: the State, and for an update optionally a
 * LastUpdateStatus. An update answered with `InProgress` keeps the previous configuration
 * runnable until LastUpdateStatus is set to `Successful`.
 */
export interface InitialState extends StateInfo {
  readonly lastUpdate?: UpdateStatusInfo;
}

/** The update-status fields of a change of code or configuration that completed at once. */
export const COMPLETED_UPDATE = {
  last_update_status: 'Successful',
  last_update_status_reason: null,
  last_update_status_reason_code: null,
  previous_config: null,
} as const satisfies Partial<VersionRow>;

/**
 * Refuses a change of code or configuration while the version is not ready for one: Pending is
 * ResourceConflictException (functionNotReady), an update InProgress is updateInProgress (`arn`
 * is the function's, as AWS prints it).
 */
export function assertUpdatable(row: VersionRow, arn: string): void {
  if (row.state === 'Pending') throw awsError('functionNotReady', { state: row.state, reason: row.state_reason ?? '' });
  if (row.last_update_status === 'InProgress') throw awsError('updateInProgress', { arn });
}

/** `row` with State `s` (a created version, or one whose VpcConfig changed). */
export function withState(row: VersionRow, s: StateInfo): VersionRow {
  return { ...row, state: s.state, state_reason: s.reason ?? null, state_reason_code: s.reasonCode ?? null };
}

/**
 * `next`, a reconfiguration of `latest`, in the state `initial` answers. An update that is not
 * complete keeps what ran before runnable: `latest`'s configuration, or after a failed update
 * the configuration from before that one (still what runs).
 */
export function reconfigured(latest: VersionRow, next: VersionRow, initial: InitialState): VersionRow {
  const row = withState(next, initial);
  const u = initial.lastUpdate;
  if (u === undefined) return row;
  return {
    ...row,
    last_update_status: u.status,
    last_update_status_reason: u.reason ?? null,
    last_update_status_reason_code: u.reasonCode ?? null,
    ...(u.status === 'Successful' ? {} : { previous_config: latest.previous_config ?? previousConfigOf(latest) }),
  };
}

/**
 * `row` with LastUpdateStatus `u`. Successful drops the previous configuration, so invocations run
 * the current one from now on; InProgress and Failed keep it running, as Lambda does.
 */
export function withLastUpdateStatus(row: VersionRow, u: UpdateStatusInfo): VersionRow {
  return {
    ...row,
    last_update_status: u.status,
    last_update_status_reason: u.reason ?? null,
    last_update_status_reason_code: u.reasonCode ?? null,
    previous_config: u.status === 'Successful' ? null : row.previous_config,
  };
}

/** The row invocations run: its previous configuration while an update is not complete, with the current State. */
export function runnableRow(row: VersionRow): VersionRow {
  if (row.previous_config === null) return row;
  return { ...row, ...(JSON.parse(row.previous_config) as Partial<VersionRow>) };
}

/** The stored form of the configuration `row` runs. */
function previousConfigOf(row: VersionRow): string {
  return JSON.stringify(Object.fromEntries(PREVIOUS_COLUMNS.map((c) => [c, row[c]])));
}
