/**
 * `lambkin advise FUNCTION-OR-SPEC`: which MemorySize (and what the VPC costs) for this function and
 * this traffic. With a spec file, the handler's duration by memory comes from its model. With a function
 * name and `--endpoint`, it is measured by really invoking the function at each memory size on a
 * running lambkin (Power Tuning's approach: UpdateFunctionConfiguration MemorySize, invoke N times with
 * LogType=Tail, read `Duration` from the REPORT lines; cold starts, which carry `Init Duration`, are left
 * out), and the original MemorySize is restored.
 */
import { existsSync, writeFileSync } from 'node:fs';
import {
  GetFunctionConfigurationCommand,
  InvokeCommand,
  LambdaClient,
  UpdateFunctionConfigurationCommand,
  waitUntilFunctionUpdatedV2,
} from '@aws-sdk/client-lambda';
import cliProgress from 'cli-progress';
import { loadProfile } from '../profiles/latency-profile.js';
import { advise, DEFAULT_CANDIDATES, renderAdvice, renderAdviceHtml, type AdviseResult, type Goal, type VpcVariant } from '../simulator/advise.js';
import { loadPrices } from '../simulator/prices.js';
import { loadWorkload, WorkloadError, type ArrivalsSpec, type HandlerSpec } from '../simulator/workload.js';
import { parseKeepAliveSpec } from '../worker-manager/keep-alive.js';

export interface AdviseCommandOptions {
  /** A JSON workload spec, or a function name (then `endpoint` is required). */
  readonly target: string;
  /** Which function of a spec (default: its only one). */
  readonly functionName?: string | undefined;
  readonly endpoint?: string | undefined;
  readonly region?: string;
  /** Invocations per memory size when measuring. */
  readonly invocations?: number;
  /** Poisson traffic (invocations/s) when the target has no arrivals (a function name). */
  readonly ratePerSec?: number;
  readonly candidates?: readonly number[] | undefined;
  readonly variants?: readonly VpcVariant[] | undefined;
  readonly optimize: Goal;
  readonly durationMs?: number | undefined;
  readonly keepAlive?: string | undefined;
  readonly profile?: string | undefined;
  readonly seed: number;
  readonly json: boolean;
  readonly html?: string | undefined;
  readonly progress: boolean;
  readonly stdout?: NodeJS.WritableStream;
  readonly stderr?: NodeJS.WritableStream;
  /** Tests: credentials for the endpoint. */
  readonly credentials?: { accessKeyId: string; secretAccessKey: string };
}

/** Durations (ms) of the warm invocations in a LogType=Tail result. */
export function reportDurations(logTailBase64: string | undefined): { durations: number[]; cold: boolean } {
  if (!logTailBase64) return { durations: [], cold: false };
  const text = Buffer.from(logTailBase64, 'base64').toString('utf8');
  const durations: number[] = [];
  let cold = false;
  for (const m of text.matchAll(/^REPORT RequestId: \S+\s+Duration: ([\d.]+) ms.*$/gm)) {
    if (/Init Duration/.test(m[0])) cold = true;
    else durations.push(Number(m[1]));
  }
  return { durations, cold };
}

async function measure(o: AdviseCommandOptions, candidates: readonly number[], log: (s: string) => void): Promise<{ handler: HandlerSpec; memoryMb: number }> {
  const lambda = new LambdaClient({ endpoint: o.endpoint, region: o.region ?? 'us-east-1', ...(o.credentials ? { credentials: o.credentials } : {}), maxAttempts: 2 });
  try {
    const cfg = await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: o.target }));
    const original = cfg.MemorySize ?? 128;
    const points: { memoryMb: number; meanMs: number; sdMs: number }[] = [];
    try {
      for (const m of candidates) {
        try {
          await lambda.send(new UpdateFunctionConfigurationCommand({ FunctionName: o.target, MemorySize: m }));
          await waitUntilFunctionUpdatedV2({ client: lambda, maxWaitTime: 120, minDelay: 1, maxDelay: 2 }, { FunctionName: o.target });
        } catch (err) {
          log(`advise: cannot set MemorySize ${m}: ${(err as Error).message}; skipped`);
          continue;
        }
        const ds: number[] = [];
        for (let k = 0; k < (o.invocations ?? 10); k++) {
          const r = await lambda.send(new InvokeCommand({ FunctionName: o.target, LogType: 'Tail', Payload: Buffer.from('{}') }));
          ds.push(...reportDurations(r.LogResult).durations);
        }
        if (ds.length === 0) {
          log(`advise: no warm REPORT durations at ${m} MB; skipped`);
          continue;
        }
        const mean = ds.reduce((a, b) => a + b, 0) / ds.length;
        const sd = Math.sqrt(ds.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, ds.length - 1));
        points.push({ memoryMb: m, meanMs: Math.max(mean, 0.001), sdMs: sd });
      }
    } finally {
      await lambda.send(new UpdateFunctionConfigurationCommand({ FunctionName: o.target, MemorySize: original })).catch(() => undefined);
    }
    if (points.length === 0) throw new WorkloadError(`advise: no memory size of ${o.target} could be measured`);
    return { handler: { dist: 'constant', valueMs: 0, cpuFraction: 1, threads: 1, byMemory: points }, memoryMb: original };
  } finally {
    lambda.destroy();
  }
}

/** Runs the command; returns the advice (what `--json` prints). */
export async function runAdviseCommand(o: AdviseCommandOptions): Promise<AdviseResult> {
  const out = o.stdout ?? process.stdout;
  const err = o.stderr ?? process.stderr;
  const candidates = o.candidates ?? DEFAULT_CANDIDATES;
  let name = o.target;
  let handler: HandlerSpec;
  let memoryMb: number;
  let arrivals: ArrivalsSpec = { kind: 'poisson', ratePerSec: o.ratePerSec ?? 1 };
  let variants = o.variants;
  let account: string | undefined;
  let durationMs = o.durationMs;
  if (existsSync(o.target) && o.target.endsWith('.json')) {
    const spec = loadWorkload(o.target);
    const fns = o.functionName ? spec.functions.filter((f) => f.name === o.functionName) : spec.functions;
    if (fns.length !== 1) {
      throw new WorkloadError(`advise needs one function: ${o.target} has ${spec.functions.map((f) => f.name).join(', ') || 'none'}${o.functionName ? ` (no "${o.functionName}")` : '; pick one with --function'}`);
    }
    const f = fns[0]!;
    name = f.name;
    handler = f.handler;
    memoryMb = f.memoryMb;
    arrivals = o.ratePerSec !== undefined ? arrivals : f.arrivals;
    account = f.account;
    variants ??= f.vpc === false ? ['none', 'legacy', 'hyperplane'] : [spec.placement.vpcMode, 'none', spec.placement.vpcMode === 'legacy' ? 'hyperplane' : 'legacy'];
    durationMs ??= spec.duration ?? 3_600_000;
  } else {
    if (!o.endpoint) throw new WorkloadError(`"${o.target}" is not a .json workload file; to measure a function by name, give --endpoint of a running lambkin`);
    const m = await measure(o, candidates, (s) => err.write(`${s}\n`));
    handler = m.handler;
    memoryMb = m.memoryMb;
  }
  const total = candidates.length * 3 + 4 * candidates.length * 2;
  const bar = o.progress && !o.json ? new cliProgress.SingleBar({ format: 'advise [{bar}] {percentage}% | {value}/{total} simulations', stream: err }, cliProgress.Presets.shades_classic) : undefined;
  bar?.start(total, 0);
  let result: AdviseResult;
  try {
    result = advise({
      name,
      ...(account ? { account } : {}),
      memoryMb,
      handler,
      arrivals,
      candidates,
      ...(variants ? { variants } : {}),
      durationMs: durationMs ?? 3_600_000,
      ...(o.keepAlive ? { keepAlive: parseKeepAliveSpec(o.keepAlive) } : {}),
      profile: loadProfile(o.profile ?? 'aws-2019'),
      prices: loadPrices(),
      seed: o.seed,
      ...(bar ? { onStep: (d: number, t: number) => bar.update(d, { total: t }) } : {}),
    });
  } finally {
    bar?.stop();
  }
  if (o.json) out.write(`${JSON.stringify(result, null, 2)}\n`);
  else out.write(`${renderAdvice(result, o.optimize)}\n`);
  if (o.html) {
    writeFileSync(o.html, renderAdviceHtml(result, o.optimize));
    if (!o.json) out.write(`HTML report: ${o.html}\n`);
  }
  return result;
}
