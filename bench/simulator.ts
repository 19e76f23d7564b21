/**
 * Simulator benchmark: simulated invocations per second for the `bench` preset (1,000 functions, ~10.8
 * million invocations), next to two baselines measured in the same run so the ratios mean something on
 * any machine:
 * - `queue`: the raw event queue, one push + one pop per event (an invocation needs about two of each);
 * - `placement`: bare WorkerManager warm acquire + release pairs on the same 1,000 functions (the core's
 *   share of an invocation).
 * Both wall and CPU time are printed (a loaded machine slows wall time, not CPU time).
 * Then a full day of a 10,000-function trace in the Azure format (generated, ~30 million invocations).
 *
 * Run: `node dist/bench/simulator.js` (after `npm run build`). `--quick`: fewer invocations, no 10k day.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadProfile } from '../src/profiles/latency-profile.js';
import { Rng } from '../src/profiles/rng.js';
import { simulate } from '../src/simulator/engine.js';
import { EventQueue, poppedEvent } from '../src/simulator/event-queue.js';
import { AZURE_SAMPLE_FILES, writeAzureSample } from '../src/simulator/azure-sample.js';
import { loadAzureTrace } from '../src/simulator/azure-trace.js';
import { benchPreset } from '../src/simulator/presets.js';
import { loadPrices } from '../src/simulator/prices.js';
import { WorkerManager } from '../src/worker-manager/worker-manager.js';
import type { FunctionSpec } from '../src/worker-manager/types.js';

const quick = process.argv.includes('--quick');
const profile = loadProfile('aws-2019');
const prices = loadPrices();

function timed<T>(fn: () => T): { value: T; wall: number; cpu: number } {
  const c0 = process.cpuUsage();
  const w0 = performance.now();
  const value = fn();
  const wall = (performance.now() - w0) / 1000;
  const c = process.cpuUsage(c0);
  return { value, wall, cpu: (c.user + c.system) / 1e6 };
}

function queueBaseline(events: number): number {
  const q = new EventQueue(4096);
  const rng = new Rng(1);
  const ev = poppedEvent();
  let t = 0;
  for (let i = 0; i < 1150; i++) q.push(rng.next() * 1000, 1, i);
  const r = timed(() => {
    for (let i = 0; i < events; i++) {
      q.pop(ev);
      t = ev.time;
      q.push(t + rng.next() * 1000, 1, ev.payload);
    }
    return t;
  });
  return events / r.cpu;
}

function placementBaseline(pairs: number): number {
  const wm = new WorkerManager({ hostMemoryMb: 1_000_000_000, workerMemoryMb: 3072 });
  const specs: FunctionSpec[] = [];
  for (let i = 0; i < 1000; i++) {
    const account = String(100_000_000_000 + (i % 10));
    const functionKey = `arn:aws:lambda:us-east-1:${account}:function:bench-${i}`;
    specs.push({ versionKey: `${functionKey}:$LATEST`, functionKey, account, memoryMb: 256 });
  }
  for (const s of specs) {
    const d = wm.acquire(s, 0);
    if (d.kind !== 'cold') throw new Error('expected cold');
    wm.workerReady(d.workerId, 0);
    wm.ready(d.sandboxId, 0);
    wm.release(d.sandboxId, 0);
  }
  const rng = new Rng(2);
  const r = timed(() => {
    let now = 1;
    for (let i = 0; i < pairs; i++) {
      const d = wm.acquire(specs[(rng.next() * 1000) | 0]!, now);
      if (d.kind !== 'warm') throw new Error('expected warm');
      wm.release(d.sandboxId, now);
      now += 0.001;
    }
    return now;
  });
  return pairs / r.cpu;
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

const w = benchPreset(quick ? { durationMs: 600_000 } : {});
// Warm-up (JIT) on a short run, then the measured one.
simulate({ ...w, durationMs: 60_000, profile, prices, seed: 9 });
const queueRate = queueBaseline(quick ? 2_000_000 : 10_000_000);
const placementRate = placementBaseline(quick ? 1_000_000 : 5_000_000);
const run = timed(() => simulate({ ...w, profile, prices, seed: 1 }));
const r = run.value;
const simWall = r.invocations / run.wall;
const simCpu = r.invocations / run.cpu;
console.log(`simulator bench preset: ${w.functions.length} functions, ${fmt(r.invocations)} invocations, ${(r.simulatedMs / 3_600_000).toFixed(2)} h simulated`);
console.log(`  wall ${run.wall.toFixed(2)} s, cpu ${run.cpu.toFixed(2)} s`);
console.log(`  simulated invocations/s: ${fmt(simWall)} per wall second, ${fmt(simCpu)} per CPU second  (goal >= 1,000,000)`);
console.log(`  baseline event queue (push+pop)/s: ${fmt(queueRate)}   ratio simulator/queue = ${(simCpu / queueRate).toFixed(3)}`);
console.log(`  baseline placement (acquire+release)/s: ${fmt(placementRate)}   ratio simulator/placement = ${(simCpu / placementRate).toFixed(3)}`);
console.log(`  cold ${(r.counts.coldRate * 100).toFixed(3)}%, p99 ${r.latencyMs.p99.toFixed(1)} ms, workers peak ${r.workers.peak}`);

if (!quick) {
  const dir = mkdtempSync(join(tmpdir(), 'lambkin-bench-trace-'));
  try {
    writeAzureSample(dir, { functions: 10_000, seed: 10 });
    const fns = loadAzureTrace({
      invocations: join(dir, AZURE_SAMPLE_FILES.invocations),
      durations: join(dir, AZURE_SAMPLE_FILES.durations),
      memory: join(dir, AZURE_SAMPLE_FILES.memory),
    });
    const day = timed(() =>
      simulate({ functions: fns, durationMs: 86_400_000, placement: { hostMemoryMb: 1_000_000_000, workerMemoryMb: 3072 }, profile, prices, seed: 1 }),
    );
    console.log(
      `full day, 10,000-function trace: ${fmt(day.value.invocations)} invocations in ${day.wall.toFixed(1)} s wall (${day.cpu.toFixed(1)} s cpu; goal < 60 s), ${fmt(day.value.invocations / day.wall)}/s`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
