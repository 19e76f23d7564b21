/**
 * `lambkin advise --endpoint`: the handler's duration at each MemorySize is measured by really invoking
 * a CPU-bound function on a running lambkin whose sandboxes get MemorySize/1769 of a CPU (cgroups).
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import { GetFunctionConfigurationCommand } from '@aws-sdk/client-lambda';
import { AdviseInterrupted, runAdviseCommand } from '../../src/cli/advise-command.js';
import { cgroupsUnavailable, detectCapabilities } from '../../src/fleet/isolation/capabilities.js';
import { createFn, nextLog } from '../helpers/lambda.js';
import { leakFree } from '../helpers/leaks.js';
import { startTestServer } from '../helpers/server.js';
import { makeZip } from '../helpers/zip.js';

const skip = cgroupsUnavailable(detectCapabilities());
const credentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'test' };

function sink(onWrite: (s: string) => void = () => {}): { stream: Writable; text: () => string } {
  let s = '';
  return {
    stream: new Writable({
      write: (c: Buffer, _e, cb) => {
        s += c.toString();
        onWrite(c.toString());
        cb();
      },
    }),
    text: () => s,
  };
}

/** The loop of the handler below, run here to find an iteration count that takes ~`ms` at full CPU. */
function spin(n: number): number {
  let x = 0;
  for (let i = 0; i < n; i++) x = (x * 31 + i) % 1_000_003;
  return x;
}

function calibrate(ms: number): number {
  spin(1e6); // let the JIT optimize the loop first, as it is in a warm sandbox
  let n = 1e6;
  for (;;) {
    const t = performance.now();
    spin(n);
    const took = performance.now() - t;
    if (took >= ms / 4) return Math.round((n * ms) / took);
    n *= 4;
  }
}

const cpuBoundZip = (iterations: number) =>
  makeZip({
    'index.js': `${spin.toString()}\nexports.handler = async () => ({ x: spin(${iterations}) });\n`,
  });

describe('lambkin advise --endpoint (measured on a running lambkin with cgroups)', { skip }, () => {
  test(
    'CPU-bound: 128 MB is ≥ 4× slower than 1769 MB; MemorySize restored; a recommendation is printed',
    { timeout: 60_000 },
    leakFree(async (_t, defer) => {
      const s = await startTestServer(defer, { isolation: 'cgroups' });
      const name = 'cpu-bound';
      await createFn(s.lambda, name, cpuBoundZip(calibrate(70)), { MemorySize: 512, Timeout: 30 });
      const out = sink();
      const err = sink();
      const a = await runAdviseCommand({
        target: name,
        endpoint: s.lambkin.url,
        credentials,
        candidates: [128, 1769],
        invocations: 3,
        ratePerSec: 0.1,
        durationMs: 600_000,
        optimize: 'mean',
        seed: 1,
        json: false,
        progress: false,
        stdout: out.stream,
        stderr: err.stream,
      });
      const measured = a.measured?.points ?? [];
      assert.deepEqual(measured.map((p) => p.memoryMb), [128, 1769], err.text());
      const at = (m: number) => measured.find((p) => p.memoryMb === m)!;
      for (const p of measured) assert.equal(p.invocations, 3, 'three warm durations per size (cold starts left out)');
      // CPU is MemorySize/1769 of a core: 128 MB gets 7.2% of one, ~13.8× slower for pure CPU work. On a busy
      // machine the 1769 MB sandbox may get less than its full core, so the bound leaves room below 13.8×.
      const ratio = at(128).meanMs / at(1769).meanMs;
      assert.ok(ratio >= 4, `128 MB: ${at(128).meanMs.toFixed(1)} ms, 1769 MB: ${at(1769).meanMs.toFixed(1)} ms (×${ratio.toFixed(2)})`);
      // The simulation uses the measured durations.
      assert.equal(a.rows.find((r) => r.memoryMb === 128 && r.variant === 'none')!.handlerMeanMs, at(128).meanMs);
      // The function is back at its own MemorySize, and the update has settled.
      const cfg = await s.lambda.send(new GetFunctionConfigurationCommand({ FunctionName: name }));
      assert.equal(cfg.MemorySize, 512);
      assert.equal(cfg.LastUpdateStatus, 'Successful');
      assert.equal(a.measured?.originalMemoryMb, 512);
      assert.match(out.text(), /handler durations measured on http:\/\/\S+ .*restored to 512 MB/);
      assert.match(out.text(), /recommended MemorySize for --optimize mean: (128|1769) MB/);
      assert.equal(a.recommendation.mean.memoryMb, 1769, 'for a CPU-bound handler, more CPU is faster');
    }),
  );

  test(
    'interrupted while invoking at a test MemorySize: the original MemorySize is restored',
    { timeout: 60_000 },
    leakFree(async (_t, defer) => {
      const s = await startTestServer(defer, { isolation: 'cgroups' });
      const name = 'cpu-bound-interrupted';
      await createFn(s.lambda, name, cpuBoundZip(calibrate(20)), { MemorySize: 1024, Timeout: 30 });
      const abort = new AbortController();
      // Abort as soon as an invocation has run at 128 MB, while the next one is in flight.
      const ran = nextLog(s.lambkin, name, /^REPORT .*Memory Size: 128 MB/);
      const err = sink();
      const run = runAdviseCommand({
        target: name,
        endpoint: s.lambkin.url,
        credentials,
        candidates: [128, 1769],
        invocations: 1000,
        optimize: 'mean',
        seed: 1,
        json: true,
        progress: false,
        stdout: sink().stream,
        stderr: err.stream,
        signal: abort.signal,
      });
      await ran;
      const during = await s.lambda.send(new GetFunctionConfigurationCommand({ FunctionName: name }));
      assert.equal(during.MemorySize, 128);
      abort.abort();
      await assert.rejects(run, AdviseInterrupted);
      const cfg = await s.lambda.send(new GetFunctionConfigurationCommand({ FunctionName: name }));
      assert.equal(cfg.MemorySize, 1024);
      assert.equal(cfg.LastUpdateStatus, 'Successful');
      assert.match(err.text(), /MemorySize of cpu-bound-interrupted restored to 1024 MB/);
      assert.doesNotMatch(err.text(), /1769 MB/, 'nothing was measured after the interrupt');
    }),
  );
});
