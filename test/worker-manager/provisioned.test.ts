import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Step } from '../../src/worker-manager/types.js';
import { kinds, spec } from './helpers.js';
import { rooms, versionOf } from './rooms.js';

void describe('provisioned concurrency', () => {
  void test('raising places provisioned sandboxes; lowering stops idle ones and turns the rest on-demand', () => {
    const r = rooms({ hostMemoryMb: 3072 });
    const f = spec('f', 512);
    const steps: Step[] = [];
    r.provisioned.set(f, 3, 0, steps);
    // Each placement into the still-provisioning worker names its provision-worker step (the fleet memoizes it).
    assert.deepEqual(kinds(steps), ['provision-worker', 'create-sandbox', 'provision-worker', 'create-sandbox', 'provision-worker', 'create-sandbox']);
    assert.equal(r.stats.provisionedCreated, 3);
    const v = versionOf(r, f);
    const [a, b, c] = [...v.all.items()];
    r.placement.workerReady(a!.worker, 1);
    // a idle, b busy, c still initializing.
    a!.state = 'idle-provisioned';
    r.pool.link(a!, 1);
    b!.state = 'busy-provisioned';
    const lower: Step[] = [];
    r.provisioned.set(f, 0, 2, lower);
    assert.deepEqual(lower, [{ kind: 'stop-sandbox', sandboxId: a!.id, reason: 'retired' }]);
    assert.deepEqual([b!.state, c!.state], ['busy', 'prewarming']);
    assert.equal(v.provCount, 0);
  });

  void test('what cannot be placed now is a deficit, refilled when room appears', () => {
    const r = rooms({ hostMemoryMb: 3072, workerMemoryMb: 3072 });
    const big = spec('big', 3072);
    const blocker = r.placement.place(versionOf(r, big), 'invocation', 0, [])!.sandbox;
    const f = spec('f', 1024);
    const steps: Step[] = [];
    r.provisioned.set(f, 1, 1, steps);
    assert.deepEqual(steps, []);
    const v = versionOf(r, f);
    assert.ok(v.inDeficit);
    r.provisioned.refillDeficits(2, steps);
    assert.deepEqual(steps, []);
    r.placement.removeSandbox(blocker, 'discarded', steps, 3);
    const refill: Step[] = [];
    r.provisioned.refillDeficits(4, refill);
    assert.deepEqual(kinds(refill), ['provision-worker', 'create-sandbox']);
    assert.ok(!v.inDeficit);
    // Losing a provisioned sandbox puts the version back in deficit (placement tells this room).
    const [p] = [...v.all.items()];
    r.placement.removeSandbox(p!, 'failed', [], 5);
    assert.ok(v.inDeficit);
  });

  void test('a hyperplane VPC version waits for its ENI instead of throwing', () => {
    const r = rooms({ hostMemoryMb: 3072 });
    const f = spec('f', 128, { vpcKey: 'V' });
    const eni: Step[] = [];
    r.enis.ensureHyperplane(f.functionKey, 'V', eni);
    const steps: Step[] = [];
    r.provisioned.set(f, 1, 0, steps);
    assert.deepEqual(steps, []);
    assert.ok(versionOf(r, f).inDeficit);
    r.enis.ready(r.enis.get((eni[0] as { eniId: string }).eniId)!);
    r.provisioned.refillDeficits(1, steps);
    assert.deepEqual(kinds(steps), ['provision-worker', 'create-sandbox']);
  });
});
