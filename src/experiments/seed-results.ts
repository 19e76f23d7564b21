/**
 * One case's result from its runs of ten, computed the same way for a measurement
 * (`lambkin experiment seed`) and a simulation (`lambkin simulate --preset seed-2019`).
 */
import type { SeedCase } from './seed-cases.js';
import { summarize, type Summary } from './statistics.js';

export interface RunResult {
  readonly memoryMb: number;
  readonly durationsMs: number[];
  /** Per invocation: did it provision a worker (from the trace's annotation, when present)? */
  readonly narrow: (boolean | undefined)[];
  readonly enisCreated: number | null;
  readonly workersCreated: number | null;
}

export interface CaseResult {
  readonly id: number;
  readonly title: string;
  readonly vpc: boolean;
  /** One memory size, or the list of case 5's sweep. */
  readonly memoryMb: number | number[];
  /** The durations the case counts (case 5: only starts that reused a worker). */
  readonly durationsMs: number[];
  readonly stats: Summary;
  /** Per run of ten (mean over repeats); null when the endpoint has no fleet view. */
  readonly enisCreated: number | null;
  readonly workersCreated: number | null;
  readonly runs: RunResult[];
  /** Case 5: statistics per memory size. */
  readonly sweep?: { memoryMb: number; durationsMs: number[]; stats: Summary }[];
}

/** Starts slower than this are taken as narrow cold starts when a trace has no annotation (real AWS). */
const NARROW_THRESHOLD_MS = 2000;

/** Summarizes a case's runs (case 5: only the starts that reused a worker). */
export function caseResult(c: SeedCase, runs: RunResult[]): CaseResult {
  const counted = (r: RunResult) =>
    c.onlyReusedWorkers ? r.durationsMs.filter((d, i) => !(r.narrow[i] ?? d > NARROW_THRESHOLD_MS)) : r.durationsMs;
  const durationsMs = runs.flatMap(counted);
  const avg = (xs: (number | null)[]) =>
    xs.some((x) => x === null) || xs.length === 0 ? null : (xs as number[]).reduce((a, b) => a + b, 0) / xs.length;
  const perRun = (key: 'enisCreated' | 'workersCreated') => avg(runs.map((r) => r[key]));
  return {
    id: c.id,
    title: c.title,
    vpc: c.vpc,
    memoryMb: c.memoryMb.length === 1 ? (c.memoryMb[0] as number) : [...c.memoryMb],
    durationsMs,
    stats: summarize(durationsMs),
    enisCreated: perRun('enisCreated'),
    workersCreated: perRun('workersCreated'),
    runs,
    ...(c.memoryMb.length > 1
      ? {
          sweep: c.memoryMb.map((m) => {
            const ds = runs.filter((r) => r.memoryMb === m).flatMap(counted);
            return { memoryMb: m, durationsMs: ds, stats: summarize(ds) };
          }),
        }
      : {}),
  };
}
