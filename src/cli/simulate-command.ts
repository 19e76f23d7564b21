/** `lambkin simulate`: predict cold starts, ENIs, latency and cost for a workload, with the server's placement core. */
import { writeFileSync } from 'node:fs';
import cliProgress from 'cli-progress';
import { renderHtml as renderSeedHtml, renderTables as renderSeedTables, type ReportMeta } from '../experiments/seed-report.js';
import { loadProfile } from '../profiles/latency-profile.js';
import { loadAzureTrace } from '../simulator/azure-trace.js';
import { simulate, type SimulationResult } from '../simulator/engine.js';
import { azureSamplePreset, benchPreset, PRESETS, simPlacement, type PreparedWorkload } from '../simulator/presets.js';
import { loadPrices } from '../simulator/prices.js';
import { renderSimulation, renderSimulationHtml, simulationJson, type LabelledResult } from '../simulator/report.js';
import { runSeedPreset, seedCasesJson, seedPresetRuns } from '../simulator/seed-preset.js';
import { defaultDurationMs, specFunctions, vpcKeyFor } from '../simulator/workload.js';
import { loadWorkload, WorkloadError } from '../simulator/workload-spec.js';
import type { KeepAliveConfig } from '../worker-manager/keep-alive-config.js';
import { parseKeepAliveSpec } from './keep-alive-spec.js';
import { realClock, type Clock } from '../util/clock.js';

export interface SimulateCommandOptions {
  /** `seed-2019`, `azure-sample` or `bench`. */
  readonly preset?: string | undefined;
  /** A workload spec file (.yaml, .yml or .json). */
  readonly spec?: string | undefined;
  /** An Azure Functions 2019 trace: per-minute invocations file (durations and memory files optional). */
  readonly azureInvocations?: string | undefined;
  readonly azureDurations?: string | undefined;
  readonly azureMemory?: string | undefined;
  readonly maxFunctions?: number | undefined;
  /** Keep-alive policies to compare (`fixed`, `fixed:10m`, `hybrid`, `hybrid:key=value,...`); default the spec's or fixed. */
  readonly keepAlive?: readonly string[] | undefined;
  readonly seed: number;
  /** Latency profile (default: the spec's, else aws-2019). */
  readonly profile?: string | undefined;
  readonly timeScale?: number | undefined;
  readonly vpcMode?: 'legacy' | 'hyperplane' | undefined;
  /** Overrides the workload's duration (ms). */
  readonly durationMs?: number | undefined;
  /** seed-2019: runs of ten per case. */
  readonly repeat?: number | undefined;
  readonly json: boolean;
  readonly html?: string | undefined;
  readonly progress: boolean;
  readonly stdout?: NodeJS.WritableStream;
  readonly stderr?: NodeJS.WritableStream;
  /** Times the run and stamps the report (default: the real clock); simulated time is the simulator's own. */
  readonly clock?: Clock;
}

function prepare(o: SimulateCommandOptions): { w: PreparedWorkload; keepAlive?: KeepAliveConfig } {
  const sources = [o.preset, o.spec, o.azureInvocations].filter((x) => x !== undefined).length;
  if (sources !== 1) throw new WorkloadError('give exactly one workload: --preset NAME, a spec file, or --azure-invocations FILE');
  if (o.preset !== undefined) {
    if (o.preset === 'azure-sample') return { w: azureSamplePreset() };
    if (o.preset === 'bench') return { w: benchPreset() };
    throw new WorkloadError(`unknown preset "${o.preset}": use one of ${PRESETS.join(', ')}`);
  }
  if (o.azureInvocations !== undefined) {
    return {
      w: {
        name: o.azureInvocations,
        functions: loadAzureTrace({ invocations: o.azureInvocations, durations: o.azureDurations, memory: o.azureMemory }, { maxFunctions: o.maxFunctions }),
        durationMs: 86_400_000,
        placement: { vpcMode: 'hyperplane', workerMemoryMb: 3072, hostMemoryMb: 1_000_000_000 },
        profile: 'aws-2019',
      },
    };
  }
  const spec = loadWorkload(o.spec!);
  const functions = specFunctions(spec);
  if (spec.azureTrace) {
    const t = spec.azureTrace;
    functions.push(...loadAzureTrace(t, { maxFunctions: t.maxFunctions, maxMemoryMb: spec.placement.workerMemoryMb, vpcKey: vpcKeyFor(t.vpc) }));
  }
  const durationMs = spec.duration ?? (spec.azureTrace ? 86_400_000 : defaultDurationMs(spec.functions.map((f) => f.arrivals)));
  return {
    w: { name: spec.name, functions, durationMs, placement: simPlacement(spec.placement), profile: spec.profile },
    ...(spec.keepAlive ? { keepAlive: spec.keepAlive } : {}),
  };
}

/** Runs the command; returns what `--json` prints. Throws WorkloadError for bad input. */
export async function runSimulateCommand(o: SimulateCommandOptions): Promise<unknown> {
  const out = o.stdout ?? process.stdout;
  const err = o.stderr ?? process.stderr;
  const prices = loadPrices();
  if (o.preset === 'seed-2019') return seed2019(o, out, err);
  const { w, keepAlive } = prepare(o);
  const policies: { label: string; config: KeepAliveConfig }[] =
    o.keepAlive && o.keepAlive.length > 0
      ? o.keepAlive.map((s) => ({ label: s, config: parseKeepAliveSpec(s) }))
      : [{ label: keepAlive?.policy ?? 'fixed', config: keepAlive ?? parseKeepAliveSpec('fixed') }];
  const durationMs = o.durationMs ?? w.durationMs;
  const profile = loadProfile(o.profile ?? w.profile);
  const placement = { ...w.placement, ...(o.vpcMode ? { vpcMode: o.vpcMode } : {}) };
  const expected = w.functions.reduce((n, f) => n + f.expected(durationMs), 0);
  const results: LabelledResult[] = [];
  for (const p of policies) {
    const bar = o.progress && !o.json ? new cliProgress.SingleBar({ format: `${p.label} [{bar}] {percentage}% | {value}/{total} simulated minutes | {inv} invocations`, stream: err }, cliProgress.Presets.shades_classic) : undefined;
    bar?.start(Math.ceil(durationMs / 60_000), 0, { inv: 0 });
    let result: SimulationResult;
    try {
      result = simulate({
        functions: w.functions,
        durationMs,
        placement,
        keepAlive: p.config,
        profile,
        timeScale: o.timeScale ?? 1,
        seed: o.seed,
        prices,
        wallClock: o.clock ?? realClock,
        ...(bar ? { onProgress: (t: number, n: number) => bar.update(Math.min(Math.ceil(durationMs / 60_000), Math.floor(t / 60_000)), { inv: n.toLocaleString('en-US') }) } : {}),
      });
    } finally {
      bar?.stop();
    }
    results.push({ label: p.label, result });
  }
  const json = { ...(simulationJson(w.name, results, o.seed) as object), expectedInvocations: Math.round(expected) };
  if (o.json) out.write(`${JSON.stringify(json, null, 2)}\n`);
  else out.write(`${renderSimulation(w.name, results)}\n`);
  if (o.html) {
    writeFileSync(o.html, renderSimulationHtml(w.name, results));
    if (!o.json) out.write(`HTML report: ${o.html}\n`);
  }
  return json;
}

function seed2019(o: SimulateCommandOptions, out: NodeJS.WritableStream, err: NodeJS.WritableStream): unknown {
  const repeat = o.repeat ?? 100;
  const clock = o.clock ?? realClock;
  const started = clock.monotonic();
  const startedAt = new Date(clock.now()).toISOString();
  const bar = o.progress && !o.json ? new cliProgress.SingleBar({ format: 'seed-2019 [{bar}] {percentage}% | {value}/{total} runs of ten', stream: err }, cliProgress.Presets.shades_classic) : undefined;
  bar?.start(seedPresetRuns({ repeat }), 0);
  let r;
  try {
    r = runSeedPreset({ repeat, seed: o.seed, profile: loadProfile(o.profile ?? 'aws-2019'), ...(bar ? { onRun: (done: number) => bar.update(done) } : {}) });
  } finally {
    bar?.stop();
  }
  const wallSeconds = (clock.monotonic() - started) / 1000;
  const json = { workload: 'seed-2019', seed: o.seed, repeat, invocations: r.invocations, wallSeconds, cases: seedCasesJson(r.cases) };
  const meta: ReportMeta = { endpoint: 'lambkin simulate', embedded: true, timeScale: 1, profile: o.profile ?? 'aws-2019', vpcMode: 'legacy', repeat, startedAt, finishedAt: new Date(clock.now()).toISOString() };
  if (o.json) out.write(`${JSON.stringify(json, null, 2)}\n`);
  else out.write(`${renderSeedTables(r.cases, meta).replace('lambkin experiment seed — embedded lambkin', 'lambkin simulate --preset seed-2019 (simulator)')}\n`);
  if (o.html) writeFileSync(o.html, renderSeedHtml(r.cases, meta));
  return json;
}
