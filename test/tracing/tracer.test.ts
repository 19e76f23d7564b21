import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { openDatabase } from '../../src/store/database.js';
import { VirtualClock } from '../../src/util/clock.js';
import { parseTraceHeader } from '../../src/tracing/trace-header.js';
import { TraceStore } from '../../src/tracing/trace-store.js';
import { Tracer } from '../../src/tracing/tracer.js';
import { coldTrace, counterRandom, T0 } from './fixtures.js';

function setup(traceAll = false) {
  const db = openDatabase(':memory:');
  const clock = new VirtualClock(T0);
  const store = new TraceStore(db, { clock });
  const errors: unknown[] = [];
  const tracer = new Tracer({ store, clock, traceAll, random: counterRandom(), onError: (e) => errors.push(e) });
  return { db, store, tracer, errors };
}

describe('Tracer', () => {
  test('Active without a header: a new sampled trace; the runtime header names the function segment as Parent', () => {
    const { tracer, db } = setup();
    const ctx = tracer.begin({ mode: 'Active' });
    assert.equal(ctx.traceId.slice(0, 10), `1-${Math.floor(T0 / 1000).toString(16)}`);
    assert.equal(ctx.sampled, true);
    assert.equal(ctx.parentId, undefined);
    assert.deepEqual(parseTraceHeader(ctx.runtimeHeader), { root: ctx.traceId, parent: ctx.segmentIds.function, sampled: true });
    assert.equal(ctx.responseHeader, `Root=${ctx.traceId};Sampled=1`);
    assert.notEqual(ctx.segmentIds.lambda, ctx.segmentIds.function);
    db.close();
  });

  test('an incoming header is honoured: Root and Parent kept, Sampled=0 not recorded, Lineage passed on', () => {
    const { tracer, db } = setup();
    const root = '1-5759e988-bd862e3fe1be46a994272793';
    const ctx = tracer.begin({ mode: 'Active', header: `Root=${root};Parent=53995c3f42cd8ad8;Sampled=1;Lineage=a:1` });
    assert.equal(ctx.traceId, root);
    assert.equal(ctx.parentId, '53995c3f42cd8ad8');
    assert.equal(ctx.runtimeHeader, `Root=${root};Parent=${ctx.segmentIds.function};Sampled=1;Lineage=a:1`);
    assert.equal(tracer.begin({ mode: 'Active', header: `Root=${root};Sampled=0` }).sampled, false);
    db.close();
  });

  test('PassThrough records only what the caller sampled; --trace-all traces every function', () => {
    const { tracer, db } = setup();
    assert.equal(tracer.begin({}).sampled, false);
    assert.equal(tracer.begin({ mode: 'PassThrough', header: 'Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1' }).sampled, true);
    db.close();
    const all = setup(true);
    assert.equal(all.tracer.begin({}).sampled, true);
    all.db.close();
  });

  test('record stores the segments of a sampled invocation and nothing otherwise', () => {
    const { tracer, store, db } = setup();
    const ctx = tracer.begin({ mode: 'Active' });
    tracer.record(coldTrace({ traceId: ctx.traceId, segmentIds: ctx.segmentIds, sampled: ctx.sampled }));
    const stored = store.trace(ctx.traceId);
    assert.deepEqual(stored?.Segments.map((s) => s.Id).sort(), [ctx.segmentIds.lambda, ctx.segmentIds.function].sort());
    const off = tracer.begin({});
    tracer.record(coldTrace({ traceId: off.traceId, sampled: false }));
    assert.equal(store.trace(off.traceId), undefined);
    db.close();
  });

  test('record never throws: a store failure goes to onError', () => {
    const { tracer, db, errors } = setup();
    db.close();
    assert.doesNotThrow(() => tracer.record(coldTrace()));
    assert.equal(errors.length, 1);
  });
});
