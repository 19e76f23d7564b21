import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Step } from '../../src/worker-manager/types.js';
import { kinds, spec } from './helpers.js';
import { idleSandbox, rooms } from './rooms.js';

void describe('ENIs, legacy mode', () => {
  void test('one ENI per (worker, vpcKey), indexed for placement with the worker’s free memory, deleted with it', () => {
    const r = rooms({ hostMemoryMb: 3072 * 2, vpcMode: 'legacy' });
    const s = idleSandbox(r, spec('f', 1024, { vpcKey: 'V' }), 0);
    const w = s.worker;
    const e = r.enis.onWorker(w, 'V')!;
    assert.ok(e.ready);
    assert.equal(r.enis.onWorker(w, 'other'), undefined);
    assert.equal(w.account.eniFit.get('V')?.bestFit(2048), w);
    assert.equal(w.account.eniFit.get('V')?.bestFit(2049), undefined);
    // A second vpcKey on the same worker is a second ENI.
    const e2 = r.enis.attachLegacy(w, 'W');
    assert.deepEqual(w.enis, [e, e2]);
    assert.deepEqual(r.enis.views().map((x) => [x.id, x.mode, x.state]), [
      [e.id, 'legacy', 'ready'],
      [e2.id, 'legacy', 'pending'],
    ]);
    const steps: Step[] = [];
    r.enis.detachLegacy(e2, steps);
    assert.deepEqual(steps, [{ kind: 'delete-eni', eniId: e2.id }]);
    assert.equal(r.enis.get(e2.id), undefined);
    assert.equal(w.account.eniFit.get('W')?.size, 0);
    // A retiring worker leaves the ENI indexes; removing it deletes its ENIs.
    r.enis.unindexWorker(w);
    assert.equal(w.account.eniFit.get('V')?.size, 0);
    const more: Step[] = [];
    r.enis.deleteWorkerEnis(w, more);
    assert.deepEqual(kinds(more), ['delete-eni']);
    assert.equal(w.enis.length, 0);
    assert.deepEqual([r.stats.enisCreated, r.stats.enisDeleted], [2, 2]);
  });

  void test('a failed attach drops the ENI from its worker; hyperplane calls are no-ops', () => {
    const r = rooms({ hostMemoryMb: 3072, vpcMode: 'legacy' });
    const s = idleSandbox(r, spec('f', 128), 0);
    const e = r.enis.attachLegacy(s.worker, 'V');
    const steps: Step[] = [];
    r.enis.failed(e, steps);
    assert.deepEqual(steps, [{ kind: 'delete-eni', eniId: e.id }]);
    assert.equal(r.enis.onWorker(s.worker, 'V'), undefined);
    assert.equal(r.enis.hyperplanePending('V'), false);
    assert.doesNotThrow(() => r.enis.requireHyperplaneReady('V'));
  });
});

void describe('ENIs, hyperplane mode', () => {
  void test('one ENI per vpcKey, shared by its functions, deleted when the last one leaves', () => {
    const r = rooms({ hostMemoryMb: 3072 });
    const steps: Step[] = [];
    r.enis.ensureHyperplane('f', 'V', steps);
    r.enis.ensureHyperplane('g', 'V', steps);
    assert.deepEqual(kinds(steps), ['attach-eni']);
    const id = (steps[0] as { eniId: string }).eniId;
    assert.equal(r.enis.hyperplaneState('V'), 'pending');
    assert.ok(r.enis.hyperplanePending('V'));
    assert.throws(() => r.enis.requireHyperplaneReady('V'), /hyperplane ENI for V is pending/);
    assert.throws(() => r.enis.requireHyperplaneReady('X'), /hyperplane ENI for X is missing/);
    r.enis.ready(r.enis.get(id)!);
    assert.equal(r.enis.hyperplaneState('V'), 'ready');
    assert.doesNotThrow(() => r.enis.requireHyperplaneReady('V'));
    assert.deepEqual(r.enis.views(), [{ id, vpcKey: 'V', mode: 'hyperplane', state: 'ready', functions: 2 }]);
    // f moves to W (a new ENI); V stays while g uses it, and goes with g.
    const moved: Step[] = [];
    r.enis.ensureHyperplane('f', 'W', moved);
    assert.deepEqual(kinds(moved), ['attach-eni']);
    const gone: Step[] = [];
    r.enis.ensureHyperplane('g', undefined, gone);
    assert.deepEqual(gone, [{ kind: 'delete-eni', eniId: id }]);
    assert.equal(r.enis.hyperplaneState('V'), undefined);
  });

  void test('a failed create is forgotten, so the next ensure creates a new ENI', () => {
    const r = rooms({ hostMemoryMb: 3072 });
    const steps: Step[] = [];
    r.enis.ensureHyperplane('f', 'V', steps);
    const first = r.enis.get((steps[0] as { eniId: string }).eniId)!;
    const cleanup: Step[] = [];
    r.enis.failed(first, cleanup);
    assert.deepEqual(cleanup, [{ kind: 'delete-eni', eniId: first.id }]);
    assert.equal(r.enis.hyperplaneState('V'), undefined);
    const again: Step[] = [];
    r.enis.ensureHyperplane('f', 'V', again);
    assert.equal(again.length, 1);
    assert.notEqual((again[0] as { eniId: string }).eniId, first.id);
  });
});
