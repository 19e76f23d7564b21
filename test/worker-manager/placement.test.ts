import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Step } from '../../src/worker-manager/types.js';
import { kinds, spec } from './helpers.js';
import { idleSandbox, rooms, versionOf } from './rooms.js';

void describe('placement', () => {
  void test('place() returns its report: a new worker (narrow) and a new legacy ENI, then neither', () => {
    const r = rooms({ hostMemoryMb: 3072 * 2, vpcMode: 'legacy' });
    const v = versionOf(r, spec('f', 1024, { vpcKey: 'V' }));
    const steps: Step[] = [];
    const first = r.placement.place(v, 'invocation', 0, steps);
    assert.ok(first !== null && first.narrow && first.eniAttached);
    assert.equal(first.sandbox.state, 'starting');
    assert.deepEqual(kinds(steps), ['provision-worker', 'attach-eni', 'create-sandbox']);
    assert.equal(r.admission.concurrency(), 1);
    // The worker and ENI are still pending: the next placement waits for the same steps, creates neither.
    const more: Step[] = [];
    const second = r.placement.place(v, 'invocation', 1, more);
    assert.ok(second !== null && !second.narrow && !second.eniAttached);
    assert.equal(second.sandbox.worker, first.sandbox.worker);
    assert.deepEqual(kinds(more), ['provision-worker', 'attach-eni', 'create-sandbox']);
    assert.deepEqual([r.stats.workersCreated, r.stats.enisCreated], [1, 1]);
  });

  void test('the purpose decides the first state and the create-sandbox step', () => {
    const r = rooms({ hostMemoryMb: 3072 });
    const v = versionOf(r, spec('f', 128));
    const steps: Step[] = [];
    const p = r.placement.place(v, 'provisioned', 0, steps)!;
    const w = r.placement.place(v, 'prewarm', 0, steps)!;
    assert.equal(p.sandbox.state, 'starting-provisioned');
    assert.equal(w.sandbox.state, 'prewarming');
    assert.equal(v.provCount, 1);
    assert.equal(r.admission.concurrency(), 0, 'nobody waits for either');
    const creates = steps.filter((s) => s.kind === 'create-sandbox');
    assert.deepEqual(
      creates.map((s) => [s.provisioned, 'prewarm' in s ? s.prewarm : undefined]),
      [
        [true, undefined],
        [false, true],
      ],
    );
  });

  void test('best fit: the worker with the least free memory that fits', () => {
    const r = rooms({ hostMemoryMb: 3072 * 2 });
    const big = idleSandbox(r, spec('a', 2048), 0).worker;
    const r2 = r.placement.place(versionOf(r, spec('b', 2048)), 'invocation', 0, [])!;
    assert.notEqual(r2.sandbox.worker, big);
    // 1024 free on both; 512 goes to the older one, then 1024 free only on the other.
    assert.equal(r.placement.place(versionOf(r, spec('c', 512)), 'invocation', 0, [])!.sandbox.worker, big);
    assert.equal(r.placement.place(versionOf(r, spec('d', 1024)), 'invocation', 0, [])!.sandbox.worker, r2.sandbox.worker);
  });

  void test("eviction: only the target worker's LRU idle sandboxes go; another account's worker is retired and replaced", () => {
    const r = rooms({ hostMemoryMb: 3072, keepAliveMs: 10_000 });
    const b1 = idleSandbox(r, spec('b1', 1024, { account: 'B' }), 1);
    const b2 = idleSandbox(r, spec('b2', 1024, { account: 'B' }), 2);
    const steps: Step[] = [];
    const placed = r.placement.place(versionOf(r, spec('a', 1024, { account: 'A' })), 'invocation', 3, steps);
    assert.ok(placed !== null && placed.narrow, 'the replacement worker is new: a narrow cold start');
    assert.deepEqual(kinds(steps), ['stop-sandbox:evicted', 'stop-sandbox:evicted', 'retire-worker', 'provision-worker', 'create-sandbox']);
    assert.equal(b1.state, 'stopped');
    assert.equal(b2.state, 'stopped');
    assert.equal(r.placement.worker(b1.worker.id), undefined);
    assert.equal(r.stats.evictions, 2);
    // With every sandbox busy there is nothing to evict: no room.
    assert.equal(r.placement.place(versionOf(r, spec('a2', 3072, { account: 'A' })), 'invocation', 4, []), null);
  });

  void test('removing a sandbox frees its memory, marks it, and an emptied ready worker starts its idle period', () => {
    const r = rooms({ hostMemoryMb: 3072, workerIdleMs: 100 });
    const s = idleSandbox(r, spec('f', 512), 0);
    const w = s.worker;
    const steps: Step[] = [];
    r.placement.removeSandbox(s, 'discarded', steps, 5);
    assert.deepEqual(steps, [{ kind: 'stop-sandbox', sandboxId: s.id, reason: 'discarded' }]);
    assert.equal(s.state, 'failed');
    assert.equal(r.placement.sandbox(s.id), undefined);
    assert.deepEqual([w.usedMb, w.sandboxCount, w.idleCount, w.emptySince], [0, 0, 0, 5]);
    assert.equal(r.pool.firstEmpty(), w);
    assert.equal(r.admission.version(s.version.key), undefined, 'the version is forgotten with its last sandbox');
    // A retiring worker goes with its last sandbox.
    const t = idleSandbox(r, spec('g', 512), 6);
    assert.equal(t.worker, w);
    r.placement.setRetiring(w);
    const gone: Step[] = [];
    r.placement.removeSandbox(t, 'expired', gone, 7);
    assert.deepEqual(kinds(gone), ['stop-sandbox:expired', 'retire-worker']);
    assert.equal(t.state, 'stopped');
    assert.equal(r.placement.hosts[0]!.reservedMb, 0);
  });
});
