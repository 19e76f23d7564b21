import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { openDatabase } from '../../src/store/database.js';
import { VirtualClock } from '../../src/util/clock.js';
import { invocationSegments, type SegmentDocument } from '../../src/tracing/segments.js';
import { parseSegmentDocument, startRetention, TraceStore } from '../../src/tracing/trace-store.js';
import { newTraceId } from '../../src/tracing/trace-header.js';
import { coldTrace, counterRandom, T0, warmTrace } from './fixtures.js';

function setup(retentionMs?: number) {
  const db = openDatabase(':memory:');
  const clock = new VirtualClock(T0 + 2000);
  const store = new TraceStore(db, { clock, ...(retentionMs ? { retentionMs } : {}) });
  return { db, clock, store };
}

const ARN = 'arn:aws:lambda:us-east-1:000000000000:function:vpc_lambda_1';
const range = { start: T0 / 1000 - 60, end: T0 / 1000 + 3600, timeRangeType: 'TraceId' as const };

describe('TraceStore', () => {
  test('summary of a cold start: Duration, ResponseTime, ARNs, services, annotations, entry point', () => {
    const { store, db } = setup();
    store.put(invocationSegments(coldTrace(), counterRandom()));
    const s = store.summary('1-65937d25-000102030405060708090a0b');
    assert.ok(s);
    assert.equal(s.Duration, 1.28);
    assert.equal(s.ResponseTime, 1.28);
    assert.equal(s.StartTime, T0 / 1000);
    assert.deepEqual([s.HasError, s.HasFault, s.HasThrottle, s.IsPartial], [false, false, false, false]);
    assert.deepEqual(s.ResourceARNs, [{ ARN }]);
    assert.deepEqual(s.ServiceIds, [
      { Name: 'vpc_lambda_1', Names: ['vpc_lambda_1'], Type: 'AWS::Lambda' },
      { Name: 'vpc_lambda_1', Names: ['vpc_lambda_1'], Type: 'AWS::Lambda::Function', AccountId: '000000000000' },
    ]);
    assert.deepEqual(s.EntryPoint, { Name: 'vpc_lambda_1', Names: ['vpc_lambda_1'], Type: 'AWS::Lambda' });
    assert.deepEqual(s.Annotations.cold_start?.map((a) => a.AnnotationValue), [{ BooleanValue: true }]);
    assert.deepEqual(s.Annotations.narrow_cold_start?.map((a) => a.AnnotationValue), [{ BooleanValue: true }]);
    assert.equal(s.Annotations.cold_start?.[0]?.ServiceIds[0]?.Type, 'AWS::Lambda::Function');
    assert.equal(s.Http?.HttpStatus, 200);
    db.close();
  });

  test('Duration runs to the last segment end; ResponseTime to the entry segment’s end', () => {
    const { store, db } = setup();
    // Overhead after the response left: the function segment ends after the AWS::Lambda segment.
    store.put(invocationSegments(warmTrace(0, { respondedAt: T0 + 5, overheadEnd: T0 + 50 })));
    const s = store.summary('1-65937d25-000102030405060708090a0b');
    assert.equal(s?.ResponseTime, 0.005);
    assert.equal(s?.Duration, 0.05);
    db.close();
  });

  test('pieces appended later (independent subsegments) are merged and re-summarised', () => {
    const { store, db } = setup();
    const t = coldTrace({ segmentIds: { lambda: 'aaaaaaaaaaaaaaaa', function: 'bbbbbbbbbbbbbbbb' } });
    store.put(invocationSegments(t));
    const user: SegmentDocument = {
      id: 'cccccccccccccccc',
      name: 'my-work',
      trace_id: t.traceId,
      parent_id: 'bbbbbbbbbbbbbbbb',
      type: 'subsegment',
      start_time: (T0 + 1273) / 1000,
      end_time: (T0 + 1276) / 1000,
      annotations: { customer: 'acme', items: 3 },
      error: true,
    };
    const nested: SegmentDocument = { ...user, id: 'dddddddddddddddd', name: 'inner', parent_id: 'cccccccccccccccc', annotations: {}, error: false };
    // The child arrives before its parent: it is still merged once the parent is there.
    store.put([nested]);
    store.put([user]);
    const trace = store.trace(t.traceId);
    assert.ok(trace);
    assert.equal(trace.Segments.length, 2);
    const fn = trace.Segments.map((s) => JSON.parse(s.Document) as SegmentDocument).find((d) => d.id === 'bbbbbbbbbbbbbbbb');
    const mine = fn?.subsegments?.find((s) => s.id === 'cccccccccccccccc');
    assert.equal(mine?.name, 'my-work');
    assert.equal(mine?.type, undefined, 'embedded like any subsegment');
    assert.equal(mine?.subsegments?.[0]?.name, 'inner');
    const s = store.summary(t.traceId);
    assert.equal(s?.HasError, true);
    assert.deepEqual(s?.Annotations.customer?.map((a) => a.AnnotationValue), [{ StringValue: 'acme' }]);
    assert.deepEqual(s?.Annotations.items?.map((a) => a.AnnotationValue), [{ NumberValue: 3 }]);
    assert.equal(s?.Revision, 3);
    db.close();
  });

  test('a document sent again replaces the stored one; an in_progress one never replaces a complete one', () => {
    const { store, db } = setup();
    const traceId = newTraceId(T0);
    const base = { id: 'abcdefabcdefabcd', name: 'svc', trace_id: traceId, start_time: T0 / 1000 };
    store.put([{ ...base, in_progress: true }]);
    assert.equal(store.summary(traceId)?.IsPartial, true);
    store.put([{ ...base, end_time: T0 / 1000 + 2 }]);
    store.put([{ ...base, in_progress: true }]);
    assert.equal(store.summary(traceId)?.IsPartial, false);
    assert.equal(store.summary(traceId)?.Duration, 2);
    assert.equal(store.trace(traceId)?.Segments.length, 1);
    db.close();
  });

  test('a subsegment whose parent never arrives is still returned', () => {
    const { store, db } = setup();
    const traceId = newTraceId(T0);
    store.put([{ id: 'abcdefabcdefabcd', name: 'orphan', trace_id: traceId, parent_id: '0123456789abcdef', type: 'subsegment', start_time: 1, end_time: 2 }]);
    assert.deepEqual(store.trace(traceId)?.Segments.map((s) => s.Id), ['abcdefabcdefabcd']);
    assert.equal(store.summary(traceId)?.IsPartial, true, 'no segment yet');
    db.close();
  });

  test('parseSegmentDocument refuses what X-Ray refuses', () => {
    const ok = { id: 'abcdefabcdefabcd', name: 'n', trace_id: '1-65937d25-000102030405060708090a0b', start_time: 1, end_time: 2 };
    assert.equal(parseSegmentDocument(JSON.stringify(ok)).ok, true);
    const bad = [
      'not json',
      '[]',
      JSON.stringify({ ...ok, id: 'short' }),
      JSON.stringify({ ...ok, trace_id: 'x' }),
      JSON.stringify({ ...ok, name: '' }),
      JSON.stringify({ ...ok, start_time: 'soon' }),
      JSON.stringify({ ...ok, end_time: undefined }),
      JSON.stringify({ ...ok, type: 'subsegment' }),
      JSON.stringify({ ...ok, padding: 'x'.repeat(70_000) }),
    ];
    for (const b of bad) {
      const p = parseSegmentDocument(b);
      assert.equal(p.ok, false, b.slice(0, 80));
      if (!p.ok) assert.equal(p.unprocessed.ErrorCode, 'InvalidSegment');
    }
  });

  test('paging: keyset pages across >1 page, oldest first; a filter counts what it processed', () => {
    const { store, db } = setup();
    const r = counterRandom(7);
    for (let i = 0; i < 25; i++) {
      store.put(invocationSegments(warmTrace(i * 1000, { traceId: newTraceId(T0 + i * 1000, r), coldStart: i % 2 === 0 }), r));
    }
    const seen: string[] = [];
    let after;
    let pages = 0;
    do {
      const page = store.summaries({ ...range, pageSize: 4, ...(after ? { after } : {}) });
      seen.push(...page.summaries.map((s) => s.Id));
      after = page.next;
      pages++;
      assert.ok(page.summaries.length <= 4);
    } while (after);
    assert.equal(seen.length, 25);
    assert.equal(new Set(seen).size, 25);
    assert.equal(pages, 7);
    const starts = seen.map((id) => store.summary(id)?.StartTime ?? 0);
    assert.deepEqual(starts, [...starts].sort((a, b) => a - b));
    const cold = store.summaries({ ...range, filter: (s) => s.Annotations.cold_start?.some((a) => 'BooleanValue' in a.AnnotationValue && a.AnnotationValue.BooleanValue) ?? false });
    assert.equal(cold.summaries.length, 13);
    assert.equal(cold.processed, 25);
    assert.equal(cold.next, undefined);
    db.close();
  });

  test('time range types: TraceId (start), Service (segment end), Event (update time)', () => {
    const { store, db, clock } = setup();
    store.put(invocationSegments(warmTrace(0, { respondedAt: T0 + 10_000, overheadEnd: T0 + 10_000, invokeEnd: T0 + 9000 })));
    const at = (sec: number) => ({ start: sec, end: sec + 1 });
    assert.equal(store.summaries({ ...at(T0 / 1000), timeRangeType: 'TraceId' }).summaries.length, 1);
    assert.equal(store.summaries({ ...at(T0 / 1000), timeRangeType: 'Service' }).summaries.length, 0);
    assert.equal(store.summaries({ ...at(T0 / 1000 + 9.5), timeRangeType: 'Service' }).summaries.length, 1);
    assert.equal(store.summaries({ ...at(clock.now() / 1000 - 0.5), timeRangeType: 'Event' }).summaries.length, 1);
    assert.equal(store.summaries({ ...at(T0 / 1000), timeRangeType: 'Event' }).summaries.length, 0);
    db.close();
  });

  test('retention: prune removes traces not updated within the retention, and startRetention runs it on the clock', () => {
    const day = 24 * 3600 * 1000;
    const { store, db, clock } = setup(2 * day);
    assert.equal(new TraceStore(db, { clock }).retentionMs, 30 * day, 'default 30 days');
    store.put(invocationSegments(coldTrace()));
    clock.advance(clock.now() + day);
    const newer = warmTrace(day, { traceId: newTraceId(T0 + day) });
    store.put(invocationSegments(newer));
    assert.equal(store.prune(clock.now() + day), 0);
    assert.equal(store.prune(clock.now() + day + 1), 1);
    assert.equal(store.trace('1-65937d25-000102030405060708090a0b'), undefined);
    assert.ok(store.trace(newer.traceId));
    const retention = startRetention(store, clock, 3600_000);
    clock.advance(clock.now() + 2 * day + 3600_000);
    assert.equal(store.trace(newer.traceId), undefined, 'pruned by the periodic run');
    retention.close();
    db.close();
  });

  test('owner: daemon pieces without one join the owner Lambda’s segments give the trace; queries by owner', () => {
    const { store, db } = setup();
    const t = coldTrace({ segmentIds: { lambda: 'aaaaaaaaaaaaaaaa', function: 'bbbbbbbbbbbbbbbb' } });
    const owner = { account: t.account, region: t.region };
    // The function's own subsegment arrives (over UDP, no owner) before Lambda records its segments.
    store.put([{ id: 'cccccccccccccccc', name: 'w', trace_id: t.traceId, parent_id: 'bbbbbbbbbbbbbbbb', type: 'subsegment', start_time: (T0 + 1273) / 1000, end_time: (T0 + 1274) / 1000 }]);
    assert.equal(store.summaries({ ...range, owner }).summaries.length, 0, 'not listed without an owner');
    store.put(invocationSegments(t), owner);
    assert.equal(store.summaries({ ...range, owner }).summaries.length, 1);
    assert.equal(store.summaries({ ...range, owner: { account: '123456789012', region: 'us-east-1' } }).summaries.length, 0);
    assert.equal(store.summaries({ ...range, owner: { account: t.account, region: 'eu-west-1' } }).summaries.length, 0);
    // A later owner-less piece and even another owner's put do not move the trace.
    store.put([{ id: 'dddddddddddddddd', name: 'w2', trace_id: t.traceId, parent_id: 'bbbbbbbbbbbbbbbb', type: 'subsegment', start_time: (T0 + 1274) / 1000, end_time: (T0 + 1275) / 1000 }]);
    store.put([{ id: 'eeeeeeeeeeeeeeee', name: 'w3', trace_id: t.traceId, start_time: T0 / 1000, end_time: T0 / 1000 + 1 }], { account: '123456789012', region: 'us-east-1' });
    assert.ok(store.trace(t.traceId, owner));
    assert.equal(store.trace(t.traceId, { account: '123456789012', region: 'us-east-1' }), undefined);
    assert.equal(store.summary(t.traceId, owner)?.Revision, 4);
    db.close();
  });

  test('the migration applies once, and a reopened database keeps the traces', () => {
    const { store, db, clock } = setup();
    store.put(invocationSegments(coldTrace()));
    const again = new TraceStore(db, { clock });
    assert.ok(again.trace('1-65937d25-000102030405060708090a0b'));
    db.close();
  });
});
