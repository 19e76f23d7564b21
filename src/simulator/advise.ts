/**
 * The memory advisor (`lambkin advise`): for each candidate MemorySize and VPC mode, the handler's
 * duration at that memory (from the spec's model, or measured on a running lambkin), then the simulated
 * cold-start rates, latency and cost for the user's arrival pattern; the seed's trade-off as numbers
 * (for VPC functions in the 2019 legacy model: less memory → more sandboxes per worker and ENI → fewer
 * ~10 s narrow cold starts; more memory → faster init and handler), and a recommendation.
 */
import type { LatencyProfile } from '../profiles/latency-profile.js';
import type { KeepAliveConfigInput } from '../worker-manager/keep-alive-config.js';
import { simulate } from './engine.js';
import { realClock, type Clock } from '../util/clock.js';
import type { PriceTable } from './prices.js';
import { esc, fmt, htmlPage, lineChart, table } from '../experiments/report-format.js';
import { compileArrivals, expectedArrivals, handlerMeanMs, vpcKeyFor, type SimFunction } from './workload.js';
import type { ArrivalsSpec, HandlerSpec } from './workload-spec.js';

/** Lambda's memory steps the advisor tries by default (1,769 MB = 1 vCPU; 10,240 MB = the maximum). */
export const DEFAULT_CANDIDATES = [128, 256, 512, 1024, 1536, 1769, 2048, 3008, 4096, 6144, 8192, 10240];

export type VpcVariant = 'none' | 'legacy' | 'hyperplane';
export type Goal = 'latency-p99' | 'mean' | 'cost' | 'balanced';

export interface AdviseInput {
  readonly name: string;
  readonly account?: string;
  readonly architecture?: 'x86_64' | 'arm64';
  /** Memory the handler model refers to (its own MemorySize). */
  readonly memoryMb: number;
  readonly handler: HandlerSpec;
  readonly arrivals: ArrivalsSpec;
  /** VPC variants to compare (default: none, legacy, hyperplane). */
  readonly variants?: readonly VpcVariant[];
  readonly candidates?: readonly number[];
  readonly durationMs: number;
  readonly keepAlive?: KeepAliveConfigInput;
  readonly profile: LatencyProfile;
  readonly prices: PriceTable;
  readonly seed: number;
  /** Traffic levels (invocations/s) for the trade-off sweep (legacy VPC). */
  readonly sweepRates?: readonly number[];
  readonly onStep?: (done: number, total: number) => void;
  /** Measures the advice's own duration (`wallSeconds`; default: the real clock). */
  readonly wallClock?: Clock;
}

export interface AdviseRow {
  memoryMb: number;
  variant: VpcVariant;
  handlerMeanMs: number;
  invocations: number;
  coldRate: number;
  narrowColdRate: number;
  meanMs: number;
  p50Ms: number;
  p99Ms: number;
  enisPeak: number;
  workersPeak: number;
  /** Cost per million invocations (requests + compute). */
  costPerMillion: number;
}

export interface AdviseResult {
  name: string;
  rows: AdviseRow[];
  recommendation: Record<Goal, { memoryMb: number; variant: VpcVariant }>;
  /** Per traffic level: the best MemorySize with and without a legacy VPC, and the legacy mean at the smallest candidate vs at the best. */
  tradeoff: { ratePerSec: number; bestLegacyMb: number; bestNoVpcMb: number; smallestMb: number; legacyMeanAtSmallest: number; legacyMeanAtBest: number }[];
  conclusion: string;
  wallSeconds: number;
  /** Set when the handler's durations were measured on a running lambkin (`advise --endpoint`). */
  measured?: { endpoint: string; originalMemoryMb: number; points: { memoryMb: number; meanMs: number; sdMs: number; invocations: number }[] };
}

function fnAt(input: AdviseInput, memoryMb: number, variant: VpcVariant, arrivals: ArrivalsSpec): SimFunction {
  return {
    name: input.name,
    account: input.account ?? '000000000000',
    memoryMb,
    architecture: input.architecture ?? 'x86_64',
    vpcKey: variant === 'none' ? undefined : vpcKeyFor(true),
    handler: input.handler,
    handlerMemoryMb: input.handler.atMemoryMb ?? input.memoryMb,
    arrivals: (end, rng) => compileArrivals(arrivals, end, rng),
    expected: (end) => expectedArrivals(arrivals, end),
  };
}

function run(input: AdviseInput, memoryMb: number, variant: VpcVariant, arrivals: ArrivalsSpec): AdviseRow {
  const r = simulate({
    functions: [fnAt(input, memoryMb, variant, arrivals)],
    durationMs: input.durationMs,
    // A sandbox larger than the 3 GB worker of the 2019 model gets a worker of its own size.
    placement: { vpcMode: variant === 'legacy' ? 'legacy' : 'hyperplane', workerMemoryMb: Math.max(3072, memoryMb), hostMemoryMb: 1_000_000_000 },
    keepAlive: input.keepAlive ?? { policy: 'fixed', ttlMs: 600_000 },
    profile: input.profile,
    prices: input.prices,
    seed: input.seed,
    seriesPoints: 1,
  });
  const admitted = r.counts.invocations - r.counts.throttled;
  return {
    memoryMb,
    variant,
    handlerMeanMs: handlerMeanMs(input.handler, input.memoryMb, memoryMb),
    invocations: r.invocations,
    coldRate: r.counts.coldRate,
    narrowColdRate: r.counts.narrowColdRate,
    meanMs: r.latencyMs.mean,
    p50Ms: r.latencyMs.p50,
    p99Ms: r.latencyMs.p99,
    enisPeak: r.enis.peak,
    workersPeak: r.workers.peak,
    costPerMillion: admitted > 0 ? (r.cost.total / admitted) * 1e6 : NaN,
  };
}

/** The smallest MemorySize whose score is within 1% of the best (above ~1,769 MB many sizes tie). */
function pick(rows: readonly AdviseRow[], score: (r: AdviseRow) => number): AdviseRow {
  const min = Math.min(...rows.map(score));
  const ok = rows.filter((r) => score(r) <= min * 1.01 + 1e-9).sort((a, b) => a.memoryMb - b.memoryMb);
  return ok[0] ?? rows[0]!;
}

/** Runs the advisor. */
export function advise(input: AdviseInput): AdviseResult {
  const wall = input.wallClock ?? realClock;
  const started = wall.monotonic();
  const candidates = input.candidates ?? DEFAULT_CANDIDATES;
  const variants = input.variants ?? ['none', 'legacy', 'hyperplane'];
  const rates = input.sweepRates ?? [0.01, 0.1, 1, 10];
  const total = candidates.length * variants.length + (variants.includes('legacy') ? rates.length * candidates.length * 2 : 0);
  let done = 0;
  const rows: AdviseRow[] = [];
  for (const v of variants) {
    for (const m of candidates) {
      rows.push(run(input, m, v, input.arrivals));
      input.onStep?.(++done, total);
    }
  }
  const recommendation = {} as AdviseResult['recommendation'];
  // Recommend for the first variant given (the function's own configuration).
  const own = rows.filter((r) => r.variant === variants[0]);
  const valid = own.filter((r) => Number.isFinite(r.meanMs));
  const minP99 = Math.min(...valid.map((r) => r.p99Ms));
  const minCost = Math.min(...valid.map((r) => r.costPerMillion));
  const chosen: Record<Goal, AdviseRow> = {
    'latency-p99': pick(valid, (r) => r.p99Ms),
    mean: pick(valid, (r) => r.meanMs),
    cost: pick(valid, (r) => r.costPerMillion),
    balanced: pick(valid, (r) => r.p99Ms / minP99 + r.costPerMillion / minCost),
  };
  for (const g of Object.keys(chosen) as Goal[]) recommendation[g] = { memoryMb: chosen[g].memoryMb, variant: chosen[g].variant };
  // The seed's trade-off: sweep traffic, legacy VPC vs no VPC, best memory by mean latency.
  const tradeoff: AdviseResult['tradeoff'] = [];
  if (variants.includes('legacy')) {
    for (const rate of rates) {
      const arrivals: ArrivalsSpec = { kind: 'poisson', ratePerSec: rate };
      const legacy = candidates.map((m) => {
        const r = run(input, m, 'legacy', arrivals);
        input.onStep?.(++done, total);
        return r;
      });
      const none = candidates.map((m) => {
        const r = run(input, m, 'none', arrivals);
        input.onStep?.(++done, total);
        return r;
      });
      const bl = pick(legacy.filter((r) => Number.isFinite(r.meanMs)), (r) => r.meanMs);
      const bn = pick(none.filter((r) => Number.isFinite(r.meanMs)), (r) => r.meanMs);
      tradeoff.push({ ratePerSec: rate, bestLegacyMb: bl.memoryMb, bestNoVpcMb: bn.memoryMb, smallestMb: legacy[0]?.memoryMb ?? NaN, legacyMeanAtSmallest: legacy[0]?.meanMs ?? NaN, legacyMeanAtBest: bl.meanMs });
    }
  }
  return { name: input.name, rows, recommendation, tradeoff, conclusion: conclusion(tradeoff), wallSeconds: (wall.monotonic() - started) / 1000 };
}

function conclusion(t: AdviseResult['tradeoff']): string {
  if (t.length === 0) return '';
  const lines = t.map((x) =>
    x.bestLegacyMb < x.bestNoVpcMb
      ? `at ${fmt(x.ratePerSec, 2)} req/s the ENI effect outweighs the init speed-up above ${x.bestLegacyMb} MB: legacy-VPC mean latency is lowest at ${x.bestLegacyMb} MB (${fmt(x.legacyMeanAtBest, 0)} ms) although without VPC ${x.bestNoVpcMb} MB would be fastest`
      : `at ${fmt(x.ratePerSec, 2)} req/s the init speed-up wins: ${x.bestLegacyMb} MB is fastest with and without VPC (legacy-VPC mean ${fmt(x.legacyMeanAtBest, 0)} ms)`,
  );
  return lines.join('\n');
}

/** The terminal output. */
export function renderAdvice(a: AdviseResult, goal: Goal): string {
  const out: string[] = [`lambkin advise — ${a.name}`];
  if (a.measured) {
    out.push(`handler durations measured on ${a.measured.endpoint} (warm invocations; MemorySize restored to ${a.measured.originalMemoryMb} MB):`);
    out.push(table([['MB', 'mean ms', 'sd ms', 'n'], ...a.measured.points.map((p) => [String(p.memoryMb), fmt(p.meanMs, 1), fmt(p.sdMs, 1), String(p.invocations)])]));
    out.push('');
  }
  out.push(
    table([
      ['MB', 'VPC', 'handler ms', 'cold', 'narrow cold', 'mean ms', 'p50 ms', 'p99 ms', 'ENIs', '$ / 1M inv'],
      ...a.rows.map((r) => [
        String(r.memoryMb),
        r.variant,
        fmt(r.handlerMeanMs, 1),
        `${fmt(r.coldRate * 100, 2)}%`,
        `${fmt(r.narrowColdRate * 100, 3)}%`,
        fmt(r.meanMs, 1),
        fmt(r.p50Ms, 1),
        fmt(r.p99Ms, 1),
        fmt(r.enisPeak),
        fmt(r.costPerMillion, 2),
      ]),
    ]),
  );
  if (a.tradeoff.length > 0) {
    out.push('');
    out.push('The seed\'s trade-off (legacy VPC, Poisson traffic, best MemorySize by mean latency):');
    out.push(table([['req/s', 'best MB (legacy VPC)', 'best MB (no VPC)', `legacy mean @${a.tradeoff[0]?.smallestMb ?? '–'} MB`, 'legacy mean @best'], ...a.tradeoff.map((x) => [fmt(x.ratePerSec, 2), String(x.bestLegacyMb), String(x.bestNoVpcMb), fmt(x.legacyMeanAtSmallest, 0), fmt(x.legacyMeanAtBest, 0)])]));
    out.push(a.conclusion);
  }
  out.push('');
  const rec = a.recommendation[goal];
  out.push(`recommended MemorySize for --optimize ${goal}: ${rec.memoryMb} MB (${rec.variant === 'none' ? 'no VPC' : `VPC, ${rec.variant}`})`);
  out.push(`other goals: ${(Object.keys(a.recommendation) as Goal[]).filter((g) => g !== goal).map((g) => `${g} ${a.recommendation[g].memoryMb} MB`).join(', ')}`);
  return out.join('\n');
}

/** The HTML report: latency and cost curves by memory, one line per VPC variant. */
export function renderAdviceHtml(a: AdviseResult, goal: Goal): string {
  const variants = [...new Set(a.rows.map((r) => r.variant))];
  const series = (f: (r: AdviseRow) => number) => variants.map((v) => ({ name: v === 'none' ? 'no VPC' : `VPC ${v}`, points: a.rows.filter((r) => r.variant === v).map((r) => [r.memoryMb, f(r)] as const) }));
  const rec = a.recommendation[goal];
  return htmlPage(
    `lambkin advise — ${a.name}`,
    [
      `<p>Recommended MemorySize for <b>${goal}</b>: <b>${rec.memoryMb} MB</b>.</p>`,
      lineChart({ title: 'Mean latency by MemorySize', xLabel: 'MemorySize (MB, log scale)', yLabel: 'ms', series: series((r) => r.meanMs), logX: true }),
      lineChart({ title: 'p99 latency by MemorySize', xLabel: 'MemorySize (MB, log scale)', yLabel: 'ms', series: series((r) => r.p99Ms), logX: true }),
      lineChart({ title: 'Cost per million invocations', xLabel: 'MemorySize (MB, log scale)', yLabel: 'USD', series: series((r) => r.costPerMillion), logX: true }),
      lineChart({ title: 'Narrow cold-start rate', xLabel: 'MemorySize (MB, log scale)', yLabel: '%', series: series((r) => r.narrowColdRate * 100), logX: true }),
      a.conclusion ? `<h2>The seed's trade-off</h2><pre>${esc(a.conclusion)}</pre>` : '',
    ].join('\n'),
  );
}
