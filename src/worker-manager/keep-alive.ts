/**
 * Keep-alive policies: how long an idle sandbox stays warm after an invocation, and whether it is
 * unloaded at once and pre-warmed later instead. One implementation serves the server and the
 * simulator: the policy is handed to the `WorkerManager` constructor, which consults it (synchronously,
 * with `now` as an argument, like everything in the core).
 *
 * - `fixed`: a constant TTL (AWS Lambda keeps idle sandboxes for minutes; 10 min is the usual figure).
 *   The core keeps its O(1) path: with a constant keep-alive, LRU order is expiry order.
 * - `hybrid`: the hybrid histogram policy of Shahrad et al., "Serverless in the Wild: Characterizing and
 *   Optimizing the Serverless Workload at a Large Cloud Provider", USENIX ATC '20 (keep-alive-hybrid.ts).
 *
 * Policies as configuration (JSON, CLI) and the factory are in keep-alive-config.ts; this module is the
 * base every policy builds on and imports no policy.
 */

/** What a policy answers when an invocation ends. Reused object: policies write into it. */
export interface KeepAliveWindows {
  /**
   * 0: keep the sandbox loaded now for `keepAliveMs`. > 0: unload it now and load a new one (pre-warm)
   * this long after the invocation ended, then keep that one for `keepAliveMs` once it is ready.
   */
  prewarmMs: number;
  keepAliveMs: number;
}

/**
 * A keep-alive policy. State is per function (Lambda's unit; the paper's "application"): the core asks
 * for it once per function (`createState`) and passes it back, so policies need no map look-ups.
 * Calls are deterministic functions of their arguments and earlier calls.
 */
export interface KeepAlivePolicy<S = unknown> {
  /** For logs and reports, e.g. `fixed(600000ms)`. */
  readonly name: string;
  /**
   * Set when the keep-alive is one constant and nothing is pre-warmed: the core then never calls the
   * other methods and expires idle sandboxes in LRU order (no per-sandbox timers).
   */
  readonly fixedKeepAliveMs: number | undefined;
  createState(functionKey: string): S;
  /** An invocation of the function was admitted (not throttled) at `now`. */
  invocationStarted(state: S, now: number): void;
  /** An invocation of the function ended at `now`; writes the windows for the sandbox that ran it. */
  invocationEnded(state: S, now: number, out: KeepAliveWindows): void;
}

/** A constant keep-alive (AWS-like). */
export class FixedKeepAlive implements KeepAlivePolicy<null> {
  readonly name: string;
  readonly fixedKeepAliveMs: number;
  constructor(ttlMs: number) {
    if (!Number.isFinite(ttlMs) || ttlMs < 0) throw new RangeError(`keep-alive TTL must be a finite number >= 0, got ${ttlMs}`);
    this.fixedKeepAliveMs = ttlMs;
    this.name = `fixed(${ttlMs}ms)`;
  }
  createState(): null {
    return null;
  }
  invocationStarted(): void {}
  invocationEnded(_state: null, _now: number, out: KeepAliveWindows): void {
    out.prewarmMs = 0;
    out.keepAliveMs = this.fixedKeepAliveMs;
  }
}
