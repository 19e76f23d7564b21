import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { TimerHeap, type TimerItem } from '../../src/worker-manager/keep-alive-heap.js';
import { HybridHistogramPolicy, hybridConfigSchema, type HybridState } from '../../src/worker-manager/keep-alive-hybrid.js';
import { FixedKeepAlive, type KeepAliveWindows } from '../../src/worker-manager/keep-alive.js';
import { createKeepAlivePolicy } from '../../src/worker-manager/keep-alive-config.js';
import { WorkerManager } from '../../src/worker-manager/worker-manager.js';
import { cold, complete, invoke, kinds, spec, warm } from './helpers.js';

const MIN = 60_000;

function hybrid(extra: Record<string, unknown> = {}): HybridHistogramPolicy {
  return new HybridHistogramPolicy(hybridConfigSchema.parse({ policy: 'hybrid', ...extra }));
}

function windows(p: HybridHistogramPolicy, st: HybridState, now: number): KeepAliveWindows {
  const w = { prewarmMs: -1, keepAliveMs: -1 };
  p.invocationEnded(st, now, w);
  return w;
}

describe('TimerHeap', () => {
  test('pops in (at, insertion) order and removes from the middle', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 20 }), { maxLength: 60 }), fc.array(fc.nat(), { maxLength: 20 }), (ats, removals) => {
        const h = new TimerHeap<TimerItem & { id: number }>();
        const items = ats.map((at, id) => ({ at, id, seq: 0, heapIndex: -1 }));
        for (const x of items) h.push(x);
        const removed = new Set<number>();
        for (const r of removals) {
          if (items.length === 0) break;
          const x = items[r % items.length]!;
          h.remove(x);
          removed.add(x.id);
        }
        const expected = items.filter((x) => !removed.has(x.id)).sort((a, b) => a.at - b.at || a.id - b.id).map((x) => x.id);
        const got: number[] = [];
        for (let x = h.pop(); x !== undefined; x = h.pop()) got.push(x.id);
        assert.deepEqual(got, expected);
        assert.ok(items.every((x) => x.heapIndex === -1));
      }),
    );
  });
});

describe('keep-alive policy configuration', () => {
  test('fixed is the default and keeps the constant TTL', () => {
    const p = createKeepAlivePolicy({ policy: 'fixed' });
    assert.equal(p.fixedKeepAliveMs, 600_000);
    const w = { prewarmMs: 1, keepAliveMs: 1 };
    new FixedKeepAlive(5000).invocationEnded(null, 0, w);
    assert.deepEqual(w, { prewarmMs: 0, keepAliveMs: 5000 });
  });
});

describe('hybrid histogram policy (Shahrad et al., ATC 20)', () => {
  test('no idle time seen yet: the standard keep-alive (the histogram range), no pre-warm', () => {
    const p = hybrid();
    const st = p.createState('f');
    assert.deepEqual(windows(p, st, 0), { prewarmMs: 0, keepAliveMs: 4 * 3_600_000 });
    assert.equal(p.pattern(st), 'too-few-samples');
  });

  test('a periodic function: pre-warm at the 5th percentile minus 10%, keep alive to the 99th plus 10%', () => {
    const p = hybrid();
    const st = p.createState('f');
    // Ends at 0, then invocations every 30 minutes (IT just under 30 min: bin 29).
    let t = 0;
    p.invocationEnded(st, t, { prewarmMs: 0, keepAliveMs: 0 });
    for (let k = 0; k < 10; k++) {
      t += 30 * MIN - 1000;
      p.invocationStarted(st, t);
      t += 1000;
      p.invocationEnded(st, t, { prewarmMs: 0, keepAliveMs: 0 });
    }
    assert.equal(p.pattern(st), 'histogram');
    const w = windows(p, st, t);
    assert.equal(w.prewarmMs, 29 * MIN * 0.9);
    // The keep-alive window runs from the pre-warm load to the tail bin's upper edge plus 10%.
    assert.equal(w.prewarmMs + w.keepAliveMs, 30 * MIN * 1.1);
  });

  test('idle times in the first minute: no pre-warm; the tail sets the keep-alive', () => {
    const p = hybrid();
    const st = p.createState('f');
    for (let k = 0; k < 50; k++) p.record(st, 5_000);
    p.record(st, 3 * MIN + 1);
    const w = windows(p, st, 0);
    assert.equal(w.prewarmMs, 0);
    // 51 samples: the 99th percentile needs 50.49 of them, so it is the bin of the 3-minute IT.
    assert.equal(w.keepAliveMs, 4 * MIN * 1.1);
  });

  test('a flat histogram (low coefficient of variation) is not representative: fallback', () => {
    const p = hybrid({ fallbackKeepAliveMs: 600_000 });
    const st = p.createState('f');
    for (let b = 0; b < 240; b++) for (let k = 0; k < 3; k++) p.record(st, b * MIN + 10);
    assert.ok(p.cv(st) < 2, `cv ${p.cv(st)}`);
    assert.equal(p.pattern(st), 'not-representative');
    assert.deepEqual(windows(p, st, 0), { prewarmMs: 0, keepAliveMs: 600_000 });
  });

  test('mostly out-of-bound idle times use the out-of-bound keep-alive', () => {
    const p = hybrid({ outOfBoundKeepAliveMs: 123_000 });
    const st = p.createState('f');
    p.record(st, 5 * 3_600_000);
    p.record(st, 6 * 3_600_000);
    p.record(st, 10 * MIN);
    assert.equal(p.pattern(st), 'out-of-bounds');
    assert.deepEqual(windows(p, st, 0), { prewarmMs: 0, keepAliveMs: 123_000 });
  });

  test('too few samples (minSamples) falls back', () => {
    const p = hybrid({ minSamples: 5, fallbackKeepAliveMs: 1000 });
    const st = p.createState('f');
    for (let k = 0; k < 4; k++) p.record(st, 30 * MIN);
    assert.deepEqual(windows(p, st, 0), { prewarmMs: 0, keepAliveMs: 1000 });
    p.record(st, 30 * MIN);
    assert.equal(windows(p, st, 0).prewarmMs, 30 * MIN * 0.9);
  });
});

describe('WorkerManager with a per-function keep-alive policy', () => {
  const opts = { hostMemoryMb: 3072 * 4, workerMemoryMb: 3072, keepAliveMs: 600_000, workerIdleMs: 1_000_000_000 };

  test('without a policy, or with a fixed one, behaviour is the fixed TTL (existing contract)', () => {
    const a = new WorkerManager(opts);
    const b = new WorkerManager(opts, undefined, new FixedKeepAlive(600_000));
    for (const wm of [a, b]) {
      const id = invoke(wm, spec('f', 128), 0);
      wm.release(id, 10);
      assert.equal(wm.nextDeadline(), 600_010);
      assert.deepEqual(kinds(wm.tick(600_010)), ['stop-sandbox:expired']);
    }
  });

  test('per-sandbox keep-alive: expiries come in deadline order, not LRU order', () => {
    // A policy that gives function "long" 100 ms and "short" 10 ms.
    const policy = {
      name: 'test',
      fixedKeepAliveMs: undefined,
      createState: (key: string) => key,
      invocationStarted: () => {},
      invocationEnded: (key: unknown, _now: number, out: KeepAliveWindows) => {
        out.prewarmMs = 0;
        out.keepAliveMs = String(key).endsWith(':long') ? 100 : 10;
      },
    };
    const wm = new WorkerManager(opts, undefined, policy);
    const l = invoke(wm, spec('long', 128), 0);
    const s = invoke(wm, spec('short', 128), 0);
    wm.release(l, 1);
    wm.release(s, 2);
    assert.equal(wm.nextDeadline(), 12);
    const steps = wm.tick(50);
    assert.deepEqual(steps, [{ kind: 'stop-sandbox', sandboxId: s, reason: 'expired' }]);
    assert.equal(wm.nextDeadline(), 101);
    // A warm start removes the sandbox's timer.
    warm(wm.acquire(spec('long', 128), 60));
    assert.equal(wm.nextDeadline(), undefined);
  });

  test('pre-warm: unloaded at the end, loaded again at the pre-warm window, then warm', () => {
    const policy = {
      name: 'test',
      fixedKeepAliveMs: undefined,
      createState: () => null,
      invocationStarted: () => {},
      invocationEnded: (_s: unknown, _now: number, out: KeepAliveWindows) => {
        out.prewarmMs = 1000;
        out.keepAliveMs = 300;
      },
    };
    const wm = new WorkerManager(opts, undefined, policy);
    const f = spec('f', 256);
    const id = invoke(wm, f, 0);
    assert.deepEqual(kinds(wm.release(id, 100)), ['stop-sandbox:expired']);
    assert.equal(wm.nextDeadline(), 1100);
    const loaded = wm.tick(1100);
    assert.deepEqual(kinds(loaded), ['create-sandbox']);
    const create = loaded[0]!;
    assert.ok(create.kind === 'create-sandbox' && create.prewarm === true && create.provisioned === false);
    complete(wm, loaded, 1150);
    // Idle from 1150, expires 300 ms later unless used.
    assert.equal(wm.nextDeadline(), 1450);
    const d = warm(wm.acquire(f, 1200));
    assert.equal(d.sandboxId, create.sandboxId);
  });

  test('an invocation before the pre-warm load is cold and cancels that load', () => {
    const policy = createKeepAlivePolicy({ policy: 'hybrid' });
    const wm = new WorkerManager(opts, undefined, policy);
    const f = spec('f', 128);
    // Teach it a 30-minute period: invoke, end after 100 ms, next one 30 minutes later.
    let t = 0;
    const once = (at: number) => {
      complete(wm, wm.tick(at), at);
      const d = wm.acquire(f, at);
      if (d.kind === 'throttle') assert.fail('throttled');
      if (d.kind === 'cold') complete(wm, d.steps, at);
      complete(wm, wm.release(d.sandboxId, at + 100), at + 100);
      return d.kind;
    };
    const seen: string[] = [];
    for (let k = 0; k < 6; k++, t += 30 * MIN) seen.push(once(t));
    // The first two are cold (no histogram yet, then one sample); once learned, pre-warming makes them warm.
    assert.deepEqual(seen.slice(-3), ['warm', 'warm', 'warm']);
    const last = t - 30 * MIN + 100;
    // Unloaded after the last one; a pre-warm load is scheduled about 26 minutes later.
    const due = wm.nextDeadline()!;
    assert.ok(due > last + 25 * MIN && due < last + 30 * MIN, `pre-warm due ${due - last} ms after the end`);
    // An invocation 5 minutes after the last end comes before the pre-warm: cold, and the load is cancelled.
    const early = last + 5 * MIN;
    complete(wm, wm.tick(early), early);
    const d = cold(wm.acquire(f, early));
    complete(wm, d.steps, early);
    const next = wm.nextDeadline();
    assert.ok(next === undefined || next > due, 'the cancelled pre-warm is no longer due');
  });

  test('retire drops scheduled pre-warms', () => {
    const policy = {
      name: 'test',
      fixedKeepAliveMs: undefined,
      createState: () => null,
      invocationStarted: () => {},
      invocationEnded: (_s: unknown, _now: number, out: KeepAliveWindows) => {
        out.prewarmMs = 1000;
        out.keepAliveMs = 300;
      },
    };
    const wm = new WorkerManager(opts, undefined, policy);
    const f = spec('f', 256);
    wm.release(invoke(wm, f, 0), 1);
    assert.equal(wm.nextDeadline(), 1001);
    wm.retire((s) => s.functionKey === f.functionKey, 2);
    // Only the empty worker's retirement is left (workerIdleMs after it emptied at 1).
    assert.equal(wm.nextDeadline(), 1 + opts.workerIdleMs);
    assert.deepEqual(wm.tick(5000), []);
  });

  test('invariants hold under random traffic with the hybrid policy', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ fn: fc.integer({ min: 0, max: 3 }), gap: fc.integer({ min: 0, max: 40 * MIN }), dur: fc.integer({ min: 1, max: 5000 }) }), { maxLength: 60 }),
        (ops) => {
          const wm = new WorkerManager({ ...opts, hostMemoryMb: 3072 * 2 }, undefined, createKeepAlivePolicy({ policy: 'hybrid', minSamples: 2 }));
          const fns = [spec('a', 128), spec('b', 1024), spec('c', 2048), spec('d', 512, { account: '222222222222' })];
          let t = 0;
          const busy: { id: string; end: number }[] = [];
          for (const op of ops) {
            t += op.gap;
            busy.sort((x, y) => x.end - y.end);
            while (busy.length > 0 && busy[0]!.end <= t) {
              const b = busy.shift()!;
              complete(wm, wm.tick(b.end), b.end);
              complete(wm, wm.release(b.id, b.end), b.end);
            }
            complete(wm, wm.tick(t), t);
            const d = wm.acquire(fns[op.fn]!, t);
            if (d.kind === 'cold') complete(wm, d.steps, t);
            if (d.kind !== 'throttle') busy.push({ id: d.sandboxId, end: t + op.dur });
            const v = wm.view();
            for (const w of v.workers) {
              assert.ok(w.usedMb <= w.capacityMb);
              const accounts = new Set(v.sandboxes.filter((s) => s.workerId === w.id).map((s) => s.account));
              assert.ok(accounts.size <= 1);
            }
            for (const h of v.hosts) assert.ok(h.reservedMb <= h.memoryMb);
            const dl = wm.nextDeadline();
            assert.ok(dl === undefined || Number.isFinite(dl));
          }
        },
      ),
      { numRuns: 60 },
    );
  });
});
