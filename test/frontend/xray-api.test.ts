import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { describe, test } from 'node:test';
import {
  BatchGetTracesCommand,
  GetTraceSummariesCommand,
  InvalidRequestException,
  paginateGetTraceSummaries,
  PutTraceSegmentsCommand,
  XRayClient,
} from '@aws-sdk/client-xray';
import { HttpServer } from '../../src/frontend/http-server.js';
import { xrayRoutes } from '../../src/frontend/xray-api.js';
import { openDatabase } from '../../src/store/database.js';
import { VirtualClock } from '../../src/util/clock.js';
import { invocationSegments, type SegmentDocument } from '../../src/tracing/segments.js';
import { newTraceId } from '../../src/tracing/trace-header.js';
import { TraceStore } from '../../src/tracing/trace-store.js';
import { XrayDaemon } from '../../src/tracing/xray-daemon.js';
import { leakFree, type Defer } from '../helpers/leaks.js';
import { coldTrace, counterRandom, T0, warmTrace } from '../tracing/fixtures.js';

async function setup(defer: Defer, pageSize?: number) {
  const db = openDatabase(':memory:');
  defer(() => db.close());
  const clock = new VirtualClock(T0 + 60_000);
  const store = new TraceStore(db, { clock });
  const server = await HttpServer.start({
    host: '127.0.0.1',
    port: 0,
    defaultRegion: 'us-east-1',
    routes: xrayRoutes({ store, clock, ...(pageSize ? { pageSize } : {}) }),
  });
  defer(() => server.close());
  const xray = new XRayClient({
    endpoint: server.url,
    region: 'us-east-1',
    credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'test' },
    maxAttempts: 1,
  });
  defer(() => xray.destroy());
  const other = new XRayClient({
    endpoint: server.url,
    region: 'us-east-1',
    credentials: { accessKeyId: '123456789012', secretAccessKey: 'test' },
    maxAttempts: 1,
  });
  defer(() => other.destroy());
  return { store, server, xray, other, clock };
}

const window = { StartTime: new Date(T0 - 60_000), EndTime: new Date(T0 + 3600_000) };
const ARN_PREFIX = 'arn:aws:lambda:us-east-1:000000000000:function:vpc_lambda_';
const OWNER = { account: '000000000000', region: 'us-east-1' };

/** Ten functions invoked once each, as the seed's script does: one narrow cold start, nine cold starts. */
function seedTraces(store: TraceStore): string[] {
  const r = counterRandom(3);
  const ids: string[] = [];
  for (let i = 1; i <= 10; i++) {
    const name = `vpc_lambda_${i}`;
    const t0 = T0 + i * 2000;
    const narrow = i === 1;
    const traceId = newTraceId(t0, r);
    ids.push(traceId);
    store.put(
      invocationSegments(
        coldTrace({
          traceId,
          functionName: name,
          functionArn: `arn:aws:lambda:us-east-1:000000000000:function:${name}`,
          receivedAt: t0,
          steps: narrow ? [{ kind: 'attach-eni', start: t0 + 1, end: t0 + 1001 }] : [],
          initStart: t0 + (narrow ? 1001 : 1),
          initEnd: t0 + (narrow ? 1200 : 200),
          invokeStart: t0 + (narrow ? 1200 : 200),
          invokeEnd: t0 + (narrow ? 1210 : 210),
          overheadEnd: t0 + (narrow ? 1211 : 211),
          respondedAt: t0 + (narrow ? 1212 : 212),
          narrowColdStart: narrow,
        }),
        r,
      ),
      OWNER,
    );
  }
  return ids;
}

describe('X-Ray API through @aws-sdk/client-xray', () => {
  test(
    'GetTraceSummaries answers the seed’s question: ten durations, one slow',
    leakFree(async (_t, defer) => {
      const { store, xray } = await setup(defer);
      seedTraces(store);
      const res = await xray.send(new GetTraceSummariesCommand(window));
      const mine = (res.TraceSummaries ?? []).filter((s) => (s.ResourceARNs ?? []).some((a) => a.ARN?.startsWith(ARN_PREFIX)));
      assert.deepEqual(
        mine.map((s) => Math.trunc((s.Duration ?? 0) * 1000)),
        [1212, 212, 212, 212, 212, 212, 212, 212, 212, 212],
      );
      const first = mine[0];
      assert.ok(first);
      assert.ok(first.StartTime instanceof Date);
      assert.equal(first.StartTime.getTime(), T0 + 2000);
      assert.equal(first.ResponseTime, 1.212);
      assert.equal(first.HasError, false);
      assert.equal(first.HasFault, false);
      assert.equal(first.HasThrottle, false);
      assert.deepEqual(first.EntryPoint, { Name: 'vpc_lambda_1', Names: ['vpc_lambda_1'], Type: 'AWS::Lambda' });
      assert.ok(first.ServiceIds?.some((s) => s.Type === 'AWS::Lambda::Function' && s.AccountId === '000000000000'));
      assert.deepEqual(first.Annotations?.narrow_cold_start?.[0]?.AnnotationValue, { BooleanValue: true });
      assert.equal(res.TracesProcessedCount, 10);
      assert.ok(res.ApproximateTime instanceof Date);
      assert.equal(res.NextToken, undefined);
    }),
  );

  test(
    'FilterExpression: supported forms filter; an unsupported one is InvalidRequestException listing the supported ones',
    leakFree(async (_t, defer) => {
      const { store, xray } = await setup(defer);
      seedTraces(store);
      const count = async (FilterExpression: string) =>
        (await xray.send(new GetTraceSummariesCommand({ ...window, FilterExpression }))).TraceSummaries?.length;
      assert.equal(await count('service("vpc_lambda_3")'), 1);
      assert.equal(await count('duration > 1'), 1);
      assert.equal(await count('responsetime <= 0.5'), 9);
      assert.equal(await count('annotation.narrow_cold_start = true'), 1);
      assert.equal(await count('annotation.cold_start = true AND !(duration > 1)'), 9);
      assert.equal(await count('error or fault'), 0);
      assert.equal(await count('ok'), 10);
      assert.equal(await count(`resource.arn = "${ARN_PREFIX}10"`), 1);
      await assert.rejects(
        xray.send(new GetTraceSummariesCommand({ ...window, FilterExpression: 'user = "bob"' })),
        (e: unknown) => {
          assert.ok(e instanceof InvalidRequestException, String(e));
          assert.equal(e.$metadata.httpStatusCode, 400);
          assert.match(e.message, /supports this subset/);
          assert.match(e.message, /annotation\.KEY/);
          return true;
        },
      );
    }),
  );

  test(
    'paging with NextToken across more than one page (the SDK paginator)',
    leakFree(async (_t, defer) => {
      const { store, xray } = await setup(defer, 3);
      const ids = seedTraces(store);
      const pages: number[] = [];
      const seen: string[] = [];
      // A copy: the paginator writes NextToken into its input.
      for await (const page of paginateGetTraceSummaries({ client: xray }, { ...window })) {
        pages.push(page.TraceSummaries?.length ?? 0);
        seen.push(...(page.TraceSummaries ?? []).map((s) => s.Id ?? ''));
      }
      assert.deepEqual(pages, [3, 3, 3, 1]);
      assert.deepEqual(seen, ids);
      const first = await xray.send(new GetTraceSummariesCommand(window));
      assert.ok(first.NextToken);
      await assert.rejects(
        xray.send(new GetTraceSummariesCommand({ ...window, FilterExpression: 'ok', NextToken: first.NextToken })),
        InvalidRequestException,
        'a token is bound to its query',
      );
      await assert.rejects(xray.send(new GetTraceSummariesCommand({ ...window, NextToken: 'garbage!' })), InvalidRequestException);
    }),
  );

  test(
    'TimeRangeType and bad time ranges',
    leakFree(async (_t, defer) => {
      const { store, xray, clock } = await setup(defer);
      seedTraces(store);
      const near = (ms: number) => ({ StartTime: new Date(ms - 500), EndTime: new Date(ms + 500) });
      assert.equal((await xray.send(new GetTraceSummariesCommand({ ...near(T0 + 2000), TimeRangeType: 'TraceId' }))).TraceSummaries?.length, 1);
      assert.equal((await xray.send(new GetTraceSummariesCommand({ ...near(T0 + 3212), TimeRangeType: 'Service' }))).TraceSummaries?.length, 1);
      assert.equal((await xray.send(new GetTraceSummariesCommand({ ...near(clock.now()), TimeRangeType: 'Event' }))).TraceSummaries?.length, 10);
      await assert.rejects(
        xray.send(new GetTraceSummariesCommand({ StartTime: new Date(T0), EndTime: new Date(T0 - 1000) })),
        InvalidRequestException,
      );
    }),
  );

  test(
    'BatchGetTraces returns segment documents that parse as JSON with their ids; unknown ids are unprocessed',
    leakFree(async (_t, defer) => {
      const { store, xray } = await setup(defer);
      const ids = seedTraces(store);
      const missing = newTraceId(T0);
      const res = await xray.send(new BatchGetTracesCommand({ TraceIds: [ids[0] as string, ids[1] as string, missing] }));
      assert.deepEqual(res.UnprocessedTraceIds, [missing]);
      assert.deepEqual(
        res.Traces?.map((t) => t.Id),
        [ids[0], ids[1]],
      );
      const t = res.Traces?.[0];
      assert.equal(t?.Duration, 1.212);
      assert.equal(t?.LimitExceeded, false);
      const docs = (t?.Segments ?? []).map((s) => ({ id: s.Id, doc: JSON.parse(s.Document ?? '') as SegmentDocument }));
      assert.deepEqual(
        docs.map((d) => d.doc.origin),
        ['AWS::Lambda', 'AWS::Lambda::Function'],
      );
      for (const d of docs) {
        assert.equal(d.doc.id, d.id);
        assert.equal(d.doc.trace_id, ids[0]);
      }
      assert.ok(docs[0]?.doc.subsegments?.some((s) => s.name === 'ENI Attach'));
      await assert.rejects(xray.send(new BatchGetTracesCommand({ TraceIds: ids.slice(0, 6) })), InvalidRequestException);
    }),
  );

  test(
    'PutTraceSegments stores documents (appended later to an existing trace too) and reports refused ones',
    leakFree(async (_t, defer) => {
      const { store, xray } = await setup(defer);
      const ids = seedTraces(store);
      const traceId = ids[4] as string;
      const before = await xray.send(new BatchGetTracesCommand({ TraceIds: [traceId] }));
      const fnSeg = before.Traces?.[0]?.Segments?.map((s) => JSON.parse(s.Document ?? '') as SegmentDocument).find((d) => d.origin === 'AWS::Lambda::Function');
      assert.ok(fnSeg);
      const fresh = newTraceId(T0 + 30_000);
      const res = await xray.send(
        new PutTraceSegmentsCommand({
          TraceSegmentDocuments: [
            JSON.stringify({ id: '1111111111111111', name: 'frontend', trace_id: fresh, start_time: (T0 + 30_000) / 1000, end_time: (T0 + 30_500) / 1000, annotations: { tier: 'web' } }),
            JSON.stringify({ id: '2222222222222222', name: 'db-call', trace_id: traceId, parent_id: fnSeg.id, type: 'subsegment', start_time: fnSeg.start_time, end_time: fnSeg.start_time + 0.001, fault: true }),
            '{"broken"',
            JSON.stringify({ id: '3333333333333333', name: 'x', trace_id: 'bad', start_time: 1, end_time: 2 }),
          ],
        }),
      );
      assert.equal(res.UnprocessedTraceSegments?.length, 2);
      assert.deepEqual(res.UnprocessedTraceSegments?.map((u) => u.Id), [undefined, '3333333333333333']);
      assert.ok(res.UnprocessedTraceSegments?.every((u) => u.ErrorCode && u.Message));
      const web = await xray.send(new GetTraceSummariesCommand({ ...window, FilterExpression: 'annotation.tier = "web"' }));
      assert.deepEqual(web.TraceSummaries?.map((s) => [s.Id, s.Duration]), [[fresh, 0.5]]);
      const after = await xray.send(new BatchGetTracesCommand({ TraceIds: [traceId] }));
      const fn = after.Traces?.[0]?.Segments?.map((s) => JSON.parse(s.Document ?? '') as SegmentDocument).find((d) => d.id === fnSeg.id);
      assert.ok(fn?.subsegments?.some((s) => s.name === 'db-call'));
      const faulty = await xray.send(new GetTraceSummariesCommand({ ...window, FilterExpression: 'fault' }));
      assert.deepEqual(faulty.TraceSummaries?.map((s) => s.Id), [traceId]);
      await assert.rejects(xray.send(new PutTraceSegmentsCommand({ TraceSegmentDocuments: undefined as unknown as string[] })), InvalidRequestException);
    }),
  );

  test(
    'traces belong to an account and region: another account sees none of them',
    leakFree(async (_t, defer) => {
      const { store, other } = await setup(defer);
      const ids = seedTraces(store);
      assert.deepEqual((await other.send(new GetTraceSummariesCommand(window))).TraceSummaries, []);
      const res = await other.send(new BatchGetTracesCommand({ TraceIds: [ids[0] as string] }));
      assert.deepEqual(res.Traces, []);
      assert.deepEqual(res.UnprocessedTraceIds, [ids[0]]);
    }),
  );

  test(
    'a subsegment sent to the UDP daemon shows up in BatchGetTraces',
    leakFree(async (_t, defer) => {
      const { store, xray } = await setup(defer);
      const trace = warmTrace(0, { segmentIds: { lambda: 'aaaaaaaaaaaaaaaa', function: 'bbbbbbbbbbbbbbbb' } });
      store.put(invocationSegments(trace), OWNER);
      let delivered!: () => void;
      const handled = new Promise<void>((r) => (delivered = r));
      const daemon = await XrayDaemon.start({ store, host: '127.0.0.1', port: 0, onDatagram: () => delivered() });
      defer(() => daemon.close());
      const sock = createSocket('udp4');
      defer(() => new Promise<void>((r) => sock.close(() => r())));
      const doc = { id: 'cccccccccccccccc', name: 'handler-work', trace_id: trace.traceId, parent_id: 'bbbbbbbbbbbbbbbb', type: 'subsegment', start_time: (T0 + 2) / 1000, end_time: (T0 + 3) / 1000 };
      await new Promise<void>((resolve, reject) =>
        sock.send(`{"format": "json", "version": 1}\n${JSON.stringify(doc)}`, daemon.port, '127.0.0.1', (e) => (e ? reject(e) : resolve())),
      );
      await handled;
      assert.equal(daemon.stats.stored, 1);
      const res = await xray.send(new BatchGetTracesCommand({ TraceIds: [trace.traceId] }));
      const fn = res.Traces?.[0]?.Segments?.map((s) => JSON.parse(s.Document ?? '') as SegmentDocument).find((d) => d.id === 'bbbbbbbbbbbbbbbb');
      assert.deepEqual(
        fn?.subsegments?.map((s) => s.name),
        ['Invocation', 'handler-work', 'Overhead'],
      );
    }),
  );
});
