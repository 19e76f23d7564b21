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
 */
import { z } from 'zod';
import { parseDuration } from './duration.js';
import { HybridHistogramPolicy } from './keep-alive-hybrid.js';

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

const ms = z.number().finite().nonnegative();

/** The hybrid policy's parameters; the defaults are the paper's (ATC '20, section 4.2). */
export const hybridConfigSchema = z
  .object({
    policy: z.literal('hybrid'),
    /** Histogram range: idle times beyond it are out of bounds (the paper: 4 hours). */
    rangeMs: ms.positive().default(4 * 3_600_000),
    /** Bin width (the paper: 1 minute). */
    binMs: ms.positive().default(60_000),
    /** Pre-warm window from this percentile of idle times (the paper: 5th). */
    headPercentile: z.number().min(0).max(100).default(5),
    /** Keep-alive window up to this percentile (the paper: 99th). */
    tailPercentile: z.number().min(0).max(100).default(99),
    /** The pre-warm window is shortened and the keep-alive end lengthened by this fraction (the paper: 10%). */
    margin: z.number().min(0).max(1).default(0.1),
    /** Below this coefficient of variation of the bin counts the histogram is not representative (flat). */
    cvThreshold: z.number().nonnegative().default(2),
    /** With fewer idle times than this observed, the histogram is not representative yet. */
    minSamples: z.number().int().nonnegative().default(1),
    /** Keep-alive when the histogram is not representative (the paper's standard keep-alive is the histogram range). */
    fallbackKeepAliveMs: ms.optional(),
    /** From this share of out-of-bound idle times on, use `outOfBoundKeepAliveMs` (the paper forecasts with ARIMA instead). */
    oobThreshold: z.number().min(0).max(1).default(0.5),
    /** Keep-alive for functions whose idle times mostly exceed the range (default: 10 min, the fixed policy's TTL). */
    outOfBoundKeepAliveMs: ms.default(600_000),
  })
  .strict()
  .refine((c) => c.headPercentile <= c.tailPercentile, { message: 'headPercentile must not exceed tailPercentile', path: ['headPercentile'] })
  .refine((c) => c.binMs <= c.rangeMs, { message: 'binMs must not exceed rangeMs', path: ['binMs'] });

/** The fixed policy's parameters. */
export const fixedConfigSchema = z.object({ policy: z.literal('fixed'), ttlMs: ms.default(600_000) }).strict();

/** A keep-alive policy as configuration (JSON, CLI). */
export const keepAliveConfigSchema = z.union([fixedConfigSchema, hybridConfigSchema]);
export type KeepAliveConfig = z.output<typeof keepAliveConfigSchema>;
export type KeepAliveConfigInput = z.input<typeof keepAliveConfigSchema>;
export type HybridConfig = z.output<typeof hybridConfigSchema>;

/** Builds a fresh policy (with empty state) from validated or raw configuration. */
export function createKeepAlivePolicy(config: KeepAliveConfigInput): KeepAlivePolicy {
  const c = keepAliveConfigSchema.parse(config);
  return c.policy === 'fixed' ? new FixedKeepAlive(c.ttlMs) : new HybridHistogramPolicy(c);
}

/**
 * Parses the CLI form: `fixed`, `fixed:10m`/`fixed:600000` (ms), `hybrid`, or `hybrid:key=value,...`
 * with the hybrid keys above (durations as `parseDuration` reads them: ms, or with an ms/s/m/h/d suffix).
 * Throws with a readable message.
 */
export function parseKeepAliveSpec(spec: string): KeepAliveConfig {
  const [kind, rest = ''] = spec.split(/:(.*)/s, 2) as [string, string?];
  const dur = (v: string, what: string): number => {
    try {
      return parseDuration(v);
    } catch (err) {
      throw new Error(`${what}: ${(err as Error).message}`);
    }
  };
  if (kind === 'fixed') return keepAliveConfigSchema.parse({ policy: 'fixed', ...(rest ? { ttlMs: dur(rest, 'fixed TTL') } : {}) });
  if (kind === 'hybrid') {
    const o: Record<string, number> = {};
    for (const kv of rest.split(',').filter((s) => s.trim() !== '')) {
      const [k, v] = kv.split('=', 2) as [string, string?];
      if (v === undefined) throw new Error(`hybrid option "${kv}" needs key=value`);
      const key = k.trim();
      o[key] = key.endsWith('Ms') ? dur(v, key) : Number(v);
    }
    const r = hybridConfigSchema.safeParse({ policy: 'hybrid', ...o });
    if (!r.success) throw new Error(`invalid hybrid keep-alive options: ${z.prettifyError(r.error)}`);
    return r.data;
  }
  throw new Error(`unknown keep-alive policy "${spec}": use fixed, fixed:<ttl>, hybrid or hybrid:key=value,...`);
}
