/**
 * The pure placement core: hosts, workers, sandboxes and ENIs as data, decisions as data.
 *
 * No I/O, no timers, no clock: every method takes `now` (ms) and the result depends only on the
 * sequence of calls, so the server (real fleet) and the simulator (virtual fleet) drive the same
 * code and get the same decisions. Time never goes backwards here: a `now` smaller than one seen
 * before is treated as the latest `now` seen.
 *
 * Indexes (no full scans on acquire / release / tick):
 * - per version: idle sandboxes as an MRU list (warm starts take the tail so the rest age out), and a
 *   separate list of idle provisioned-concurrency sandboxes (used first);
 * - one global LRU list of idle non-provisioned sandboxes: eviction order (evictions walk from the head),
 *   and, with a constant keep-alive (the default `FixedKeepAlive`), also expiry order (tick pops from the
 *   head); with a per-function policy (keep-alive.ts, e.g. the hybrid histogram policy) expiries and
 *   pre-warm loads are timers in a heap instead;
 * - per account: workers in a best-fit index by free memory (`FitIndex`), plus, in legacy VPC mode,
 *   one best-fit index per vpcKey holding the workers that have (or are attaching) that ENI;
 * - a list of empty ready workers ordered by when they became empty (= retirement order).
 */
import { FitIndex, FitNode } from './fit-index.js';
import { counterIds } from './ids.js';
import { FixedKeepAlive, type KeepAlivePolicy, type KeepAliveWindows } from './keep-alive.js';
import { TimerHeap } from './keep-alive-heap.js';
import { parsePlacementOptions } from './types.js';
import type {
  Decision,
  EniView,
  FleetView,
  FunctionSpec,
  IdSource,
  PlacementCounters,
  PlacementOptions,
  PlacementOptionsInput,
  SandboxState,
  SandboxView,
  Step,
  StopReason,
  WorkerState,
  WorkerView,
} from './types.js';

class Host {
  reservedMb = 0;
  workerCount = 0;
  constructor(
    readonly id: string,
    readonly index: number,
    readonly memoryMb: number,
  ) {}
}

class Account {
  readonly fit = new FitIndex<Worker>();
  readonly eniFit = new Map<string, FitIndex<Worker>>();
  readonly workers = new Set<Worker>();
  /** Invocations in flight (initializing for an invocation, or busy). */
  inflight = 0;
  /** Sum of the reserved concurrency of the account's functions that have one. */
  reservedSum = 0;
  /** Part of `inflight` that belongs to functions with reserved concurrency. */
  reservedInflight = 0;
  constructor(readonly name: string) {}
}

class Fn {
  reserved: number | undefined = undefined;
  inflight = 0;
  constructor(
    readonly key: string,
    readonly account: Account,
    /** The keep-alive policy's state for this function (null with a fixed keep-alive). */
    readonly policyState: unknown,
  ) {}
}

class Version {
  idleHead: Sandbox | null = null;
  idleTail: Sandbox | null = null;
  provHead: Sandbox | null = null;
  provTail: Sandbox | null = null;
  allHead: Sandbox | null = null;
  allTail: Sandbox | null = null;
  sandboxCount = 0;
  provTarget = 0;
  /** Live sandboxes flagged provisioned (any state). */
  provCount = 0;
  inDeficit = false;
  /** Pre-warm loads scheduled for this version (per-function keep-alive policies only). */
  prewarms: Prewarm[] | null = null;
  constructor(
    readonly key: string,
    readonly fn: Fn,
    readonly memoryMb: number,
    readonly vpcKey: string | undefined,
  ) {}
}

class Eni {
  ready = false;
  fitIndex: FitIndex<Worker> | null = null;
  fitNode: FitNode<Worker> | null = null;
  constructor(
    readonly id: string,
    readonly vpcKey: string,
    readonly worker: Worker | null,
  ) {}
}

class Worker {
  state: WorkerState = 'provisioning';
  usedMb = 0;
  sandboxCount = 0;
  /** Idle non-provisioned (evictable) sandboxes and their memory. */
  idleCount = 0;
  idleMb = 0;
  readonly enis: Eni[] = [];
  readonly fitNode: FitNode<Worker>;
  inEmpty = false;
  emptySince = 0;
  ePrev: Worker | null = null;
  eNext: Worker | null = null;
  /** ready, has sandboxes, all of them evictable: evicting them all frees the worker. */
  reclaimable = false;
  scratchEpoch = 0;
  scratchFreed = 0;
  scratchIdle = 0;
  constructor(
    readonly id: string,
    readonly account: Account,
    readonly host: Host,
    readonly capacityMb: number,
  ) {
    this.fitNode = new FitNode<Worker>(this);
  }
}

class Sandbox {
  state: SandboxState = 'initializing';
  inflight = false;
  retired = false;
  idleSince = -1;
  /** Per-function keep-alive only: the keep-alive of the next idle period, and its timer fields. */
  kaMs = 0;
  at = 0;
  seq = 0;
  heapIndex = -1;
  vPrev: Sandbox | null = null;
  vNext: Sandbox | null = null;
  gPrev: Sandbox | null = null;
  gNext: Sandbox | null = null;
  aPrev: Sandbox | null = null;
  aNext: Sandbox | null = null;
  constructor(
    readonly id: string,
    readonly worker: Worker,
    readonly version: Version,
    public provisioned: boolean,
    /** Created by acquire() for an invocation: becomes busy (not idle) when ready. */
    readonly claimed: boolean,
  ) {}
}

/** A scheduled pre-warm load of one sandbox of `version` (TimerHeap item). */
class Prewarm {
  seq = 0;
  heapIndex = -1;
  constructor(
    public at: number,
    readonly version: Version,
    readonly keepAliveMs: number,
  ) {}
}

const THROTTLE_ACCOUNT: Decision = Object.freeze({ kind: 'throttle', reason: 'ConcurrentInvocationLimitExceeded', capacity: false });
const THROTTLE_RESERVED: Decision = Object.freeze({
  kind: 'throttle',
  reason: 'ReservedFunctionConcurrentInvocationLimitExceeded',
  capacity: false,
});
const THROTTLE_CAPACITY: Decision = Object.freeze({ kind: 'throttle', reason: 'ConcurrentInvocationLimitExceeded', capacity: true });

/**
 * The worker manager. See the module comment for the model; each method documents its part of the
 * contract with the fleet. Methods that report an outcome for an id the core no longer knows (a late
 * report after cleanup) ignore it and return no steps; a report in the wrong state throws (a bug).
 */
export class WorkerManager {
  /** The validated, frozen options in force. */
  readonly options: PlacementOptions;
  private readonly ids: IdSource;
  private readonly legacy: boolean;
  private readonly hosts: Host[] = [];
  private hostHint = 0;
  private readonly accounts = new Map<string, Account>();
  private readonly functions = new Map<string, Fn>();
  private readonly versions = new Map<string, Version>();
  private readonly workers = new Map<string, Worker>();
  private readonly sandboxes = new Map<string, Sandbox>();
  /** Every ENI by id, both modes. */
  private readonly enis = new Map<string, Eni>();
  /** Hyperplane: the ENI of each vpcKey, functions per vpcKey, vpcKey per function. */
  private readonly vpcEnis = new Map<string, Eni>();
  private readonly vpcUsers = new Map<string, number>();
  private readonly fnVpc = new Map<string, string>();
  private lruHead: Sandbox | null = null;
  private lruTail: Sandbox | null = null;
  private emptyHead: Worker | null = null;
  private emptyTail: Worker | null = null;
  private reclaimableCount = 0;
  private readonly deficits = new Set<Version>();
  private clock = -Infinity;
  private epoch = 0;
  private inflightTotal = 0;
  private lastNarrow = false;
  private lastEniAttached = false;
  private readonly keepAlive: KeepAlivePolicy;
  /** Constant keep-alive (LRU expiry path), or NaN when the policy decides per function. */
  private readonly fixedKa: number;
  private readonly variable: boolean;
  private readonly timers = new TimerHeap<Sandbox | Prewarm>();
  private readonly windows: KeepAliveWindows = { prewarmMs: 0, keepAliveMs: 0 };
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

  /**
   * @param options validated with `placementOptionsSchema` (already-parsed options pass unchanged).
   * @param ids id generator; the default is `counterIds()`, so two managers fed the same calls agree.
   * @param keepAlive keep-alive policy (keep-alive.ts); default `FixedKeepAlive(options.keepAliveMs)`.
   *   A policy with `fixedKeepAliveMs` replaces `options.keepAliveMs`. A policy holds per-function state:
   *   give each manager its own instance.
   */
  constructor(options: PlacementOptionsInput, ids: IdSource = counterIds(), keepAlive?: KeepAlivePolicy) {
    this.options = parsePlacementOptions(options);
    this.ids = ids;
    this.keepAlive = keepAlive ?? new FixedKeepAlive(this.options.keepAliveMs);
    this.variable = this.keepAlive.fixedKeepAliveMs === undefined;
    this.fixedKa = this.keepAlive.fixedKeepAliveMs ?? NaN;
    this.legacy = this.options.vpcMode === 'legacy';
    for (let i = 0; i < this.options.hostCount; i++) this.hosts.push(new Host(`host-${i}`, i, this.options.hostMemoryMb));
  }

  // ---------------------------------------------------------------------------------------------
  // Invocations

  /**
   * Decides where an invocation of `fn` runs.
   * 1. Concurrency: a function with reservedConcurrency r is throttled at r in flight (0 blocks), with
   *    `ReservedFunctionConcurrentInvocationLimitExceeded`; the others share the unreserved pool
   *    (accountConcurrency minus the account's reservations) and are throttled with
   *    `ConcurrentInvocationLimitExceeded`. Reservations are learned from each spec (and
   *    `setReservedConcurrency`).
   * 2. Warm: the most recently used idle provisioned sandbox of `fn.versionKey`, else the most recently
   *    used idle on-demand one.
   * 3. Cold, in a worker of the account that is ready or provisioning and has room: best fit (least free
   *    memory that fits); in legacy VPC mode a worker that has (or is attaching) the ENI first.
   * 4. Narrow cold: a new worker on the first host with budget; else retire the longest-empty worker
   *    (any account) and use its host; else evict least-recently-used idle sandboxes (any account) until
   *    either a worker of this account has room or a worker of another account is empty (then retired and
   *    replaced). Only the sandboxes of that one target worker are evicted.
   * 5. Otherwise throttle with `capacity: true`.
   * Hyperplane mode: a VPC function's ENI must be ready (the caller answers Pending first); throws otherwise.
   * Drivers call `tick(now)` first whenever `now >= nextDeadline()`, so expired sandboxes are not reused.
   */
  acquire(fn: FunctionSpec, now: number): Decision {
    const t = this.advance(now);
    let v = this.versions.get(fn.versionKey);
    // Hot path: a known version carries its function, saving a map lookup (and a cache miss).
    const f = v !== undefined && v.fn.key === fn.functionKey && v.fn.account.name === fn.account ? v.fn : this.fnState(fn);
    if (fn.reservedConcurrency !== f.reserved) this.applyReserved(f, fn.reservedConcurrency);
    const a = f.account;
    if (f.reserved !== undefined) {
      if (f.inflight >= f.reserved) return this.throttle(THROTTLE_RESERVED);
    } else if (a.inflight - a.reservedInflight >= this.options.accountConcurrency - a.reservedSum) {
      return this.throttle(THROTTLE_ACCOUNT);
    }
    if (this.variable) this.keepAlive.invocationStarted(f.policyState, t);
    if (v === undefined) {
      v = this.newVersion(fn, f);
    } else {
      if (v.fn !== f) throw new Error(`versionKey ${fn.versionKey} belongs to ${v.fn.key}, not ${fn.functionKey}`);
      const s = v.provTail ?? v.idleTail;
      if (s !== null) {
        this.unlinkIdle(s);
        s.state = 'busy';
        this.incInflight(s);
        this.stats.warmStarts++;
        return { kind: 'warm', sandboxId: s.id, workerId: s.worker.id };
      }
      // The invocation came before the pre-warm load: a cold start; its end schedules a new pre-warm.
      if (v.prewarms !== null) this.cancelPrewarm(v);
    }
    const steps: Step[] = [];
    const s = this.place(v, true, false, t, steps);
    if (s === null) {
      if (this.collectable(v)) this.versions.delete(v.key);
      return this.throttle(THROTTLE_CAPACITY);
    }
    this.stats.coldStarts++;
    if (this.lastNarrow) this.stats.narrowColdStarts++;
    return { kind: 'cold', sandboxId: s.id, workerId: s.worker.id, steps, narrow: this.lastNarrow, eniAttached: this.lastEniAttached };
  }

  /**
   * The create-sandbox step succeeded (runtime init done): a sandbox created for an invocation becomes
   * busy with it; a provisioned one becomes idle (a retired one is stopped: the returned steps).
   */
  ready(sandboxId: string, now: number): Step[] {
    const s = this.sandboxes.get(sandboxId);
    if (s === undefined) return [];
    if (s.state !== 'initializing') throw new Error(`ready(${sandboxId}): sandbox is ${s.state}, not initializing`);
    const t = this.advance(now);
    if (s.claimed) {
      s.state = 'busy';
      return [];
    }
    const steps: Step[] = [];
    if (s.retired) this.removeSandbox(s, 'retired', steps, t);
    else this.linkIdle(s, t);
    return steps;
  }

  /** The provision-worker step succeeded. An empty worker starts its idle period now. */
  workerReady(workerId: string, now: number): void {
    const w = this.workers.get(workerId);
    if (w === undefined || w.state !== 'provisioning') return;
    const t = this.advance(now);
    w.state = 'ready';
    this.refreshWorker(w);
    if (w.sandboxCount === 0) this.linkEmpty(w, t);
  }

  /** The attach-eni step succeeded (legacy: attached to its worker; hyperplane: created). */
  eniReady(eniId: string, now: number): void {
    const e = this.enis.get(eniId);
    if (e === undefined) return;
    this.advance(now);
    e.ready = true;
  }

  /**
   * A step of this sandbox's cold start failed; the sandbox is removed (stop-sandbox 'failed'). The
   * core infers which step failed from what is still pending: if the worker is still provisioning, the
   * worker is broken (no new placements; retired once its other reserved sandboxes failed too); if its
   * legacy ENI is still attaching, the ENI is dropped (delete-eni) and the next cold start attaches a
   * new one. A failed provisioned sandbox is replaced on a later tick(), not here (no hot retry loop).
   */
  failed(sandboxId: string, now: number): Step[] {
    const s = this.sandboxes.get(sandboxId);
    if (s === undefined) return [];
    const t = this.advance(now);
    const steps: Step[] = [];
    const w = s.worker;
    const v = s.version;
    let pendingEni: Eni | undefined;
    if (w.state === 'provisioning') this.setRetiring(w);
    else if (this.legacy && v.vpcKey !== undefined) {
      const e = findEni(w, v.vpcKey);
      if (e !== undefined && !e.ready) pendingEni = e;
    }
    this.removeSandbox(s, 'failed', steps, t);
    if (pendingEni !== undefined && this.enis.get(pendingEni.id) === pendingEni) this.detachLegacyEni(pendingEni, steps);
    return steps;
  }

  /** An attach-eni step failed. Legacy: the ENI is dropped from its worker. Hyperplane: forgotten, so the
   * next `ensureHyperplaneEni` for its vpcKey creates a new one. Returns a delete-eni cleanup step. */
  eniFailed(eniId: string, now: number): Step[] {
    const e = this.enis.get(eniId);
    if (e === undefined) return [];
    this.advance(now);
    const steps: Step[] = [];
    if (e.worker !== null) this.detachLegacyEni(e, steps);
    else {
      this.enis.delete(e.id);
      this.vpcEnis.delete(e.vpcKey);
      this.stats.enisDeleted++;
      steps.push({ kind: 'delete-eni', eniId: e.id });
    }
    return steps;
  }

  /**
   * The invocation finished: busy -> idle, keep-alive starts now (provisioned sandboxes do not expire).
   * A sandbox marked by retire() is stopped instead (stop-sandbox 'retired').
   */
  release(sandboxId: string, now: number): Step[] {
    const s = this.sandboxes.get(sandboxId);
    if (s === undefined) return [];
    if (s.state !== 'busy') throw new Error(`release(${sandboxId}): sandbox is ${s.state}, not busy`);
    const t = this.advance(now);
    this.decInflight(s);
    if (s.retired) {
      const steps: Step[] = [];
      this.removeSandbox(s, 'retired', steps, t);
      return steps;
    }
    if (this.variable) {
      const win = this.windows;
      this.keepAlive.invocationEnded(s.version.fn.policyState, t, win);
      if (!s.provisioned) {
        if (win.prewarmMs > 0) {
          // The policy expects no invocation before the pre-warm window: unload now, load again later.
          const steps: Step[] = [];
          this.schedulePrewarm(s.version, t + win.prewarmMs, win.keepAliveMs);
          this.removeSandbox(s, 'expired', steps, t);
          return steps;
        }
        s.kaMs = win.keepAliveMs;
      }
    }
    this.linkIdle(s, t);
    return [];
  }

  /**
   * The sandbox died, timed out or ran out of memory: removed, memory freed (stop-sandbox 'discarded'
   * so the fleet kills what is left). A provisioned one is replaced at once when there is room.
   */
  discard(sandboxId: string, now: number): Step[] {
    const s = this.sandboxes.get(sandboxId);
    if (s === undefined) return [];
    const t = this.advance(now);
    const steps: Step[] = [];
    const v = s.version;
    this.removeSandbox(s, 'discarded', steps, t);
    if (v.inDeficit) this.refill(v, t, steps);
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
    const matched: Version[] = [];
    for (const v of this.versions.values()) if (match({ versionKey: v.key, functionKey: v.fn.key })) matched.push(v);
    const steps: Step[] = [];
    for (const v of matched) {
      v.provTarget = 0;
      this.clearDeficit(v);
      while (v.prewarms !== null) this.cancelPrewarm(v);
      for (let s = v.allHead; s !== null; ) {
        const next = s.aNext;
        if (s.state === 'idle') this.removeSandbox(s, 'retired', steps, t);
        else {
          s.retired = true;
          if (s.provisioned) {
            s.provisioned = false;
            v.provCount--;
          }
        }
        s = next;
      }
      if (v.sandboxCount === 0 && this.versions.get(v.key) === v) this.versions.delete(v.key);
    }
    return steps;
  }

  /**
   * Keeps `count` provisioned-concurrency sandboxes of `fn.versionKey`: they are pre-initialised
   * (create-sandbox with provisioned: true; init runs without an invocation), used before on-demand
   * ones, never expire and are never evicted. Raising the count places new ones like cold starts (may
   * provision workers and attach legacy ENIs; the steps are returned in order); what cannot be placed
   * now is retried by tick(). Lowering it stops idle provisioned sandboxes and turns busy or initializing
   * ones into ordinary on-demand sandboxes. 0 removes the configuration.
   */
  setProvisioned(fn: FunctionSpec, count: number, now: number): Step[] {
    if (!Number.isInteger(count) || count < 0) throw new RangeError(`provisioned count must be a non-negative integer, got ${count}`);
    const t = this.advance(now);
    const f = this.fnState(fn);
    const v = this.versions.get(fn.versionKey) ?? this.newVersion(fn, f);
    v.provTarget = count;
    const steps: Step[] = [];
    if (v.provCount > count) {
      let excess = v.provCount - count;
      while (excess > 0 && v.provHead !== null) {
        this.removeSandbox(v.provHead, 'retired', steps, t);
        excess--;
      }
      for (let s = v.allHead; s !== null && excess > 0; s = s.aNext) {
        if (s.provisioned) {
          s.provisioned = false;
          v.provCount--;
          excess--;
        }
      }
    }
    if (v.provCount < count) this.refill(v, t, steps);
    else this.clearDeficit(v);
    if (this.collectable(v) && this.versions.get(v.key) === v) this.versions.delete(v.key);
    return steps;
  }

  /**
   * Records a function's reserved concurrency before it is invoked (a spec passed to acquire() updates
   * it too). undefined removes the reservation (e.g. the function was deleted).
   */
  setReservedConcurrency(functionKey: string, account: string, reserved: number | undefined): void {
    const f = this.functions.get(functionKey) ?? this.newFn(functionKey, account);
    if (f.account.name !== account) throw new Error(`function ${functionKey} belongs to account ${f.account.name}, not ${account}`);
    this.applyReserved(f, reserved);
  }

  /**
   * Hyperplane mode: function `functionKey` was created or its VpcConfig changed to `vpcKey` (undefined:
   * no VPC any more, or deleted). Returns attach-eni (create, no workerId) when no ENI exists for the
   * vpcKey yet, and delete-eni for the previous vpcKey when no function uses it any more. The caller keeps
   * the function Pending until `hyperplaneEniState(vpcKey)` is 'ready'. Legacy mode: no-op.
   */
  ensureHyperplaneEni(functionKey: string, vpcKey: string | undefined, now: number): Step[] {
    if (this.legacy) return [];
    this.advance(now);
    const steps: Step[] = [];
    const old = this.fnVpc.get(functionKey);
    if (vpcKey !== undefined) {
      if (old !== vpcKey) {
        this.fnVpc.set(functionKey, vpcKey);
        this.vpcUsers.set(vpcKey, (this.vpcUsers.get(vpcKey) ?? 0) + 1);
      }
      if (!this.vpcEnis.has(vpcKey)) {
        const e = new Eni(this.ids.next('eni'), vpcKey, null);
        this.vpcEnis.set(vpcKey, e);
        this.enis.set(e.id, e);
        this.stats.enisCreated++;
        steps.push({ kind: 'attach-eni', eniId: e.id, vpcKey });
      }
    } else {
      this.fnVpc.delete(functionKey);
    }
    if (old !== undefined && old !== vpcKey) {
      const n = (this.vpcUsers.get(old) ?? 1) - 1;
      if (n > 0) this.vpcUsers.set(old, n);
      else {
        this.vpcUsers.delete(old);
        const e = this.vpcEnis.get(old);
        if (e !== undefined) {
          this.vpcEnis.delete(old);
          this.enis.delete(e.id);
          this.stats.enisDeleted++;
          steps.push({ kind: 'delete-eni', eniId: e.id });
        }
      }
    }
    return steps;
  }

  /** Hyperplane ENI state of a vpcKey: undefined when none exists (or in legacy mode). */
  hyperplaneEniState(vpcKey: string): 'pending' | 'ready' | undefined {
    const e = this.vpcEnis.get(vpcKey);
    return e === undefined ? undefined : e.ready ? 'ready' : 'pending';
  }

  // ---------------------------------------------------------------------------------------------
  // Time

  /**
   * Does everything due at or before `now`, in time order: keep-alive expiries (stop-sandbox 'expired',
   * at idleSince + keepAliveMs) and retirements of workers empty for workerIdleMs (delete-eni for their
   * legacy ENIs, then retire-worker). A worker emptied by an expiry starts its idle period at the expiry
   * time, so a late tick gives the same result as a punctual one. Then retries provisioned-concurrency
   * sandboxes that could not be placed earlier.
   */
  tick(now: number): Step[] {
    const t = this.advance(now);
    const steps: Step[] = [];
    const ka = this.fixedKa;
    const wi = this.options.workerIdleMs;
    const variable = this.variable;
    for (;;) {
      const timer = variable ? this.timers.peek() : undefined;
      const s = variable ? null : this.lruHead;
      const w = this.emptyHead;
      const te = variable ? (timer === undefined ? Infinity : timer.at) : s === null ? Infinity : s.idleSince + ka;
      const tw = w === null ? Infinity : w.emptySince + wi;
      if (te <= tw) {
        if (te > t || te === Infinity) break;
        if (variable) {
          this.timers.pop();
          if (timer instanceof Prewarm) this.firePrewarm(timer, te, steps);
          else if (timer !== undefined) {
            this.stats.expirations++;
            this.removeSandbox(timer, 'expired', steps, te);
          }
        } else if (s !== null) {
          this.stats.expirations++;
          this.removeSandbox(s, 'expired', steps, te);
        }
      } else {
        if (tw > t || w === null) break;
        this.removeWorker(w, steps);
      }
    }
    if (this.deficits.size > 0) for (const v of [...this.deficits]) this.refill(v, t, steps);
    return steps;
  }

  /** Earliest time at which tick() has work (expiry, pre-warm load or worker retirement), undefined if none. */
  nextDeadline(): number | undefined {
    const te = this.variable ? this.timers.peekAt() : this.lruHead === null ? Infinity : this.lruHead.idleSince + this.fixedKa;
    const tw = this.emptyHead === null ? Infinity : this.emptyHead.emptySince + this.options.workerIdleMs;
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
    if (functionKey === undefined) return this.inflightTotal;
    return this.functions.get(functionKey)?.inflight ?? 0;
  }

  /** Invocations in flight of one account. */
  accountInFlight(account: string): number {
    return this.accounts.get(account)?.inflight ?? 0;
  }

  /** Counters since construction (a copy; O(1), unlike view()). */
  counters(): PlacementCounters {
    return { ...this.stats };
  }

  /** One sandbox as in view(), or undefined. */
  describeSandbox(sandboxId: string): SandboxView | undefined {
    const s = this.sandboxes.get(sandboxId);
    return s === undefined ? undefined : sandboxView(s);
  }

  /** Plain JSON snapshot of hosts, workers, sandboxes, ENIs and counters (O(fleet); not for hot paths). */
  view(): FleetView {
    const workers: WorkerView[] = [];
    for (const w of this.workers.values()) {
      workers.push({
        id: w.id,
        account: w.account.name,
        hostId: w.host.id,
        state: w.state,
        capacityMb: w.capacityMb,
        usedMb: w.usedMb,
        sandboxes: w.sandboxCount,
        enis: w.enis.map((e) => e.id),
        emptySince: w.inEmpty ? w.emptySince : null,
      });
    }
    const sandboxes: SandboxView[] = [];
    for (const s of this.sandboxes.values()) sandboxes.push(sandboxView(s));
    const enis: EniView[] = [];
    for (const e of this.enis.values()) {
      const state = e.ready ? 'ready' : 'pending';
      if (e.worker !== null) enis.push({ id: e.id, vpcKey: e.vpcKey, mode: 'legacy', workerId: e.worker.id, state });
      else enis.push({ id: e.id, vpcKey: e.vpcKey, mode: 'hyperplane', state, functions: this.vpcUsers.get(e.vpcKey) ?? 0 });
    }
    return {
      now: this.clock === -Infinity ? 0 : this.clock,
      options: this.options,
      hosts: this.hosts.map((h) => ({ id: h.id, memoryMb: h.memoryMb, reservedMb: h.reservedMb, workers: h.workerCount })),
      workers,
      sandboxes,
      enis,
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

  private throttle(d: Decision): Decision {
    this.stats.throttles++;
    return d;
  }

  private account(name: string): Account {
    let a = this.accounts.get(name);
    if (a === undefined) {
      a = new Account(name);
      this.accounts.set(name, a);
    }
    return a;
  }

  private newFn(key: string, account: string): Fn {
    const f = new Fn(key, this.account(account), this.variable ? this.keepAlive.createState(key) : null);
    this.functions.set(key, f);
    return f;
  }

  private fnState(spec: FunctionSpec): Fn {
    let f = this.functions.get(spec.functionKey);
    if (f === undefined) f = this.newFn(spec.functionKey, spec.account);
    else if (f.account.name !== spec.account) {
      throw new Error(`function ${spec.functionKey} belongs to account ${f.account.name}, not ${spec.account}`);
    }
    if (spec.reservedConcurrency !== f.reserved) this.applyReserved(f, spec.reservedConcurrency);
    return f;
  }

  private applyReserved(f: Fn, r: number | undefined): void {
    if (r !== undefined && (!Number.isInteger(r) || r < 0)) throw new RangeError(`reservedConcurrency must be a non-negative integer, got ${r}`);
    const a = f.account;
    if (f.reserved !== undefined) {
      a.reservedSum -= f.reserved;
      a.reservedInflight -= f.inflight;
    }
    f.reserved = r;
    if (r !== undefined) {
      a.reservedSum += r;
      a.reservedInflight += f.inflight;
    }
  }

  private newVersion(spec: FunctionSpec, f: Fn): Version {
    const m = spec.memoryMb;
    if (!Number.isInteger(m) || m <= 0 || m > this.options.workerMemoryMb) {
      throw new RangeError(`memoryMb must be an integer in 1..${this.options.workerMemoryMb}, got ${m}`);
    }
    const v = new Version(spec.versionKey, f, m, spec.vpcKey);
    this.versions.set(v.key, v);
    return v;
  }

  private incInflight(s: Sandbox): void {
    s.inflight = true;
    const f = s.version.fn;
    f.inflight++;
    f.account.inflight++;
    if (f.reserved !== undefined) f.account.reservedInflight++;
    this.inflightTotal++;
  }

  private decInflight(s: Sandbox): void {
    s.inflight = false;
    const f = s.version.fn;
    f.inflight--;
    f.account.inflight--;
    if (f.reserved !== undefined) f.account.reservedInflight--;
    this.inflightTotal--;
  }

  /**
   * Places a new sandbox of `v` (see acquire() for the policy), appending the steps it needs. Sets
   * lastNarrow / lastEniAttached. Returns null when there is no room anywhere.
   */
  private place(v: Version, claimed: boolean, provisioned: boolean, t: number, steps: Step[]): Sandbox | null {
    this.lastNarrow = false;
    this.lastEniAttached = false;
    const vpcKey = v.vpcKey;
    if (vpcKey !== undefined && !this.legacy) {
      const e = this.vpcEnis.get(vpcKey);
      if (e === undefined || !e.ready) {
        throw new Error(`hyperplane ENI for ${vpcKey} is ${e === undefined ? 'missing' : 'pending'}: the function is not Active`);
      }
    }
    const a = v.fn.account;
    const need = v.memoryMb;
    const legacyVpc = this.legacy && vpcKey !== undefined;
    let w: Worker | undefined;
    if (legacyVpc) w = a.eniFit.get(vpcKey)?.bestFit(need);
    if (w === undefined) w = a.fit.bestFit(need);
    if (w === undefined) w = this.makeRoom(a, need, t, steps);
    if (w === undefined) return null;
    if (w.state === 'provisioning') {
      steps.push({ kind: 'provision-worker', workerId: w.id, account: a.name, memoryMb: w.capacityMb, hostId: w.host.id });
    }
    if (legacyVpc) {
      let e = findEni(w, vpcKey);
      if (e === undefined) {
        e = this.attachLegacyEni(w, vpcKey);
        this.lastEniAttached = true;
      }
      if (!e.ready) steps.push({ kind: 'attach-eni', eniId: e.id, workerId: w.id, vpcKey });
    }
    const s = new Sandbox(this.ids.next('sandbox'), w, v, provisioned, claimed);
    s.kaMs = this.options.keepAliveMs;
    this.sandboxes.set(s.id, s);
    s.aPrev = v.allTail;
    if (v.allTail !== null) v.allTail.aNext = s;
    else v.allHead = s;
    v.allTail = s;
    v.sandboxCount++;
    if (provisioned) v.provCount++;
    w.usedMb += need;
    w.sandboxCount++;
    if (w.inEmpty) this.unlinkEmpty(w);
    this.refreshWorker(w);
    if (claimed) this.incInflight(s);
    steps.push({ kind: 'create-sandbox', sandboxId: s.id, workerId: w.id, versionKey: v.key, memoryMb: need, provisioned });
    return s;
  }

  /** No worker of the account has room: a new worker (narrow) or room made by eviction. */
  private makeRoom(a: Account, need: number, t: number, steps: Step[]): Worker | undefined {
    let host = this.hostWithBudget();
    if (host === undefined && this.emptyHead !== null) {
      // An empty worker (necessarily of another account: ours would have had room) costs nobody a warm sandbox.
      host = this.emptyHead.host;
      this.removeWorker(this.emptyHead, steps);
    }
    if (host !== undefined) return this.newWorker(a, host);
    return this.evictFor(a, need, t, steps);
  }

  private hostWithBudget(): Host | undefined {
    const cap = this.options.workerMemoryMb;
    const hosts = this.hosts;
    for (let i = this.hostHint; i < hosts.length; i++) {
      const h = hosts[i]!;
      if (h.reservedMb + cap <= h.memoryMb) {
        this.hostHint = i;
        return h;
      }
    }
    this.hostHint = hosts.length;
    return undefined;
  }

  private newWorker(a: Account, host: Host): Worker {
    const w = new Worker(this.ids.next('worker'), a, host, this.options.workerMemoryMb);
    host.reservedMb += w.capacityMb;
    host.workerCount++;
    a.workers.add(w);
    this.workers.set(w.id, w);
    a.fit.set(w.fitNode, w.capacityMb);
    this.stats.workersCreated++;
    this.lastNarrow = true;
    return w;
  }

  /**
   * Eviction. A dry run walks the global LRU list and finds the first worker that becomes usable:
   * a worker of account `a` whose free memory plus the idle sandboxes passed so far fits `need`, or a
   * reclaimable worker (all sandboxes idle, any account) whose last idle sandbox was passed. Then only
   * that worker's sandboxes up to that point are evicted. A cheap feasibility check first guarantees the
   * walk succeeds, so a full fleet of busy sandboxes throttles in O(1) (or O(workers of the account)).
   */
  private evictFor(a: Account, need: number, t: number, steps: Step[]): Worker | undefined {
    if (this.lruHead === null) return undefined;
    let feasible = this.reclaimableCount > 0;
    if (!feasible) {
      for (const w of a.workers) {
        if (w.state !== 'retiring' && w.capacityMb - w.usedMb + w.idleMb >= need) {
          feasible = true;
          break;
        }
      }
    }
    if (!feasible) return undefined;
    const epoch = ++this.epoch;
    let target: Worker | null = null;
    let stop: Sandbox | null = null;
    for (let s: Sandbox | null = this.lruHead; s !== null; s = s.gNext) {
      const w = s.worker;
      if (w.scratchEpoch !== epoch) {
        w.scratchEpoch = epoch;
        w.scratchFreed = 0;
        w.scratchIdle = w.idleCount;
      }
      w.scratchFreed += s.version.memoryMb;
      w.scratchIdle--;
      if ((w.account === a && w.state !== 'retiring' && w.capacityMb - w.usedMb + w.scratchFreed >= need) || (w.reclaimable && w.scratchIdle === 0)) {
        target = w;
        stop = s;
        break;
      }
    }
    if (target === null) return undefined;
    for (let s: Sandbox | null = this.lruHead; s !== null; ) {
      const next: Sandbox | null = s.gNext;
      const last = s === stop;
      if (s.worker === target) {
        this.stats.evictions++;
        this.removeSandbox(s, 'evicted', steps, t);
      }
      if (last) break;
      s = next;
    }
    if (target.account === a) return target;
    const host = target.host;
    this.removeWorker(target, steps);
    return this.newWorker(a, host);
  }

  private attachLegacyEni(w: Worker, vpcKey: string): Eni {
    const e = new Eni(this.ids.next('eni'), vpcKey, w);
    let idx = w.account.eniFit.get(vpcKey);
    if (idx === undefined) {
      idx = new FitIndex<Worker>();
      w.account.eniFit.set(vpcKey, idx);
    }
    e.fitIndex = idx;
    e.fitNode = new FitNode<Worker>(w);
    w.enis.push(e);
    this.enis.set(e.id, e);
    this.stats.enisCreated++;
    if (w.state !== 'retiring') idx.set(e.fitNode, w.capacityMb - w.usedMb);
    return e;
  }

  private detachLegacyEni(e: Eni, steps: Step[]): void {
    const w = e.worker!;
    if (e.fitNode !== null) e.fitIndex!.delete(e.fitNode);
    const i = w.enis.indexOf(e);
    if (i >= 0) w.enis.splice(i, 1);
    this.enis.delete(e.id);
    this.stats.enisDeleted++;
    steps.push({ kind: 'delete-eni', eniId: e.id });
  }

  /** Re-indexes a worker after its memory or sandbox states changed. */
  private refreshWorker(w: Worker): void {
    if (w.state !== 'retiring') {
      const free = w.capacityMb - w.usedMb;
      w.account.fit.set(w.fitNode, free);
      const enis = w.enis;
      for (let i = 0; i < enis.length; i++) {
        const e = enis[i]!;
        e.fitIndex!.set(e.fitNode!, free);
      }
    }
    const r = w.state === 'ready' && w.sandboxCount > 0 && w.idleCount === w.sandboxCount;
    if (r !== w.reclaimable) {
      w.reclaimable = r;
      this.reclaimableCount += r ? 1 : -1;
    }
  }

  /** No new placements on `w`; it is retired as soon as it is empty. */
  private setRetiring(w: Worker): void {
    w.state = 'retiring';
    w.account.fit.delete(w.fitNode);
    for (const e of w.enis) if (e.fitNode !== null) e.fitIndex!.delete(e.fitNode);
    if (w.inEmpty) this.unlinkEmpty(w);
    this.refreshWorker(w);
  }

  /** Removes an empty worker: delete-eni for its legacy ENIs, then retire-worker; frees host budget. */
  private removeWorker(w: Worker, steps: Step[]): void {
    for (const e of w.enis) {
      if (e.fitNode !== null) e.fitIndex!.delete(e.fitNode);
      this.enis.delete(e.id);
      this.stats.enisDeleted++;
      steps.push({ kind: 'delete-eni', eniId: e.id });
    }
    w.enis.length = 0;
    w.account.fit.delete(w.fitNode);
    w.account.workers.delete(w);
    if (w.inEmpty) this.unlinkEmpty(w);
    if (w.reclaimable) {
      w.reclaimable = false;
      this.reclaimableCount--;
    }
    w.state = 'retiring';
    const h = w.host;
    h.reservedMb -= w.capacityMb;
    h.workerCount--;
    if (h.index < this.hostHint) this.hostHint = h.index;
    this.workers.delete(w.id);
    this.stats.workersRetired++;
    steps.push({ kind: 'retire-worker', workerId: w.id });
  }

  /** Removes a sandbox in any state, frees its memory and appends stop-sandbox. `t`: event time. */
  private removeSandbox(s: Sandbox, reason: StopReason, steps: Step[], t: number): void {
    const w = s.worker;
    const v = s.version;
    if (s.state === 'idle') this.unlinkIdle(s);
    if (s.inflight) this.decInflight(s);
    this.sandboxes.delete(s.id);
    if (s.aPrev !== null) s.aPrev.aNext = s.aNext;
    else v.allHead = s.aNext;
    if (s.aNext !== null) s.aNext.aPrev = s.aPrev;
    else v.allTail = s.aPrev;
    s.aPrev = s.aNext = null;
    v.sandboxCount--;
    if (s.provisioned) {
      v.provCount--;
      if (v.provCount < v.provTarget) this.markDeficit(v);
    }
    w.usedMb -= v.memoryMb;
    w.sandboxCount--;
    steps.push({ kind: 'stop-sandbox', sandboxId: s.id, reason });
    if (w.sandboxCount === 0 && w.state === 'retiring') {
      if (this.workers.get(w.id) === w) this.removeWorker(w, steps);
    } else {
      this.refreshWorker(w);
      if (w.sandboxCount === 0 && w.state === 'ready') this.linkEmpty(w, t);
    }
    if (this.collectable(v) && this.versions.get(v.key) === v) this.versions.delete(v.key);
  }

  /** A version without sandboxes, provisioned target or scheduled pre-warms is forgotten. */
  private collectable(v: Version): boolean {
    return v.sandboxCount === 0 && v.provTarget === 0 && v.prewarms === null;
  }

  private schedulePrewarm(v: Version, at: number, keepAliveMs: number): void {
    const p = new Prewarm(at, v, keepAliveMs);
    (v.prewarms ??= []).push(p);
    this.timers.push(p);
  }

  /** Drops the earliest scheduled pre-warm of `v`. */
  private cancelPrewarm(v: Version): void {
    const list = v.prewarms;
    if (list === null) return;
    let k = 0;
    for (let i = 1; i < list.length; i++) if (list[i]!.at < list[k]!.at) k = i;
    this.timers.remove(list[k]!);
    list.splice(k, 1);
    if (list.length === 0) v.prewarms = null;
  }

  /**
   * Loads a pre-warmed sandbox: placed like a cold start (may provision a worker, attach a legacy ENI or
   * evict), but nobody waits for it; create-sandbox carries `prewarm: true`. Skipped without room, or
   * while a hyperplane ENI is not ready.
   */
  private firePrewarm(p: Prewarm, t: number, steps: Step[]): void {
    const v = p.version;
    const list = v.prewarms;
    if (list !== null) {
      const i = list.indexOf(p);
      if (i >= 0) list.splice(i, 1);
      if (list.length === 0) v.prewarms = null;
    }
    if (this.versions.get(v.key) !== v) return;
    const hyperplanePending = v.vpcKey !== undefined && !this.legacy && this.vpcEnis.get(v.vpcKey)?.ready !== true;
    const s = hyperplanePending ? null : this.place(v, false, false, t, steps);
    if (s === null) {
      if (this.collectable(v)) this.versions.delete(v.key);
      return;
    }
    s.kaMs = p.keepAliveMs;
    const last = steps[steps.length - 1];
    if (last !== undefined && last.kind === 'create-sandbox') last.prewarm = true;
  }

  private linkIdle(s: Sandbox, t: number): void {
    s.state = 'idle';
    s.idleSince = t;
    const v = s.version;
    if (s.provisioned) {
      s.vNext = null;
      s.vPrev = v.provTail;
      if (v.provTail !== null) v.provTail.vNext = s;
      else v.provHead = s;
      v.provTail = s;
      return;
    }
    s.vNext = null;
    s.vPrev = v.idleTail;
    if (v.idleTail !== null) v.idleTail.vNext = s;
    else v.idleHead = s;
    v.idleTail = s;
    s.gNext = null;
    s.gPrev = this.lruTail;
    if (this.lruTail !== null) this.lruTail.gNext = s;
    else this.lruHead = s;
    this.lruTail = s;
    if (this.variable) {
      s.at = t + s.kaMs;
      this.timers.push(s);
    }
    const w = s.worker;
    w.idleCount++;
    w.idleMb += v.memoryMb;
    if (w.idleCount === w.sandboxCount) this.refreshWorker(w);
  }

  private unlinkIdle(s: Sandbox): void {
    const v = s.version;
    s.idleSince = -1;
    if (s.provisioned) {
      if (s.vPrev !== null) s.vPrev.vNext = s.vNext;
      else v.provHead = s.vNext;
      if (s.vNext !== null) s.vNext.vPrev = s.vPrev;
      else v.provTail = s.vPrev;
      s.vPrev = s.vNext = null;
      return;
    }
    if (s.vPrev !== null) s.vPrev.vNext = s.vNext;
    else v.idleHead = s.vNext;
    if (s.vNext !== null) s.vNext.vPrev = s.vPrev;
    else v.idleTail = s.vPrev;
    s.vPrev = s.vNext = null;
    if (s.heapIndex >= 0) this.timers.remove(s);
    if (s.gPrev !== null) s.gPrev.gNext = s.gNext;
    else this.lruHead = s.gNext;
    if (s.gNext !== null) s.gNext.gPrev = s.gPrev;
    else this.lruTail = s.gPrev;
    s.gPrev = s.gNext = null;
    const w = s.worker;
    w.idleCount--;
    w.idleMb -= v.memoryMb;
    if (w.reclaimable) this.refreshWorker(w);
  }

  /** Appends to the empty-worker list; since-times are kept non-decreasing so the list stays in deadline order. */
  private linkEmpty(w: Worker, t: number): void {
    const tail = this.emptyTail;
    w.emptySince = tail !== null && tail.emptySince > t ? tail.emptySince : t;
    w.inEmpty = true;
    w.eNext = null;
    w.ePrev = tail;
    if (tail !== null) tail.eNext = w;
    else this.emptyHead = w;
    this.emptyTail = w;
  }

  private unlinkEmpty(w: Worker): void {
    if (w.ePrev !== null) w.ePrev.eNext = w.eNext;
    else this.emptyHead = w.eNext;
    if (w.eNext !== null) w.eNext.ePrev = w.ePrev;
    else this.emptyTail = w.ePrev;
    w.ePrev = w.eNext = null;
    w.inEmpty = false;
  }

  private markDeficit(v: Version): void {
    if (!v.inDeficit) {
      v.inDeficit = true;
      this.deficits.add(v);
    }
  }

  private clearDeficit(v: Version): void {
    if (v.inDeficit) {
      v.inDeficit = false;
      this.deficits.delete(v);
    }
  }

  /**
   * Creates provisioned sandboxes until the target is met or there is no room (then retried by tick).
   * A hyperplane VPC version whose ENI is not ready yet waits (retried by tick) instead of throwing.
   */
  private refill(v: Version, t: number, steps: Step[]): void {
    if (v.vpcKey !== undefined && !this.legacy && this.vpcEnis.get(v.vpcKey)?.ready !== true) {
      if (v.provCount < v.provTarget) this.markDeficit(v);
      return;
    }
    while (v.provCount < v.provTarget) {
      if (this.place(v, false, true, t, steps) === null) {
        this.markDeficit(v);
        return;
      }
      this.stats.provisionedCreated++;
    }
    this.clearDeficit(v);
  }
}

function findEni(w: Worker, vpcKey: string): Eni | undefined {
  const enis = w.enis;
  for (let i = 0; i < enis.length; i++) if (enis[i]!.vpcKey === vpcKey) return enis[i];
  return undefined;
}

function sandboxView(s: Sandbox): SandboxView {
  return {
    id: s.id,
    workerId: s.worker.id,
    account: s.worker.account.name,
    versionKey: s.version.key,
    functionKey: s.version.fn.key,
    memoryMb: s.version.memoryMb,
    state: s.state,
    idleSince: s.state === 'idle' ? s.idleSince : null,
    provisioned: s.provisioned,
    retired: s.retired,
  };
}
