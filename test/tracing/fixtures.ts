import type { InvocationTrace } from '../../src/tracing/segments.js';
import type { RandomSource } from '../../src/tracing/trace-header.js';

/** A deterministic random source: bytes 0, 1, 2, ... (wrapping), so ids are predictable and distinct. */
export function counterRandom(seed = 1): RandomSource {
  let n = seed;
  return (size) => {
    const out = new Uint8Array(size);
    for (let i = 0; i < size; i++) out[i] = n++ & 0xff;
    return out;
  };
}

export const T0 = Date.UTC(2024, 0, 2, 3, 4, 5);

/** A narrow cold start in legacy VPC mode: worker 100 ms, ENI 1 s, sandbox 20 ms, init 150 ms, invoke 5 ms. */
export function coldTrace(over: Partial<InvocationTrace> = {}): InvocationTrace {
  const t = T0;
  return {
    traceId: '1-65937d25-000102030405060708090a0b',
    sampled: true,
    requestId: '11111111-2222-3333-4444-555555555555',
    account: '000000000000',
    region: 'us-east-1',
    functionName: 'vpc_lambda_1',
    functionArn: 'arn:aws:lambda:us-east-1:000000000000:function:vpc_lambda_1',
    version: '$LATEST',
    receivedAt: t,
    steps: [
      { kind: 'provision-worker', start: t + 2, end: t + 102 },
      { kind: 'attach-eni', start: t + 102, end: t + 1102 },
      { kind: 'create-sandbox', start: t + 1102, end: t + 1122 },
      { kind: 'init', start: t + 1122, end: t + 1272 },
    ],
    initStart: t + 1122,
    initEnd: t + 1272,
    invokeStart: t + 1272,
    invokeEnd: t + 1277,
    overheadEnd: t + 1278,
    respondedAt: t + 1280,
    coldStart: true,
    narrowColdStart: true,
    statusCode: 200,
    ...over,
  };
}

/** A warm start of the same function, `offsetMs` later. */
export function warmTrace(offsetMs: number, over: Partial<InvocationTrace> = {}): InvocationTrace {
  const t = T0 + offsetMs;
  return coldTrace({
    receivedAt: t,
    steps: [],
    initStart: undefined,
    initEnd: undefined,
    invokeStart: t + 1,
    invokeEnd: t + 4,
    overheadEnd: t + 5,
    respondedAt: t + 6,
    coldStart: false,
    narrowColdStart: false,
    ...over,
  });
}
