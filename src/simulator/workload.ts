/**
 * Workloads for the simulator: functions (memory, VPC, account, architecture, handler duration by
 * memory) and their arrivals (Poisson with diurnal pattern and bursts, periodic timers, explicit lists,
 * or per-minute counts replayed from an Azure Functions 2019 trace, see azure-trace.ts).
 *
 * A spec file is YAML (`.yaml`, `.yml`) or JSON (any other name), validated with zod; errors name the
 * file, the path and, where the parser can tell, the line. Examples: src/simulator/data/examples/.
 * Durations are ms as a number or a string such as `500ms`, `30s`, `10m`, `2h`, `1d`.
 *
 * Top level (only `functions` or `azureTrace` is required):
 * - `name` (default `workload`), `profile`: latency profile, `aws-2019` (default), `none` or a profile file.
 * - `duration`: arrivals are generated in [0, duration); in-flight invocations then finish.
 *   Default: just past the last `list` arrival, else one day.
 * - `placement`: `vpcMode` `hyperplane` (default) | `legacy`; `workerMemoryMb` 3072; `hostMemoryMb`
 *   1e9 (unbounded); `hostCount` 1; `workerIdle` 5m; `accountConcurrency` 1000.
 * - `keepAlive`: `{policy: fixed, ttlMs: 600000}` (default) or `{policy: hybrid, ...}` (keep-alive.ts).
 * - `functions`: list of
 *   - `name` (required, unique, ≤ 64 chars), `memoryMb` (required, 128..10240),
 *     `account` (12 digits, default `000000000000`), `architecture` `x86_64` (default) | `arm64`,
 *     `vpc` `false` (default) | `true` | `{subnetIds: [...], securityGroupIds: [...]}`,
 *     `replicas` (default 1: copies named name-1, name-2, ..., each with its own arrivals);
 *   - `handler`: `dist` `constant` (`valueMs`) | `normal`, `lognormal` (`meanMs`, `sdMs`) |
 *     `exponential` (`meanMs`) | `percentiles` (`percentiles`: {"0": ms, ..., "100": ms}, keys 0 and 100
 *     required); `atMemoryMb` the memory the figures refer to (default the function's); `cpuFraction`
 *     share that scales with CPU (default 1; CPU = memoryMb/1769 vCPU); `threads` (default 1);
 *     `byMemory` `[{memoryMb, meanMs, sdMs = 0}]` measured means, which override the scaling rule;
 *   - `arrivals`: `{kind: poisson, ratePerSec, diurnal?: {amplitude 0..1, peakHour = 14},
 *     bursts?: [{start, duration, factor, every?}], start?, end?}` | `{kind: periodic, every,
 *     offset?, jitter?}` | `{kind: list, atMs: [...]}`.
 * - `azureTrace`: `{invocations, durations?, memory?, maxFunctions?, vpc = false}`: an Azure Functions
 *   2019 trace's CSV files, relative paths resolved against the spec file's directory.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { Rng } from '../profiles/rng.js';
import { parseDuration } from '../util/duration.js';
import { keepAliveConfigSchema } from '../worker-manager/keep-alive-config.js';
import type { Architecture } from './prices.js';
import { parseSpecText, specFormat, SpecSyntaxError } from './spec-file.js';

/** A duration: ms as a number, or a string such as `500ms`, `30s`, `10m`, `2h`, `1d`. */
const duration = z.union([z.number().finite().nonnegative(), z.string()]).transform((v, ctx) => {
  if (typeof v === 'number') return v;
  try {
    return parseDuration(v);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
    return z.NEVER;
  }
});

/** Lambda's MemorySize range. */
const memoryMb = z.number().int().min(128).max(10240);

const distributionShape = {
  /** `constant`: valueMs. `normal`/`lognormal`: meanMs and sdMs (truncated at 0 / positive). `exponential`: meanMs. `percentiles`: Azure-style. */
  dist: z.enum(['constant', 'normal', 'lognormal', 'exponential', 'percentiles']),
  valueMs: z.number().finite().nonnegative().optional(),
  meanMs: z.number().finite().nonnegative().optional(),
  sdMs: z.number().finite().nonnegative().optional(),
  /** Percentile → ms, e.g. {"0": 2, "1": 3, "25": 10, "50": 20, "75": 40, "99": 300, "100": 900}; at least 0 and 100. */
  percentiles: z.record(z.string(), z.number().finite().nonnegative()).optional(),
};

function checkDistribution(d: { dist: string; valueMs?: number | undefined; meanMs?: number | undefined; percentiles?: Record<string, number> | undefined }, ctx: z.RefinementCtx): void {
  if (d.dist === 'constant' && d.valueMs === undefined) ctx.addIssue({ code: 'custom', path: ['valueMs'], message: 'constant needs valueMs' });
  if ((d.dist === 'normal' || d.dist === 'lognormal' || d.dist === 'exponential') && d.meanMs === undefined) {
    ctx.addIssue({ code: 'custom', path: ['meanMs'], message: `${d.dist} needs meanMs` });
  }
  if (d.dist === 'lognormal' && d.meanMs === 0) ctx.addIssue({ code: 'custom', path: ['meanMs'], message: 'lognormal needs meanMs > 0' });
  if (d.dist === 'percentiles') {
    const p = d.percentiles;
    if (p === undefined || p['0'] === undefined || p['100'] === undefined) {
      ctx.addIssue({ code: 'custom', path: ['percentiles'], message: 'percentiles needs at least the keys "0" and "100"' });
      return;
    }
    const pts = Object.entries(p).map(([k, v]) => [Number(k), v] as const);
    if (pts.some(([k]) => !(k >= 0 && k <= 100))) ctx.addIssue({ code: 'custom', path: ['percentiles'], message: 'percentile keys must be numbers in 0..100' });
    pts.sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < pts.length; i++) {
      if (pts[i]![1] < pts[i - 1]![1]) ctx.addIssue({ code: 'custom', path: ['percentiles'], message: 'percentile values must not decrease' });
    }
  }
}

const handlerSchema = z
  .object({
    ...distributionShape,
    /** MemorySize at which the figures were measured (default: the function's own). */
    atMemoryMb: memoryMb.optional(),
    /**
     * Share of the duration that is CPU-bound and speeds up with memory (Lambda allocates CPU in
     * proportion to memory: 1,769 MB = 1 vCPU). 0: I/O-bound, the same at every memory size.
     */
    cpuFraction: z.number().min(0).max(1).default(1),
    /** Threads the handler can keep busy: CPU beyond this many vCPUs does not help (default 1). */
    threads: z.number().positive().default(1),
    /** Measured means by memory (e.g. by `lambkin advise --endpoint`); overrides the scaling rule. Lognormal with the given sd. */
    byMemory: z
      .array(z.object({ memoryMb, meanMs: z.number().finite().positive(), sdMs: z.number().finite().nonnegative().default(0) }).strict())
      .min(1)
      .optional(),
  })
  .strict()
  .superRefine((d, ctx) => {
    if (d.byMemory === undefined) checkDistribution(d, ctx);
  });

export type HandlerSpec = z.output<typeof handlerSchema>;

const burstSchema = z.object({ start: duration, duration, factor: z.number().positive() }).strict();

const arrivalsSchema = z.discriminatedUnion('kind', [
  z
    .object({
      kind: z.literal('poisson'),
      ratePerSec: z.number().finite().nonnegative(),
      /** rate × (1 + amplitude·cos(2π(hour − peakHour)/24)). */
      diurnal: z.object({ amplitude: z.number().min(0).max(1), peakHour: z.number().min(0).max(24).default(14) }).strict().optional(),
      /** Windows in which the rate is multiplied by `factor` (repeat every `every` if given). */
      bursts: z.array(burstSchema.extend({ every: duration.optional() })).optional(),
      start: duration.optional(),
      end: duration.optional(),
    })
    .strict(),
  z.object({ kind: z.literal('periodic'), every: duration, offset: duration.optional(), jitter: duration.optional() }).strict(),
  z.object({ kind: z.literal('list'), atMs: z.array(z.number().finite().nonnegative()) }).strict(),
]);

export type ArrivalsSpec = z.output<typeof arrivalsSchema>;

const vpcSchema = z.union([
  z.boolean(),
  z.object({ subnetIds: z.array(z.string().min(1)).min(1), securityGroupIds: z.array(z.string().min(1)).min(1) }).strict(),
]);

const functionSchema = z
  .object({
    name: z.string().min(1).max(64),
    account: z.string().regex(/^\d{12}$/, 'account must be 12 digits').default('000000000000'),
    memoryMb,
    architecture: z.enum(['x86_64', 'arm64']).default('x86_64'),
    vpc: vpcSchema.default(false),
    handler: handlerSchema,
    arrivals: arrivalsSchema,
    /** Copies of this function (names get -1, -2, ...), each with its own arrivals. */
    replicas: z.number().int().positive().default(1),
  })
  .strict();

export type FunctionSpecInput = z.input<typeof functionSchema>;

const azureSchema = z
  .object({
    invocations: z.string().min(1),
    durations: z.string().min(1).optional(),
    memory: z.string().min(1).optional(),
    /** Keep only the first N functions (file order). */
    maxFunctions: z.number().int().positive().optional(),
    /** VPC for every function of the trace. */
    vpc: vpcSchema.default(false),
  })
  .strict();

export const placementSchema = z
  .object({
    vpcMode: z.enum(['hyperplane', 'legacy']).default('hyperplane'),
    workerMemoryMb: z.number().int().positive().default(3072),
    hostMemoryMb: z.number().int().positive().default(1_000_000_000),
    hostCount: z.number().int().positive().default(1),
    workerIdle: duration.default(300_000),
    accountConcurrency: z.number().int().nonnegative().default(1000),
  })
  .strict();

export const workloadSchema = z
  .object({
    name: z.string().default('workload'),
    /** Arrivals are generated in [0, duration); in-flight invocations then finish. */
    duration: duration.optional(),
    profile: z.string().default('aws-2019'),
    placement: placementSchema.default(placementSchema.parse({})),
    keepAlive: keepAliveConfigSchema.optional(),
    functions: z.array(functionSchema).default([]),
    azureTrace: azureSchema.optional(),
  })
  .strict()
  .superRefine((w, ctx) => {
    if (w.functions.length === 0 && w.azureTrace === undefined) ctx.addIssue({ code: 'custom', path: ['functions'], message: 'a workload needs functions or azureTrace' });
    const names = new Set<string>();
    w.functions.forEach((f, i) => {
      if (names.has(f.name)) ctx.addIssue({ code: 'custom', path: ['functions', i, 'name'], message: `duplicate function name "${f.name}"` });
      names.add(f.name);
    });
  });

export type WorkloadSpec = z.output<typeof workloadSchema>;
export type WorkloadSpecInput = z.input<typeof workloadSchema>;

/** A workload spec error: says which file and which path is wrong. */
export class WorkloadError extends Error {
  override readonly name = 'WorkloadError';
}

/** One line per issue, like z.prettifyError, plus the line in the file when `locate` knows it. */
function formatIssues(issues: readonly z.core.$ZodIssue[], locate?: (path: readonly PropertyKey[]) => number | undefined): string {
  return [...issues]
    .sort((a, b) => a.path.length - b.path.length)
    .map((issue) => {
      // An unknown key is best shown where the key itself is written.
      const at = issue.code === 'unrecognized_keys' && issue.keys[0] !== undefined ? [...issue.path, issue.keys[0]] : issue.path;
      const line = locate?.(at);
      const where = issue.path.length > 0 ? `\n  → at ${z.core.toDotPath(issue.path)}${line !== undefined ? ` (line ${line})` : ''}` : line !== undefined ? `\n  → at line ${line}` : '';
      return `✖ ${issue.message}${where}`;
    })
    .join('\n');
}

/**
 * Validates a parsed spec; relative trace paths resolve against `baseDir`. `locate` (from a spec
 * file) maps a path in the data to its line, for the error message.
 */
export function parseWorkload(data: unknown, origin = 'workload', baseDir = process.cwd(), locate?: (path: readonly PropertyKey[]) => number | undefined): WorkloadSpec {
  const r = workloadSchema.safeParse(data);
  if (!r.success) throw new WorkloadError(`Invalid workload ${origin}:\n${formatIssues(r.error.issues, locate)}`);
  const w = r.data;
  if (w.azureTrace) {
    const t = w.azureTrace;
    w.azureTrace = {
      ...t,
      invocations: resolve(baseDir, t.invocations),
      ...(t.durations ? { durations: resolve(baseDir, t.durations) } : {}),
      ...(t.memory ? { memory: resolve(baseDir, t.memory) } : {}),
    };
  }
  return w;
}

/** True for a file name the spec loaders accept (`.json`, `.yaml`, `.yml`). */
export function isSpecFileName(path: string): boolean {
  return /\.(json|ya?ml)$/i.test(path);
}

/** Reads and validates a workload file: YAML for `.yaml`/`.yml`, JSON otherwise. */
export function loadWorkload(path: string): WorkloadSpec {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new WorkloadError(`Cannot read workload "${path}": ${(err as Error).message}`);
  }
  let file;
  try {
    file = parseSpecText(text, specFormat(path));
  } catch (err) {
    if (!(err instanceof SpecSyntaxError)) throw err;
    throw new WorkloadError(`Workload "${path}" is not valid ${err.format === 'yaml' ? 'YAML' : 'JSON'}: ${err.message}`);
  }
  return parseWorkload(file.data, `"${path}"`, dirname(resolve(path)), file.locate);
}

// -------------------------------------------------------------------------------------------------
// Compiled models

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
