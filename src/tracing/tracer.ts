/**
 * What the invoke path calls: `begin` before running an invocation (trace id, segment ids, the
 * headers for the runtime and the response) and `record` after it (segment documents into the
 * store).
 *
 * Sampling as Lambda does it: a function with TracingConfig `Active` (or every function with
 * `--trace-all`) is traced unless the caller's `X-Amzn-Trace-Id` says `Sampled=0`; a
 * `PassThrough` function only when the caller's header says `Sampled=1`. lambkin samples every
 * such request (no 1-per-second reservoir): a local platform wants every trace.
 */
import type { Clock } from '../util/clock.js';
import { invocationSegments, type InvocationTrace } from './segments.js';
import type { TraceStore } from './trace-store.js';
import { cryptoRandom, formatTraceHeader, newSegmentId, newTraceId, parseTraceHeader, type RandomSource } from './trace-header.js';

/** A function's TracingConfig Mode, as the function registry stores it. */
export type TracingMode = 'Active' | 'PassThrough';

/** The trace of one invocation, decided before it runs. */
export interface TraceContext {
  readonly traceId: string;
  /** The caller's segment (Parent of an incoming header). */
  readonly parentId?: string;
  /** Whether segments are recorded for this invocation. */
  readonly sampled: boolean;
  /** Ids of the AWS::Lambda and AWS::Lambda::Function segments; pass them on in InvocationTrace.segmentIds. */
  readonly segmentIds: { readonly lambda: string; readonly function: string };
  /** The value of `Lambda-Runtime-Trace-Id` (runtime API `next`) and `_X_AMZN_TRACE_ID`: Parent is the function segment. */
  readonly runtimeHeader: string;
  /** The value of `X-Amzn-Trace-Id` on the Invoke response. */
  readonly responseHeader: string;
}

/** What a {@link Tracer} records into, and how. */
export interface TracerOptions {
  readonly store: TraceStore;
  readonly clock: Clock;
  /** `--trace-all`: trace every function as if its TracingConfig were Active. */
  readonly traceAll?: boolean;
  readonly random?: RandomSource;
  /** Where a failure to store segments is reported (recording never fails an invocation). */
  readonly onError?: (err: unknown) => void;
}

/** Decides and records the traces of invocations (see the file comment). */
export class Tracer {
  private readonly random: RandomSource;

  constructor(private readonly options: TracerOptions) {
    this.random = options.random ?? cryptoRandom;
  }

  /**
   * Decides the trace of an invocation from the incoming `X-Amzn-Trace-Id` (if any) and the
   * function's TracingConfig mode (default PassThrough).
   */
  begin(args: { readonly header?: string | readonly string[]; readonly mode?: TracingMode; readonly now?: number }): TraceContext {
    const incoming = parseTraceHeader(args.header);
    const now = args.now ?? this.options.clock.now();
    const traceId = incoming.root ?? newTraceId(now, this.random);
    const parentId = incoming.root ? incoming.parent : undefined;
    const active = this.options.traceAll === true || args.mode === 'Active';
    const sampled = active ? incoming.sampled !== false : incoming.sampled === true;
    const segmentIds = { lambda: newSegmentId(this.random), function: newSegmentId(this.random) };
    const extra = incoming.extra ? { extra: incoming.extra.filter(([k]) => k.toLowerCase() !== 'self') } : {};
    return {
      traceId,
      ...(parentId ? { parentId } : {}),
      sampled,
      segmentIds,
      runtimeHeader: formatTraceHeader({ root: traceId, parent: segmentIds.function, sampled, ...extra }),
      responseHeader: formatTraceHeader({ root: traceId, sampled }),
    };
  }

  /**
   * Stores the segments of a finished invocation (nothing when it was not sampled). Never throws:
   * a tracing failure is reported to `onError` and the invocation's answer is unaffected.
   */
  record(trace: InvocationTrace): void {
    if (!trace.sampled) return;
    try {
      const refused = this.options.store.put(invocationSegments(trace, this.random), { account: trace.account, region: trace.region });
      if (refused.length > 0) this.options.onError?.(new Error(`trace ${trace.traceId}: ${refused.map((r) => r.Message).join('; ')}`));
    } catch (err) {
      this.options.onError?.(err);
    }
  }
}
