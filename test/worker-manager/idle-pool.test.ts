import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { HybridHistogramPolicy, hybridConfigSchema } from '../../src/worker-manager/keep-alive-hybrid.js';
import { Prewarm, type Sandbox } from '../../src/worker-manager/model.js';
import type { Step } from '../../src/worker-manager/types.js';
import { spec } from './helpers.js';
import { idleSandbox, rooms, versionOf } from './rooms.js';

const ids = (xs: Iterable<Sandbox>) => [...xs].map((s) => s.id);

void describe('idle pool', () => {
  void test('warm starts take the most recently used sandbox, provisioned ones first; the LRU spans versions', () => {
    const r = rooms({ hostMemoryMb: 3072 * 4, keepAliveMs: 1000 });
    const f = spec('f', 128);
    const a = idleSandbox(r, f, 1);
    const b = idleSandbox(r, spec('g', 128), 2);
    const c = idleSandbox(r, f, 3);
    const v = versionOf(r, f);
    assert.deepEqual(ids(v.idle.items()), [a.id, c.id]);
    const lru: string[] = [];
    for (let l = r.pool.lruHead; l !== null; l = l.next) lru.push(l.item.id);
    assert.deepEqual(lru, [a.id, b.id, c.id]);
    // A provisioned idle sandbox is taken before the on-demand ones.
    const steps: Step[] = [];
    r.provisioned.set(f, 1, 4, steps);
    const p = r.placement.sandbox((steps.at(-1) as { sandboxId: string }).sandboxId)!;
    p.state = 'idle-provisioned';
    r.pool.link(p, 4);
    assert.equal(r.pool.takeWarm(v), p);
    assert.equal(p.idleSince, -1);
    assert.equal(r.pool.takeWarm(v), c);
    assert.equal(r.pool.takeWarm(v), a);
    assert.equal(r.pool.takeWarm(v), null);
    assert.equal(r.pool.lruHead?.item, b);
  });

  void test('constant keep-alive: the LRU head is the next expiry', () => {
    const r = rooms({ hostMemoryMb: 3072 * 4, keepAliveMs: 1000 });
    assert.equal(r.pool.sandboxDeadline(), Infinity);
    const a = idleSandbox(r, spec('f', 128), 10);
    idleSandbox(r, spec('g', 128), 20);
    assert.equal(r.pool.sandboxDeadline(), 1010);
    assert.equal(r.pool.takeDue(), a);
    // The fixed path does not unlink: the caller removes the sandbox.
    assert.equal(r.pool.lruHead?.item, a);
  });

  void test('a worker is reclaimable while every one of its sandboxes is idle on-demand', () => {
    const r = rooms({ hostMemoryMb: 3072 });
    const f = spec('f', 128);
    const a = idleSandbox(r, f, 0);
    const w = a.worker;
    assert.ok(w.reclaimable);
    assert.equal(r.pool.reclaimableCount, 1);
    const b = idleSandbox(r, f, 0);
    assert.equal(b.worker, w);
    assert.equal(r.pool.takeWarm(versionOf(r, f)), b);
    assert.ok(!w.reclaimable);
    assert.equal(r.pool.reclaimableCount, 0);
    b.state = 'idle';
    r.pool.link(b, 1);
    assert.ok(w.reclaimable);
  });

  void test('empty workers retire in the order they emptied; since-times never decrease', () => {
    const r = rooms({ hostMemoryMb: 3072 * 3, workerIdleMs: 100 });
    const ws = [1, 2, 3].map((i) => idleSandbox(r, spec(`f${i}`, 3072), 0).worker);
    for (const w of ws) r.pool.updateReclaimable(w);
    r.pool.linkEmpty(ws[0]!, 50);
    r.pool.linkEmpty(ws[1]!, 40); // reported late: it keeps the list's order
    assert.equal(ws[1]!.emptySince, 50);
    r.pool.linkEmpty(ws[2]!, 60);
    assert.equal(r.pool.workerDeadline(), 150);
    r.pool.unlinkEmpty(ws[0]!);
    r.pool.unlinkEmpty(ws[0]!); // not on the list: no-op
    assert.equal(r.pool.firstEmpty(), ws[1]);
    assert.equal(r.pool.workerDeadline(), 150);
  });

  void test('per-function policy: expiries are timers in deadline order; pre-warms are scheduled, cancelled earliest first', () => {
    const policy = new HybridHistogramPolicy(hybridConfigSchema.parse({ policy: 'hybrid' }));
    const r = rooms({ hostMemoryMb: 3072 * 4, keepAliveMs: 1000 }, policy);
    assert.ok(r.pool.variable);
    const f = spec('f', 128);
    const v = versionOf(r, f);
    assert.ok(v.fn.policyState !== null);
    const a = idleSandbox(r, f, 0); // kaMs = options.keepAliveMs until a policy window says otherwise
    assert.equal(r.pool.sandboxDeadline(), 1000);
    r.pool.unlink(a);
    a.kaMs = 300;
    r.pool.link(a, 100);
    assert.equal(r.pool.sandboxDeadline(), 400);
    r.pool.schedulePrewarm(v, 350, 50);
    r.pool.schedulePrewarm(v, 200, 60);
    assert.equal(r.pool.sandboxDeadline(), 200);
    r.pool.cancelPrewarm(v); // drops the one at 200
    assert.deepEqual(v.prewarms?.map((p) => p.at), [350]);
    const due = r.pool.takeDue();
    assert.ok(due instanceof Prewarm && due.at === 350 && due.keepAliveMs === 50);
    r.pool.prewarmFired(due);
    assert.equal(v.prewarms, null);
    assert.equal(r.pool.takeDue(), a);
    assert.equal(a.heapIndex, -1);
    r.pool.schedulePrewarm(v, 10, 1);
    r.pool.schedulePrewarm(v, 20, 1);
    r.pool.cancelPrewarms(v);
    assert.equal(v.prewarms, null);
    assert.equal(r.pool.sandboxDeadline(), Infinity);
  });
});
