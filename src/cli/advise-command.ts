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
} from '@aws-sdk/client-lambda';
import cliProgress from 'cli-progress';
import { mean, sampleVariance } from '../experiments/statistics.js';
import { loadProfile } from '../profiles/latency-profile.js';
import { advise, DEFAULT_CANDIDATES, renderAdvice, renderAdviceHtml, type AdviseResult, type Goal, type VpcVariant } from '../simulator/advise.js';
import { loadPrices } from '../simulator/prices.js';
import { isSpecFileName, loadWorkload, WorkloadError, type ArrivalsSpec, type HandlerSpec } from '../simulator/workload-spec.js';
import { parseKeepAliveSpec } from './keep-alive-spec.js';
import { realClock, type Clock } from '../util/clock.js';

export interface AdviseCommandOptions {
  /** A workload spec file (.yaml, .yml or .json), or a function name (then `endpoint` is required). */
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
  /** Aborts a measurement (the CLI wires SIGINT/SIGTERM to it); the MemorySize is restored first. */
  readonly signal?: AbortSignal;
  /** Paces polling and times the advice (default: the real clock). */
  readonly clock?: Clock;
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

/** Thrown when the measurement was interrupted (`signal` aborted, e.g. Ctrl-C); the MemorySize was restored first. */
export class AdviseInterrupted extends Error {
  override readonly name = 'AdviseInterrupted';
}

/** One measured memory size. */
export interface MemoryMeasurement {
  readonly memoryMb: number;
  /** Warm REPORT durations (ms), cold starts left out. */
  readonly durationsMs: readonly number[];
  readonly meanMs: number;
  readonly sdMs: number;
}

/**
 * Polls GetFunctionConfiguration until LastUpdateStatus is no longer InProgress (lambkin applies most
 * updates at once, so usually one call); throws when it is Failed or after `timeoutMs`.
 */
async function waitUpdated(lambda: LambdaClient, name: string, clock: Clock, signal: AbortSignal | undefined, timeoutMs = 60_000): Promise<void> {
  const deadline = clock.now() + timeoutMs;
  for (let delay = 50; ; delay = Math.min(delay * 2, 1000)) {
    const c = await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: name }), signal ? { abortSignal: signal } : {});
    if (c.LastUpdateStatus === 'Failed') throw new Error(`update of ${name} failed: ${c.LastUpdateStatusReason ?? 'no reason given'}`);
    if (c.LastUpdateStatus !== 'InProgress') return;
    if (clock.now() > deadline) throw new Error(`update of ${name} still InProgress after ${timeoutMs / 1000} s`);
    await clock.sleep(delay, signal).catch(() => undefined); // an abort ends the wait early
    if (signal?.aborted) throw new AdviseInterrupted('interrupted');
  }
}

async function setMemory(lambda: LambdaClient, name: string, memoryMb: number, clock: Clock, signal: AbortSignal | undefined): Promise<void> {
  // An update still in progress (ours or someone else's) would make this one a ResourceConflictException.
  await waitUpdated(lambda, name, clock, signal);
  await lambda.send(new UpdateFunctionConfigurationCommand({ FunctionName: name, MemorySize: memoryMb }), signal ? { abortSignal: signal } : {});
  await waitUpdated(lambda, name, clock, signal);
}

/**
 * Measures the handler's duration at each candidate MemorySize on a running lambkin: sets MemorySize,
 * waits until LastUpdateStatus is Successful, invokes until `invocations` warm REPORT durations are in
 * (cold starts, with `Init Duration`, do not count), and restores the original MemorySize at the end,
 * also after an error or when `signal` aborts. Exported for tests.
 */
export async function measureByMemory(
  o: Pick<AdviseCommandOptions, 'target' | 'endpoint' | 'region' | 'credentials' | 'invocations' | 'signal' | 'clock'>,
  candidates: readonly number[],
  log: (s: string) => void,
): Promise<{ originalMemoryMb: number; measurements: MemoryMeasurement[] }> {
  const lambda = new LambdaClient({ endpoint: o.endpoint, region: o.region ?? 'us-east-1', ...(o.credentials ? { credentials: o.credentials } : {}), maxAttempts: 2 });
  const signal = o.signal;
  const clock = o.clock ?? realClock;
  const opts = signal ? { abortSignal: signal } : {};
  const interrupted = () => new AdviseInterrupted(`interrupted while measuring ${o.target}`);
  try {
    let cfg;
    try {
      cfg = await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: o.target }), opts);
    } catch (err) {
      if (signal?.aborted) throw interrupted();
      throw err;
    }
    const original = cfg.MemorySize ?? 128;
    const wanted = Math.max(1, o.invocations ?? 10);
    const measurements: MemoryMeasurement[] = [];
    let failure: unknown;
    try {
      for (const m of candidates) {
        if (signal?.aborted) throw interrupted();
        log(`advise: measuring ${o.target} at ${m} MB`);
        try {
          await setMemory(lambda, o.target, m, clock, signal);
        } catch (err) {
          if (signal?.aborted) throw interrupted();
          log(`advise: cannot set MemorySize ${m}: ${(err as Error).message}; skipped`);
          continue;
        }
        const ds: number[] = [];
        let functionError: string | undefined;
        // Cold starts do not count; a few extra invocations make up for them.
        for (let k = 0; k < wanted + 3 && ds.length < wanted; k++) {
          let r;
          try {
            r = await lambda.send(new InvokeCommand({ FunctionName: o.target, LogType: 'Tail', Payload: Buffer.from('{}') }), opts);
          } catch (err) {
            if (signal?.aborted) throw interrupted();
            throw err;
          }
          if (r.FunctionError) {
            functionError = `${r.FunctionError}: ${Buffer.from(r.Payload ?? []).toString('utf8').slice(0, 200)}`;
            break;
          }
          ds.push(...reportDurations(r.LogResult).durations);
        }
        if (functionError !== undefined) {
          log(`advise: ${o.target} failed at ${m} MB (${functionError}); skipped`);
          continue;
        }
        if (ds.length === 0) {
          log(`advise: no warm REPORT durations at ${m} MB; skipped`);
          continue;
        }
        const meanMs = mean(ds);
        measurements.push({ memoryMb: m, durationsMs: ds, meanMs: Math.max(meanMs, 0.001), sdMs: Math.sqrt(sampleVariance(ds)) });
        log(`advise: ${m} MB: mean ${meanMs.toFixed(1)} ms over ${ds.length} warm invocations`);
      }
    } catch (err) {
      failure = err;
      throw err;
    } finally {
      // Not under `signal`: after an interrupt the restore is exactly what must still happen.
      try {
        await setMemory(lambda, o.target, original, clock, undefined);
        log(`advise: MemorySize of ${o.target} restored to ${original} MB`);
      } catch (err) {
        const msg = `advise: could not restore MemorySize ${original} MB of ${o.target}: ${(err as Error).message}`;
        // The measurement's own error wins; the failed restore must still be seen.
        if (failure !== undefined) log(msg);
        else throw new Error(msg);
      }
    }
    return { originalMemoryMb: original, measurements };
  } finally {
    lambda.destroy();
  }
}

async function measure(o: AdviseCommandOptions, candidates: readonly number[], log: (s: string) => void): Promise<{ handler: HandlerSpec; memoryMb: number; measurements: MemoryMeasurement[] }> {
  const { originalMemoryMb, measurements } = await measureByMemory(o, candidates, log);
  if (measurements.length === 0) throw new WorkloadError(`advise: no memory size of ${o.target} could be measured`);
  const byMemory = measurements.map((x) => ({ memoryMb: x.memoryMb, meanMs: x.meanMs, sdMs: x.sdMs }));
  return { handler: { dist: 'constant', valueMs: 0, cpuFraction: 1, threads: 1, byMemory }, memoryMb: originalMemoryMb, measurements };
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
  let measured: AdviseResult['measured'];
  if (isSpecFileName(o.target) && existsSync(o.target)) {
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
    if (!o.endpoint) throw new WorkloadError(`"${o.target}" is not a workload file (.yaml, .yml or .json); to measure a function by name, give --endpoint of a running lambkin`);
    const m = await measure(o, candidates, (s) => err.write(`${s}\n`));
    handler = m.handler;
    memoryMb = m.memoryMb;
    if (o.signal?.aborted) throw new AdviseInterrupted(`interrupted; MemorySize of ${o.target} restored to ${m.memoryMb} MB`);
    measured = { endpoint: o.endpoint, originalMemoryMb: m.memoryMb, points: m.measurements.map((x) => ({ memoryMb: x.memoryMb, meanMs: x.meanMs, sdMs: x.sdMs, invocations: x.durationsMs.length })) };
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
      wallClock: o.clock ?? realClock,
      ...(bar
        ? {
            onStep: (d: number, t: number) => {
              // The total depends on the variants advise() runs; a payload named `total` would not change the bar's.
              bar.setTotal(t);
              bar.update(d);
            },
          }
        : {}),
    });
    if (measured) result.measured = measured;
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
