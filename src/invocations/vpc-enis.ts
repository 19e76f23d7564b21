/**
 * Hyperplane ENIs in the server (`--vpc-mode hyperplane`, Lambda since Sept 2019): one ENI per
 * (subnets, security groups), created when a function version with that VpcConfig appears (create,
 * publish, UpdateFunctionConfiguration) and shared by every function using it. A new version is
 * Pending until its ENI is ready, then Active. When UpdateFunctionConfiguration changes the
 * VpcConfig of an Active function, it stays Active with LastUpdateStatus InProgress: the registry
 * keeps the previous configuration, which invocations run (so its ENI is held under a second key,
 * `<qualified arn>#previous`), until the new ENI is ready; then LastUpdateStatus is Successful, the
 * hold is released and the previous configuration's sandboxes are retired. The worker manager owns
 * the ENIs as data (`ensureHyperplaneEni`); the fleet performs the attach-eni step (with the latency
 * profile's ENI delay); when it completes, every version waiting for that configuration moves on.
 *
 * In legacy mode this class only makes sure no version is left Pending (ENIs are attached per worker
 * at cold start by the placement core instead).
 */
import type { ChangeEvent } from '../functions/change-events.js';
import type { FunctionState, InitialState, StateInfo, UpdateStatusInfo } from '../functions/function-state.js';
import type { FunctionVersion, VpcConfig } from '../functions/function-version.js';
import type { FunctionRegistry } from '../functions/registry.js';
import { functionArn } from '../functions/names.js';
import type { WorkerManager } from '../worker-manager/worker-manager.js';
import type { Clock } from '../util/clock.js';
import type { InvokeService } from './invoke-service.js';
import type { BackgroundStepEvent } from './step-executor.js';

/** The worker manager's key of a VPC configuration: sorted subnets `|` sorted security groups. */
export function vpcKeyOf(vpc: Pick<VpcConfig, 'subnetIds' | 'securityGroupIds'>): string {
  return `${[...vpc.subnetIds].sort().join(',')}|${[...vpc.securityGroupIds].sort().join(',')}`;
}

/** AWS's State while a function's network interface is being created. */
export const CREATING: StateInfo = Object.freeze({ state: 'Pending', reason: 'The function is being created.', reasonCode: 'Creating' });
/** AWS's LastUpdateStatus while an update waits for its network interface (the State stays Active). */
export const UPDATING: UpdateStatusInfo = Object.freeze({ status: 'InProgress', reason: 'The function is being created.', reasonCode: 'Creating' });
/** After a lambkin restart, until the ENI exists again. */
export const RESTORING: StateInfo = Object.freeze({
  state: 'Pending',
  reason: 'The function is being restored: lambkin re-creates its network interface after a restart.',
  reasonCode: 'Restoring',
});

/**
 * The registry's `initialState` for a vpc mode: in hyperplane mode a new version with a VpcConfig
 * starts Pending (reason code Creating); an Active function whose VpcConfig changes stays Active
 * with LastUpdateStatus InProgress (reason code Creating); otherwise Active.
 */
export function initialStateFor(
  mode: 'hyperplane' | 'legacy',
): (v: { readonly vpcConfig?: VpcConfig; readonly reason?: 'create' | 'update'; readonly from?: FunctionState }) => InitialState {
  return (v) => {
    if (mode !== 'hyperplane' || v.vpcConfig === undefined) return { state: 'Active' };
    return v.reason === 'update' && v.from === 'Active' ? { state: 'Active', lastUpdate: UPDATING } : CREATING;
  };
}

/** What HyperplaneEnis keeps in line. */
export interface HyperplaneEnisOptions {
  /** `--vpc-mode`. */
  readonly mode: 'hyperplane' | 'legacy';
  readonly registry: FunctionRegistry;
  readonly workerManager: WorkerManager;
  readonly invoker: InvokeService;
  readonly clock: Clock;
  readonly log: (line: string) => void;
}

/** Keeps the worker manager's hyperplane ENIs in line with the registry's VpcConfigs, and States with the ENIs. */
export class HyperplaneEnis {
  private readonly unsubscribe: (() => void)[] = [];

  constructor(private readonly o: HyperplaneEnisOptions) {}

  /** Subscribes to registry changes and re-creates the ENIs of existing VPC functions (start-up). */
  start(): void {
    const { registry, invoker } = this.o;
    this.unsubscribe.push(registry.onChange((e) => this.onChange(e)));
    this.unsubscribe.push(invoker.onBackgroundStep((e) => this.onStep(e)));
    for (const v of registry.listAll()) {
      if (this.o.mode === 'legacy') {
        // Pending and InProgress only ever meant "waiting for a hyperplane ENI" (e.g. the previous run was in hyperplane mode).
        if (v.state === 'Pending') this.setState(v, { state: 'Active' });
        if (v.lastUpdateStatus === 'InProgress') this.setUpdateStatus(v, { status: 'Successful' });
        continue;
      }
      if (!v.vpcConfig) continue;
      this.sync(v);
      // What invocations run (the previous configuration while an update is not complete) needs its ENI again.
      const runs = registry.previousConfiguration(v) ?? v;
      if (!this.ready(runs.vpcConfig) && v.state === 'Active') this.setState(v, RESTORING);
    }
  }

  /** The ENI of a hyperplane VPC version is not ready (Invoke must answer ResourceConflictException). */
  notReady(v: FunctionVersion): boolean {
    return this.o.mode === 'hyperplane' && v.vpcConfig !== undefined && this.o.workerManager.hyperplaneEniState(vpcKeyOf(v.vpcConfig)) !== 'ready';
  }

  /** Stops following the registry and the background steps. */
  close(): void {
    for (const u of this.unsubscribe.splice(0)) u();
  }

  private onChange(e: ChangeEvent): void {
    if (this.o.mode === 'legacy' || e.kind === 'state') return;
    // The version's qualifiedArn, as sync() held its ENIs under (its partition follows the region).
    const key = functionArn(e.caller.region, e.caller.account, e.name, e.version);
    if (e.kind === 'deleted') {
      const wm = this.o.workerManager;
      const now = this.o.clock.now();
      this.o.invoker.applySteps(wm.ensureHyperplaneEni(previousKey(key), undefined, now));
      this.o.invoker.applySteps(wm.ensureHyperplaneEni(key, undefined, now));
      return;
    }
    let v: FunctionVersion;
    try {
      v = this.o.registry.get(e.caller, e.version === '$LATEST' ? { name: e.name } : { name: e.name, qualifier: e.version });
    } catch {
      return; // deleted meanwhile; its 'deleted' event follows
    }
    this.sync(v);
  }

  /**
   * Tells the worker manager which configurations the version uses now: its own, and the previous one
   * invocations still run (held first, so that a shared ENI is not deleted in between); then moves the
   * version on if the ENIs exist already.
   */
  private sync(v: FunctionVersion): void {
    const wm = this.o.workerManager;
    const prev = this.o.registry.previousConfiguration(v);
    const now = this.o.clock.now();
    this.o.invoker.applySteps(wm.ensureHyperplaneEni(previousKey(v.qualifiedArn), prev?.vpcConfig ? vpcKeyOf(prev.vpcConfig) : undefined, now));
    this.o.invoker.applySteps(wm.ensureHyperplaneEni(v.qualifiedArn, v.vpcConfig ? vpcKeyOf(v.vpcConfig) : undefined, now));
    this.advance(v);
  }

  /**
   * Completes an InProgress update whose ENI is ready (invocations switch to the new configuration),
   * and makes a Pending version Active once what it runs has its ENI.
   */
  private advance(v: FunctionVersion): void {
    let cur: FunctionVersion | undefined = v;
    if (v.lastUpdateStatus === 'InProgress' && this.ready(v.vpcConfig)) {
      cur = this.setUpdateStatus(v, { status: 'Successful' });
      if (cur === undefined) return;
      const now = this.o.clock.now();
      this.o.invoker.applySteps(this.o.workerManager.ensureHyperplaneEni(previousKey(v.qualifiedArn), undefined, now));
      // The previous configuration's sandboxes (warm, or started during the update) must not serve again.
      this.o.invoker.retire(functionArn(v.region, v.account, v.functionName), v.version);
    }
    const runs = this.o.registry.previousConfiguration(cur) ?? cur;
    if (cur.state === 'Pending' && runs.vpcConfig !== undefined && this.ready(runs.vpcConfig)) this.setState(cur, { state: 'Active' });
  }

  /** The hyperplane ENI of a configuration is ready (true without a VpcConfig). */
  private ready(vpc: VpcConfig | undefined): boolean {
    return vpc === undefined || this.o.workerManager.hyperplaneEniState(vpcKeyOf(vpc)) === 'ready';
  }

  private onStep(e: BackgroundStepEvent): void {
    const step = e.step;
    if (step.kind !== 'attach-eni' || step.workerId !== undefined) return;
    const wm = this.o.workerManager;
    if (e.error !== undefined) {
      this.o.log(`lambkin: creating the network interface for ${step.vpcKey} failed: ${String(e.error)}`);
      // eniFailed forgot the ENI; unless a newer one is being made, the versions waiting for it fail.
      if (wm.hyperplaneEniState(step.vpcKey) !== undefined) return;
      const reason = `lambkin could not create the function's network interface: ${String(e.error)}`;
      this.forUsers(step.vpcKey, (v, runs) => {
        // A failed update leaves the previous configuration running (the registry keeps it), as on Lambda.
        if (v.lastUpdateStatus === 'InProgress' && v.vpcConfig && vpcKeyOf(v.vpcConfig) === step.vpcKey) {
          this.setUpdateStatus(v, { status: 'Failed', reason, reasonCode: 'InternalError' });
        }
        if (v.state === 'Pending' && runs.vpcConfig && vpcKeyOf(runs.vpcConfig) === step.vpcKey) {
          this.setState(v, { state: 'Failed', reason, reasonCode: 'InternalError' });
        }
      });
      return;
    }
    // A late report for an ENI that was deleted meanwhile: a newer one (if any) is still pending.
    if (wm.hyperplaneEniState(step.vpcKey) !== 'ready') return;
    this.forUsers(step.vpcKey, (v) => this.advance(v));
    // Provisioned concurrency of these versions waited for the ENI: refill it now.
    this.o.invoker.tickNow();
  }

  /** Calls `f` for every version whose configuration, or whose previous one still running, uses `vpcKey`. */
  private forUsers(vpcKey: string, f: (v: FunctionVersion, runs: FunctionVersion) => void): void {
    for (const v of this.o.registry.listAll()) {
      if (v.state !== 'Pending' && v.lastUpdateStatus !== 'InProgress') continue;
      const runs = this.o.registry.previousConfiguration(v) ?? v;
      const uses = (c: FunctionVersion) => c.vpcConfig !== undefined && vpcKeyOf(c.vpcConfig) === vpcKey;
      if (uses(v) || uses(runs)) f(v, runs);
    }
  }

  private setState(v: FunctionVersion, s: StateInfo): void {
    try {
      this.o.registry.setState({ account: v.account, region: v.region }, v.functionName, v.version, s.state, s.reason, s.reasonCode);
    } catch (err) {
      // The version may have been deleted in the meantime.
      this.o.log(`lambkin: could not set ${v.qualifiedArn} to ${s.state}: ${String(err)}`);
    }
  }

  /** Returns the updated version, or undefined when it is gone. */
  private setUpdateStatus(v: FunctionVersion, s: UpdateStatusInfo): FunctionVersion | undefined {
    try {
      return this.o.registry.setLastUpdateStatus({ account: v.account, region: v.region }, v.functionName, v.version, s.status, s.reason, s.reasonCode);
    } catch (err) {
      // The version may have been deleted in the meantime.
      this.o.log(`lambkin: could not set the LastUpdateStatus of ${v.qualifiedArn} to ${s.status}: ${String(err)}`);
      return undefined;
    }
  }
}

/** The worker-manager key under which the ENI of a version's previous configuration is held during an update. */
function previousKey(qualifiedArn: string): string {
  return `${qualifiedArn}#previous`;
}
