import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { spec } from './helpers.js';
import { rooms, versionOf } from './rooms.js';

void describe('admission', () => {
  void test("the account's unreserved pool throttles with ConcurrentInvocationLimitExceeded (not a capacity throttle)", () => {
    const { admission, stats } = rooms({ hostMemoryMb: 3072, accountConcurrency: 2 });
    const f = admission.functionOf(spec('f', 128));
    assert.equal(admission.admit(f), null);
    admission.incInflight(f);
    admission.incInflight(f);
    assert.deepEqual(admission.admit(f), { kind: 'throttle', reason: 'ConcurrentInvocationLimitExceeded', capacity: false });
    assert.equal(stats.throttles, 1);
    admission.decInflight(f);
    assert.equal(admission.admit(f), null);
    assert.equal(admission.concurrency(), 1);
    assert.equal(admission.concurrency(f.key), 1);
    assert.equal(admission.accountInFlight('111111111111'), 1);
  });

  void test('a reservation caps its function and shrinks the pool of the others', () => {
    const { admission } = rooms({ hostMemoryMb: 3072, accountConcurrency: 3 });
    const r = admission.functionOf(spec('r', 128, { reservedConcurrency: 2 }));
    const g = admission.functionOf(spec('g', 128));
    admission.incInflight(r);
    admission.incInflight(r);
    assert.deepEqual(admission.admit(r), { kind: 'throttle', reason: 'ReservedFunctionConcurrentInvocationLimitExceeded', capacity: false });
    // 3 - 2 reserved = 1 unreserved, whatever r does with its own two.
    assert.equal(admission.admit(g), null);
    admission.incInflight(g);
    assert.equal(admission.admit(g)?.kind, 'throttle');
    // The reservation comes off: r draws from the shared pool again, which is now full.
    admission.functionOf(spec('r', 128));
    assert.equal(r.reserved, undefined);
    assert.deepEqual(admission.admit(g), { kind: 'throttle', reason: 'ConcurrentInvocationLimitExceeded', capacity: false });
    // Reserved 0 blocks every invocation.
    admission.setReserved(g.key, g.account.name, 0);
    assert.equal(admission.admit(g)?.kind, 'throttle');
  });

  void test('a function belongs to one account; reservations and memory sizes are validated', () => {
    const { admission } = rooms({ hostMemoryMb: 3072, workerMemoryMb: 3072 });
    const s = spec('f', 128);
    admission.functionOf(s);
    assert.throws(() => admission.functionOf({ ...s, account: '222222222222' }), /belongs to account 111111111111/);
    assert.throws(() => admission.setReserved(s.functionKey, '222222222222', 1), /belongs to account/);
    assert.throws(() => admission.functionOf(spec('g', 128, { reservedConcurrency: 1.5 })), /non-negative integer/);
    const f = admission.functionOf(spec('h', 128));
    assert.throws(() => admission.newVersion(spec('h', 4096), f), /memoryMb must be an integer in 1..3072/);
  });

  void test('a version is forgotten once it has no sandboxes, provisioned target or pre-warms', () => {
    const r = rooms({ hostMemoryMb: 3072 });
    const v = versionOf(r, spec('f', 128));
    assert.ok(r.admission.isCurrent(v));
    v.provTarget = 1;
    r.admission.forgetIfUnused(v);
    assert.ok(r.admission.isCurrent(v));
    v.provTarget = 0;
    r.admission.forgetIfUnused(v);
    assert.equal(r.admission.version(v.key), undefined);
    assert.ok(!r.admission.isCurrent(v));
    // A new version object under the same key is not touched by forgetting the old one.
    const v2 = versionOf(r, spec('f', 128));
    v2.provTarget = 1;
    r.admission.forgetIfUnused(v);
    assert.equal(r.admission.version(v.key), v2);
    assert.deepEqual(
      r.admission.versionsMatching((x) => x.functionKey === v.fn.key).map((x) => x.key),
      [v.key],
    );
  });
});
