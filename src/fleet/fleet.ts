import { vpcIdFor } from '../functions/function-version.js';
import type { Step } from '../worker-manager/types.js';
import { realClock, type Clock } from '../util/clock.js';
import type { SandboxDriver, SandboxHandle, SandboxSpec } from './sandbox-driver.js';

type StepOf<K extends Step['kind']> = Extract<Step, { kind: K }>;

/** Durations added for steps that have no local counterpart (a latency profile's job). */
export interface StepDelays {
  /** Milliseconds to wait before the step's real work, or 0. */
  delayFor(step: Step): number;
}

/** What a Fleet performs steps with. */
export interface FleetOptions {
  readonly driver: SandboxDriver;
  /** Builds the sandbox spec for a create-sandbox step (the function version behind its versionKey). */
  readonly specFor: (step: StepOf<'create-sandbox'>) => SandboxSpec;
  readonly delays?: StepDelays;
  /** Waits out the delays (default: the real clock). */
  readonly clock?: Clock;
  /** Failures of background steps (stops), which have nobody else to report to. */
  readonly onBackgroundError?: (step: Step, err: unknown) => void;
}

/**
 * The effects half of placement: performs the worker manager's steps. Prerequisite steps are
 * memoized by id, so two cold starts placed on one provisioning worker await the same work.
 */
export class Fleet {
  private readonly inFlight = new Map<string, Promise<unknown>>();
  private readonly sandboxes = new Map<string, SandboxHandle>();
  private readonly starting = new Map<string, AbortController>();
  private readonly background = new Set<Promise<void>>();
  /** Attached ENIs: legacy ones belong to a worker, Hyperplane ones to no worker. */
  private readonly enis = new Map<string, { readonly workerId: string | undefined; readonly vpcKey: string }>();
  private closed = false;

  constructor(private readonly options: FleetOptions) {}

  /** The running sandbox with this id, once its create-sandbox step finished. */
  sandbox(id: string): SandboxHandle | undefined {
    return this.sandboxes.get(id);
  }

  /** Runs a step; resolves when it is done (rejects when it failed). */
  execute(step: Step, signal?: AbortSignal): Promise<unknown> {
    if (this.closed) return Promise.reject(new Error('the fleet is closed'));
    const key = memoKey(step);
    if (key) {
      const existing = this.inFlight.get(key);
      if (existing) return existing;
      const p = this.run(step, signal);
      this.inFlight.set(key, p);
      // Completed prerequisites are remembered by the worker manager, not here.
      p.then(
        () => this.inFlight.delete(key),
        () => this.inFlight.delete(key),
      );
      return p;
    }
    return this.run(step, signal);
  }

  /** Runs cleanup steps without making anyone wait for them. */
  executeInBackground(steps: readonly Step[]): void {
    for (const step of steps) {
      const p = this.execute(step)
        .then(() => undefined)
        .catch((err: unknown) => this.options.onBackgroundError?.(step, err));
      this.background.add(p);
      void p.finally(() => this.background.delete(p));
    }
  }

  /** Stops every sandbox and waits for background work. */
  async close(): Promise<void> {
    this.closed = true;
    for (const c of this.starting.values()) c.abort(new Error('the fleet is closing'));
    await Promise.allSettled([...this.background]);
    await Promise.allSettled([...this.sandboxes.values()].map((s) => s.stop()));
    this.sandboxes.clear();
    await this.options.driver.close();
  }

  /** The ENI a VPC sandbox on `workerId` uses: its worker's (legacy), else the shared one (Hyperplane). */
  private eniFor(vpcKey: string, workerId: string): string | undefined {
    let shared: string | undefined;
    for (const [id, e] of this.enis) {
      if (e.vpcKey !== vpcKey) continue;
      if (e.workerId === workerId) return id;
      if (e.workerId === undefined) shared = id;
    }
    return shared;
  }

  private async run(step: Step, signal?: AbortSignal): Promise<unknown> {
    const delay = this.options.delays?.delayFor(step) ?? 0;
    if (delay > 0) await (this.options.clock ?? realClock).sleep(delay, signal);
    switch (step.kind) {
      case 'provision-worker':
        // With isolation the worker becomes a cgroup parent holding its capacity.
        await this.options.driver.provisionWorker?.(step.workerId, step.memoryMb);
        return undefined;
      case 'retire-worker':
        await this.options.driver.retireWorker?.(step.workerId);
        return undefined;
      case 'attach-eni':
        // Beyond its profile latency, a real interface where the driver can make one.
        await this.options.driver.attachEni?.(step.eniId, vpcIdOfKey(step.vpcKey));
        this.enis.set(step.eniId, { workerId: step.workerId, vpcKey: step.vpcKey });
        return undefined;
      case 'delete-eni':
        this.enis.delete(step.eniId);
        await this.options.driver.deleteEni?.(step.eniId);
        return undefined;
      case 'create-sandbox': {
        const controller = new AbortController();
        this.starting.set(step.sandboxId, controller);
        try {
          const base = this.options.specFor(step);
          const eniId = base.vpcKey !== undefined ? this.eniFor(base.vpcKey, step.workerId) : undefined;
          const spec = { ...base, workerId: step.workerId, ...(eniId !== undefined ? { eniId } : {}) };
          const s = signal ? AbortSignal.any([signal, controller.signal]) : controller.signal;
          const handle = await this.options.driver.create(spec, s);
          if (this.closed) {
            await handle.stop();
            throw new Error('the fleet is closing');
          }
          this.sandboxes.set(step.sandboxId, handle);
          return handle;
        } finally {
          this.starting.delete(step.sandboxId);
        }
      }
      case 'stop-sandbox': {
        const handle = this.sandboxes.get(step.sandboxId);
        this.sandboxes.delete(step.sandboxId);
        this.starting.get(step.sandboxId)?.abort(new Error(`sandbox stopped: ${step.reason}`));
        await handle?.stop();
        return undefined;
      }
    }
  }
}

/** The VpcId a vpcKey's subnets stand for (the one GetFunctionConfiguration shows). */
function vpcIdOfKey(vpcKey: string): string {
  return vpcIdFor((vpcKey.split('|')[0] ?? '').split(',').filter((s) => s !== ''));
}

function memoKey(step: Step): string | undefined {
  switch (step.kind) {
    case 'provision-worker':
      return `w:${step.workerId}`;
    case 'attach-eni':
      return `e:${step.eniId}`;
    case 'create-sandbox':
      return `s:${step.sandboxId}`;
    default:
      return undefined;
  }
}
