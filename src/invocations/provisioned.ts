/**
 * Concurrency settings in the running server: reserved concurrency is handed to the worker manager
 * (`setReservedConcurrency`), and provisioned-concurrency configs are turned into pre-initialised
 * sandboxes (`setProvisioned`; the invoke service runs the create-sandbox steps in the background and
 * reports them ready). The configs live in the ConcurrencyStore; this class reconciles what the store
 * and the registry say (which version each version / alias config targets) with what the worker
 * manager holds, at start-up, after every change, and while a config is not READY yet.
 */
import { functionArn, type Caller } from '../functions/names.js';
import type { ConcurrencyStore, ProvisionedConfig } from '../functions/concurrency-store.js';
import type { ChangeEvent } from '../functions/change-events.js';
import type { FunctionVersion } from '../functions/function-version.js';
import type { FunctionRegistry } from '../functions/registry.js';
import { AwsError } from '../errors/catalogue.js';
import { SandboxInitError } from '../fleet/sandbox-driver.js';
import type { WorkerManager } from '../worker-manager/worker-manager.js';
import type { FunctionSpec } from '../worker-manager/types.js';
import type { Clock } from '../util/clock.js';
import type { InvocableVersion, InvokeService } from './invoke-service.js';
import type { BackgroundStepEvent } from './step-executor.js';

/** A config's state as GetProvisionedConcurrencyConfig reports it. */
export interface ProvisionedStatus {
  readonly requested: number;
  /** Provisioned sandboxes initialised (idle or busy), at most `requested`. */
  readonly available: number;
  readonly allocated: number;
  readonly status: 'IN_PROGRESS' | 'READY' | 'FAILED';
  readonly statusReason?: string;
  readonly lastModified: string;
}

export interface ConcurrencyControllerOptions {
  readonly registry: FunctionRegistry;
  readonly store: ConcurrencyStore;
  readonly workerManager: WorkerManager;
  readonly invoker: InvokeService;
  readonly clock: Clock;
  /** The invoke path's view of a version (carries the current reserved concurrency). */
  readonly invocable: (v: FunctionVersion) => InvocableVersion;
  readonly log: (line: string) => void;
  /** How often a config that is not READY is retried (room on the host, a pending ENI). Default 1000 ms. */
  readonly retryMs?: number;
}

interface Applied {
  readonly v: InvocableVersion;
  readonly count: number;
}

const configKey = (c: { account: string; region: string; functionName: string; qualifier: string }) =>
  `${c.account}\u0000${c.region}\u0000${c.functionName}\u0000${c.qualifier}`;

/** Unqualified function ARN (the worker manager's functionKey). */
export function functionKeyOf(caller: Caller, name: string): string {
  return functionArn(caller.region, caller.account, name);
}

/** Keeps the worker manager's reservations and provisioned sandboxes in line with the stored settings. */
export class ConcurrencyController {
  /** Applied provisioned counts per versionKey. */
  private readonly applied = new Map<string, Applied>();
  /** FAILED configs (by configKey) and their StatusReason; cleared by the next Put. */
  private readonly failures = new Map<string, string>();
  private readonly unsubscribe: (() => void)[] = [];
  private cancelRetry: (() => void) | undefined;
  private closed = false;

  constructor(private readonly o: ConcurrencyControllerOptions) {}

  /** Applies the stored reservations and provisioned configs (start-up) and follows changes. */
  start(): void {
    const wm = this.o.workerManager;
    for (const r of this.o.store.allReserved()) {
      wm.setReservedConcurrency(functionKeyOf(r, r.functionName), r.account, r.reserved);
    }
    this.unsubscribe.push(this.o.registry.onChange((e) => this.onChange(e)));
    this.unsubscribe.push(this.o.invoker.onBackgroundStep((e) => this.onStep(e)));
    this.reconcile();
  }

  /** The stored reservation of a function changed (Put / DeleteFunctionConcurrency). */
  reservedChanged(caller: Caller, name: string): void {
    this.o.workerManager.setReservedConcurrency(functionKeyOf(caller, name), caller.account, this.o.store.reserved(caller, name));
  }

  /** A config was written: forget an earlier failure and apply it. */
  provisionedChanged(c: { account: string; region: string; functionName: string; qualifier: string }): void {
    this.failures.delete(configKey(c));
    this.reconcile();
  }

  /** The config's state now. */
  status(c: ProvisionedConfig): ProvisionedStatus {
    const base = { requested: c.requested, lastModified: c.lastModified };
    const failure = this.failures.get(configKey(c));
    if (failure !== undefined) return { ...base, available: 0, allocated: 0, status: 'FAILED', statusReason: failure };
    const version = this.target(c);
    const ready = version === undefined ? 0 : this.readyCount(version.versionKey);
    const available = Math.min(ready, c.requested);
    return { ...base, available, allocated: available, status: available >= c.requested ? 'READY' : 'IN_PROGRESS' };
  }

  /**
   * Brings the worker manager in line with the store: per target version, the sum of the requested
   * counts of its (non-failed) configs. Configs whose version or alias is gone are dropped.
   */
  reconcile(): void {
    if (this.closed) return;
    const { store, invoker, workerManager: wm } = this.o;
    const desired = new Map<string, Applied>();
    let pending = false;
    for (const c of store.allProvisioned()) {
      if (this.failures.has(configKey(c))) continue;
      const fv = this.target(c);
      if (fv === undefined) {
        store.deleteProvisioned(c, c.functionName, c.qualifier);
        continue;
      }
      const d = desired.get(fv.versionKey);
      desired.set(fv.versionKey, { v: d?.v ?? this.o.invocable(fv), count: (d?.count ?? 0) + c.requested });
    }
    const now = this.o.clock.now();
    for (const [key, d] of desired) {
      if (this.applied.get(key)?.count !== d.count) {
        invoker.applySteps(wm.setProvisioned(this.spec(d.v), d.count, now));
        this.applied.set(key, d);
      }
      if (this.readyCount(key) < d.count) pending = true;
    }
    for (const [key, a] of this.applied) {
      if (desired.has(key)) continue;
      invoker.applySteps(wm.setProvisioned(this.spec(a.v), 0, now));
      this.applied.delete(key);
    }
    if (pending) this.armRetry();
  }

  /** Stops the retry timer and following changes. */
  close(): void {
    this.closed = true;
    this.cancelRetry?.();
    for (const u of this.unsubscribe.splice(0)) u();
  }

  /** The version a config targets now (an alias's primary version), or undefined when it is gone. */
  private target(c: ProvisionedConfig): FunctionVersion | undefined {
    try {
      return this.o.registry.get({ account: c.account, region: c.region }, { name: c.functionName, qualifier: c.qualifier });
    } catch (err) {
      if (err instanceof AwsError && err.status === 404) return undefined;
      throw err;
    }
  }

  /** The spec with the function's current reservation (a stale one would undo a later Put). */
  private spec(v: InvocableVersion): FunctionSpec {
    const reserved = this.o.store.reserved({ account: v.account, region: v.region }, v.functionName);
    const { reservedConcurrency: _stale, ...rest } = v;
    return this.o.invoker.register(reserved === undefined ? rest : { ...rest, reservedConcurrency: reserved });
  }

  private readyCount(versionKey: string): number {
    let n = 0;
    for (const s of this.o.workerManager.view().sandboxes) {
      if (s.versionKey === versionKey && s.provisioned && s.state !== 'initializing') n++;
    }
    return n;
  }

  private armRetry(): void {
    if (this.cancelRetry !== undefined || this.closed) return;
    const clock = this.o.clock;
    this.cancelRetry = clock.setTimer(clock.now() + (this.o.retryMs ?? 1000), () => {
      this.cancelRetry = undefined;
      // tick() re-places provisioned sandboxes that found no room (or waited for an ENI) earlier.
      this.o.invoker.tickNow();
      this.reconcile();
    });
  }

  private onChange(e: ChangeEvent): void {
    if (e.kind !== 'deleted') return;
    if (e.version === '$LATEST') {
      // The whole function is gone (its rows cascaded away): its reservation no longer shrinks the pool.
      this.o.workerManager.setReservedConcurrency(functionKeyOf(e.caller, e.name), e.caller.account, undefined);
    }
    this.reconcile();
  }

  private onStep(e: BackgroundStepEvent): void {
    const step = e.step;
    // A sandbox that came up needs nothing here: status() counts the ready ones.
    if (step.kind !== 'create-sandbox' || !step.provisioned || e.error === undefined) return;
    const reason =
      e.error instanceof SandboxInitError
        ? `FUNCTION_ERROR_INIT_FAILURE: the function's initialization failed (${e.error.errorType}).`
        : `INTERNAL_ERROR: lambkin could not start a sandbox: ${e.error instanceof Error ? e.error.message : String(e.error)}`;
    this.o.log(`lambkin: provisioned concurrency for ${step.versionKey} failed: ${reason}`);
    for (const c of this.o.store.allProvisioned()) {
      if (this.target(c)?.versionKey === step.versionKey) this.failures.set(configKey(c), reason);
    }
    this.reconcile();
  }
}
