/**
 * `--preset seed-2019`: the seed's six verifications in the simulator, each repeated (default 100 times,
 * as if the seed's script had been run 100 times). One run of a case = ten new 128/3008/1024 MB
 * functions of one account, each invoked once, one after the other (the seed's script), on a fresh
 * fleet in legacy VPC mode with the aws-2019 profile. Results have the experiment report's shape
 * (experiments/seed-results.ts `CaseResult`), so its tables and HTML render them unchanged.
 */
import { FUNCTIONS_PER_CASE, SEED_CASES, seedReference, type SeedCase } from '../experiments/seed-cases.js';
import { statsJson } from '../experiments/seed-report.js';
import { caseResult, type CaseResult, type RunResult } from '../experiments/seed-results.js';
import { loadProfile, pointAt, type LatencyProfile } from '../profiles/latency-profile.js';
import { simulate, type InvocationKind } from './engine.js';
import { loadPrices, type PriceTable } from './prices.js';
import { compileArrivals, type SimFunction } from './workload.js';

export interface SeedPresetOptions {
  readonly repeat?: number;
  readonly seed?: number;
  readonly cases?: readonly SeedCase[];
  readonly profile?: LatencyProfile;
  readonly prices?: PriceTable;
  readonly onRun?: (done: number, total: number) => void;
}

/** Time between the seed script's invocations: longer than any cold start (the script waited for each). */
const GAP_MS = 60_000;

/** The ten functions of one run. */
function runFunctions(c: SeedCase, memoryMb: number, profile: LatencyProfile): SimFunction[] {
  const h = pointAt(profile.handlerMs, memoryMb);
  return Array.from({ length: FUNCTIONS_PER_CASE }, (_, k) => ({
    name: `seed-c${c.id}-${memoryMb}-${k + 1}`,
    account: '000000000000',
    memoryMb,
    architecture: 'x86_64' as const,
    vpcKey: c.vpc ? 'subnet-seed|sg-seed' : undefined,
    // The seed's trivial Node.js handler, as the profile models it.
    handler: { byMemory: [{ memoryMb, meanMs: Math.max(h.mean, 1e-6), sdMs: h.sd }], dist: 'constant', valueMs: 0, cpuFraction: 1, threads: 1 },
    handlerMemoryMb: memoryMb,
    arrivals: (end, rng) => compileArrivals({ kind: 'list', atMs: [k * GAP_MS] }, end, rng),
    expected: () => 1,
  }));
}

/** Total runs of ten (for progress bars). */
export function seedPresetRuns(o: Pick<SeedPresetOptions, 'repeat' | 'cases'> = {}): number {
  return (o.cases ?? SEED_CASES).reduce((n, c) => n + c.memoryMb.length * (o.repeat ?? 100), 0);
}

/** Runs the preset; results are shaped like `lambkin experiment seed`'s. */
export function runSeedPreset(o: SeedPresetOptions = {}): { cases: CaseResult[]; invocations: number } {
  const repeat = o.repeat ?? 100;
  const seed = o.seed ?? 1;
  const profile = o.profile ?? loadProfile('aws-2019');
  const prices = o.prices ?? loadPrices();
  const cases = o.cases ?? SEED_CASES;
  const total = seedPresetRuns({ repeat, cases });
  let runIndex = 0;
  let invocations = 0;
  const results: CaseResult[] = [];
  for (const c of cases) {
    const runs: RunResult[] = [];
    for (let rep = 0; rep < repeat; rep++) {
      for (const memoryMb of c.memoryMb) {
        const durationsMs: number[] = [];
        const narrow: boolean[] = [];
        const r = simulate({
          functions: runFunctions(c, memoryMb, profile),
          durationMs: FUNCTIONS_PER_CASE * GAP_MS,
          placement: { vpcMode: 'legacy', hostMemoryMb: 1_000_000, workerMemoryMb: 3072 },
          keepAlive: { policy: 'fixed', ttlMs: 600_000 },
          profile,
          seed: seed * 100_003 + runIndex,
          prices,
          seriesPoints: 1,
          onInvocation: (_i: number, _at: number, kind: InvocationKind, latency: number) => {
            durationsMs.push(latency);
            narrow.push(kind === 'narrow');
          },
        });
        invocations += r.invocations;
        runs.push({ memoryMb, durationsMs, narrow, enisCreated: r.enis.created, workersCreated: r.workers.created });
        runIndex++;
        o.onRun?.(runIndex, total);
      }
    }
    results.push(caseResult(c, runs));
  }
  return { cases: results, invocations };
}

/** `--json` cases: the report's shape plus the ENI and worker counts of every run. */
export function seedCasesJson(cases: readonly CaseResult[]): unknown[] {
  return cases.map((r) => ({
    id: r.id,
    title: r.title,
    memoryMb: r.memoryMb,
    vpc: r.vpc,
    enisCreated: r.enisCreated,
    workersCreated: r.workersCreated,
    enisPerRun: r.runs.map((x) => x.enisCreated),
    workersPerRun: r.runs.map((x) => x.workersCreated),
    stats: statsJson(r.stats),
    count: r.durationsMs.length,
    ...(r.sweep ? { sweep: r.sweep.map((s) => ({ memoryMb: s.memoryMb, stats: s.stats })) } : {}),
    seed: seedReference(r.id),
  }));
}
