/**
 * The simulator and the server make the same placement decisions for the same invocation sequence.
 * The server side is the real invoke path (InvokeService → WorkerManager → Fleet → FakeDriver sandboxes,
 * with the tick timer on a VirtualClock and profile `none`), driven directly rather than over HTTP: a
 * virtual clock cannot be threaded through the HTTP frontend's request handling in a test without
 * editing it, and the placement decisions are all made below InvokeService.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { FakeDriver } from '../../src/fleet/fake-driver.js';
import { Fleet } from '../../src/fleet/fleet.js';
import { InvokeService, type InvocableVersion } from '../../src/invocations/invoke-service.js';
import { LogStore } from '../../src/invocations/log-store.js';
import { loadProfile } from '../../src/profiles/latency-profile.js';
import { simulate, type InvocationKind } from '../../src/simulator/engine.js';
import { loadPrices } from '../../src/simulator/prices.js';
import { compileArrivals, type SimFunction } from '../../src/simulator/workload.js';
import { VirtualClock } from '../../src/util/clock.js';
import { createKeepAlivePolicy, type KeepAliveConfigInput } from '../../src/worker-manager/keep-alive-config.js';
import type { PlacementOptionsInput } from '../../src/worker-manager/types.js';
import { WorkerManager } from '../../src/worker-manager/worker-manager.js';

const MEMORY = [128, 1024, 2048, 3008];
// Fractional parts keep every event time distinct: starts are integers, ends of function f end in (f+1)/8,
// expiries add 1/16, worker retirements 1/32 (so no two kinds of event ever coincide).
const PLACEMENT: PlacementOptionsInput = { vpcMode: 'legacy', hostMemoryMb: 3072 * 2, workerMemoryMb: 3072, keepAliveMs: 1500.0625, workerIdleMs: 700.03125 };
const ACCOUNTS = ['111111111111', '222222222222'];

interface Fn {
  memoryMb: number;
  vpc: boolean;
  account: string;
  durationMs: number;
}

interface Inv {
  fn: number;
  at: number;
}

function simulated(fns: Fn[], invs: Inv[], keepAlive: KeepAliveConfigInput): { kinds: InvocationKind[]; workers: number; enis: number } {
  const functions: SimFunction[] = fns.map((f, i) => {
    const at = invs.filter((x) => x.fn === i).map((x) => x.at);
    return {
      name: `f${i}`,
      account: f.account,
      memoryMb: f.memoryMb,
      architecture: 'x86_64',
      vpcKey: f.vpc ? 'subnet-1|sg-1' : undefined,
      handler: { dist: 'constant', valueMs: f.durationMs, cpuFraction: 1, threads: 1 },
      handlerMemoryMb: f.memoryMb,
      arrivals: (end, rng) => compileArrivals({ kind: 'list', atMs: at }, end, rng),
      expected: () => at.length,
    };
  });
  const byArrival = new Map<string, InvocationKind>();
  const r = simulate({
    functions,
    durationMs: Math.max(...invs.map((x) => x.at)) + 1,
    placement: PLACEMENT,
    keepAlive,
    profile: loadProfile('none'),
    prices: loadPrices(),
    seed: 1,
    onInvocation: (i, at, kind) => byArrival.set(`${i}@${at}`, kind),
  });
  return { kinds: invs.map((x) => byArrival.get(`${x.fn}@${x.at}`)!), workers: r.workers.created, enis: r.enis.created };
}

async function served(fns: Fn[], invs: Inv[], keepAlive: KeepAliveConfigInput): Promise<{ kinds: InvocationKind[]; workers: number; enis: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'lambkin-equiv-'));
  // Everything runs on this one clock (deadlines and the fake sandbox's timeouts included), so any start will do.
  const base = 1_000_000;
  const clock = new VirtualClock(base);
  const gates = new Map<string, () => void>();
  const entered = new Map<string, () => void>();
  const driver = new FakeDriver({
    'index.handler': {
      handle: async (_event, ctx) => {
        entered.get(ctx.requestId)?.();
        await new Promise<void>((resolve) => gates.set(ctx.requestId, resolve));
        return { ok: true };
      },
    },
  }, { clock });
  const wm = new WorkerManager(PLACEMENT, undefined, createKeepAlivePolicy(keepAlive));
  const ref: { invoker?: InvokeService } = {};
  const fleet = new Fleet({ driver, clock, specFor: (step) => ref.invoker!.specFor(step) });
  const invoker = new InvokeService({ workerManager: wm, fleet, clock, logs: new LogStore(dir) });
  ref.invoker = invoker;
  const versions: InvocableVersion[] = fns.map((f, i) => ({
    account: f.account,
    region: 'us-east-1',
    functionName: `f${i}`,
    functionArn: `arn:aws:lambda:us-east-1:${f.account}:function:f${i}`,
    version: '$LATEST',
    versionKey: `arn:aws:lambda:us-east-1:${f.account}:function:f${i}:$LATEST`,
    runtime: 'nodejs20.x',
    handler: 'index.handler',
    codeDir: dir,
    memorySize: f.memoryMb,
    timeout: 900,
    environment: {},
    ...(f.vpc ? { vpcKey: 'subnet-1|sg-1' } : {}),
  }));
  const kinds: InvocationKind[] = new Array<InvocationKind>(invs.length);
  const pending = new Map<number, Promise<void>>();
  const events = invs.flatMap((x, k) => [
    { t: x.at, k, start: true },
    { t: x.at + fns[x.fn]!.durationMs, k, start: false },
  ]);
  events.sort((a, b) => a.t - b.t);
  try {
    for (const ev of events) {
      // Fire the tick timers one deadline at a time and let their background work (pre-warm loads, stops)
      // finish at that virtual time, as the simulator completes zero-latency steps at once.
      for (let d = wm.nextDeadline(); d !== undefined && d <= base + ev.t; d = wm.nextDeadline()) {
        clock.advance(d);
        await invoker.settled();
        if (wm.nextDeadline() === d) break;
      }
      clock.advance(base + ev.t);
      const id = `req-${ev.k}`;
      if (ev.start) {
        const inv = invs[ev.k]!;
        const entry = new Promise<void>((resolve) => entered.set(id, resolve));
        const p = invoker
          .invoke(versions[inv.fn]!, { requestId: id, payload: Buffer.from('{}'), invokedFunctionArn: versions[inv.fn]!.functionArn })
          .then(
            (r) => {
              kinds[ev.k] = r.narrowColdStart ? 'narrow' : r.coldStart ? 'cold' : 'warm';
            },
            (err: unknown) => {
              if ((err as { type?: string }).type !== 'TooManyRequestsException') throw err;
              kinds[ev.k] = 'throttle';
            },
          );
        pending.set(ev.k, p);
        await Promise.race([entry, p]);
        await invoker.settled();
      } else {
        const p = pending.get(ev.k)!;
        if (kinds[ev.k] === 'throttle') continue;
        // Wait until the handler is there (it is, unless the start failed), then let it finish at this time.
        while (!gates.has(id)) await new Promise((r) => setImmediate(r));
        gates.get(id)!();
        await p;
        await invoker.settled();
      }
    }
    const c = wm.counters();
    return { kinds, workers: c.workersCreated, enis: c.enisCreated };
  } finally {
    invoker.close();
    await fleet.close();
    await invoker.settled();
    rmSync(dir, { recursive: true, force: true });
  }
}

const fnArb = fc.record({
  memoryMb: fc.constantFrom(...MEMORY),
  vpc: fc.boolean(),
  account: fc.constantFrom(...ACCOUNTS),
  durationMs: fc.integer({ min: 1, max: 2500 }),
});

const scenario = fc
  .array(fnArb, { minLength: 1, maxLength: 4 })
  .chain((fns) =>
    fc.record({
      fns: fc.constant(fns.map((f, i) => ({ ...f, durationMs: f.durationMs + (i + 1) / 8 }))),
      invs: fc.array(fc.record({ fn: fc.integer({ min: 0, max: fns.length - 1 }), gap: fc.integer({ min: 1, max: 2500 }) }), { minLength: 1, maxLength: 25 }),
    }),
  )
  .map(({ fns, invs }) => {
    let t = 0;
    return { fns, invs: invs.map((x) => ({ fn: x.fn, at: (t += x.gap) })) };
  });

describe('simulator and server make the same placement decisions', () => {
  for (const keepAlive of [{ policy: 'fixed', ttlMs: 1500.0625 }, { policy: 'hybrid', binMs: 500, rangeMs: 10_000 }] as const) {
    test(`same cold/warm/narrow/throttle sequence, same worker and ENI counts (${keepAlive.policy} keep-alive)`, async () => {
      await fc.assert(
        fc.asyncProperty(scenario, async ({ fns, invs }) => {
          const sim = simulated(fns, invs, keepAlive);
          const srv = await served(fns, invs, keepAlive);
          assert.deepEqual(srv, sim);
        }),
        { numRuns: 25 },
      );
    });
  }
});
