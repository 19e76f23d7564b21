/**
 * The compiled models of a workload (workload-spec.ts is its file format): handler durations drawn by
 * memory size, arrival sources (Poisson with diurnal pattern and bursts, periodic, lists, per-minute
 * counts) and the SimFunctions the engine runs.
 */
import type { Rng } from '../profiles/rng.js';
import type { Architecture } from './prices.js';
import type { ArrivalsSpec, HandlerSpec, WorkloadSpec } from './workload-spec.js';

/** vCPUs Lambda allocates at a MemorySize (1,769 MB = 1 vCPU; AWS Lambda developer guide). */
export function vcpus(memoryMb: number): number {
  return memoryMb / 1769;
}

/** A duration draw. */
export type Draw = () => number;

/** Mean duration (ms) of a handler at `memoryMb` (analytic; used by the advisor's tables). */
export function handlerMeanMs(h: HandlerSpec, fnMemoryMb: number, memoryMb: number): number {
  if (h.byMemory) return interpolateByMemory(h.byMemory, memoryMb).meanMs;
  const base = baseMean(h);
  return base * scaleFactor(h, h.atMemoryMb ?? fnMemoryMb, memoryMb);
}

function baseMean(h: HandlerSpec): number {
  switch (h.dist) {
    case 'constant':
      return h.valueMs ?? 0;
    case 'percentiles': {
      // Mean of the piecewise-linear quantile function.
      const pts = percentilePoints(h.percentiles ?? {});
      let s = 0;
      for (let i = 1; i < pts.length; i++) s += ((pts[i]![0] - pts[i - 1]![0]) / 100) * ((pts[i]![1] + pts[i - 1]![1]) / 2);
      return s;
    }
    default:
      return h.meanMs ?? 0;
  }
}

/** Duration multiplier from `fromMb` to `toMb`: the CPU-bound share scales with available vCPUs (capped by threads). */
export function scaleFactor(h: Pick<HandlerSpec, 'cpuFraction' | 'threads'>, fromMb: number, toMb: number): number {
  const cpu = (m: number) => Math.min(vcpus(m), h.threads);
  return h.cpuFraction * (cpu(fromMb) / cpu(toMb)) + (1 - h.cpuFraction);
}

function interpolateByMemory(pts: readonly { memoryMb: number; meanMs: number; sdMs: number }[], m: number): { meanMs: number; sdMs: number } {
  const sorted = [...pts].sort((a, b) => a.memoryMb - b.memoryMb);
  const first = sorted[0]!;
  const last = sorted[sorted.length - 1]!;
  if (m <= first.memoryMb) return first;
  if (m >= last.memoryMb) return last;
  let i = 1;
  while (sorted[i]!.memoryMb < m) i++;
  const lo = sorted[i - 1]!;
  const hi = sorted[i]!;
  const f = (m - lo.memoryMb) / (hi.memoryMb - lo.memoryMb);
  return { meanMs: lo.meanMs + f * (hi.meanMs - lo.meanMs), sdMs: lo.sdMs + f * (hi.sdMs - lo.sdMs) };
}

function percentilePoints(p: Record<string, number>): [number, number][] {
  return Object.entries(p)
    .map(([k, v]) => [Number(k), v] as [number, number])
    .sort((a, b) => a[0] - b[0]);
}

/** Compiles a handler model at `memoryMb` into a seeded draw. */
export function compileHandler(h: HandlerSpec, fnMemoryMb: number, memoryMb: number, rng: Rng): Draw {
  if (h.byMemory) {
    const { meanMs, sdMs } = interpolateByMemory(h.byMemory, memoryMb);
    return lognormal(meanMs, sdMs, rng);
  }
  const f = scaleFactor(h, h.atMemoryMb ?? fnMemoryMb, memoryMb);
  switch (h.dist) {
    case 'constant': {
      const v = (h.valueMs ?? 0) * f;
      return () => v;
    }
    case 'normal': {
      const m = (h.meanMs ?? 0) * f;
      const sd = (h.sdMs ?? 0) * f;
      return () => Math.max(0, m + sd * fastNormal(rng));
    }
    case 'lognormal':
      return lognormal((h.meanMs ?? 0) * f, (h.sdMs ?? 0) * f, rng);
    case 'exponential': {
      const m = (h.meanMs ?? 0) * f;
      return () => -m * Math.log(1 - rng.next());
    }
    case 'percentiles': {
      const pts = percentilePoints(h.percentiles ?? {});
      const ps = Float64Array.from(pts, (x) => x[0] / 100);
      const vs = Float64Array.from(pts, (x) => x[1] * f);
      const n = ps.length;
      return () => {
        const u = rng.next();
        let i = 1;
        while (i < n - 1 && ps[i]! < u) i++;
        const p0 = ps[i - 1]!;
        const p1 = ps[i]!;
        const v0 = vs[i - 1]!;
        return p1 > p0 ? v0 + ((u - p0) / (p1 - p0)) * (vs[i]! - v0) : v0;
      };
    }
  }
}

function lognormal(mean: number, sd: number, rng: Rng): Draw {
  if (sd === 0 || mean === 0) return () => mean;
  const s2 = Math.log(1 + (sd * sd) / (mean * mean));
  const sigma = Math.sqrt(s2);
  const mu = Math.log(mean) - s2 / 2;
  return () => Math.exp(mu + sigma * fastNormal(rng));
}

/**
 * Standard normal quantiles at 2^14 + 1 evenly spaced probabilities (Acklam's rational approximation,
 * relative error < 1.2e-9), so a normal draw is one uniform, a lookup and a linear interpolation:
 * several times cheaper than Box–Muller in the simulator's hot path. Tails beyond the first and last
 * grid points (|z| > ~4) are clipped, irrelevant for handler durations.
 */
const NORMAL_GRID = 1 << 14;
const NORMAL_TABLE = (() => {
  const t = new Float64Array(NORMAL_GRID + 1);
  for (let k = 0; k <= NORMAL_GRID; k++) t[k] = normalQuantile(Math.min(1 - 1e-7, Math.max(1e-7, k / NORMAL_GRID)));
  return t;
})();

function fastNormal(rng: Rng): number {
  const u = rng.next() * NORMAL_GRID;
  const k = u | 0;
  const lo = NORMAL_TABLE[k]!;
  return lo + (u - k) * (NORMAL_TABLE[k + 1]! - lo);
}

/** Inverse standard normal CDF (P. J. Acklam's algorithm). */
export function normalQuantile(p: number): number {
  const a = [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1, 2.506628277459239];
  const b = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
  const c = [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
  const pl = 0.02425;
  if (p < pl) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (((((c[0]! * q + c[1]!) * q + c[2]!) * q + c[3]!) * q + c[4]!) * q + c[5]!) / ((((d[0]! * q + d[1]!) * q + d[2]!) * q + d[3]!) * q + 1);
  }
  if (p > 1 - pl) {
    const q = Math.sqrt(-2 * Math.log(1 - p));
    return -(((((c[0]! * q + c[1]!) * q + c[2]!) * q + c[3]!) * q + c[4]!) * q + c[5]!) / ((((d[0]! * q + d[1]!) * q + d[2]!) * q + d[3]!) * q + 1);
  }
  const q = p - 0.5;
  const r = q * q;
  return ((((((a[0]! * r + a[1]!) * r + a[2]!) * r + a[3]!) * r + a[4]!) * r + a[5]!) * q) / (((((b[0]! * r + b[1]!) * r + b[2]!) * r + b[3]!) * r + b[4]!) * r + 1);
}

/** Arrival times of one function, in increasing order; Infinity when exhausted. */
export interface ArrivalSource {
  next(): number;
}

const DAY_MS = 86_400_000;

class PoissonArrivals implements ArrivalSource {
  private t: number;
  private readonly lambdaMax: number;
  /** Upper bound of factor(t): the thinning envelope is ratePerSec × maxFactor. */
  private readonly maxFactor: number;
  private readonly modulated: boolean;
  constructor(
    private readonly a: Extract<ArrivalsSpec, { kind: 'poisson' }>,
    private readonly end: number,
    private readonly rng: Rng,
  ) {
    this.t = a.start ?? 0;
    const burstMax = Math.max(1, ...(a.bursts ?? []).map((b) => b.factor));
    const diurnalMax = 1 + (a.diurnal?.amplitude ?? 0);
    this.modulated = a.bursts !== undefined || a.diurnal !== undefined;
    this.maxFactor = burstMax * diurnalMax;
    this.lambdaMax = (a.ratePerSec / 1000) * burstMax * diurnalMax;
  }
  private factor(t: number): number {
    let f = 1;
    const d = this.a.diurnal;
    if (d) f *= 1 + d.amplitude * Math.cos((2 * Math.PI * (t / 3_600_000 - d.peakHour)) / 24);
    const bursts = this.a.bursts;
    if (bursts) {
      let b = 1;
      for (const x of bursts) {
        const rel = t - x.start;
        if (rel < 0) continue;
        const inWindow = x.every !== undefined && x.every > 0 ? rel % x.every < x.duration : rel < x.duration;
        if (inWindow && x.factor > b) b = x.factor;
      }
      f *= b;
    }
    return f;
  }
  next(): number {
    const end = Math.min(this.end, this.a.end ?? Infinity);
    if (this.lambdaMax <= 0) return Infinity;
    for (;;) {
      this.t += -Math.log(1 - this.rng.next()) / this.lambdaMax;
      if (this.t >= end) return Infinity;
      if (!this.modulated || this.rng.next() * this.maxFactor < this.factor(this.t)) return this.t;
    }
  }
}

class PeriodicArrivals implements ArrivalSource {
  private k = 0;
  private last = -Infinity;
  constructor(
    private readonly a: Extract<ArrivalsSpec, { kind: 'periodic' }>,
    private readonly end: number,
    private readonly rng: Rng,
  ) {}
  next(): number {
    if (this.a.every <= 0) return Infinity;
    const jitter = Math.min(this.a.jitter ?? 0, this.a.every / 2);
    const t = (this.a.offset ?? 0) + this.k++ * this.a.every + (jitter > 0 ? (this.rng.next() * 2 - 1) * jitter : 0);
    const at = Math.max(0, t, this.last);
    if (at >= this.end) return Infinity;
    this.last = at;
    return at;
  }
}

class ListArrivals implements ArrivalSource {
  private i = 0;
  private readonly times: Float64Array;
  constructor(times: readonly number[], private readonly end: number) {
    this.times = Float64Array.from(times).sort();
  }
  next(): number {
    const t = this.i < this.times.length ? this.times[this.i++]! : Infinity;
    return t < this.end ? t : Infinity;
  }
}

/**
 * Per-minute counts (Azure Functions trace format): the n invocations of a minute are placed uniformly at
 * random inside it, generated in increasing order without storing them (sequential uniform order
 * statistics: the next of n remaining uniforms on (u, 1) is u + (1 − u)(1 − V^(1/n))).
 */
export class PerMinuteArrivals implements ArrivalSource {
  private minute = -1;
  private remaining = 0;
  private u = 0;
  constructor(
    private readonly counts: Uint32Array,
    private readonly end: number,
    private readonly rng: Rng,
    private readonly minuteMs = 60_000,
  ) {}
  next(): number {
    while (this.remaining === 0) {
      this.minute++;
      if (this.minute >= this.counts.length || this.minute * this.minuteMs >= this.end) return Infinity;
      this.remaining = this.counts[this.minute]!;
      this.u = 0;
    }
    const n = this.remaining--;
    this.u += (1 - this.u) * (1 - Math.pow(this.rng.next(), 1 / n));
    const t = (this.minute + this.u) * this.minuteMs;
    return t < this.end ? t : Infinity;
  }
}

/** Builds the arrival source of a spec. */
export function compileArrivals(a: ArrivalsSpec, endMs: number, rng: Rng): ArrivalSource {
  switch (a.kind) {
    case 'poisson':
      return new PoissonArrivals(a, endMs, rng);
    case 'periodic':
      return new PeriodicArrivals(a, endMs, rng);
    case 'list':
      return new ListArrivals(a.atMs, endMs);
  }
}

/** Expected arrivals of a spec in [0, endMs) (for progress bars and the advisor). */
export function expectedArrivals(a: ArrivalsSpec, endMs: number): number {
  switch (a.kind) {
    case 'list':
      return a.atMs.filter((t) => t < endMs).length;
    case 'periodic':
      return a.every > 0 ? Math.max(0, Math.ceil((endMs - (a.offset ?? 0)) / a.every)) : 0;
    case 'poisson': {
      const span = Math.max(0, Math.min(endMs, a.end ?? Infinity) - (a.start ?? 0));
      // The diurnal cosine averages out over whole days; bursts add their share.
      let extra = 0;
      for (const b of a.bursts ?? []) {
        const windows = b.every ? Math.ceil(span / b.every) : 1;
        extra += (b.factor - 1) * Math.min(span, windows * b.duration);
      }
      return (a.ratePerSec / 1000) * (span + extra);
    }
  }
}

/** The default horizon of a spec: its duration, or one day (or the trace's length). */
export function defaultDurationMs(a: readonly ArrivalsSpec[]): number {
  let end = 0;
  for (const x of a) if (x.kind === 'list') for (const t of x.atMs) end = Math.max(end, t + 1);
  return end > 0 ? end : DAY_MS;
}

/** The VPC key lambkin uses for a VPC config (subnets|security groups, sorted). */
export function vpcKeyFor(vpc: boolean | { subnetIds: string[]; securityGroupIds: string[] }): string | undefined {
  if (vpc === false) return undefined;
  if (vpc === true) return 'subnet-sim|sg-sim';
  return `${[...vpc.subnetIds].sort().join(',')}|${[...vpc.securityGroupIds].sort().join(',')}`;
}

/** One function, ready for the engine. */
export interface SimFunction {
  readonly name: string;
  readonly account: string;
  readonly memoryMb: number;
  readonly architecture: Architecture;
  readonly vpcKey: string | undefined;
  readonly handler: HandlerSpec;
  /** MemorySize the handler figures refer to. */
  readonly handlerMemoryMb: number;
  /** Builds this function's arrival source for a run (seeded). */
  arrivals(endMs: number, rng: Rng): ArrivalSource;
  /** Expected invocations in [0, endMs). */
  expected(endMs: number): number;
  /**
   * Set when the arrivals are a homogeneous Poisson process over the whole run: the engine then merges
   * all such functions into one Poisson stream (superposition; each arrival picks its function with
   * probability rate/total), which is exact and saves an event per invocation.
   */
  readonly poissonRatePerSec?: number;
  /**
   * Set for per-minute counts (trace replay): the engine then generates each minute's arrivals of all
   * such functions at once (uniform in the minute, sorted natively) instead of one event per arrival.
   */
  readonly perMinuteCounts?: Uint32Array;
}

/** The rate of a homogeneous Poisson arrival spec, else undefined. */
export function homogeneousPoissonRate(a: ArrivalsSpec): number | undefined {
  return a.kind === 'poisson' && a.diurnal === undefined && a.bursts === undefined && a.start === undefined && a.end === undefined ? a.ratePerSec : undefined;
}

/** Expands the spec's functions (replicas) into SimFunctions. Azure traces are added by azure-trace.ts. */
export function specFunctions(w: WorkloadSpec): SimFunction[] {
  const out: SimFunction[] = [];
  for (const f of w.functions) {
    for (let r = 0; r < f.replicas; r++) {
      const a = f.arrivals;
      const rate = homogeneousPoissonRate(a);
      out.push({
        ...(rate !== undefined ? { poissonRatePerSec: rate } : {}),
        name: f.replicas === 1 ? f.name : `${f.name}-${r + 1}`,
        account: f.account,
        memoryMb: f.memoryMb,
        architecture: f.architecture,
        vpcKey: vpcKeyFor(f.vpc),
        handler: f.handler,
        handlerMemoryMb: f.handler.atMemoryMb ?? f.memoryMb,
        arrivals: (end, rng) => compileArrivals(a, end, rng),
        expected: (end) => expectedArrivals(a, end),
      });
    }
  }
  return out;
}
