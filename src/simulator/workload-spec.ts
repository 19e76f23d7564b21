/**
 * The workload spec format of the simulator: functions (memory, VPC, account, architecture, handler
 * duration by memory) and their arrivals (Poisson with diurnal pattern and bursts, periodic timers,
 * explicit lists, or per-minute counts replayed from an Azure Functions 2019 trace, see azure-trace.ts).
 * workload.ts compiles a validated spec into the models the engine runs.
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
import { parseDuration } from '../util/duration.js';
import { keepAliveConfigSchema } from '../worker-manager/keep-alive-config.js';
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

