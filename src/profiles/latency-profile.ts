/**
 * Latency profiles: durations for the parts of a Lambda cold start that have no local counterpart
 * (worker provisioning, ENI creation, code download, the platform's share of a fast cold start), and,
 * for the simulator, whole fast cold starts and the seed's trivial handler. Profiles are JSON data
 * files that cite their source (src/profiles/data/*.json); this module validates them and samples them
 * with a seeded RNG. See data/aws-2019.json for the calibration against the seed's tables.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import type { StepDelays } from '../fleet/fleet.js';
import type { Step } from '../worker-manager/types.js';
import { Rng } from './rng.js';

const ms = z.number().finite().nonnegative();
const note = z.string().optional();

/** Normal / lognormal parameters: mean and sd of the distribution itself, draws truncated to [min, max]. */
const boundedParams = { mean: ms, sd: ms, min: ms, max: ms, note };

function checkBounds(p: { mean: number; min: number; max: number }, ctx: z.RefinementCtx): void {
  if (!(p.min <= p.mean && p.mean <= p.max)) {
    ctx.addIssue({ code: 'custom', message: `need min <= mean <= max (got ${p.min}, ${p.mean}, ${p.max})` });
  }
}

function checkLognormal(p: { mean: number; sd: number }, ctx: z.RefinementCtx, path: (string | number)[] = []): void {
  if (p.sd > 0 && p.mean === 0) ctx.addIssue({ code: 'custom', path, message: 'a lognormal with sd > 0 needs mean > 0' });
}

const distributionSchema = z
  .discriminatedUnion('kind', [
    z.object({ kind: z.literal('constant'), value: ms, note }).strict(),
    z.object({ kind: z.literal('normal'), ...boundedParams }).strict(),
    z.object({ kind: z.literal('lognormal'), ...boundedParams }).strict(),
    /** Resampled from the observations, linearly interpolated between neighbours (a continuous version of them). */
    z.object({ kind: z.literal('empirical'), values: z.array(ms).min(1), note }).strict(),
  ])
  .superRefine((d, ctx) => {
    if (d.kind === 'normal' || d.kind === 'lognormal') checkBounds(d, ctx);
    if (d.kind === 'lognormal') checkLognormal(d, ctx);
  });

/** One duration that does not depend on MemorySize. */
export type Distribution = z.output<typeof distributionSchema>;

const memoryPointSchema = z
  .object({ memoryMb: z.number().int().positive(), ...boundedParams })
  .strict()
  .superRefine(checkBounds);

/** One row of a by-memory table: the distribution's parameters at `memoryMb`. */
export type MemoryPoint = z.output<typeof memoryPointSchema>;

const byMemorySchema = z
  .object({
    dist: z.enum(['normal', 'lognormal']),
    points: z.array(memoryPointSchema).min(1),
    note,
  })
  .strict()
  .superRefine((t, ctx) => {
    if (t.dist === 'lognormal') t.points.forEach((p, i) => checkLognormal(p, ctx, ['points', i]));
    for (let i = 1; i < t.points.length; i++) {
      if (t.points[i]!.memoryMb <= t.points[i - 1]!.memoryMb) {
        ctx.addIssue({ code: 'custom', path: ['points', i, 'memoryMb'], message: 'points must be in strictly ascending memoryMb' });
      }
    }
  });

/**
 * A duration that depends on MemorySize: parameters are interpolated piecewise linearly between the
 * points and held flat beyond the first and last point.
 */
export type ByMemory = z.output<typeof byMemorySchema>;

const profileSchema = z
  .object({
    name: z.string().min(1),
    /** Where the numbers come from (a measurement, a document); required so nobody ships unsourced numbers. */
    source: z.string().min(1),
    description: z.string().optional(),
    notes: z.array(z.string()).optional(),
    workerProvisionMs: distributionSchema,
    eniCreateMs: distributionSchema,
    codeDownloadMs: byMemorySchema,
    platformExtraMs: byMemorySchema,
    coldStartTotalMs: byMemorySchema,
    handlerMs: byMemorySchema,
  })
  .strict();

/** A validated latency profile (deeply frozen). */
export type LatencyProfile = DeepReadonly<z.output<typeof profileSchema>>;
type DeepReadonly<T> = T extends object ? { readonly [K in keyof T]: DeepReadonly<T[K]> } : T;

const BUILTINS = ['none', 'aws-2019'] as const;

/** Names `loadProfile` accepts besides a file path. */
export function builtinProfileNames(): string[] {
  return [...BUILTINS];
}

/**
 * Validates parsed JSON as a profile; `origin` names it in errors (a file path, "built-in aws-2019", ...).
 * Exported for profiles that arrive by other ways than a file (e.g. measured by a live lambkin).
 */
export function parseProfile(data: unknown, origin: string): LatencyProfile {
  const result = profileSchema.safeParse(data);
  if (!result.success) throw new Error(`Invalid latency profile ${origin}:\n${z.prettifyError(result.error)}`);
  return deepFreeze(result.data);
}

/**
 * Loads a built-in profile by name (`none`, `aws-2019`) or a profile file by path (anything with a path
 * separator or ending in `.json`). Throws an Error that names the built-ins for an unknown name.
 */
export function loadProfile(nameOrPath: string): LatencyProfile {
  const builtin = (BUILTINS as readonly string[]).includes(nameOrPath);
  const looksLikePath = /[/\\]/.test(nameOrPath) || nameOrPath.endsWith('.json');
  if (!builtin && !looksLikePath) {
    throw new Error(
      `Unknown latency profile "${nameOrPath}": use one of ${BUILTINS.join(', ')}, or a path to a profile .json file`,
    );
  }
  // Built-ins live next to the compiled module (the build copies src/profiles/data/** into dist).
  const file = builtin ? new URL(`./data/${nameOrPath}.json`, import.meta.url) : nameOrPath;
  const origin = builtin ? `built-in "${nameOrPath}"` : `"${nameOrPath}"`;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`Cannot read latency profile ${origin}: ${(err as Error).message}`, { cause: err });
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new Error(`Latency profile ${origin} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  return parseProfile(data, origin);
}

/** The parameters of a by-memory table at `memoryMb` (piecewise linear; flat beyond the ends). */
export function pointAt(table: DeepReadonly<ByMemory>, memoryMb: number): MemoryPoint {
  const pts = table.points;
  const first = pts[0]!;
  const last = pts[pts.length - 1]!;
  if (memoryMb <= first.memoryMb) return { ...first, memoryMb };
  if (memoryMb >= last.memoryMb) return { ...last, memoryMb };
  let i = 1;
  while (pts[i]!.memoryMb < memoryMb) i++;
  const lo = pts[i - 1]!;
  const hi = pts[i]!;
  const f = (memoryMb - lo.memoryMb) / (hi.memoryMb - lo.memoryMb);
  const lerp = (a: number, b: number): number => a + f * (b - a);
  return {
    memoryMb,
    mean: lerp(lo.mean, hi.mean),
    sd: lerp(lo.sd, hi.sd),
    min: lerp(lo.min, hi.min),
    max: lerp(lo.max, hi.max),
  };
}

/** Seeded draws from a profile. Every duration is in ms, already multiplied by the time scale. */
export interface ProfileSampler {
  /** A new worker (provision-worker). */
  workerProvisionMs(): number;
  /** Creating and attaching an ENI (attach-eni). */
  eniCreateMs(): number;
  /** Fetching the function's code onto the worker (server: part of create-sandbox). */
  codeDownloadMs(memoryMb: number): number;
  /** The platform's non-local share of a fast cold start (server: added to create-sandbox). */
  platformExtraMs(memoryMb: number): number;
  /** Simulator: a whole fast cold start in an existing worker, without the handler. */
  coldStartTotalMs(memoryMb: number): number;
  /** Simulator: the seed's trivial Node.js handler. */
  handlerMs(memoryMb: number): number;
}

export interface SamplerOptions {
  /** Same seed (and same call sequence per quantity) → same draws. */
  readonly seed: number;
  /** Every duration is multiplied by this (0.1 turns the ~10 s ENI into ~1 s). */
  readonly timeScale: number;
}

/**
 * A deterministic sampler. Each quantity draws from its own RNG stream (derived from the seed), so
 * extra draws of one quantity (say, one more ENI) do not shift the draws of the others.
 */
export function createSampler(profile: LatencyProfile, opts: SamplerOptions): ProfileSampler {
  const { seed, timeScale } = opts;
  if (!Number.isSafeInteger(seed)) throw new RangeError(`seed must be a safe integer, got ${seed}`);
  if (!Number.isFinite(timeScale) || timeScale < 0) throw new RangeError(`timeScale must be a finite number >= 0, got ${timeScale}`);
  const stream = (k: number): Rng => new Rng(seed, k);
  const workerProvision = compile(profile.workerProvisionMs, stream(1));
  const eniCreate = compile(profile.eniCreateMs, stream(2));
  const codeDownload = compileByMemory(profile.codeDownloadMs, stream(3));
  const platformExtra = compileByMemory(profile.platformExtraMs, stream(4));
  const coldStartTotal = compileByMemory(profile.coldStartTotalMs, stream(5));
  const handler = compileByMemory(profile.handlerMs, stream(6));
  return {
    workerProvisionMs: () => workerProvision() * timeScale,
    eniCreateMs: () => eniCreate() * timeScale,
    codeDownloadMs: (m) => codeDownload(m) * timeScale,
    platformExtraMs: (m) => platformExtra(m) * timeScale,
    coldStartTotalMs: (m) => coldStartTotal(m) * timeScale,
    handlerMs: (m) => handler(m) * timeScale,
  };
}

/**
 * The server's fleet delays: provision-worker → workerProvisionMs, attach-eni → eniCreateMs (legacy
 * attach and Hyperplane creation alike), create-sandbox → codeDownloadMs + platformExtraMs of the
 * function's MemorySize (the runtime init itself is real, local work); stop/retire/delete → 0.
 */
export function stepDelays(sampler: ProfileSampler): StepDelays {
  return {
    delayFor(step: Step): number {
      switch (step.kind) {
        case 'provision-worker':
          return sampler.workerProvisionMs();
        case 'attach-eni':
          return sampler.eniCreateMs();
        case 'create-sandbox':
          return sampler.codeDownloadMs(step.memoryMb) + sampler.platformExtraMs(step.memoryMb);
        case 'stop-sandbox':
        case 'retire-worker':
        case 'delete-eni':
          return 0;
      }
    },
  };
}

type Draw = () => number;

function compile(d: DeepReadonly<Distribution>, rng: Rng): Draw {
  switch (d.kind) {
    case 'constant': {
      const v = d.value;
      return () => v;
    }
    case 'normal':
    case 'lognormal':
      return bounded(d.kind, d, rng);
    case 'empirical': {
      const v = [...d.values].sort((a, b) => a - b);
      const n1 = v.length - 1;
      if (n1 === 0) return () => v[0]!;
      // Uniform on the piecewise-linear empirical CDF: continuous, within [min, max] of the data.
      return () => {
        const u = rng.next() * n1;
        const i = Math.floor(u);
        const lo = v[i]!;
        return lo + (u - i) * (v[i + 1]! - lo);
      };
    }
  }
}

function compileByMemory(t: DeepReadonly<ByMemory>, rng: Rng): (memoryMb: number) => number {
  // The simulator asks for a handful of memory sizes millions of times: interpolate each once.
  const cache = new Map<number, Draw>();
  return (memoryMb) => {
    let draw = cache.get(memoryMb);
    if (draw === undefined) {
      draw = bounded(t.dist, pointAt(t, memoryMb), rng);
      cache.set(memoryMb, draw);
    }
    return draw();
  };
}

/** Truncated normal / lognormal with the given mean and sd: redraw outside [min, max], clamp as a last resort. */
function bounded(kind: 'normal' | 'lognormal', p: { mean: number; sd: number; min: number; max: number }, rng: Rng): Draw {
  const { mean, sd, min, max } = p;
  if (sd === 0 || min === max) return () => mean;
  let mu: number;
  let sigma: number;
  let transform: (x: number) => number;
  if (kind === 'normal') {
    mu = mean;
    sigma = sd;
    transform = (x) => x;
  } else {
    // Moments of a lognormal: mean = exp(mu + s²/2), var = (exp(s²) − 1)·mean².
    const s2 = Math.log(1 + (sd * sd) / (mean * mean));
    sigma = Math.sqrt(s2);
    mu = Math.log(mean) - s2 / 2;
    transform = Math.exp;
  }
  return () => {
    for (let tries = 0; tries < 32; tries++) {
      const x = transform(mu + sigma * rng.normal());
      if (x >= min && x <= max) return x;
    }
    return Math.min(max, Math.max(min, mean));
  };
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
