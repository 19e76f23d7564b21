import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { SEED_CASES } from '../../src/experiments/seed-cases.js';
import { loadProfile } from '../../src/profiles/latency-profile.js';
import { AZURE_SAMPLE_DEFAULTS, AZURE_SAMPLE_FILES, generateAzureSample } from '../../src/simulator/azure-sample.js';
import { dataPath } from '../../src/simulator/data-files.js';
import { simulate } from '../../src/simulator/engine.js';
import { azureSamplePreset } from '../../src/simulator/presets.js';
import { loadPrices } from '../../src/simulator/prices.js';
import { idleGbHours } from '../../src/simulator/report.js';
import { runSeedPreset } from '../../src/simulator/seed-preset.js';

describe('--preset seed-2019 reproduces the seed', () => {
  const { cases } = runSeedPreset({ repeat: 100, seed: 1 });

  test('ENI counts per run of ten are exactly 1 / 10 / 0 / 0 / – / 0', () => {
    const expected: Record<number, number> = { 1: 1, 2: 10, 3: 0, 4: 0, 6: 0 };
    for (const c of cases) {
      assert.equal(c.runs.length, c.id === 5 ? 1000 : 100);
      if (c.id === 5) continue;
      for (const r of c.runs) assert.equal(r.enisCreated, expected[c.id], `case ${c.id}`);
      assert.equal(c.enisCreated, expected[c.id]);
    }
    // Workers as the seed's model says: ten 128 MB sandboxes share one; ten 3008 MB need ten; 1024 MB: three per worker.
    const workers = Object.fromEntries(cases.map((c) => [c.id, c.workersCreated]));
    assert.deepEqual([workers[1], workers[2], workers[3], workers[4], workers[6]], [1, 10, 1, 10, 4]);
  });

  test('means within 15% of the seed (printed)', () => {
    for (const c of cases) {
      const seed = SEED_CASES.find((s) => s.id === c.id)!;
      if (c.sweep) {
        for (const s of c.sweep) {
          const ref = seed.sweep!.find((x) => x.memoryMb === s.memoryMb)!;
          const dev = s.stats.mean / ref.mean - 1;
          console.log(`case 5 ${s.memoryMb} MB: simulated mean ${s.stats.mean.toFixed(0)} ms, seed ${ref.mean} ms (${(dev * 100).toFixed(1)}%)`);
          assert.ok(Math.abs(dev) <= 0.15, `case 5 at ${s.memoryMb} MB`);
        }
        continue;
      }
      const dev = c.stats.mean / seed.seed!.mean - 1;
      console.log(`case ${c.id}: simulated mean ${c.stats.mean.toFixed(0)} ms over ${c.durationsMs.length} starts, seed ${seed.seed!.mean} ms (${(dev * 100).toFixed(1)}%)`);
      assert.ok(Math.abs(dev) <= 0.15, `case ${c.id}: ${c.stats.mean} vs ${seed.seed!.mean}`);
    }
  });
});

describe('the shipped synthetic Azure-format trace', () => {
  test('is exactly the generator output (regenerate with node dist/src/simulator/azure-sample.js)', () => {
    const s = generateAzureSample(AZURE_SAMPLE_DEFAULTS);
    const dir = dataPath('azure-sample');
    assert.equal(readFileSync(join(dir, AZURE_SAMPLE_FILES.invocations), 'utf8'), s.invocations);
    assert.equal(readFileSync(join(dir, AZURE_SAMPLE_FILES.durations), 'utf8'), s.durations);
    assert.equal(readFileSync(join(dir, AZURE_SAMPLE_FILES.memory), 'utf8'), s.memory);
    assert.equal(s.invocations.trim().split('\n').length, 1 + AZURE_SAMPLE_DEFAULTS.functions);
  });

  test('the hybrid histogram policy beats a fixed 10-minute keep-alive: fewer cold starts at no more idle memory', () => {
    const w = azureSamplePreset();
    const base = { ...w, profile: loadProfile('aws-2019'), prices: loadPrices(), seed: 1 };
    const fixed = simulate({ ...base, keepAlive: { policy: 'fixed', ttlMs: 600_000 } });
    const hybrid = simulate({ ...base, keepAlive: { policy: 'hybrid' } });
    const line = (name: string, r: typeof fixed) =>
      `${name}: ${r.invocations} invocations, cold ${r.counts.cold} (${(r.counts.coldRate * 100).toFixed(2)}%), idle memory ${idleGbHours(r).toFixed(1)} GB·h, pre-warmed ${r.prewarms}, p99 ${r.latencyMs.p99.toFixed(0)} ms`;
    console.log(line('fixed 10 min', fixed));
    console.log(line('hybrid      ', hybrid));
    assert.equal(hybrid.invocations, fixed.invocations);
    assert.ok(hybrid.counts.coldRate < fixed.counts.coldRate, 'fewer cold starts');
    assert.ok(hybrid.idleMemoryMbSeconds <= fixed.idleMemoryMbSeconds, 'no more idle memory');
  });
});
