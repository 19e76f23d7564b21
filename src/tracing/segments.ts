/**
 * The segment documents Lambda records for one invocation, built from what the invoke path saw.
 *
 * As on Lambda there are two segments:
 * - `AWS::Lambda` (the service): from the moment the request arrived until the response left,
 *   with `resource_arn`, `aws.request_id` and `http.response.status`. lambkin's service-side steps
 *   of a cold start (worker provisioning, ENI attach, sandbox creation) are its subsegments, the way
 *   Lambda puts its own service-side work (`Dwell Time`, `Attempt #1`) on this segment; so a narrow
 *   cold start's worker and ENI time are inside it.
 * - `AWS::Lambda::Function` (the code), a child of the first: subsegments `Initialization` (cold
 *   starts only), `Invocation` and `Overhead`, and the annotations `cold_start` and
 *   `narrow_cold_start` at segment level, where X-Ray's trace summaries read annotations.
 *
 * Times in documents are epoch seconds with fractions, as X-Ray has them.
 */
import { cryptoRandom, newSegmentId, type RandomSource } from './trace-header.js';

/** A step of a cold start as the fleet ran it (epoch ms). */
export interface TraceStep {
  readonly kind: 'provision-worker' | 'attach-eni' | 'create-sandbox' | 'init';
  readonly start: number;
  readonly end: number;
}

/** Everything the invoke path knows about one traced invocation (times in epoch ms). */
export interface InvocationTrace {
  readonly traceId: string;
  /** The caller's segment, from an incoming `X-Amzn-Trace-Id` Parent. */
  readonly parentId?: string;
  readonly sampled: boolean;
  /**
   * Ids of the two segments, when they were chosen before the invocation ran (the function
   * segment's id is Parent in the sandbox's `_X_AMZN_TRACE_ID`, so the function's own subsegments
   * nest under it). New ids are made when absent.
   */
  readonly segmentIds?: { readonly lambda: string; readonly function: string };
  readonly requestId: string;
  readonly account: string;
  readonly region: string;
  readonly functionName: string;
  /** The function ARN as invoked (qualified when a qualifier was given). */
  readonly functionArn: string;
  readonly version: string;
  /** The AWS::Lambda segment spans these: request arrived → response left. */
  readonly receivedAt: number;
  readonly respondedAt: number;
  /** lambkin's extra subsegments (cold starts). An `init` step stands in for initStart/initEnd when those are absent. */
  readonly steps: readonly TraceStep[];
  /** Initialization subsegment (cold starts only). */
  readonly initStart?: number;
  readonly initEnd?: number;
  /** Invocation subsegment. */
  readonly invokeStart: number;
  readonly invokeEnd: number;
  /** Overhead subsegment: invokeEnd → overheadEnd. */
  readonly overheadEnd?: number;
  readonly coldStart: boolean;
  readonly narrowColdStart: boolean;
  /**
   * `error` (4xx, e.g. a handled function error), `fault` (5xx, e.g. an unhandled function error or
   * a runtime crash), `throttle` (429: the invocation never reached a sandbox, so there is no
   * AWS::Lambda::Function segment).
   */
  readonly error?: { readonly kind: 'error' | 'fault' | 'throttle'; readonly errorType?: string; readonly message?: string };
  /** HTTP status of the Invoke response. */
  readonly statusCode: number;
}

/** An X-Ray segment or subsegment document (the members lambkin reads; others are kept as sent). */
export interface SegmentDocument {
  id: string;
  name: string;
  trace_id?: string;
  parent_id?: string;
  type?: 'subsegment';
  start_time: number;
  end_time?: number;
  in_progress?: boolean;
  origin?: string;
  namespace?: string;
  resource_arn?: string;
  error?: boolean;
  fault?: boolean;
  throttle?: boolean;
  cause?: unknown;
  http?: { request?: Record<string, unknown>; response?: { status?: number; content_length?: number } };
  aws?: Record<string, unknown>;
  annotations?: Record<string, string | number | boolean>;
  metadata?: Record<string, unknown>;
  subsegments?: SegmentDocument[];
  [other: string]: unknown;
}

/** Names of lambkin's service-side subsegments, by step kind. */
export const STEP_SUBSEGMENT_NAMES = {
  'provision-worker': 'Worker Provisioning',
  'attach-eni': 'ENI Attach',
  'create-sandbox': 'Sandbox Creation',
} as const;

const sec = (ms: number) => ms / 1000;

function sub(random: RandomSource, name: string, start: number, end: number, extra: Partial<SegmentDocument> = {}): SegmentDocument {
  return { id: newSegmentId(random), name, start_time: sec(start), end_time: sec(Math.max(start, end)), ...extra };
}

/** Flags as X-Ray sets them from an HTTP status: 429 → throttle + error, 4xx → error, 5xx → fault. */
function statusFlags(status: number): Pick<SegmentDocument, 'error' | 'fault' | 'throttle'> {
  if (status === 429) return { error: true, throttle: true };
  if (status >= 400 && status < 500) return { error: true };
  if (status >= 500) return { fault: true };
  return {};
}

function causeOf(e: NonNullable<InvocationTrace['error']>, random: RandomSource): SegmentDocument['cause'] {
  return {
    exceptions: [
      {
        id: newSegmentId(random),
        type: e.errorType ?? (e.kind === 'throttle' ? 'TooManyRequestsException' : 'Error'),
        message: e.message ?? '',
      },
    ],
  };
}

/**
 * The segment documents of one invocation: `[AWS::Lambda, AWS::Lambda::Function]`, or only the
 * first for a throttled invocation. Pure apart from `random` (new ids).
 */
export function invocationSegments(t: InvocationTrace, random: RandomSource = cryptoRandom): SegmentDocument[] {
  const rnd = random;
  const lambdaId = t.segmentIds?.lambda ?? newSegmentId(rnd);
  const functionId = t.segmentIds?.function ?? newSegmentId(rnd);
  const throttled = t.error?.kind === 'throttle' || t.statusCode === 429;

  const service: SegmentDocument = {
    id: lambdaId,
    name: t.functionName,
    start_time: sec(t.receivedAt),
    trace_id: t.traceId,
    end_time: sec(Math.max(t.receivedAt, t.respondedAt)),
  };
  if (t.parentId) service.parent_id = t.parentId;
  Object.assign(service, {
    http: { response: { status: t.statusCode } },
    aws: { request_id: t.requestId },
    origin: 'AWS::Lambda',
    resource_arn: t.functionArn,
  });
  Object.assign(service, statusFlags(t.statusCode));
  if (throttled) {
    service.throttle = true;
    service.error = true;
    if (t.error) service.cause = causeOf(t.error, rnd);
  }
  const stepSubs: SegmentDocument[] = [];
  for (const s of t.steps) {
    if (s.kind === 'init') continue;
    stepSubs.push(sub(rnd, STEP_SUBSEGMENT_NAMES[s.kind], s.start, s.end, { namespace: 'lambkin' }));
  }
  if (stepSubs.length > 0) service.subsegments = stepSubs;
  if (throttled) return [service];

  const initStep = t.steps.find((s) => s.kind === 'init');
  const initStart = t.initStart ?? initStep?.start;
  const initEnd = t.initEnd ?? initStep?.end;
  const hasInit = t.coldStart && initStart !== undefined && initEnd !== undefined;

  const subs: SegmentDocument[] = [];
  const fnArn = { function_arn: t.functionArn };
  if (hasInit) subs.push(sub(rnd, 'Initialization', initStart, initEnd, { aws: { ...fnArn } }));
  const invocation = sub(rnd, 'Invocation', t.invokeStart, t.invokeEnd, { aws: { ...fnArn } });
  if (t.error) {
    invocation[t.error.kind] = true;
    invocation.cause = causeOf(t.error, rnd);
  }
  subs.push(invocation);
  if (t.overheadEnd !== undefined) subs.push(sub(rnd, 'Overhead', t.invokeEnd, t.overheadEnd, { aws: { ...fnArn } }));

  const start = Math.min(hasInit ? initStart : t.invokeStart, t.invokeStart);
  const end = Math.max(t.invokeEnd, t.overheadEnd ?? t.invokeEnd);
  const fn: SegmentDocument = {
    id: functionId,
    name: t.functionName,
    start_time: sec(start),
    trace_id: t.traceId,
    end_time: sec(end),
    parent_id: lambdaId,
    aws: {
      account_id: t.account,
      function_arn: t.functionArn,
      resource_names: [t.functionName],
      region: t.region,
      function_version: t.version,
    },
    annotations: { cold_start: t.coldStart, narrow_cold_start: t.narrowColdStart },
    origin: 'AWS::Lambda::Function',
    resource_arn: t.functionArn,
    subsegments: subs,
  };
  if (t.error) {
    fn[t.error.kind] = true;
    fn.cause = causeOf(t.error, rnd);
  }
  return [service, fn];
}
