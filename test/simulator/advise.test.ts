import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, describe, test } from 'node:test';
import { reportDurations, runAdviseCommand } from '../../src/cli/advise-command.js';

const dir = mkdtempSync(join(tmpdir(), 'lambkin-advise-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function sink(): { stream: Writable; text: () => string } {
  let s = '';
  return { stream: new Writable({ write: (c: Buffer, _e, cb) => ((s += c.toString()), cb()) }), text: () => s };
}

describe('lambkin advise', () => {
  test('REPORT durations are read from LogType=Tail; cold starts (Init Duration) are left out', () => {
    const log = [
      'START RequestId: a Version: $LATEST',
      'REPORT RequestId: a\tDuration: 12.50 ms\tBilled Duration: 13 ms\tMemory Size: 128 MB\tMax Memory Used: 40 MB\tInit Duration: 180.00 ms',
      'REPORT RequestId: b\tDuration: 3.25 ms\tBilled Duration: 4 ms\tMemory Size: 128 MB\tMax Memory Used: 40 MB',
    ].join('\n');
    assert.deepEqual(reportDurations(Buffer.from(log).toString('base64')), { durations: [3.25], cold: true });
    assert.deepEqual(reportDurations(undefined), { durations: [], cold: false });
  });

  test('a CPU-bound VPC function: faster with memory up to 1 vCPU, costlier beyond; the legacy ENI penalty grows with memory', async () => {
    const spec = join(dir, 'fn.json');
    writeFileSync(
      spec,
      JSON.stringify({
        duration: '1h',
        placement: { vpcMode: 'legacy' },
        functions: [{ name: 'api', memoryMb: 1024, vpc: true, handler: { dist: 'constant', valueMs: 100, cpuFraction: 1 }, arrivals: { kind: 'poisson', ratePerSec: 0.2, bursts: [{ start: '10m', duration: '10s', factor: 200 }] } }],
      }),
    );
    const out = sink();
    const a = await runAdviseCommand({ target: spec, candidates: [128, 512, 1769, 3008], optimize: 'cost', seed: 1, json: false, progress: false, html: join(dir, 'a.html'), stdout: out.stream });
    const row = (m: number, v: string) => a.rows.find((r) => r.memoryMb === m && r.variant === v)!;
    // Handler scales with vCPUs up to 1 (1,769 MB), flat beyond.
    assert.ok(Math.abs(row(128, 'none').handlerMeanMs - (100 * 1024) / 128) < 1e-9);
    assert.equal(row(3008, 'none').handlerMeanMs, row(1769, 'none').handlerMeanMs);
    // Legacy VPC: bigger sandboxes share workers (and ENIs) with fewer others: more ENIs, more narrow cold starts.
    assert.ok(row(3008, 'legacy').enisPeak > row(128, 'legacy').enisPeak);
    assert.ok(row(3008, 'legacy').narrowColdRate > row(128, 'legacy').narrowColdRate);
    assert.ok(row(3008, 'none').costPerMillion > row(1769, 'none').costPerMillion);
    assert.equal(a.recommendation.cost.variant, 'legacy');
    assert.equal(a.tradeoff.length, 4);
    assert.match(out.text(), /recommended MemorySize for --optimize cost: \d+ MB/);
    assert.match(readFileSync(join(dir, 'a.html'), 'utf8'), /<svg/);
  });

  test('a name without --endpoint is an error that says what to do', async () => {
    await assert.rejects(runAdviseCommand({ target: 'my-function', optimize: 'balanced', seed: 1, json: true, progress: false }), /give --endpoint of a running lambkin/);
  });
});
