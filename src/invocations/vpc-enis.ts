/**
 * Hyperplane ENIs in the server (`--vpc-mode hyperplane`, Lambda since Sept 2019): one ENI per
 * (subnets, security groups), created when a function version with that VpcConfig appears (create,
 * publish, UpdateFunctionConfiguration) and shared by every function using it. A version is Pending
 * until its ENI is ready, then Active. The worker manager owns the ENIs as data
 * (`ensureHyperplaneEni`); the fleet performs the attach-eni step (with the latency profile's ENI
 * delay); when it completes, every Pending version using that configuration becomes Active.
 *
 * In legacy mode this class only makes sure no version is left Pending (ENIs are attached per worker
 * at cold start by the placement core instead).
 */
import type { ChangeEvent, FunctionRegistry, FunctionVersion, StateInfo, VpcConfig } from '../functions/registry.js';
import type { WorkerManager } from '../worker-manager/worker-manager.js';
import type { Clock } from '../util/clock.js';
import type { BackgroundStepEvent, InvokeService } from './invoke-service.js';

/** The worker manager's key of a VPC configuration: sorted subnets `|` sorted security groups. */
export function vpcKeyOf(vpc: Pick<VpcConfig, 'subnetIds' | 'securityGroupIds'>): string {
  return `${[...vpc.subnetIds].sort().join(',')}|${[...vpc.securityGroupIds].sort().join(',')}`;
}

/** AWS's State while a function's network interface is being created. */
export const CREATING: StateInfo = Object.freeze({ state: 'Pending', reason: 'The function is being created.', reasonCode: 'Creating' });
/** After a lambkin restart, until the ENI exists again. */
export const RESTORING: StateInfo = Object.freeze({
  state: 'Pending',
  reason: 'The function is being restored: lambkin re-creates its network interface after a restart.',
  reasonCode: 'Restoring',
});

/**
 * The registry's `initialState` for a vpc mode: in hyperplane mode a version with a VpcConfig starts
 * Pending (reason code Creating), on create and when its VpcConfig changes; otherwise Active.
 */
export function initialStateFor(mode: 'hyperplane' | 'legacy'): (v: { readonly vpcConfig?: VpcConfig }) => StateInfo {
  return (v) => (mode === 'hyperplane' && v.vpcConfig !== undefined ? CREATING : { state: 'Active' });
}

export interface HyperplaneEnisOptions {
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
        // Pending only ever meant "waiting for a hyperplane ENI" (e.g. the previous run was in hyperplane mode).
        if (v.state === 'Pending') this.setState(v, { state: 'Active' });
        continue;
      }
      if (!v.vpcConfig) continue;
      this.sync(v);
      const ready = this.o.workerManager.hyperplaneEniState(vpcKeyOf(v.vpcConfig)) === 'ready';
      if (!ready && v.state === 'Active') this.setState(v, RESTORING);
    }
  }

  /** The ENI of a hyperplane VPC version is not ready (Invoke must answer ResourceConflictException). */
  notReady(v: FunctionVersion): boolean {
    return this.o.mode === 'hyperplane' && v.vpcConfig !== undefined && this.o.workerManager.hyperplaneEniState(vpcKeyOf(v.vpcConfig)) !== 'ready';
  }

  close(): void {
    for (const u of this.unsubscribe.splice(0)) u();
  }

  private onChange(e: ChangeEvent): void {
    if (this.o.mode === 'legacy' || e.kind === 'state') return;
    const key = `arn:aws:lambda:${e.caller.region}:${e.caller.account}:function:${e.name}:${e.version}`;
    if (e.kind === 'deleted') {
      this.o.invoker.applySteps(this.o.workerManager.ensureHyperplaneEni(key, undefined, this.o.clock.now()));
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

  /** Tells the worker manager which configuration the version uses now; activates it if the ENI exists already. */
  private sync(v: FunctionVersion): void {
    const wm = this.o.workerManager;
    const vpcKey = v.vpcConfig ? vpcKeyOf(v.vpcConfig) : undefined;
    this.o.invoker.applySteps(wm.ensureHyperplaneEni(v.qualifiedArn, vpcKey, this.o.clock.now()));
    if (vpcKey !== undefined && v.state === 'Pending' && wm.hyperplaneEniState(vpcKey) === 'ready') this.setState(v, { state: 'Active' });
  }

  private onStep(e: BackgroundStepEvent): void {
    const step = e.step;
    if (step.kind !== 'attach-eni' || step.workerId !== undefined) return;
    const wm = this.o.workerManager;
    if (e.error !== undefined) {
      this.o.log(`lambkin: creating the network interface for ${step.vpcKey} failed: ${String(e.error)}`);
      // eniFailed forgot the ENI; unless a newer one is being made, the versions waiting for it fail.
      if (wm.hyperplaneEniState(step.vpcKey) !== undefined) return;
      this.forPending(step.vpcKey, (v) =>
        this.setState(v, { state: 'Failed', reason: `lambkin could not create the function's network interface: ${String(e.error)}`, reasonCode: 'InternalError' }),
      );
      return;
    }
    // A late report for an ENI that was deleted meanwhile: a newer one (if any) is still pending.
    if (wm.hyperplaneEniState(step.vpcKey) !== 'ready') return;
    this.forPending(step.vpcKey, (v) => this.setState(v, { state: 'Active' }));
    // Provisioned concurrency of these versions waited for the ENI: refill it now.
    this.o.invoker.tickNow();
  }

  private forPending(vpcKey: string, f: (v: FunctionVersion) => void): void {
    for (const v of this.o.registry.listAll()) {
      if (v.state === 'Pending' && v.vpcConfig && vpcKeyOf(v.vpcConfig) === vpcKey) f(v);
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
}
