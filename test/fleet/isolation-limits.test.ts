/**
 * MemorySize is a hard limit and buys CPU, at each isolated level: a memory hog is killed by the kernel
 * at 128 MB (Lambda's Runtime.OutOfMemory) but runs at 512 MB; a CPU-bound loop at 128 MB takes at least
 * 8× as long as at 1769 MB (one vCPU), both measured in this run.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { leakFree } from '../helpers/leaks.js';
import { ISOLATED_LEVELS, invocation, makeIsolatedDriver, nodeSpec, scratchRoot } from './isolation-fixtures.js';

const root = scratchRoot('lambkin-isolim-');
after(() => root.remove());

// Off-heap buffers, touched page by page: the kernel, not V8's heap limit, must stop this.
const HOG = `exports.handler = async (event) => {
  const bufs = [];
  for (let i = 0; i < event.mb; i++) { const b = Buffer.allocUnsafe(1 << 20); b.fill(i & 255); bufs.push(b); }
  return { allocatedMb: bufs.length };
};`;

// A fixed amount of work: about 100 ms on one full CPU.
const SPIN = `exports.handler = async (event) => {
  const t = process.hrtime.bigint();
  let x = 0;
  for (let i = 0; i < event.n; i++) x += Math.sqrt(i) * Math.sin(i);
  return { ms: Number(process.hrtime.bigint() - t) / 1e6, x };
};`;

for (const level of ISOLATED_LEVELS) {
  describe(`isolation ${level.request}: limits`, { skip: level.skip }, () => {
    test(
      'a handler allocating past MemorySize is killed: Runtime.OutOfMemory, peak reported, other sandboxes untouched',
      leakFree(async (_t, defer) => {
        const driver = makeIsolatedDriver(level.request);
        defer(() => driver.close());
        const bystander = await driver.create(nodeSpec(root.dir, 'let n = 0; exports.handler = async () => ({ n: ++n });', { memoryMb: 256 }));
        assert.equal((await bystander.invoke(invocation({}))).kind, 'success');

        const small = await driver.create(nodeSpec(root.dir, HOG, { memoryMb: 128 }));
        const inv = invocation({ mb: 300 });
        const out = await small.invoke(inv);
        assert.equal(out.kind, 'error');
        if (out.kind !== 'error') return;
        assert.equal(out.errorType, 'Runtime.OutOfMemory');
        assert.equal(out.fatal, true);
        assert.deepEqual(JSON.parse(out.payload.toString()), {
          errorType: 'Runtime.OutOfMemory',
          errorMessage: `RequestId: ${inv.requestId} Error: Runtime exited with error: signal: killed`,
        });
        assert.ok(out.maxMemoryUsedMb >= 120 && out.maxMemoryUsedMb <= 130, `Max Memory Used ${out.maxMemoryUsedMb} MB should be the 128 MB limit`);
        assert.ok(out.logs.includes('Runtime.OutOfMemory'));
        assert.equal(small.state, 'failed');
        await small.stop();

        // The bystander kept its state: it was not restarted.
        const again = await bystander.invoke(invocation({}));
        assert.equal(again.kind, 'success');
        assert.deepEqual(JSON.parse(again.payload.toString()), { n: 2 });

        const big = await driver.create(nodeSpec(root.dir, HOG, { memoryMb: 512 }));
        const ok = await big.invoke(invocation({ mb: 300 }));
        assert.equal(ok.kind, 'success', ok.payload.toString());
        assert.deepEqual(JSON.parse(ok.payload.toString()), { allocatedMb: 300 });
        assert.ok(ok.maxMemoryUsedMb >= 300, `Max Memory Used ${ok.maxMemoryUsedMb} MB covers the 300 MB allocated`);
      }),
    );

    test(
      'CPU is proportional to MemorySize: 128 MB runs a CPU-bound loop at least 8x slower than 1769 MB',
      leakFree(async (t, defer) => {
        const driver = makeIsolatedDriver(level.request);
        defer(() => driver.close());
        const n = 2_000_000;
        const full = await driver.create(nodeSpec(root.dir, SPIN, { memoryMb: 1769 }));
        // Best of three at one vCPU: the least disturbed by whatever else this machine runs.
        const fullMs: number[] = [];
        for (let i = 0; i < 3; i++) {
          const out = await full.invoke(invocation({ n }));
          assert.equal(out.kind, 'success');
          fullMs.push((JSON.parse(out.payload.toString()) as { ms: number }).ms);
        }
        await full.stop();
        const slow = await driver.create(nodeSpec(root.dir, SPIN, { memoryMb: 128 }));
        await slow.invoke(invocation({ n: 1000 })); // same warm-up as the first call above
        const out = await slow.invoke(invocation({ n }));
        assert.equal(out.kind, 'success');
        const slowMs = (JSON.parse(out.payload.toString()) as { ms: number }).ms;
        const best = Math.min(...fullMs);
        const ratio = slowMs / best;
        t.diagnostic(`1769 MB: ${best.toFixed(0)} ms, 128 MB: ${slowMs.toFixed(0)} ms, ratio ${ratio.toFixed(1)}`);
        assert.ok(ratio >= 8, `128 MB took ${slowMs.toFixed(0)} ms, 1769 MB ${best.toFixed(0)} ms: ratio ${ratio.toFixed(1)} < 8`);
      }),
    );
  });
}
