import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { WorkerManager } from '../../src/worker-manager/worker-manager.js';
import { parsePlacementOptions, placementOptionsSchema } from '../../src/worker-manager/types.js';
import { cold, complete, invoke, kinds, spec, warm } from './helpers.js';

const BIG = 1_000_000; // host memory that never runs out

void describe('options', () => {
  void test('defaults applied and frozen', () => {
    const o = parsePlacementOptions({ hostMemoryMb: 8192 });
    assert.deepEqual(o, {
      hostMemoryMb: 8192,
      hostCount: 1,
      workerMemoryMb: 3072,
      keepAliveMs: 600_000,
      workerIdleMs: 300_000,
      accountConcurrency: 1000,
      vpcMode: 'hyperplane',
    });
    assert.ok(Object.isFrozen(o));
    assert.ok(Object.isFrozen(new WorkerManager({ hostMemoryMb: 8192 }).options));
  });
  void test('invalid options rejected', () => {
    assert.equal(placementOptionsSchema.safeParse({ hostMemoryMb: 1000 }).success, false); // smaller than a worker
    assert.equal(placementOptionsSchema.safeParse({ hostMemoryMb: 8192, vpcMode: 'eni' }).success, false);
    assert.equal(placementOptionsSchema.safeParse({ hostMemoryMb: 8192, bogus: 1 }).success, false);
    assert.throws(() => new WorkerManager({ hostMemoryMb: 8192, workerMemoryMb: 0 }));
  });
  void test('memory larger than a worker is rejected', () => {
    const wm = new WorkerManager({ hostMemoryMb: BIG });
    assert.throws(() => wm.acquire(spec('f', 4096), 0), RangeError);
  });
});

void describe('warm and cold', () => {
  void test('warm before cold, same sandbox reused', () => {
    const wm = new WorkerManager({ hostMemoryMb: BIG });
    const f = spec('f', 128);
    const d1 = cold(wm.acquire(f, 0));
    assert.deepEqual(kinds(d1.steps), ['provision-worker', 'create-sandbox']);
    assert.equal(d1.narrow, true);
    assert.equal(d1.eniAttached, false);
    complete(wm, d1.steps, 10);
    assert.deepEqual(wm.release(d1.sandboxId, 20), []);
    const d2 = warm(wm.acquire(f, 30));
    assert.equal(d2.sandboxId, d1.sandboxId);
    assert.equal(d2.workerId, d1.workerId);
    const c = wm.counters();
    assert.equal(c.coldStarts, 1);
    assert.equal(c.warmStarts, 1);
    assert.equal(c.narrowColdStarts, 1);
  });

  void test('a busy sandbox is not reused: concurrent invokes go cold in the same worker', () => {
    const wm = new WorkerManager({ hostMemoryMb: BIG });
    const f = spec('f', 128);
    const d1 = cold(wm.acquire(f, 0));
    const d2 = cold(wm.acquire(f, 1));
    assert.equal(d2.workerId, d1.workerId);
    assert.equal(d2.narrow, false);
    // The worker is still provisioning: the second decision awaits the same provision step.
    assert.deepEqual(kinds(d2.steps), ['provision-worker', 'create-sandbox']);
    assert.deepEqual(d2.steps[0], d1.steps[0]);
    assert.equal(wm.concurrency(f.functionKey), 2);
  });

  void test('a new revision (versionKey) does not reuse idle sandboxes of the old one', () => {
    const wm = new WorkerManager({ hostMemoryMb: BIG });
    const f1 = spec('f', 128);
    const id = invoke(wm, f1, 0);
    wm.release(id, 1);
    const f2 = { ...f1, versionKey: f1.versionKey.replace('#1', '#2') };
    const d = cold(wm.acquire(f2, 2));
    assert.notEqual(d.sandboxId, id);
    assert.deepEqual(kinds(d.steps), ['create-sandbox']);
  });

  void test('MRU: the most recently released idle sandbox is taken, the others age out', () => {
    const wm = new WorkerManager({ hostMemoryMb: BIG, keepAliveMs: 1000 });
    const f = spec('f', 128);
    const a = invoke(wm, f, 0);
    const b = invoke(wm, f, 0);
    const c = invoke(wm, f, 0);
    wm.release(a, 10);
    wm.release(c, 20);
    wm.release(b, 30);
    assert.equal(warm(wm.acquire(f, 40)).sandboxId, b);
    wm.release(b, 50);
    assert.equal(warm(wm.acquire(f, 60)).sandboxId, b);
    wm.release(b, 70);
    assert.equal(wm.nextDeadline(), 1010);
    const steps = wm.tick(1020);
    assert.deepEqual(steps, [
      { kind: 'stop-sandbox', sandboxId: a, reason: 'expired' },
      { kind: 'stop-sandbox', sandboxId: c, reason: 'expired' },
    ]);
    assert.equal(warm(wm.acquire(f, 1030)).sandboxId, b);
  });

  void test('best fit: the worker with the least free memory that still fits', () => {
    const wm = new WorkerManager({ hostMemoryMb: BIG, workerMemoryMb: 1000 });
    const x = spec('x', 600);
    const w1 = cold(wm.acquire(x, 0)).workerId;
    const w2 = cold(wm.acquire(x, 0)).workerId; // x is busy: second worker
    assert.notEqual(w1, w2);
    assert.equal(cold(wm.acquire(spec('z', 200), 0)).workerId, w1); // tie (400 free each): oldest first; w1 now 200 free
    assert.equal(cold(wm.acquire(spec('w', 150), 0)).workerId, w1); // 200 free beats 400 free
    assert.equal(cold(wm.acquire(spec('v', 150), 0)).workerId, w2); // w1 has 50 left
    assert.equal(cold(wm.acquire(spec('u', 250), 0)).workerId, w2); // w2: 250 left, exact fit
    const d = cold(wm.acquire(spec('t', 50), 0));
    assert.equal(d.workerId, w1); // w1 50 free, w2 0 free
    assert.equal(wm.counters().workersCreated, 2);
  });

  void test('sandboxes fill a worker, then a new worker is provisioned (narrow)', () => {
    const wm = new WorkerManager({ hostMemoryMb: BIG });
    const f = spec('f', 1024);
    const ds = [0, 1, 2, 3].map(() => cold(wm.acquire(f, 0)));
    assert.deepEqual(ds.map((d) => d.narrow), [true, false, false, true]);
    assert.equal(ds[0]!.workerId, ds[2]!.workerId);
    assert.notEqual(ds[0]!.workerId, ds[3]!.workerId);
  });

  void test('two accounts never share a worker', () => {
    const wm = new WorkerManager({ hostMemoryMb: BIG });
    const a = cold(wm.acquire(spec('f', 128, { account: '111111111111' }), 0));
    const b = cold(wm.acquire(spec('f', 128, { account: '222222222222' }), 0));
    assert.notEqual(a.workerId, b.workerId);
    assert.equal(b.narrow, true);
    const v = wm.view();
    assert.deepEqual(v.workers.map((w) => w.account), ['111111111111', '222222222222']);
  });
});

void describe('legacy VPC ENIs (the seed model)', () => {
  const vpc = 'subnet-1,subnet-2|sg-1';

  void test('ten 128 MB VPC functions of one account: 1 worker, 1 ENI, only the first cold start is narrow', () => {
    const wm = new WorkerManager({ hostMemoryMb: BIG, vpcMode: 'legacy' });
    const ds = [];
    for (let i = 0; i < 10; i++) {
      const f = spec(`fn${i}`, 128, { vpcKey: vpc });
      const d = cold(wm.acquire(f, i * 1000));
      complete(wm, d.steps, i * 1000 + 500);
      wm.release(d.sandboxId, i * 1000 + 600);
      ds.push(d);
    }
    assert.deepEqual(ds.map((d) => d.narrow), [true, false, false, false, false, false, false, false, false, false]);
    assert.deepEqual(ds.map((d) => d.eniAttached), [true, false, false, false, false, false, false, false, false, false]);
    assert.deepEqual(kinds(ds[0]!.steps), ['provision-worker', 'attach-eni', 'create-sandbox']);
    assert.deepEqual(kinds(ds[1]!.steps), ['create-sandbox']);
    const c = wm.counters();
    assert.equal(c.workersCreated, 1);
    assert.equal(c.enisCreated, 1);
    assert.equal(c.coldStarts, 10);
    assert.equal(c.narrowColdStarts, 1);
  });

  void test('ten 128 MB VPC functions invoked at once share the pending worker and ENI', () => {
    const wm = new WorkerManager({ hostMemoryMb: BIG, vpcMode: 'legacy' });
    const ds = [];
    for (let i = 0; i < 10; i++) ds.push(cold(wm.acquire(spec(`fn${i}`, 128, { vpcKey: vpc }), 0)));
    assert.equal(ds.filter((d) => d.narrow).length, 1);
    assert.equal(ds.filter((d) => d.eniAttached).length, 1);
    // Later decisions still list the pending prerequisites (same ids) so they wait for them.
    assert.deepEqual(kinds(ds[9]!.steps), ['provision-worker', 'attach-eni', 'create-sandbox']);
    assert.deepEqual(ds[9]!.steps.slice(0, 2), ds[0]!.steps.slice(0, 2));
    assert.equal(wm.view().enis.length, 1);
  });

  void test('ten 3008 MB VPC functions: 10 workers, 10 ENIs, every start narrow', () => {
    const wm = new WorkerManager({ hostMemoryMb: BIG, vpcMode: 'legacy' });
    for (let i = 0; i < 10; i++) {
      const d = cold(wm.acquire(spec(`fn${i}`, 3008, { vpcKey: vpc }), i));
      assert.equal(d.narrow, true);
      assert.equal(d.eniAttached, true);
      complete(wm, d.steps, i);
      wm.release(d.sandboxId, i);
    }
    const c = wm.counters();
    assert.equal(c.workersCreated, 10);
    assert.equal(c.enisCreated, 10);
  });

  void test('no VPC: no ENI', () => {
    const wm = new WorkerManager({ hostMemoryMb: BIG, vpcMode: 'legacy' });
    for (let i = 0; i < 10; i++) {
      const d = cold(wm.acquire(spec(`fn${i}`, 3008), i));
      assert.deepEqual(kinds(d.steps), ['provision-worker', 'create-sandbox']);
      assert.equal(d.eniAttached, false);
    }
    assert.equal(wm.counters().enisCreated, 0);
    assert.equal(wm.view().enis.length, 0);
  });

  void test('a worker that already has the ENI is preferred over a better fit without it', () => {
    const wm = new WorkerManager({ hostMemoryMb: BIG, vpcMode: 'legacy' });
    const w1 = cold(wm.acquire(spec('n', 2000), 0)).workerId; // w1: 1072 free
    const v = spec('v', 128, { vpcKey: vpc });
    const d1 = cold(wm.acquire(v, 0));
    assert.equal(d1.workerId, w1); // w1: 944 free, has the ENI
    assert.equal(d1.eniAttached, true);
    const w2 = cold(wm.acquire(spec('m', 2900), 0)).workerId; // w2: 172 free
    assert.notEqual(w2, w1);
    const d2 = cold(wm.acquire(v, 0)); // v is busy: cold again
    assert.equal(d2.workerId, w1); // has (is attaching) the ENI, although w2 is the better fit
    assert.equal(d2.eniAttached, false);
    assert.deepEqual(kinds(d2.steps), ['provision-worker', 'attach-eni', 'create-sandbox']);
    assert.equal(cold(wm.acquire(spec('o', 128), 0)).workerId, w2); // non-VPC: plain best fit
    assert.equal(wm.counters().enisCreated, 1);
  });

  void test('an idle worker is retired after workerIdleMs with its ENI', () => {
    const wm = new WorkerManager({ hostMemoryMb: BIG, vpcMode: 'legacy', keepAliveMs: 1000, workerIdleMs: 5000 });
    const d = cold(wm.acquire(spec('v', 128, { vpcKey: vpc }), 0));
    complete(wm, d.steps, 100);
    wm.release(d.sandboxId, 200);
    assert.equal(wm.nextDeadline(), 1200);
    assert.deepEqual(kinds(wm.tick(1199)), []);
    assert.deepEqual(kinds(wm.tick(1200)), ['stop-sandbox:expired']);
    assert.equal(wm.nextDeadline(), 6200);
    assert.deepEqual(wm.tick(6199), []);
    const eniId = wm.view().enis[0]!.id;
    assert.deepEqual(wm.tick(6200), [
      { kind: 'delete-eni', eniId },
      { kind: 'retire-worker', workerId: d.workerId },
    ]);
    assert.equal(wm.nextDeadline(), undefined);
    const v = wm.view();
    assert.equal(v.workers.length, 0);
    assert.equal(v.enis.length, 0);
    assert.equal(v.hosts[0]!.reservedMb, 0);
  });

  void test('a late tick does everything due, in time order', () => {
    const wm = new WorkerManager({ hostMemoryMb: BIG, vpcMode: 'legacy', keepAliveMs: 1000, workerIdleMs: 5000 });
    const id = invoke(wm, spec('v', 128, { vpcKey: vpc }), 0);
    wm.release(id, 0);
    assert.deepEqual(kinds(wm.tick(100_000)), ['stop-sandbox:expired', 'delete-eni', 'retire-worker']);
  });

  void test('a worker that gets a sandbox again is not retired', () => {
    const wm = new WorkerManager({ hostMemoryMb: BIG, keepAliveMs: 1000, workerIdleMs: 5000 });
    const f = spec('f', 128);
    const id = invoke(wm, f, 0);
    wm.release(id, 0);
    wm.tick(1000); // expired, worker empty since 1000
    const d = cold(wm.acquire(f, 2000));
    assert.equal(d.narrow, false);
    assert.deepEqual(wm.tick(6000), []);
    assert.equal(wm.nextDeadline(), undefined);
  });
});

void describe('eviction when the host is full', () => {
  void test("another account's LRU idle sandboxes are evicted and its emptied worker retired", () => {
    const wm = new WorkerManager({ hostMemoryMb: 3072 }); // one worker fits
    const a1 = spec('a1', 1024, { account: 'A' });
    const a2 = spec('a2', 1024, { account: 'A' });
    const x = invoke(wm, a1, 0);
    const y = invoke(wm, a2, 0);
    wm.release(y, 10);
    wm.release(x, 20);
    const d = cold(wm.acquire(spec('b', 128, { account: 'B' }), 30));
    assert.deepEqual(kinds(d.steps), ['stop-sandbox:evicted', 'stop-sandbox:evicted', 'retire-worker', 'provision-worker', 'create-sandbox']);
    assert.deepEqual(
      d.steps.slice(0, 2).map((s) => s.kind === 'stop-sandbox' && s.sandboxId),
      [y, x], // least recently used first
    );
    assert.equal(d.narrow, true);
    const v = wm.view();
    assert.deepEqual(v.workers.map((w) => w.account), ['B']);
    assert.equal(wm.counters().evictions, 2);
  });

  void test('an own worker frees just enough: only the LRU idle sandboxes needed are evicted', () => {
    const wm = new WorkerManager({ hostMemoryMb: 3072 });
    const f = spec('f', 1024, { account: 'A' });
    const ids = [invoke(wm, f, 0), invoke(wm, f, 0), invoke(wm, f, 0)];
    wm.release(ids[2]!, 10);
    wm.release(ids[0]!, 20);
    wm.release(ids[1]!, 30);
    const d = cold(wm.acquire(spec('g', 1000, { account: 'A' }), 40));
    assert.deepEqual(d.steps, [
      { kind: 'stop-sandbox', sandboxId: ids[2], reason: 'evicted' },
      { kind: 'create-sandbox', sandboxId: d.sandboxId, workerId: d.workerId, versionKey: spec('g', 1000, { account: 'A' }).versionKey, memoryMb: 1000, provisioned: false },
    ]);
    assert.equal(d.narrow, false);
    assert.equal(wm.view().sandboxes.length, 3);
  });

  void test('an empty worker of another account is retired before any eviction', () => {
    const wm = new WorkerManager({ hostMemoryMb: 6144, keepAliveMs: 100 });
    const a = invoke(wm, spec('a', 1024, { account: 'A' }), 0);
    wm.release(a, 0);
    wm.tick(100); // A's worker is empty now
    const c = invoke(wm, spec('c', 1024, { account: 'C' }), 200);
    wm.release(c, 200); // C idle sandbox: evictable but not needed
    const d = cold(wm.acquire(spec('b', 1024, { account: 'B' }), 300));
    assert.deepEqual(kinds(d.steps), ['retire-worker', 'provision-worker', 'create-sandbox']);
    assert.equal(wm.counters().evictions, 0);
  });

  void test('busy sandboxes are never evicted: throttle (capacity)', () => {
    const wm = new WorkerManager({ hostMemoryMb: 3072 });
    invoke(wm, spec('a', 3072, { account: 'A' }), 0);
    const d = wm.acquire(spec('b', 128, { account: 'B' }), 1);
    assert.deepEqual(d, { kind: 'throttle', reason: 'ConcurrentInvocationLimitExceeded', capacity: true });
    assert.equal(wm.counters().throttles, 1);
  });

  void test('a worker with a busy sandbox cannot be reclaimed; other idle sandboxes stay', () => {
    const wm = new WorkerManager({ hostMemoryMb: 3072 });
    invoke(wm, spec('a1', 1024, { account: 'A' }), 0);
    const idle = invoke(wm, spec('a2', 1024, { account: 'A' }), 0);
    wm.release(idle, 1);
    assert.equal(wm.acquire(spec('b', 128, { account: 'B' }), 2).kind, 'throttle');
    assert.equal(wm.view().sandboxes.length, 2);
  });

  void test('provisioned sandboxes are never evicted', () => {
    const wm = new WorkerManager({ hostMemoryMb: 3072 });
    const steps = wm.setProvisioned(spec('a', 1024, { account: 'A' }), 1, 0);
    complete(wm, steps, 0);
    assert.equal(wm.acquire(spec('b', 128, { account: 'B' }), 1).kind, 'throttle');
  });
});

void describe('concurrency limits', () => {
  void test('account limit: ConcurrentInvocationLimitExceeded', () => {
    const wm = new WorkerManager({ hostMemoryMb: BIG, accountConcurrency: 2 });
    const f = spec('f', 128);
    const a = invoke(wm, f, 0);
    invoke(wm, spec('g', 128), 0);
    assert.deepEqual(wm.acquire(f, 1), { kind: 'throttle', reason: 'ConcurrentInvocationLimitExceeded', capacity: false });
    assert.equal(wm.accountInFlight('111111111111'), 2);
    assert.equal(wm.concurrency(), 2);
    wm.release(a, 2);
    assert.equal(warm(wm.acquire(f, 3)).sandboxId, a);
    // Another account has its own limit.
    assert.equal(wm.acquire(spec('f', 128, { account: '222222222222' }), 4).kind, 'cold');
  });

  void test('reserved concurrency limits the function; 0 blocks', () => {
    const wm = new WorkerManager({ hostMemoryMb: BIG });
    const r = spec('r', 128, { reservedConcurrency: 1 });
    invoke(wm, r, 0);
    assert.deepEqual(wm.acquire(r, 1), {
      kind: 'throttle',
      reason: 'ReservedFunctionConcurrentInvocationLimitExceeded',
      capacity: false,
    });
    assert.equal(wm.acquire(spec('z', 128, { reservedConcurrency: 0 }), 2).kind, 'throttle');
    assert.equal(wm.concurrency(r.functionKey), 1);
  });

  void test('reservations shrink the unreserved pool of the other functions', () => {
    const wm = new WorkerManager({ hostMemoryMb: BIG, accountConcurrency: 10 });
    wm.setReservedConcurrency(spec('r', 128).functionKey, '111111111111', 8);
    const u = spec('u', 128);
    invoke(wm, u, 0);
    invoke(wm, u, 0);
    const d = wm.acquire(u, 1);
    assert.equal(d.kind === 'throttle' && d.reason, 'ConcurrentInvocationLimitExceeded');
    // The reserved function still has its 8.
    const r = spec('r', 128, { reservedConcurrency: 8 });
    for (let i = 0; i < 8; i++) invoke(wm, r, 2);
    const d2 = wm.acquire(r, 3);
    assert.equal(d2.kind === 'throttle' && d2.reason, 'ReservedFunctionConcurrentInvocationLimitExceeded');
    // Removing the reservation returns its share to the pool (r's 8 in flight now count there).
    wm.setReservedConcurrency(r.functionKey, '111111111111', undefined);
    assert.equal(wm.acquire(u, 4).kind, 'throttle'); // 10 in flight of a pool of 10
  });
});

void describe('provisioned concurrency', () => {
  void test('used first, kept past keep-alive, lowered and removed', () => {
    const wm = new WorkerManager({ hostMemoryMb: BIG, keepAliveMs: 1000 });
    const f = spec('f', 512);
    const od = invoke(wm, f, 0); // an on-demand sandbox
    const steps = wm.setProvisioned(f, 2, 0);
    assert.deepEqual(kinds(steps), ['create-sandbox', 'create-sandbox']);
    assert.ok(steps.every((s) => s.kind !== 'create-sandbox' || s.provisioned));
    assert.equal(wm.concurrency(f.functionKey), 1); // provisioned init is not an invocation
    complete(wm, steps, 10);
    wm.release(od, 20); // the on-demand one is now the most recently used
    const p = warm(wm.acquire(f, 30)).sandboxId;
    assert.notEqual(p, od);
    assert.equal(wm.describeSandbox(p)!.provisioned, true);
    wm.release(p, 40);
    const steps2 = wm.tick(100_000);
    assert.deepEqual(steps2, [{ kind: 'stop-sandbox', sandboxId: od, reason: 'expired' }]);
    assert.equal(wm.view().sandboxes.filter((s) => s.provisioned && s.state === 'idle').length, 2);
    assert.equal(wm.counters().provisionedCreated, 2);
    // Lower to 1 while one is busy: the idle one is stopped, the busy one stays provisioned.
    const busy = warm(wm.acquire(f, 100_001)).sandboxId;
    assert.deepEqual(kinds(wm.setProvisioned(f, 1, 100_002)), ['stop-sandbox:retired']);
    assert.equal(wm.describeSandbox(busy)!.provisioned, true);
    // To 0: the busy one becomes an ordinary sandbox, idle with keep-alive after release.
    assert.deepEqual(wm.setProvisioned(f, 0, 100_003), []);
    assert.equal(wm.describeSandbox(busy)!.provisioned, false);
    wm.release(busy, 100_004);
    assert.equal(wm.nextDeadline(), 101_004);
  });

  void test('a discarded provisioned sandbox is replaced at once', () => {
    const wm = new WorkerManager({ hostMemoryMb: BIG });
    const f = spec('f', 512);
    complete(wm, wm.setProvisioned(f, 1, 0), 0);
    const p = warm(wm.acquire(f, 1)).sandboxId;
    const steps = wm.discard(p, 2);
    assert.deepEqual(kinds(steps), ['stop-sandbox:discarded', 'create-sandbox']);
    assert.equal(wm.concurrency(f.functionKey), 0);
  });

  void test('what does not fit is retried by tick()', () => {
    const wm = new WorkerManager({ hostMemoryMb: 3072 });
    const blocker = invoke(wm, spec('b', 3072, { account: 'B' }), 0);
    const f = spec('f', 512);
    assert.deepEqual(wm.setProvisioned(f, 1, 0), []);
    assert.deepEqual(wm.tick(1), []);
    wm.discard(blocker, 2);
    assert.deepEqual(kinds(wm.tick(3)), ['retire-worker', 'provision-worker', 'create-sandbox']);
    assert.deepEqual(wm.tick(4), []);
  });
});

void describe('retire()', () => {
  void test('idle sandboxes stopped now, busy ones on release', () => {
    const wm = new WorkerManager({ hostMemoryMb: BIG });
    const f = spec('f', 128);
    const g = spec('g', 128);
    const idle = invoke(wm, f, 0);
    const busy = invoke(wm, f, 0);
    const other = invoke(wm, g, 0);
    wm.release(idle, 1);
    wm.release(other, 1);
    const steps = wm.retire((s) => s.functionKey === f.functionKey, 2);
    assert.deepEqual(steps, [{ kind: 'stop-sandbox', sandboxId: idle, reason: 'retired' }]);
    assert.equal(wm.describeSandbox(busy)!.retired, true);
    assert.deepEqual(wm.release(busy, 3), [{ kind: 'stop-sandbox', sandboxId: busy, reason: 'retired' }]);
    // The next invoke of the function starts cold; g is untouched.
    assert.equal(wm.acquire(f, 4).kind, 'cold');
    assert.equal(warm(wm.acquire(g, 5)).sandboxId, other);
  });

  void test('an initializing sandbox finishes its invocation, then stops; provisioned dropped', () => {
    const wm = new WorkerManager({ hostMemoryMb: BIG });
    const f = spec('f', 128);
    const d = cold(wm.acquire(f, 0));
    const prov = wm.setProvisioned(f, 1, 0);
    wm.retire(() => true, 1);
    assert.deepEqual(complete(wm, prov, 2), [{ kind: 'stop-sandbox', sandboxId: (prov.at(-1) as { sandboxId: string }).sandboxId, reason: 'retired' }]);
    complete(wm, d.steps, 2);
    assert.equal(wm.describeSandbox(d.sandboxId)!.state, 'busy');
    assert.deepEqual(kinds(wm.release(d.sandboxId, 3)), ['stop-sandbox:retired']);
    assert.deepEqual(wm.tick(4), []); // no provisioned refill
    assert.equal(wm.view().sandboxes.length, 0);
  });
});

void describe('hyperplane ENIs', () => {
  void test('one per vpcKey, made at create, shared, deleted when no function uses it', () => {
    const wm = new WorkerManager({ hostMemoryMb: BIG });
    const f1 = spec('f1', 128, { vpcKey: 'A' });
    const f2 = spec('f2', 3008, { vpcKey: 'A' });
    const s1 = wm.ensureHyperplaneEni(f1.functionKey, 'A', 0);
    assert.equal(s1.length, 1);
    const create = s1[0]!;
    assert.ok(create.kind === 'attach-eni' && create.workerId === undefined && create.vpcKey === 'A');
    assert.deepEqual(wm.ensureHyperplaneEni(f2.functionKey, 'A', 0), []);
    assert.deepEqual(wm.ensureHyperplaneEni(f1.functionKey, 'A', 0), []); // idempotent
    assert.equal(wm.hyperplaneEniState('A'), 'pending');
    assert.throws(() => wm.acquire(f1, 1), /pending/);
    wm.eniReady(create.eniId, 2);
    assert.equal(wm.hyperplaneEniState('A'), 'ready');
    for (let i = 0; i < 5; i++) {
      const d = cold(wm.acquire(f2, 3));
      assert.deepEqual(kinds(d.steps), ['provision-worker', 'create-sandbox']);
      assert.equal(d.eniAttached, false);
    }
    // f1 moves to B: A is still used by f2.
    const s2 = wm.ensureHyperplaneEni(f1.functionKey, 'B', 4);
    assert.deepEqual(kinds(s2), ['attach-eni']);
    // f2 deleted: A is unused.
    assert.deepEqual(wm.ensureHyperplaneEni(f2.functionKey, undefined, 5), [{ kind: 'delete-eni', eniId: create.eniId }]);
    assert.equal(wm.hyperplaneEniState('A'), undefined);
    assert.equal(wm.counters().enisCreated, 2);
    const v = wm.view();
    assert.deepEqual(v.enis.map((e) => [e.vpcKey, e.mode, e.functions]), [['B', 'hyperplane', 1]]);
  });

  void test('provisioned concurrency of a Pending VPC function waits for its ENI', () => {
    const wm = new WorkerManager({ hostMemoryMb: BIG });
    const f = spec('f', 128, { vpcKey: 'A' });
    const [c] = wm.ensureHyperplaneEni(f.functionKey, 'A', 0);
    assert.deepEqual(wm.setProvisioned(f, 1, 0), []);
    assert.deepEqual(wm.tick(1), []);
    assert.ok(c?.kind === 'attach-eni');
    wm.eniReady(c.eniId, 2);
    assert.deepEqual(kinds(wm.tick(3)), ['provision-worker', 'create-sandbox']);
  });

  void test('a failed ENI is made again by the next ensure', () => {
    const wm = new WorkerManager({ hostMemoryMb: BIG });
    const [c] = wm.ensureHyperplaneEni('fn', 'A', 0);
    assert.ok(c?.kind === 'attach-eni');
    assert.deepEqual(wm.eniFailed(c.eniId, 1), [{ kind: 'delete-eni', eniId: c.eniId }]);
    assert.deepEqual(kinds(wm.ensureHyperplaneEni('fn', 'A', 2)), ['attach-eni']);
  });

  void test('legacy mode ignores hyperplane calls', () => {
    const wm = new WorkerManager({ hostMemoryMb: BIG, vpcMode: 'legacy' });
    assert.deepEqual(wm.ensureHyperplaneEni('fn', 'A', 0), []);
    assert.equal(wm.hyperplaneEniState('A'), undefined);
  });
});

void describe('failed() and discard()', () => {
  void test('discard frees memory; the worker then idles toward retirement', () => {
    const wm = new WorkerManager({ hostMemoryMb: BIG, workerIdleMs: 100 });
    const f = spec('f', 1024);
    const id = invoke(wm, f, 0);
    assert.equal(wm.view().workers[0]!.usedMb, 1024);
    assert.deepEqual(wm.discard(id, 5), [{ kind: 'stop-sandbox', sandboxId: id, reason: 'discarded' }]);
    const v = wm.view();
    assert.equal(v.workers[0]!.usedMb, 0);
    assert.equal(v.sandboxes.length, 0);
    assert.equal(wm.concurrency(), 0);
    assert.equal(wm.nextDeadline(), 105);
    assert.deepEqual(wm.discard(id, 6), []); // late duplicate report
  });

  void test('failed create-sandbox frees memory and the invocation slot', () => {
    const wm = new WorkerManager({ hostMemoryMb: BIG });
    const f = spec('f', 1024);
    const d = cold(wm.acquire(f, 0));
    wm.workerReady(d.workerId, 1);
    assert.deepEqual(wm.failed(d.sandboxId, 2), [{ kind: 'stop-sandbox', sandboxId: d.sandboxId, reason: 'failed' }]);
    assert.equal(wm.view().workers[0]!.usedMb, 0);
    assert.equal(wm.concurrency(), 0);
  });

  void test('failed while the worker provisions: the worker is retired once its reserved sandboxes failed', () => {
    const wm = new WorkerManager({ hostMemoryMb: BIG, vpcMode: 'legacy' });
    const f = spec('f', 128, { vpcKey: 'V' });
    const d1 = cold(wm.acquire(f, 0));
    const d2 = cold(wm.acquire(f, 0));
    assert.deepEqual(kinds(wm.failed(d1.sandboxId, 1)), ['stop-sandbox:failed']);
    // The broken worker takes no new sandbox.
    const d3 = cold(wm.acquire(f, 1));
    assert.notEqual(d3.workerId, d1.workerId);
    assert.equal(d3.narrow, true);
    assert.deepEqual(kinds(wm.failed(d2.sandboxId, 2)), ['stop-sandbox:failed', 'delete-eni', 'retire-worker']);
    assert.equal(wm.view().hosts[0]!.reservedMb, 3072);
  });

  void test('failed while the legacy ENI attaches: the ENI is dropped and attached anew next time', () => {
    const wm = new WorkerManager({ hostMemoryMb: BIG, vpcMode: 'legacy' });
    const f = spec('f', 128, { vpcKey: 'V' });
    const d1 = cold(wm.acquire(f, 0));
    wm.workerReady(d1.workerId, 1);
    assert.deepEqual(kinds(wm.failed(d1.sandboxId, 2)), ['stop-sandbox:failed', 'delete-eni']);
    const d2 = cold(wm.acquire(f, 3));
    assert.equal(d2.workerId, d1.workerId);
    assert.equal(d2.eniAttached, true);
    assert.deepEqual(kinds(d2.steps), ['attach-eni', 'create-sandbox']);
  });

  void test('reports in the wrong state throw', () => {
    const wm = new WorkerManager({ hostMemoryMb: BIG });
    const d = cold(wm.acquire(spec('f', 128), 0));
    assert.throws(() => wm.release(d.sandboxId, 1), /not busy/);
    complete(wm, d.steps, 1);
    assert.throws(() => wm.ready(d.sandboxId, 2), /not initializing/);
  });
});

void describe('time', () => {
  void test('now never goes backwards', () => {
    const wm = new WorkerManager({ hostMemoryMb: BIG, keepAliveMs: 100 });
    const id = invoke(wm, spec('f', 128), 1000);
    wm.release(id, 500); // treated as 1000
    assert.equal(wm.nextDeadline(), 1100);
    assert.equal(wm.view().now, 1000);
  });

  void test('determinism: same calls, same decisions and view', () => {
    const run = () => {
      const wm = new WorkerManager({ hostMemoryMb: 9216, vpcMode: 'legacy', keepAliveMs: 50 });
      const out: unknown[] = [];
      for (let i = 0; i < 50; i++) {
        const d = wm.acquire(spec(`f${i % 7}`, 128 * (1 + (i % 5)), { account: `a${i % 3}`, vpcKey: i % 2 ? 'V' : undefined }), i * 10);
        out.push(d);
        if (d.kind === 'cold') complete(wm, d.steps, i * 10 + 1);
        if (d.kind !== 'throttle' && i % 3 !== 0) out.push(wm.release(d.sandboxId, i * 10 + 2));
        out.push(wm.tick(i * 10 + 3));
      }
      return { out, view: wm.view() };
    };
    assert.deepEqual(run(), run());
  });
});
