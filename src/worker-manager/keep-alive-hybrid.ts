/**
 * The hybrid histogram keep-alive policy of M. Shahrad, R. Fonseca, Í. Goiri, G. Chaudhry, P. Batum,
 * J. Cooke, E. Laureano, C. Tresness, M. Russinovich, R. Bianchini: "Serverless in the Wild:
 * Characterizing and Optimizing the Serverless Workload at a Large Cloud Provider", USENIX ATC '20
 * (https://www.usenix.org/conference/atc20/presentation/shahrad), section 4.2.
 *
 * Per function (the paper's unit is the application; Lambda's is the function), it keeps a histogram of
 * idle times (IT: from the end of one invocation to the start of the next) with 1-minute bins over a
 * 4-hour range. When an invocation ends:
 * - pre-warm window = the head (5th percentile) of the ITs, minus a 10% margin: if > 0, the sandbox is
 *   unloaded now and a new one is loaded when the window has passed (the next invocation is unlikely
 *   sooner);
 * - keep-alive window = up to the tail (99th percentile) of the ITs, plus a 10% margin, counted from when
 *   the sandbox is (re)loaded;
 * - when the histogram is not representative — too few ITs yet, or a coefficient of variation of the bin
 *   counts below a threshold (ITs spread evenly, no pattern) — it falls back to a standard keep-alive
 *   (the paper: the histogram range) without pre-warming;
 * - when most ITs are out of bounds (> range) the paper forecasts the next IT with ARIMA; lambkin does
 *   not, and uses a fixed keep-alive instead (`outOfBoundKeepAliveMs`).
 * A percentile is the first bin whose cumulative count reaches it; the head uses the bin's lower edge,
 * the tail its upper edge (so an IT in bin k is covered).
 */
import { z } from 'zod';
import type { KeepAlivePolicy, KeepAliveWindows } from './keep-alive.js';

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

/** The hybrid policy's validated parameters. */
export type HybridConfig = z.output<typeof hybridConfigSchema>;

/** Per-function histogram state. */
export class HybridState {
  readonly bins: Uint32Array;
  /** In-range ITs. */
  total = 0;
  /** Out-of-bound ITs (>= range). */
  oob = 0;
  /** Sum of squared bin counts (for the coefficient of variation, updated in O(1)). */
  sumSq = 0;
  /** Highest non-empty bin (percentile scans from the back start here). */
  maxBin = -1;
  /** End of the latest invocation, -Infinity before the first. */
  lastEnd = -Infinity;
  /** Windows computed for the current histogram; recomputed only after a new IT. */
  dirty = true;
  prewarmMs = 0;
  keepAliveMs = 0;
  constructor(
    readonly functionKey: string,
    nBins: number,
  ) {
    this.bins = new Uint32Array(nBins);
  }
}

/** See the module comment. Deterministic; the state lives in `HybridState` objects owned by the core. */
export class HybridHistogramPolicy implements KeepAlivePolicy<HybridState> {
  readonly name: string;
  readonly fixedKeepAliveMs = undefined;
  private readonly nBins: number;
  private readonly fallbackMs: number;

  constructor(readonly config: HybridConfig) {
    this.nBins = Math.max(1, Math.round(config.rangeMs / config.binMs));
    this.fallbackMs = config.fallbackKeepAliveMs ?? config.rangeMs;
    this.name = `hybrid(range ${config.rangeMs}ms, bin ${config.binMs}ms, p${config.headPercentile}/p${config.tailPercentile}, margin ${config.margin}, cv>=${config.cvThreshold})`;
  }

  createState(functionKey: string): HybridState {
    return new HybridState(functionKey, this.nBins);
  }

  invocationStarted(st: HybridState, now: number): void {
    if (st.lastEnd === -Infinity) return;
    // Overlapping invocations give IT 0 (bin 0): a busy function gets no pre-warm window, as it should.
    this.record(st, now > st.lastEnd ? now - st.lastEnd : 0);
  }

  invocationEnded(st: HybridState, now: number, out: KeepAliveWindows): void {
    if (now > st.lastEnd) st.lastEnd = now;
    if (st.dirty) this.compute(st);
    out.prewarmMs = st.prewarmMs;
    out.keepAliveMs = st.keepAliveMs;
  }

  /** Adds one idle time (ms) to the histogram. */
  record(st: HybridState, it: number): void {
    const b = Math.floor(it / this.config.binMs);
    if (b >= this.nBins) st.oob++;
    else {
      const c = st.bins[b]!;
      st.bins[b] = c + 1;
      st.sumSq += 2 * c + 1;
      st.total++;
      if (b > st.maxBin) st.maxBin = b;
    }
    st.dirty = true;
  }

  /** Coefficient of variation of the bin counts (sample sd / mean); 0 without in-range samples. */
  cv(st: HybridState): number {
    const n = this.nBins;
    if (st.total === 0 || n < 2) return 0;
    const mean = st.total / n;
    const variance = Math.max(0, (st.sumSq - n * mean * mean) / (n - 1));
    return Math.sqrt(variance) / mean;
  }

  /** Which rule applies to the current histogram (for reports and tests). */
  pattern(st: HybridState): 'too-few-samples' | 'out-of-bounds' | 'not-representative' | 'histogram' {
    const c = this.config;
    const seen = st.total + st.oob;
    if (seen < c.minSamples || seen === 0) return 'too-few-samples';
    if (st.oob / seen >= c.oobThreshold) return 'out-of-bounds';
    if (this.cv(st) < c.cvThreshold) return 'not-representative';
    return 'histogram';
  }

  private compute(st: HybridState): void {
    const c = this.config;
    st.dirty = false;
    switch (this.pattern(st)) {
      case 'too-few-samples':
      case 'not-representative':
        st.prewarmMs = 0;
        st.keepAliveMs = this.fallbackMs;
        return;
      case 'out-of-bounds':
        st.prewarmMs = 0;
        st.keepAliveMs = c.outOfBoundKeepAliveMs;
        return;
      case 'histogram': {
        const head = this.headBin(st);
        const tail = this.tailBin(st);
        const prewarm = head * c.binMs * (1 - c.margin);
        const end = (tail + 1) * c.binMs * (1 + c.margin);
        st.prewarmMs = prewarm;
        st.keepAliveMs = end - prewarm;
      }
    }
  }

  /** First bin whose cumulative share reaches the head percentile. */
  private headBin(st: HybridState): number {
    const need = (this.config.headPercentile / 100) * st.total;
    let cum = 0;
    for (let i = 0; i <= st.maxBin; i++) {
      cum += st.bins[i]!;
      if (cum >= need && cum > 0) return i;
    }
    return Math.max(0, st.maxBin);
  }

  /** First bin whose cumulative share reaches the tail percentile (scanned from the back). */
  private tailBin(st: HybridState): number {
    // cum(i) >= p·total  ⇔  count above i <= (1 − p)·total.
    const allowAbove = (1 - this.config.tailPercentile / 100) * st.total;
    let above = 0;
    for (let i = st.maxBin; i > 0; i--) {
      above += st.bins[i]!;
      if (above > allowAbove) return i;
    }
    return 0;
  }
}
