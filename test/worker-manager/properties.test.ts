/**
 * Property-based tests: random operation sequences (acquire / complete / fail / release / discard /
 * advance+tick / retire / setProvisioned) against a small, crowded fleet of several accounts, with and
 * without VPC, in both ENI modes. A tiny fleet model reports step outcomes the way a real fleet would
 * (a failed provision or ENI attach fails every sandbox waiting for it).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { WorkerManager } from '../../src/worker-manager/worker-manager.js';
import type { Decision, FleetView, FunctionSpec, Step } from '../../src/worker-manager/types.js';

type Mode = 'legacy' | 'hyperplane';

type Op =
  | { op: 'acquire'; fn: number }
  | { op: 'complete'; k: number }
  | { op: 'fail'; k: number }
  | { op: 'release'; k: number }
  | { op: 'discard'; k: number }
  | { op: 'advance'; dt: number }
  | { op: 'retire'; fn: number }
  | { op: 'provision'; fn: number; count: number };

interface FnDef {
  account: string;
  name: string;
  memoryMb: number;
  vpcKey?: string;
  reservedConcurrency?: number;
}

const FNS: FnDef[] = [
  { account: 'A', name: 'a-small-vpc', memoryMb: 128, vpcKey: 'V1' },
  { account: 'A', name: 'a-mid', memoryMb: 512 },
  { account: 'A', name: 'a-big-vpc', memoryMb: 1536, vpcKey: 'V2' },
  { account: 'B', name: 'b-small-vpc', memoryMb: 128, vpcKey: 'V1' },
  { account: 'B', name: 'b-huge', memoryMb: 3008 },
  { account: 'C', name: 'c-reserved', memoryMb: 256, reservedConcurrency: 2 },
  { account: 'C', name: 'c-vpc', memoryMb: 1024, vpcKey: 'V1' },
  { account: 'A', name: 'a-blocked', memoryMb: 128, reservedConcurrency: 0 },
];

const OPTIONS = {
  hostMemoryMb: 3072 * 2,
  hostCount: 2,
  keepAliveMs: 1000,
  workerIdleMs: 2000,
  accountConcurrency: 6,
};

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ op: fc.constant('acquire' as const), fn: fc.nat(FNS.length - 1) }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('complete' as const), k: fc.nat(50) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('fail' as const), k: fc.nat(50) }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('release' as const), k: fc.nat(50) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('discard' as const), k: fc.nat(50) }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('advance' as const), dt: fc.integer({ min: 1, max: 2500 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('retire' as const), fn: fc.nat(FNS.length - 1) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('provision' as const), fn: fc.nat(FNS.length - 2), count: fc.nat(2) }) },
);

interface Pending {
  sandboxId: string;
  steps: Step[];
  claimed: boolean;
}

/** Runs `ops`, checking invariants after every operation; returns a log for determinism checks. */
function run(mode: Mode, ops: readonly Op[]): { log: unknown[]; view: FleetView } {
  const wm = new WorkerManager({ ...OPTIONS, vpcMode: mode });
  const revision = FNS.map(() => 1);
  const specOf = (i: number): FunctionSpec => {
    const d = FNS[i]!;
    const functionKey = `arn:aws:lambda:us-east-1:${d.account}:function:${d.name}`;
    return { versionKey: `${functionKey}#${revision[i]}`, functionKey, account: d.account, memoryMb: d.memoryMb, vpcKey: d.vpcKey, reservedConcurrency: d.reservedConcurrency };
  };
  let now = 0;
  const log: unknown[] = [];
  if (mode === 'hyperplane') {
    for (let i = 0; i < FNS.length; i++) {
      const steps = wm.ensureHyperplaneEni(specOf(i).functionKey, FNS[i]!.vpcKey, now);
      for (const s of steps) if (s.kind === 'attach-eni') wm.eniReady(s.eniId, now);
    }
  }
  let pending: Pending[] = [];
  const busy: string[] = [];
  const reportedWorkers = new Set<string>();
  const reportedEnis = new Set<string>();

  /** Splits a flat step list (setProvisioned, tick refills, discard) into per-sandbox pending items. */
  const track = (steps: readonly Step[]): void => {
    for (const s of steps) {
      if (s.kind !== 'create-sandbox') continue;
      const pre = steps.filter((p) => (p.kind === 'provision-worker' || p.kind === 'attach-eni') && p.workerId === s.workerId);
      pending.push({ sandboxId: s.sandboxId, steps: [...pre, s], claimed: false });
    }
  };
  const exists = (id: string): boolean => wm.describeSandbox(id) !== undefined;
  const prune = (): void => {
    pending = pending.filter((p) => exists(p.sandboxId) && wm.describeSandbox(p.sandboxId)!.state === 'initializing');
    for (let i = busy.length - 1; i >= 0; i--) {
      const d = wm.describeSandbox(busy[i]!);
      if (d === undefined || d.state !== 'busy') busy.splice(i, 1);
    }
  };
  const tickIfDue = (): void => {
    const d = wm.nextDeadline();
    if (d !== undefined && d <= now) log.push(wm.tick(now));
  };

  for (const o of ops) {
    switch (o.op) {
      case 'acquire': {
        tickIfDue();
        const fn = specOf(o.fn);
        const before = wm.view();
        const hadIdle = before.sandboxes.some((s) => s.versionKey === fn.versionKey && s.state === 'idle');
        const d: Decision = wm.acquire(fn, now);
        log.push(d);
        if (hadIdle && d.kind !== 'throttle') assert.equal(d.kind, 'warm', 'an idle sandbox of the version must be used before a cold start');
        if (d.kind === 'warm') busy.push(d.sandboxId);
        if (d.kind === 'cold') {
          assert.equal(d.steps.at(-1)!.kind, 'create-sandbox');
          assert.equal(d.narrow, d.steps.some((s) => s.kind === 'provision-worker' && !before.workers.some((w) => w.id === s.workerId)));
          pending.push({ sandboxId: d.sandboxId, steps: d.steps.filter((s) => s.kind !== 'stop-sandbox' && s.kind !== 'retire-worker' && s.kind !== 'delete-eni'), claimed: true });
        }
        if (FNS[o.fn]!.reservedConcurrency === 0) assert.equal(d.kind, 'throttle');
        break;
      }
      case 'complete': {
        const p = pending[o.k % Math.max(1, pending.length)];
        if (p === undefined) break;
        for (const s of p.steps) {
          if (s.kind === 'provision-worker' && !reportedWorkers.has(s.workerId)) {
            reportedWorkers.add(s.workerId);
            wm.workerReady(s.workerId, now);
          } else if (s.kind === 'attach-eni' && !reportedEnis.has(s.eniId)) {
            reportedEnis.add(s.eniId);
            wm.eniReady(s.eniId, now);
          } else if (s.kind === 'create-sandbox') {
            log.push(wm.ready(s.sandboxId, now));
            if (p.claimed) busy.push(s.sandboxId);
          }
        }
        break;
      }
      case 'fail': {
        const p = pending[o.k % Math.max(1, pending.length)];
        if (p === undefined) break;
        // The first unfinished step fails; every sandbox waiting for that same step fails with it.
        const first = p.steps.find(
          (s) => (s.kind === 'provision-worker' && !reportedWorkers.has(s.workerId)) || (s.kind === 'attach-eni' && !reportedEnis.has(s.eniId)),
        );
        let victims = [p];
        if (first !== undefined) {
          victims = pending.filter((q) =>
            q.steps.some((s) =>
              first.kind === 'provision-worker' ? s.kind === 'provision-worker' && s.workerId === first.workerId : s.kind === 'attach-eni' && first.kind === 'attach-eni' && s.eniId === first.eniId,
            ),
          );
        }
        for (const q of victims) log.push(wm.failed(q.sandboxId, now));
        break;
      }
      case 'release': {
        const id = busy[o.k % Math.max(1, busy.length)];
        if (id === undefined) break;
        log.push(wm.release(id, now));
        break;
      }
      case 'discard': {
        const all = wm.view().sandboxes;
        const s = all[o.k % Math.max(1, all.length)];
        if (s === undefined) break;
        const steps = wm.discard(s.id, now);
        log.push(steps);
        track(steps);
        break;
      }
      case 'advance': {
        now += o.dt;
        const steps = wm.tick(now);
        log.push(steps);
        track(steps);
        const next = wm.nextDeadline();
        assert.ok(next === undefined || next > now, 'tick leaves nothing due');
        break;
      }
      case 'retire': {
        const fk = specOf(o.fn).functionKey;
        log.push(wm.retire((s) => s.functionKey === fk, now));
        revision[o.fn]!++;
        break;
      }
      case 'provision': {
        const steps = wm.setProvisioned(specOf(o.fn), o.count, now);
        log.push(steps);
        track(steps);
        break;
      }
    }
    prune();
    checkInvariants(wm, mode, pending, now);
  }
  return { log, view: wm.view() };
}

function checkInvariants(wm: WorkerManager, mode: Mode, pending: readonly Pending[], now: number): void {
  const v = wm.view();
  const workers = new Map(v.workers.map((w) => [w.id, w]));
  const used = new Map<string, number>();
  const count = new Map<string, number>();
  for (const s of v.sandboxes) {
    const w = workers.get(s.workerId);
    assert.ok(w, `sandbox ${s.id} on a live worker`);
    assert.equal(s.account, w.account, 'never two accounts in one worker');
    used.set(w.id, (used.get(w.id) ?? 0) + s.memoryMb);
    count.set(w.id, (count.get(w.id) ?? 0) + 1);
    if (s.state === 'idle' && !s.provisioned) assert.ok(s.idleSince! + v.options.keepAliveMs > now || wm.nextDeadline()! <= now);
  }
  const reserved = new Map<string, number>();
  for (const w of v.workers) {
    assert.equal(w.usedMb, used.get(w.id) ?? 0, `worker ${w.id} memory accounting`);
    assert.ok(w.usedMb <= w.capacityMb, `worker ${w.id} over-committed`);
    assert.equal(w.sandboxes, count.get(w.id) ?? 0);
    reserved.set(w.hostId, (reserved.get(w.hostId) ?? 0) + w.capacityMb);
    if (w.state === 'retiring') assert.ok(w.sandboxes > 0, 'an empty retiring worker is removed at once');
  }
  for (const h of v.hosts) {
    assert.equal(h.reservedMb, reserved.get(h.id) ?? 0, `host ${h.id} accounting`);
    assert.ok(h.reservedMb <= h.memoryMb, `host ${h.id} over-committed`);
  }
  const seen = new Set<string>();
  for (const e of v.enis) {
    if (mode === 'legacy') {
      assert.equal(e.mode, 'legacy');
      const w = workers.get(e.workerId!);
      assert.ok(w, 'a legacy ENI belongs to a live worker');
      assert.ok(w.enis.includes(e.id));
      const key = `${e.workerId}|${e.vpcKey}`;
      assert.ok(!seen.has(key), 'one ENI per (worker, vpcKey)');
      seen.add(key);
    } else {
      assert.equal(e.mode, 'hyperplane');
      assert.ok((e.functions ?? 0) > 0, 'a hyperplane ENI is in use');
      assert.ok(!seen.has(e.vpcKey), 'one ENI per vpcKey');
      seen.add(e.vpcKey);
    }
  }
  // In flight = busy + initializing for an invocation; limits hold.
  const busy = v.sandboxes.filter((s) => s.state === 'busy').length;
  const claimedInit = pending.filter((p) => p.claimed).length;
  assert.equal(wm.concurrency(), busy + claimedInit, 'in-flight accounting');
  for (const a of ['A', 'B', 'C']) assert.ok(wm.accountInFlight(a) <= v.options.accountConcurrency);
  for (const f of FNS) {
    if (f.reservedConcurrency !== undefined) {
      assert.ok(wm.concurrency(`arn:aws:lambda:us-east-1:${f.account}:function:${f.name}`) <= f.reservedConcurrency);
    }
  }
}

for (const mode of ['legacy', 'hyperplane'] as const) {
  void describe(`placement properties (${mode})`, () => {
    void test('invariants hold over random operation sequences', () => {
      fc.assert(
        fc.property(fc.array(opArb, { minLength: 1, maxLength: 120 }), (ops) => {
          run(mode, ops);
        }),
        { numRuns: 300, seed: mode === 'legacy' ? 1 : 2 },
      );
    });

    void test('determinism: the same sequence gives the same decisions and view', () => {
      fc.assert(
        fc.property(fc.array(opArb, { minLength: 1, maxLength: 80 }), (ops) => {
          assert.deepEqual(run(mode, ops), run(mode, ops));
        }),
        { numRuns: 100 },
      );
    });
  });
}

void test('the random sequences exercise the interesting paths', () => {
  // Guards against a generator that never reaches eviction, narrow starts or ENIs (vacuous properties).
  const totals = { evictions: 0, narrow: 0, enis: 0, expirations: 0, throttles: 0, workersRetired: 0, provisioned: 0, warm: 0 };
  fc.assert(
    fc.property(fc.array(opArb, { minLength: 60, maxLength: 120 }), (ops) => {
      const c = run('legacy', ops).view.counters;
      totals.evictions += c.evictions;
      totals.narrow += c.narrowColdStarts;
      totals.enis += c.enisCreated;
      totals.expirations += c.expirations;
      totals.throttles += c.throttles;
      totals.workersRetired += c.workersRetired;
      totals.provisioned += c.provisionedCreated;
      totals.warm += c.warmStarts;
    }),
    { numRuns: 100, seed: 3 },
  );
  if (process.env.WM_DEBUG) console.log(totals);
  for (const [k, n] of Object.entries(totals)) assert.ok(n > 0, `${k} never happened`);
});
