/**
 * The pure placement core: hosts, workers, sandboxes and ENIs as data, decisions as data.
 *
 * No I/O, no timers, no clock: every method takes `now` (ms) and the result depends only on the
 * sequence of calls, so the server (real fleet) and the simulator (virtual fleet) drive the same
 * code and get the same decisions. Time never goes backwards here: a `now` smaller than one seen
 * before is treated as the latest `now` seen.
 *
 * `WorkerManager` is the facade the fleet talks to; the work is done in rooms:
 * - admission.ts: accounts, functions, versions; concurrency limits and throttles;
 * - placement.ts: hosts and workers, where a new sandbox goes, eviction;
 * - idle-pool.ts: idle sandboxes, empty workers, keep-alive expiry and pre-warm timers;
 * - enis.ts: legacy and hyperplane ENIs;
 * - provisioned.ts: provisioned concurrency;
 * - sandbox-lifecycle.ts: a sandbox's states and transitions; model.ts: the data; fleet-view.ts: views.
 */
import { Admission } from './admission.js';
import { Enis } from './enis.js';
import { hostView, sandboxView, workerView } from './fleet-view.js';
import { counterIds } from './ids.js';
import { IdlePool } from './idle-pool.js';
import { FixedKeepAlive, type KeepAlivePolicy } from './keep-alive.js';
import { Prewarm, type Eni } from './model.js';
import { Placement } from './placement.js';
import { ProvisionedConcurrency } from './provisioned.js';
import { afterInit, afterRelease, afterRetire, afterWarmStart, isProvisioned } from './sandbox-lifecycle.js';
import { parsePlacementOptions } from './types.js';
import type { Decision, FleetView, FunctionSpec, IdSource, PlacementCounters, PlacementOptions, PlacementOptionsInput, SandboxView, Step, WorkerView } from './types.js';

/**
 * The worker manager. See the module comment for the model; each method documents its part of the
 * contract with the fleet. Methods that report an outcome for an id the core no longer knows (a late
 * report after cleanup) ignore it and return no steps; a report in the wrong state throws (a bug).
 */
export class WorkerManager {
  /** The validated, frozen options in force. */
  readonly options: PlacementOptions;
  private readonly stats: PlacementCounters = {
    workersCreated: 0,
    workersRetired: 0,
    enisCreated: 0,
    enisDeleted: 0,
    coldStarts: 0,
    narrowColdStarts: 0,
    warmStarts: 0,
    throttles: 0,
    provisionedCreated: 0,
    evictions: 0,
    expirations: 0,
  };
  private readonly admission: Admission;
  private readonly pool: IdlePool;
  private readonly enis: Enis;
  private readonly placement: Placement;
  private readonly provisioned: ProvisionedConcurrency;
  private clock = -Infinity;

  /**
   * @param options validated with `placementOptionsSchema` (already-parsed options pass unchanged).
   * @param ids id generator; the default is `counterIds()`, so two managers fed the same calls agree.
   * @param keepAlive keep-alive policy (keep-alive.ts); default `FixedKeepAlive(options.keepAliveMs)`.
   *   A policy with `fixedKeepAliveMs` replaces `options.keepAliveMs`. A policy holds per-function state:
   *   give each manager its own instance.
   */
  constructor(options: PlacementOptionsInput, ids: IdSource = counterIds(), keepAlive?: KeepAlivePolicy) {
    const o = parsePlacementOptions(options);
    this.options = o;
    const pool = new IdlePool(keepAlive ?? new FixedKeepAlive(o.keepAliveMs), o.workerIdleMs);
    this.pool = pool;
    this.admission = new Admission(o, this.stats, (key) => pool.newPolicyState(key));
    this.enis = new Enis(o.vpcMode === 'legacy', ids, this.stats);
    this.placement = new Placement(o, ids, this.stats, this.admission, this.enis, pool, (v) => this.provisioned.markDeficit(v));
    this.provisioned = new ProvisionedConcurrency(this.admission, this.placement, this.enis, this.stats);
  }

  // ---------------------------------------------------------------------------------------------
  // Invocations

  /**
   * Decides where an invocation of `fn` runs.
   * 1. Concurrency (admission.ts): reserved concurrency, else the account's unreserved pool. Reservations
   *    are learned from each spec (and `setReservedConcurrency`).
   * 2. Warm: the most recently used idle provisioned sandbox of `fn.versionKey`, else the most recently
   *    used idle on-demand one.
   * 3. Cold: a new sandbox placed as placement.ts describes (best fit, else a new worker, else eviction);
   *    `narrow` when it needed a new worker, `eniAttached` when it needed a new legacy ENI.
   * 4. Otherwise throttle with `capacity: true`.
   * Hyperplane mode: a VPC function's ENI must be ready (the caller answers Pending first); throws otherwise.
   * Drivers call `tick(now)` first whenever `now >= nextDeadline()`, so expired sandboxes are not reused.
   */
  acquire(fn: FunctionSpec, now: number): Decision {
    const t = this.advance(now);
    const admission = this.admission;
    let v = admission.version(fn.versionKey);
    const f = admission.functionOf(fn, v);
    const throttled = admission.admit(f);
    if (throttled !== null) return throttled;
    const pool = this.pool;
    if (pool.variable) pool.invocationStarted(f, t);
    if (v === undefined) {
      v = admission.newVersion(fn, f);
    } else {
      if (v.fn !== f) throw new Error(`versionKey ${fn.versionKey} belongs to ${v.fn.key}, not ${fn.functionKey}`);
      const s = pool.takeWarm(v);
      if (s !== null) {
        const busy = afterWarmStart(s.state);
        if (busy === null) throw new Error(`warm start of ${s.id}: sandbox is ${s.state}, not idle`);
        s.state = busy;
        admission.incInflight(f);
        this.stats.warmStarts++;
        return { kind: 'warm', sandboxId: s.id, workerId: s.worker.id };
      }
      // The invocation came before the pre-warm load: a cold start; its end schedules a new pre-warm.
      if (v.prewarms !== null) pool.cancelPrewarm(v);
    }
    const steps: Step[] = [];
    const placed = this.placement.place(v, 'invocation', t, steps);
    if (placed === null) {
      admission.forgetIfUnused(v);
      return admission.throttleCapacity();
    }
    this.stats.coldStarts++;
    if (placed.narrow) this.stats.narrowColdStarts++;
    const s = placed.sandbox;
    return { kind: 'cold', sandboxId: s.id, workerId: s.worker.id, steps, narrow: placed.narrow, eniAttached: placed.eniAttached };
  }

  /**
   * The create-sandbox step succeeded (runtime init done): a sandbox created for an invocation becomes
   * busy with it; a provisioned or pre-warmed one becomes idle (a retired one is stopped: the returned steps).
   */
  ready(sandboxId: string, now: number): Step[] {
    const s = this.placement.sandbox(sandboxId);
    if (s === undefined) return [];
    const next = afterInit(s.state);
    if (next === null) throw new Error(`ready(${sandboxId}): sandbox is ${s.state}, not initializing`);
    const t = this.advance(now);
    if (next === 'stop') {
      const steps: Step[] = [];
      this.placement.removeSandbox(s, 'retired', steps, t);
      return steps;
    }
    s.state = next;
    if (next === 'idle' || next === 'idle-provisioned') this.pool.link(s, t);
    return [];
  }

  /** The provision-worker step succeeded. An empty worker starts its idle period now. */
  workerReady(workerId: string, now: number): void {
    const w = this.placement.worker(workerId);
    if (w === undefined || w.state !== 'provisioning') return;
    this.placement.workerReady(w, this.advance(now));
  }

  /** The attach-eni step succeeded (legacy: attached to its worker; hyperplane: created). */
  eniReady(eniId: string, now: number): void {
    const e = this.enis.get(eniId);
    if (e === undefined) return;
    this.advance(now);
    this.enis.ready(e);
  }

  /**
   * A step of this sandbox's cold start failed; the sandbox is removed (stop-sandbox 'failed'). The
   * core infers which step failed from what is still pending: if the worker is still provisioning, the
   * worker is broken (no new placements; retired once its other reserved sandboxes failed too); if its
   * legacy ENI is still attaching, the ENI is dropped (delete-eni) and the next cold start attaches a
   * new one. A failed provisioned sandbox is replaced on a later tick(), not here (no hot retry loop).
   */
  failed(sandboxId: string, now: number): Step[] {
    const s = this.placement.sandbox(sandboxId);
    if (s === undefined) return [];
    const t = this.advance(now);
    const steps: Step[] = [];
    const w = s.worker;
    const vpcKey = s.version.vpcKey;
    const enis = this.enis;
    let pendingEni: Eni | undefined;
    if (w.state === 'provisioning') this.placement.setRetiring(w);
    else if (enis.legacy && vpcKey !== undefined) {
      const e = enis.onWorker(w, vpcKey);
      if (e !== undefined && !e.ready) pendingEni = e;
    }
    this.placement.removeSandbox(s, 'failed', steps, t);
    if (pendingEni !== undefined && enis.get(pendingEni.id) === pendingEni) enis.detachLegacy(pendingEni, steps);
    return steps;
  }

  /** An attach-eni step failed. Legacy: the ENI is dropped from its worker. Hyperplane: forgotten, so the
   * next `ensureHyperplaneEni` for its vpcKey creates a new one. Returns a delete-eni cleanup step. */
  eniFailed(eniId: string, now: number): Step[] {
    const e = this.enis.get(eniId);
    if (e === undefined) return [];
    this.advance(now);
    const steps: Step[] = [];
    this.enis.failed(e, steps);
    return steps;
  }

  /**
   * The invocation finished: busy -> idle, keep-alive starts now (provisioned sandboxes do not expire).
   * A sandbox marked by retire() is stopped instead (stop-sandbox 'retired'). A per-function keep-alive
   * policy may unload it now and schedule a pre-warm instead (stop-sandbox 'expired').
   */
  release(sandboxId: string, now: number): Step[] {
    const s = this.placement.sandbox(sandboxId);
    if (s === undefined) return [];
    const next = afterRelease(s.state);
    if (next === null) throw new Error(`release(${sandboxId}): sandbox is ${s.state}, not busy`);
    const t = this.advance(now);
    if (next === 'stop') {
      const steps: Step[] = [];
      this.placement.removeSandbox(s, 'retired', steps, t);
      return steps;
    }
    const pool = this.pool;
    const f = s.version.fn;
    if (pool.variable) {
      const win = pool.invocationEnded(f, t);
      if (next === 'idle') {
        if (win.prewarmMs > 0) {
          // The policy expects no invocation before the pre-warm window: unload now, load again later.
          const steps: Step[] = [];
          pool.schedulePrewarm(s.version, t + win.prewarmMs, win.keepAliveMs);
          this.placement.removeSandbox(s, 'expired', steps, t);
          return steps;
        }
        s.kaMs = win.keepAliveMs;
      }
    }
    this.admission.decInflight(f);
    s.state = next;
    pool.link(s, t);
    return [];
  }

  /**
   * The sandbox died, timed out or ran out of memory: removed, memory freed (stop-sandbox 'discarded'
   * so the fleet kills what is left). A provisioned one is replaced at once when there is room.
   */
  discard(sandboxId: string, now: number): Step[] {
    const s = this.placement.sandbox(sandboxId);
    if (s === undefined) return [];
    const t = this.advance(now);
    const steps: Step[] = [];
    const v = s.version;
    this.placement.removeSandbox(s, 'discarded', steps, t);
    if (v.inDeficit) this.provisioned.refill(v, t, steps);
    return steps;
  }

  // ---------------------------------------------------------------------------------------------
  // Configuration

  /**
   * Code or configuration changed, or the function was deleted: for every version matching `match`,
   * idle sandboxes are stopped now ('retired'), initializing and busy ones are marked and stopped when
   * they finish, and provisioned concurrency is dropped (target 0).
   */
  retire(match: (s: { versionKey: string; functionKey: string }) => boolean, now: number): Step[] {
    const t = this.advance(now);
    const steps: Step[] = [];
    for (const v of this.admission.versionsMatching(match)) {
      this.provisioned.drop(v);
      this.pool.cancelPrewarms(v);
      for (let l = v.all.head; l !== null; ) {
        const next = l.next;
        const s = l.item;
        const after = afterRetire(s.state);
        if (after === 'stop') this.placement.removeSandbox(s, 'retired', steps, t);
        else {
          if (isProvisioned(s.state)) v.provCount--;
          s.state = after;
        }
        l = next;
      }
      this.admission.forgetIfUnused(v);
    }
    return steps;
  }

  /**
   * Keeps `count` provisioned-concurrency sandboxes of `fn.versionKey` (provisioned.ts): pre-initialised,
   * used before on-demand ones, never expire, never evicted. Raising the count places new ones like cold
   * starts (steps returned in order; what cannot be placed now is retried by tick()). Lowering it stops
   * idle provisioned sandboxes and turns busy or initializing ones into ordinary on-demand sandboxes.
   * 0 removes the configuration.
   */
  setProvisioned(fn: FunctionSpec, count: number, now: number): Step[] {
    if (!Number.isInteger(count) || count < 0) throw new RangeError(`provisioned count must be a non-negative integer, got ${count}`);
    const t = this.advance(now);
    const steps: Step[] = [];
    this.provisioned.set(fn, count, t, steps);
    return steps;
  }

  /**
   * Records a function's reserved concurrency before it is invoked (a spec passed to acquire() updates
   * it too). undefined removes the reservation (e.g. the function was deleted).
   */
  setReservedConcurrency(functionKey: string, account: string, reserved: number | undefined): void {
    this.admission.setReserved(functionKey, account, reserved);
  }

  /**
   * Hyperplane mode: function `functionKey` was created or its VpcConfig changed to `vpcKey` (undefined:
   * no VPC any more, or deleted). Returns attach-eni (create, no workerId) when no ENI exists for the
   * vpcKey yet, and delete-eni for the previous vpcKey when no function uses it any more. The caller keeps
   * the function Pending until `hyperplaneEniState(vpcKey)` is 'ready'. Legacy mode: no-op.
   */
  ensureHyperplaneEni(functionKey: string, vpcKey: string | undefined, now: number): Step[] {
    if (this.enis.legacy) return [];
    this.advance(now);
    const steps: Step[] = [];
    this.enis.ensureHyperplane(functionKey, vpcKey, steps);
    return steps;
  }

  /** Hyperplane ENI state of a vpcKey: undefined when none exists (or in legacy mode). */
  hyperplaneEniState(vpcKey: string): 'pending' | 'ready' | undefined {
    return this.enis.hyperplaneState(vpcKey);
  }

  // ---------------------------------------------------------------------------------------------
  // Time

  /**
   * Does everything due at or before `now`, in time order: keep-alive expiries (stop-sandbox 'expired',
   * at idleSince + keep-alive), pre-warm loads, and retirements of workers empty for workerIdleMs
   * (delete-eni for their legacy ENIs, then retire-worker). A worker emptied by an expiry starts its idle
   * period at the expiry time, so a late tick gives the same result as a punctual one. Then retries
   * provisioned-concurrency sandboxes that could not be placed earlier.
   */
  tick(now: number): Step[] {
    const t = this.advance(now);
    const steps: Step[] = [];
    const pool = this.pool;
    for (;;) {
      const te = pool.sandboxDeadline();
      const tw = pool.workerDeadline();
      if (te <= tw) {
        if (te > t || te === Infinity) break;
        const due = pool.takeDue();
        if (due instanceof Prewarm) this.firePrewarm(due, te, steps);
        else if (due !== undefined) {
          this.stats.expirations++;
          this.placement.removeSandbox(due, 'expired', steps, te);
        }
      } else {
        const w = pool.firstEmpty();
        if (tw > t || w === null) break;
        this.placement.removeWorker(w, steps);
      }
    }
    this.provisioned.refillDeficits(t, steps);
    return steps;
  }

  /** Earliest time at which tick() has work (expiry, pre-warm load or worker retirement), undefined if none. */
  nextDeadline(): number | undefined {
    const te = this.pool.sandboxDeadline();
    const tw = this.pool.workerDeadline();
    const d = te < tw ? te : tw;
    return d === Infinity ? undefined : d;
  }

  // ---------------------------------------------------------------------------------------------
  // Queries

  /**
   * Invocations in flight (sandboxes initializing for an invocation, or busy; idle and provisioned-idle
   * ones do not count): of one function, or of all accounts when `functionKey` is omitted.
   */
  concurrency(functionKey?: string): number {
    return this.admission.concurrency(functionKey);
  }

  /** Invocations in flight of one account. */
  accountInFlight(account: string): number {
    return this.admission.accountInFlight(account);
  }

  /** Counters since construction (a copy; O(1), unlike view()). */
  counters(): PlacementCounters {
    return { ...this.stats };
  }

  /** One sandbox as in view(), or undefined. */
  describeSandbox(sandboxId: string): SandboxView | undefined {
    const s = this.placement.sandbox(sandboxId);
    return s === undefined ? undefined : sandboxView(s);
  }

  /** Plain JSON snapshot of hosts, workers, sandboxes, ENIs and counters (O(fleet); not for hot paths). */
  view(): FleetView {
    const workers: WorkerView[] = [];
    for (const w of this.placement.allWorkers()) workers.push(workerView(w));
    const sandboxes: SandboxView[] = [];
    for (const s of this.placement.allSandboxes()) sandboxes.push(sandboxView(s));
    return {
      now: this.clock === -Infinity ? 0 : this.clock,
      options: this.options,
      hosts: this.placement.hosts.map(hostView),
      workers,
      sandboxes,
      enis: this.enis.views(),
      counters: this.counters(),
    };
  }

  // ---------------------------------------------------------------------------------------------
  // Internals

  private advance(now: number): number {
    if (now > this.clock) this.clock = now;
    else if (Number.isNaN(now)) throw new RangeError('now must be a number');
    return this.clock;
  }

  /**
   * Loads a pre-warmed sandbox: placed like a cold start (may provision a worker, attach a legacy ENI or
   * evict), but nobody waits for it; create-sandbox carries `prewarm: true`. Skipped without room, or
   * while a hyperplane ENI is not ready.
   */
  private firePrewarm(p: Prewarm, t: number, steps: Step[]): void {
    this.pool.prewarmFired(p);
    const v = p.version;
    if (!this.admission.isCurrent(v)) return;
    const pending = v.vpcKey !== undefined && this.enis.hyperplanePending(v.vpcKey);
    const placed = pending ? null : this.placement.place(v, 'prewarm', t, steps);
    if (placed === null) {
      this.admission.forgetIfUnused(v);
      return;
    }
    placed.sandbox.kaMs = p.keepAliveMs;
  }
}
