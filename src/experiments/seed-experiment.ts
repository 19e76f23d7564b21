/**
 * The seed's study as code: for each case, create ten functions, invoke each once (all cold),
 * delete them, then read each invocation's duration from X-Ray trace summaries filtered by the
 * function's ARN. Only the public Lambda and X-Ray APIs are used, so the same code measures
 * lambkin or real AWS Lambda.
 */
import {
  CreateFunctionCommand,
  DeleteFunctionCommand,
  InvokeCommand,
  LambdaClient,
  waitUntilFunctionActiveV2,
  type Runtime,
} from '@aws-sdk/client-lambda';
import { GetTraceSummariesCommand, XRayClient, type TraceSummary } from '@aws-sdk/client-xray';
import { randomBytes } from 'node:crypto';
import { realClock, type Clock } from '../util/clock.js';
import { FUNCTIONS_PER_CASE, type SeedCase } from './seed-cases.js';

export type { CaseResult, RunResult } from './seed-results.js';
import { caseResult, type CaseResult, type RunResult } from './seed-results.js';

export interface Credentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

export interface ExperimentOptions {
  readonly endpoint?: string;
  /** Where X-Ray is: the same server for lambkin, `xray.REGION.amazonaws.com` next to AWS Lambda. */
  readonly xrayEndpoint?: string;
  readonly region: string;
  readonly cases: readonly SeedCase[];
  /** How many times each case's run of ten is repeated. */
  readonly repeat: number;
  /** The function code (the seed's hello.zip) and how to run it. */
  readonly zip: Buffer;
  readonly runtime: string;
  readonly handler: string;
  readonly role: string;
  readonly subnetIds: readonly string[];
  readonly securityGroupIds: readonly string[];
  /**
   * Credentials for one run of ten; `undefined` uses the SDK's default chain (real AWS). Against
   * lambkin each run gets its own 12-digit account so that no run reuses another's workers, as the
   * seed's separate script runs did not.
   */
  readonly credentialsFor: (runIndex: number) => Credentials | undefined;
  /** Reads lambkin's placement counters; absent against real AWS. */
  readonly fleetCounters?: () => Promise<{ enisCreated: number; workersCreated: number } | undefined>;
  /** How long to wait for trace summaries to appear (X-Ray is eventually consistent). */
  readonly traceWaitMs: number;
  readonly onProgress?: (done: number, total: number, label: string) => void;
  readonly signal?: AbortSignal;
  /** For the trace search's time window and the polls' pacing: the embedded server's (default: the real clock). */
  readonly clock?: Clock;
}

/** Invocations a run of `o` makes (for progress bars). */
export function totalInvocations(o: Pick<ExperimentOptions, 'cases' | 'repeat'>): number {
  return o.cases.reduce((n, c) => n + c.memoryMb.length * FUNCTIONS_PER_CASE * o.repeat, 0);
}

/**
 * Runs the cases and returns their results. Every function created is deleted before this
 * returns or throws, including when `signal` aborts.
 */
export async function runSeedExperiment(o: ExperimentOptions): Promise<CaseResult[]> {
  const results: CaseResult[] = [];
  const total = totalInvocations(o);
  let done = 0;
  let runIndex = 0;
  for (const c of o.cases) {
    const runs: RunResult[] = [];
    for (let rep = 0; rep < o.repeat; rep++) {
      for (const memoryMb of c.memoryMb) {
        o.signal?.throwIfAborted();
        const run = await runTen(o, c, memoryMb, runIndex++, (label) => o.onProgress?.(++done, total, label));
        runs.push(run);
      }
    }
    results.push(caseResult(c, runs));
  }
  return results;
}

/** One run of ten: creates, invokes and deletes ten new functions, then reads their trace summaries. */
async function runTen(o: ExperimentOptions, c: SeedCase, memoryMb: number, runIndex: number, tick: (label: string) => void): Promise<RunResult> {
  const credentials = o.credentialsFor(runIndex);
  const config = {
    region: o.region,
    ...(o.endpoint ? { endpoint: o.endpoint } : {}),
    ...(credentials ? { credentials } : {}),
  };
  const lambda = new LambdaClient(config);
  const xray = new XRayClient({ ...config, ...(o.xrayEndpoint ? { endpoint: o.xrayEndpoint } : {}) });
  const tag = randomBytes(3).toString('hex');
  const names = Array.from({ length: FUNCTIONS_PER_CASE }, (_, i) => `lambkin-seed-${tag}-c${c.id}-${memoryMb}-${i + 1}`);
  const created: string[] = [];
  const arns = new Map<string, string>();
  const clock = o.clock ?? realClock;
  const startedAt = new Date(clock.now() - 60_000);
  const before = await o.fleetCounters?.();
  try {
    for (const name of names) {
      o.signal?.throwIfAborted();
      // Tracked before the call: an interrupted request may still have created the function.
      created.push(name);
      const fn = await lambda.send(
        new CreateFunctionCommand({
          FunctionName: name,
          Runtime: o.runtime as Runtime,
          Handler: o.handler,
          Role: o.role,
          Code: { ZipFile: o.zip },
          TracingConfig: { Mode: 'Active' },
          MemorySize: memoryMb,
          ...(c.vpc ? { VpcConfig: { SubnetIds: [...o.subnetIds], SecurityGroupIds: [...o.securityGroupIds] } } : {}),
        }),
        { abortSignal: o.signal },
      );
      arns.set(fn.FunctionArn ?? name, name);
      if (fn.State === 'Pending') {
        await waitUntilFunctionActiveV2({ client: lambda, maxWaitTime: 900, minDelay: 1, maxDelay: 5, abortSignal: o.signal }, { FunctionName: name });
      }
      await lambda.send(new InvokeCommand({ FunctionName: name }), { abortSignal: o.signal });
      tick(`case ${c.id} · ${memoryMb} MB · ${arns.size}/${FUNCTIONS_PER_CASE}`);
    }
  } finally {
    // As the seed did: delete only after every invocation finished, so no run reuses a worker of the same functions.
    await Promise.allSettled(created.map((n) => lambda.send(new DeleteFunctionCommand({ FunctionName: n }))));
  }
  const after = await o.fleetCounters?.();
  try {
    const summaries = await readSummaries(xray, [...arns.keys()], startedAt, o.traceWaitMs, clock, o.signal);
    const durationsMs: number[] = [];
    const narrow: (boolean | undefined)[] = [];
    for (const arn of arns.keys()) {
      const s = summaries.get(arn);
      if (!s) continue;
      durationsMs.push((s.Duration ?? 0) * 1000);
      const ann = s.Annotations?.narrow_cold_start?.[0]?.AnnotationValue?.BooleanValue;
      narrow.push(ann);
    }
    return {
      memoryMb,
      durationsMs,
      narrow,
      enisCreated: before && after ? after.enisCreated - before.enisCreated : null,
      workersCreated: before && after ? after.workersCreated - before.workersCreated : null,
    };
  } finally {
    lambda.destroy();
    xray.destroy();
  }
}

/** Polls GetTraceSummaries until every ARN has a trace (or the wait runs out). */
async function readSummaries(
  xray: XRayClient,
  arns: readonly string[],
  since: Date,
  waitMs: number,
  clock: Clock,
  signal?: AbortSignal,
): Promise<Map<string, TraceSummary>> {
  const found = new Map<string, TraceSummary>();
  const deadline = clock.now() + waitMs;
  for (let attempt = 0; ; attempt++) {
    let token: string | undefined;
    do {
      const page = await xray.send(
        new GetTraceSummariesCommand({ StartTime: since, EndTime: new Date(clock.now() + 60_000), NextToken: token }),
        { abortSignal: signal },
      );
      for (const s of page.TraceSummaries ?? []) {
        for (const r of s.ResourceARNs ?? []) {
          const arn = r.ARN ?? '';
          const match = arns.find((a) => arn === a || arn.startsWith(`${a}:`));
          if (match && !found.has(match)) found.set(match, s);
        }
      }
      token = page.NextToken;
    } while (token);
    if (found.size >= arns.length || clock.now() >= deadline) return found;
    // X-Ray makes traces searchable a few seconds after they end; back off up to 5 s between polls.
    await clock.sleep(Math.min(5000, 250 * 2 ** attempt), signal);
  }
}
