import assert from 'node:assert/strict';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import { BatchGetTracesCommand, GetTraceSummariesCommand, XRayClient, type Trace } from '@aws-sdk/client-xray';
import { leakFree, type Defer } from '../helpers/leaks.js';
import { startTestServer } from '../helpers/server.js';
import { makeZip } from '../helpers/zip.js';
import { createFn } from '../helpers/lambda.js';
import type { StartOptions } from '../../src/cli/lambkin.js';
import { detectCapabilities, namespacesUnavailable } from '../../src/fleet/isolation/capabilities.js';

const NODE_MODULES = join(dirname(fileURLToPath(import.meta.url)), '../../../node_modules');

interface SegmentDoc {
  id: string;
  name: string;
  origin?: string;
  start_time: number;
  end_time: number;
  parent_id?: string;
  annotations?: Record<string, unknown>;
  subsegments?: SegmentDoc[];
}

async function start(defer: Defer, options: StartOptions = {}) {
  const server = await startTestServer(defer, options);
  const xray = new XRayClient({
    endpoint: server.lambkin.url,
    region: 'us-east-1',
    credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'test' },
    maxAttempts: 1,
  });
  defer(() => xray.destroy());
  return { ...server, xray };
}

/** A Node.js function with TracingConfig Active (unless `extra` says otherwise). */
function createTraced(lambda: LambdaClient, name: string, source: string, extra: Parameters<typeof createFn>[3] = {}) {
  return createFn(lambda, name, makeZip({ 'index.js': source }), { TracingConfig: { Mode: 'Active' }, ...extra });
}

/** Every segment of a trace, parsed. */
function segments(trace: Trace | undefined): SegmentDoc[] {
  return (trace?.Segments ?? []).map((s) => JSON.parse(s.Document ?? '{}') as SegmentDoc);
}

function allSubsegments(doc: SegmentDoc): SegmentDoc[] {
  return (doc.subsegments ?? []).flatMap((s) => [s, ...allSubsegments(s)]);
}

/**
 * Every segment and subsegment name of a trace, read until `wanted` is among them (a datagram may land
 * just after the response; bounded: 200 reads).
 */
async function namesOnceThere(xray: XRayClient, traceId: string, wanted: string): Promise<string[]> {
  let names: string[] = [];
  for (let i = 0; i < 200 && !names.includes(wanted); i++) {
    const got = await xray.send(new BatchGetTracesCommand({ TraceIds: [traceId] }));
    names = segments(got.Traces?.[0]).flatMap((d) => [d.name, ...allSubsegments(d).map((s) => s.name)]);
    if (!names.includes(wanted)) await new Promise((r) => setTimeout(r, 20));
  }
  return names;
}

async function tracesOf(xray: XRayClient, arn: string) {
  const now = Date.now();
  const out = await xray.send(new GetTraceSummariesCommand({ StartTime: new Date(now - 60_000), EndTime: new Date(now + 60_000) }));
  return (out.TraceSummaries ?? []).filter((s) => (s.ResourceARNs ?? []).some((r) => r.ARN === arn || r.ARN?.startsWith(`${arn}:`)));
}

test(
  'an Active function is traced: Initialization on the cold start only, annotations, X-Ray API',
  leakFree(async (_t, defer) => {
    const { lambda, xray } = await start(defer);
    const fn = await createTraced(lambda, 'traced', 'exports.handler = async () => ({ ok: true });');
    const first = await lambda.send(new InvokeCommand({ FunctionName: 'traced' }));
    const second = await lambda.send(new InvokeCommand({ FunctionName: 'traced' }));
    assert.equal(first.StatusCode, 200);
    assert.equal(second.StatusCode, 200);

    const summaries = await tracesOf(xray, fn.FunctionArn ?? '');
    assert.equal(summaries.length, 2);
    const byCold = new Map(summaries.map((s) => [s.Annotations?.cold_start?.[0]?.AnnotationValue?.BooleanValue, s]));
    assert.ok(byCold.get(true), 'one trace is a cold start');
    assert.ok(byCold.get(false), 'one trace is warm');
    for (const s of summaries) {
      assert.ok((s.Duration ?? 0) > 0);
      assert.equal(s.HasError, false);
      assert.equal(s.HasFault, false);
    }

    const got = await xray.send(new BatchGetTracesCommand({ TraceIds: summaries.map((s) => s.Id ?? '') }));
    assert.equal(got.Traces?.length, 2);
    for (const trace of got.Traces ?? []) {
      const docs = segments(trace);
      const service = docs.find((d) => d.origin === 'AWS::Lambda');
      const fnSeg = docs.find((d) => d.origin === 'AWS::Lambda::Function');
      assert.ok(service && fnSeg, 'both Lambda segments are recorded');
      assert.equal(fnSeg.parent_id, service.id);
      assert.ok(service.start_time <= fnSeg.start_time && fnSeg.end_time <= service.end_time + 0.01);
      const names = allSubsegments(fnSeg).map((s) => s.name);
      const cold = summaries.find((s) => s.Id === trace.Id)?.Annotations?.cold_start?.[0]?.AnnotationValue?.BooleanValue;
      assert.equal(names.includes('Initialization'), cold, `Initialization exactly on the cold start (${names.join(', ')})`);
      assert.ok(names.includes('Invocation'));
    }
  }),
);

test(
  'an incoming X-Amzn-Trace-Id is honoured: same Root in the response and inside the function',
  leakFree(async (_t, defer) => {
    const { lambda, lambkin } = await start(defer);
    await createTraced(lambda, 'who', "exports.handler = async () => process.env._X_AMZN_TRACE_ID;");
    const root = '1-5759e988-bd862e3fe1be46a994272793';
    const res = await fetch(`${lambkin.url}/2015-03-31/functions/who/invocations`, {
      method: 'POST',
      headers: { 'x-amzn-trace-id': `Root=${root};Parent=53995c3f42cd8ad8;Sampled=1` },
      body: '{}',
    });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('x-amzn-trace-id') ?? '', new RegExp(`Root=${root}`));
    const inside = (await res.json()) as string;
    assert.match(inside, new RegExp(`^Root=${root};Parent=[0-9a-f]{16};Sampled=1`));
  }),
);

test(
  'a PassThrough function is not traced unless the caller samples it; --trace-all traces it',
  leakFree(async (_t, defer) => {
    const plain = await start(defer);
    const fn = await createTraced(plain.lambda, 'quiet', 'exports.handler = async () => 1;', { TracingConfig: { Mode: 'PassThrough' } });
    await plain.lambda.send(new InvokeCommand({ FunctionName: 'quiet' }));
    assert.equal((await tracesOf(plain.xray, fn.FunctionArn ?? '')).length, 0);

    const all = await start(defer, { traceAll: true });
    const fn2 = await createTraced(all.lambda, 'quiet', 'exports.handler = async () => 1;', { TracingConfig: { Mode: 'PassThrough' } });
    await all.lambda.send(new InvokeCommand({ FunctionName: 'quiet' }));
    assert.equal((await tracesOf(all.xray, fn2.FunctionArn ?? '')).length, 1);
  }),
);

test(
  "legacy VPC mode: the AWS::Lambda segment contains the ENI attach time of a narrow cold start",
  leakFree(async (_t, defer) => {
    const { lambda, xray } = await start(defer, { vpcMode: 'legacy', latencyProfile: 'aws-2019', timeScale: 0.05, hostMemoryMb: 100_000 });
    const fn = await createTraced(lambda, 'vpc', 'exports.handler = async () => 1;', {
      VpcConfig: { SubnetIds: ['subnet-0123456789abcdef0'], SecurityGroupIds: ['sg-0123456789abcdef0'] },
    });
    await lambda.send(new InvokeCommand({ FunctionName: 'vpc' }));
    const [summary] = await tracesOf(xray, fn.FunctionArn ?? '');
    assert.ok(summary);
    assert.equal(summary.Annotations?.narrow_cold_start?.[0]?.AnnotationValue?.BooleanValue, true);
    const got = await xray.send(new BatchGetTracesCommand({ TraceIds: [summary.Id ?? ''] }));
    const service = segments(got.Traces?.[0]).find((d) => d.origin === 'AWS::Lambda');
    assert.ok(service);
    const eni = allSubsegments(service).find((s) => /ENI/i.test(s.name));
    assert.ok(eni, 'an ENI subsegment is recorded');
    const eniMs = (eni.end_time - eni.start_time) * 1000;
    // The aws-2019 profile's ENI creation is 7.7–14.7 s; at time scale 0.05 that is ≥ 380 ms.
    assert.ok(eniMs >= 380, `ENI took ${eniMs} ms`);
    assert.ok(eni.start_time >= service.start_time && eni.end_time <= service.end_time);
    assert.ok((summary.Duration ?? 0) * 1000 >= eniMs);
  }),
);

test(
  "a function using aws-xray-sdk-core adds its own subsegment to Lambda's trace over the daemon protocol",
  leakFree(async (_t, defer) => {
    const { lambda, xray } = await start(defer);
    const fn = await createTraced(
      lambda,
      'sdk',
      `const AWSXRay = require('aws-xray-sdk-core');
exports.handler = async () => {
  const sub = AWSXRay.getSegment().addNewSubsegment('my-work');
  sub.addAnnotation('step', 'one');
  sub.close();
  return 'ok';
};`,
      { Environment: { Variables: { NODE_PATH: NODE_MODULES } } },
    );
    const out = await lambda.send(new InvokeCommand({ FunctionName: 'sdk' }));
    assert.equal(out.FunctionError, undefined, Buffer.from(out.Payload ?? []).toString());
    const [summary] = await tracesOf(xray, fn.FunctionArn ?? '');
    assert.ok(summary);
    // The SDK sends its subsegment over UDP as it closes; the datagram may land just after the response.
    const names = await namesOnceThere(xray, summary.Id ?? '', 'my-work');
    assert.ok(names.includes('my-work'), `subsegments: ${names.join(', ')}`);
  }),
);

const sealedHere = namespacesUnavailable(detectCapabilities());
test(
  'a sealed function (isolation auto, a network of its own) reaches the X-Ray daemon at 127.0.0.1:2000 through its relay',
  { skip: sealedHere ? `full isolation is not available here: ${sealedHere}` : false },
  leakFree(async (_t, defer) => {
    const { lambda, xray } = await start(defer, { isolation: 'auto' });
    // The daemon protocol by hand (the SDK is not in a sealed sandbox): a subsegment of the invocation's trace.
    const fn = await createTraced(
      lambda,
      'udp',
      `const dgram = require('dgram'); const crypto = require('crypto');
exports.handler = async () => {
  const h = Object.fromEntries(process.env._X_AMZN_TRACE_ID.split(';').map((p) => p.split('=')));
  const now = Date.now() / 1000;
  const doc = { type: 'subsegment', name: 'over-udp', id: crypto.randomBytes(8).toString('hex'), trace_id: h.Root, parent_id: h.Parent, start_time: now, end_time: now + 0.001 };
  const [host, port] = process.env.AWS_XRAY_DAEMON_ADDRESS.split(':');
  const s = dgram.createSocket('udp4');
  await new Promise((r) => s.send('{"format":"json","version":1}\\n' + JSON.stringify(doc), Number(port), host, r));
  s.close();
  return process.env.AWS_XRAY_DAEMON_ADDRESS;
};`,
      { MemorySize: 512 },
    );
    const out = await lambda.send(new InvokeCommand({ FunctionName: 'udp' }));
    assert.equal(Buffer.from(out.Payload ?? []).toString(), '"127.0.0.1:2000"');
    const [summary] = await tracesOf(xray, fn.FunctionArn ?? '');
    assert.ok(summary);
    const names = await namesOnceThere(xray, summary.Id ?? '', 'over-udp');
    assert.ok(names.includes('over-udp'), `subsegments: ${names.join(', ')}`);
  }),
);
