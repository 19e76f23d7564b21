/**
 * The idle pool and keep-alive: idle sandboxes, empty workers, and when each of them is due.
 *
 * - Per version, idle sandboxes in MRU order (warm starts take the tail so the rest age out), idle
 *   provisioned sandboxes in a list of their own (used first; they never expire and are never evicted).
 * - One global LRU of idle on-demand sandboxes: eviction order (placement walks it from the head) and,
 *   with a constant keep-alive (`fixedKeepAliveMs`), also expiry order, so expiry needs no timers. With a
 *   per-function policy (keep-alive.ts, e.g. the hybrid histogram policy) expiries and pre-warm loads are
 *   timers in a heap instead.
 * - The empty ready workers, in the order they became empty (= retirement order after workerIdleMs).
 * - Which workers are reclaimable (ready, with sandboxes, all of them idle on-demand): evicting them all
 *   frees the worker for another account.
 */
import { IntrusiveList, type ListLink } from './intrusive-list.js';
import { TimerHeap } from './keep-alive-heap.js';
import type { KeepAlivePolicy, KeepAliveWindows } from './keep-alive.js';
import { Prewarm, type Fn, type Sandbox, type Version, type Worker } from './model.js';

/** See the module comment. */
export class IdlePool {
  /** Per-function policy (expiry by timers, pre-warms); false with a constant keep-alive. */
  readonly variable: boolean;
  /** Workers that are reclaimable (see the module comment). */
  reclaimableCount = 0;
  /** Constant keep-alive (LRU expiry path), or NaN when the policy decides per function. */
  private readonly fixedKa: number;
  private readonly lru = new IntrusiveList<Sandbox>();
  private readonly empty = new IntrusiveList<Worker>();
  private readonly timers = new TimerHeap<Sandbox | Prewarm>();
  private readonly windows: KeepAliveWindows = { prewarmMs: 0, keepAliveMs: 0 };

  constructor(
    private readonly policy: KeepAlivePolicy,
    private readonly workerIdleMs: number,
  ) {
    this.variable = policy.fixedKeepAliveMs === undefined;
    this.fixedKa = policy.fixedKeepAliveMs ?? NaN;
  }

  // ---------------------------------------------------------------------------------------------
  // Idle sandboxes

  /** The oldest idle on-demand sandbox's link (eviction walks on with `.next`), or null. */
  get lruHead(): ListLink<Sandbox> | null {
    return this.lru.head;
  }

  /**
   * Takes the most recently used idle sandbox of `v` out of the pool (provisioned ones first), or null.
   * Its state is still idle: the caller moves it on.
   */
  takeWarm(v: Version): Sandbox | null {
    const l = v.provIdle.tail ?? v.idle.tail;
    if (l === null) return null;
    const s = l.item;
    this.unlink(s);
    return s;
  }

  /** Adds a sandbox that just became `idle` or `idle-provisioned` at `t`; its keep-alive starts (on-demand). */
  link(s: Sandbox, t: number): void {
    s.idleSince = t;
    const v = s.version;
    if (s.state === 'idle-provisioned') {
      v.provIdle.pushBack(s.versionLink);
      return;
    }
    v.idle.pushBack(s.versionLink);
    this.lru.pushBack(s.lruLink);
    if (this.variable) {
      s.at = t + s.kaMs;
      this.timers.push(s);
    }
    const w = s.worker;
    w.idleCount++;
    w.idleMb += v.memoryMb;
    if (w.idleCount === w.sandboxCount) this.updateReclaimable(w);
  }

  /** Removes an idle sandbox (still in its idle state) from the pool. */
  unlink(s: Sandbox): void {
    const v = s.version;
    s.idleSince = -1;
    if (s.state === 'idle-provisioned') {
      v.provIdle.remove(s.versionLink);
      return;
    }
    v.idle.remove(s.versionLink);
    if (s.heapIndex >= 0) this.timers.remove(s);
    this.lru.remove(s.lruLink);
    const w = s.worker;
    w.idleCount--;
    w.idleMb -= v.memoryMb;
    if (w.reclaimable) this.updateReclaimable(w);
  }

  /** Recomputes whether `w` is reclaimable (after its state, sandboxes or idle sandboxes changed). */
  updateReclaimable(w: Worker): void {
    const r = w.state === 'ready' && w.sandboxCount > 0 && w.idleCount === w.sandboxCount;
    if (r !== w.reclaimable) {
      w.reclaimable = r;
      this.reclaimableCount += r ? 1 : -1;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Empty workers

  /** Appends a worker that became empty at `t`; since-times stay non-decreasing so the list stays in deadline order. */
  linkEmpty(w: Worker, t: number): void {
    const tail = this.empty.tail;
    w.emptySince = tail !== null && tail.item.emptySince > t ? tail.item.emptySince : t;
    this.empty.pushBack(w.emptyLink);
  }

  /** Takes `w` off the empty list if it is on it (it got a sandbox, or is retiring or removed). */
  unlinkEmpty(w: Worker): void {
    if (w.emptyLink.linked) this.empty.remove(w.emptyLink);
  }

  /** The longest-empty worker, or null. */
  firstEmpty(): Worker | null {
    return this.empty.head?.item ?? null;
  }

  // ---------------------------------------------------------------------------------------------
  // Keep-alive policy and pre-warms

  /** The policy's state for a new function (null when the keep-alive is constant). */
  newPolicyState(functionKey: string): unknown {
    return this.variable ? this.policy.createState(functionKey) : null;
  }

  /** An invocation of `f` was admitted at `t` (per-function policies only). */
  invocationStarted(f: Fn, t: number): void {
    this.policy.invocationStarted(f.policyState, t);
  }

  /** An invocation of `f` ended at `t` (per-function policies only): the windows (a reused object). */
  invocationEnded(f: Fn, t: number): KeepAliveWindows {
    this.policy.invocationEnded(f.policyState, t, this.windows);
    return this.windows;
  }

  /** Schedules a pre-warm load of a sandbox of `v` at `at`, kept `keepAliveMs` once ready. */
  schedulePrewarm(v: Version, at: number, keepAliveMs: number): void {
    const p = new Prewarm(at, v, keepAliveMs);
    (v.prewarms ??= []).push(p);
    this.timers.push(p);
  }

  /** Drops the earliest scheduled pre-warm of `v`. */
  cancelPrewarm(v: Version): void {
    const list = v.prewarms;
    if (list === null) return;
    let k = 0;
    for (let i = 1; i < list.length; i++) if (list[i]!.at < list[k]!.at) k = i;
    this.timers.remove(list[k]!);
    list.splice(k, 1);
    if (list.length === 0) v.prewarms = null;
  }

  /** Drops every scheduled pre-warm of `v`. */
  cancelPrewarms(v: Version): void {
    while (v.prewarms !== null) this.cancelPrewarm(v);
  }

  /** `p` fired (its timer was taken by `takeDue`): it is no longer scheduled for its version. */
  prewarmFired(p: Prewarm): void {
    const v = p.version;
    const list = v.prewarms;
    if (list === null) return;
    const i = list.indexOf(p);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) v.prewarms = null;
  }

  // ---------------------------------------------------------------------------------------------
  // Deadlines

  /** When the next idle sandbox expires or pre-warm is due; Infinity if none. */
  sandboxDeadline(): number {
    if (this.variable) return this.timers.peekAt();
    const h = this.lru.head;
    return h === null ? Infinity : h.item.idleSince + this.fixedKa;
  }

  /** When the longest-empty worker is due for retirement; Infinity if none. */
  workerDeadline(): number {
    const h = this.empty.head;
    return h === null ? Infinity : h.item.emptySince + this.workerIdleMs;
  }

  /**
   * The sandbox expiry or pre-warm at `sandboxDeadline()`. A per-function policy's timer is taken off the
   * heap; with a constant keep-alive it is the LRU head, which stays linked until the caller removes it.
   */
  takeDue(): Sandbox | Prewarm | undefined {
    if (this.variable) return this.timers.pop();
    return this.lru.head?.item;
  }
}
