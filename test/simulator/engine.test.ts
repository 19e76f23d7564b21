import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { loadProfile } from '../../src/profiles/latency-profile.js';
import { Rng } from '../../src/profiles/rng.js';
import { simulate, type InvocationKind } from '../../src/simulator/engine.js';
import { EventQueue, poppedEvent } from '../../src/simulator/event-queue.js';
import { LatencyHistogram } from '../../src/simulator/latency-histogram.js';
import { benchPreset } from '../../src/simulator/presets.js';
import { loadPrices } from '../../src/simulator/prices.js';
import { compileArrivals, expectedArrivals, type SimFunction } from '../../src/simulator/workload.js';
import type { ArrivalsSpec, HandlerSpec } from '../../src/simulator/workload-spec.js';
import { percentile } from '../../src/experiments/statistics.js';

const prices = loadPrices();
const none = loadProfile('none');
const aws = loadProfile('aws-2019');

function fn(name: string, memoryMb: number, arrivals: ArrivalsSpec, handler: HandlerSpec, extra: Partial<SimFunction> = {}): SimFunction {
  return {
    name,
    account: '000000000000',
    memoryMb,
    architecture: 'x86_64',
    vpcKey: undefined,
    handler,
    handlerMemoryMb: memoryMb,
    arrivals: (end, rng) => compileArrivals(arrivals, end, rng),
    expected: (end) => expectedArrivals(arrivals, end),
    ...extra,
  };
}

const constant = (ms: number): HandlerSpec => ({ dist: 'constant', valueMs: ms, cpuFraction: 1, threads: 1 });

describe('event queue', () => {
  test('pops in time order, equal times in scheduling order, and grows', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 50 }), { maxLength: 300 }), (times) => {
        const q = new EventQueue(16);
        times.forEach((t, i) => q.push(t, 1, i, i % 3 === 0 ? `r${i}` : undefined));
        const ev = poppedEvent();
        const got: [number, number, string | undefined][] = [];
        while (q.pop(ev)) got.push([ev.time, ev.payload, ev.ref]);
        const expected = times.map((t, i) => [t, i, i % 3 === 0 ? `r${i}` : undefined] as [number, number, string | undefined]).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
        assert.deepEqual(got, expected);
      }),
    );
  });
});

describe('latency histogram', () => {
  test('percentiles within 1% of the exact ones; count, mean, max exact', () => {
    const rng = new Rng(3);
    const xs = Array.from({ length: 20_000 }, () => Math.exp(2 + 3 * rng.next()));
    const h = new LatencyHistogram();
    for (const x of xs) h.add(x);
    for (const p of [50, 90, 99]) {
      const exact = percentile(xs, p);
      assert.ok(Math.abs(h.percentile(p) / exact - 1) < 0.011, `p${p}: ${h.percentile(p)} vs ${exact}`);
    }
    assert.equal(h.count, xs.length);
    assert.equal(h.max, Math.max(...xs));
    assert.ok(Math.abs(h.mean() - xs.reduce((a, b) => a + b, 0) / xs.length) < 1e-9);
  });
});

describe('simulate', () => {
  test('a timer every 5 minutes: one cold start under a 10-minute keep-alive, all cold under a 1-minute one; idle memory exact', () => {
    const f = fn('timer', 1024, { kind: 'periodic', every: 300_000 }, constant(100));
    const base = { functions: [f], durationMs: 3_600_000, placement: { hostMemoryMb: 1_000_000, workerMemoryMb: 3072 }, profile: none, prices, seed: 1 };
    const ten = simulate({ ...base, keepAlive: { policy: 'fixed', ttlMs: 600_000 } });
    assert.equal(ten.invocations, 12);
    assert.equal(ten.counts.cold, 1);
    assert.equal(ten.counts.narrowCold, 1);
    assert.equal(ten.counts.warm, 11);
    // Idle from each end (k·5 min + 100 ms) to the next start, then from the last end to the end of the hour.
    const idleMs = 11 * (300_000 - 100) + (3_600_000 - (55 * 60_000 + 100));
    assert.ok(Math.abs(ten.idleMemoryMbSeconds - (1024 * idleMs) / 1000) < 1e-6, `${ten.idleMemoryMbSeconds}`);
    const one = simulate({ ...base, keepAlive: { policy: 'fixed', ttlMs: 60_000 } });
    assert.equal(one.counts.cold, 12);
    assert.ok(Math.abs(one.idleMemoryMbSeconds - (1024 * 12 * 60_000) / 1000) < 1e-6);
    // GB-seconds billed: 12 × 100 ms at 1 GB.
    assert.ok(Math.abs(ten.gbSeconds - 1.2) < 1e-9);
    assert.ok(Math.abs(ten.cost.total - (12 / 1e6) * 0.2 - 1.2 * 0.0000166667) < 1e-12);
  });

  test('latency of a cold start = worker + create + handler; of a warm start = handler', () => {
    const kinds: [InvocationKind, number][] = [];
    const f = fn('f', 128, { kind: 'list', atMs: [0, 1000] }, constant(5));
    simulate({
      functions: [f],
      durationMs: 2000,
      placement: { hostMemoryMb: 1_000_000, workerMemoryMb: 3072 },
      profile: aws,
      prices,
      seed: 4,
      onInvocation: (_i, _t, k, l) => kinds.push([k, l]),
    });
    assert.equal(kinds[0]![0], 'narrow');
    assert.ok(kinds[0]![1] > 150 && kinds[0]![1] < 600, `cold ${kinds[0]![1]}`);
    assert.deepEqual(kinds[1], ['warm', 5]);
  });

  test('deterministic: same seed, same numbers; another seed, other numbers', () => {
    const w = benchPreset({ functions: 50, totalRatePerSec: 200, durationMs: 120_000 });
    const run = (seed: number) => {
      const r = simulate({ ...w, profile: aws, prices, seed, keepAlive: { policy: 'hybrid' } });
      return JSON.stringify({ ...r, wallSeconds: 0, invocationsPerSecond: 0 });
    };
    assert.equal(run(7), run(7));
    assert.notEqual(run(7), run(8));
  });

  test('merged Poisson stream: each function gets its share of arrivals', () => {
    const w = benchPreset({ functions: 10, totalRatePerSec: 100, durationMs: 600_000 });
    const r = simulate({ ...w, profile: none, prices, seed: 2 });
    const total = r.invocations;
    assert.ok(Math.abs(total - 60_000) < 4 * Math.sqrt(60_000), `total ${total}`);
    for (const f of w.functions.slice(0, 3)) {
      const expected = f.expected(600_000);
      const got = r.functions.find((x) => x.name === f.name)!.invocations;
      assert.ok(Math.abs(got - expected) < 5 * Math.sqrt(expected), `${f.name}: ${got} vs ${expected}`);
    }
  });

  test('legacy VPC: concurrent 3008 MB invocations each need a worker and an ENI; 128 MB ones share', () => {
    const big = fn('big', 3008, { kind: 'list', atMs: [0, 1, 2] }, constant(20_000), { vpcKey: 'a|b' });
    const small = fn('small', 128, { kind: 'list', atMs: [0, 1, 2] }, constant(20_000), { vpcKey: 'a|b' });
    const placement = { vpcMode: 'legacy' as const, hostMemoryMb: 1_000_000, workerMemoryMb: 3072 };
    const rb = simulate({ functions: [big], durationMs: 10, placement, profile: aws, prices, seed: 1 });
    assert.equal(rb.enis.created, 3);
    assert.equal(rb.workers.peak, 3);
    const rs = simulate({ functions: [small], durationMs: 10, placement, profile: aws, prices, seed: 1 });
    assert.equal(rs.enis.created, 1);
    assert.equal(rs.workers.created, 1);
    // All three waited for the same ENI (~10 s), not for one each: their latencies differ by their arrival gaps and init only.
    const small3 = rs.functions[0]!.latencyMs;
    assert.ok(small3.max - rs.latencyMs.p50 < 1000 && small3.max > 20_000 + 7_000, JSON.stringify(small3));
  });
});
