import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { mean, median, percentile, sampleVariance, summarize } from '../../src/experiments/statistics.js';
import { SEED_CASES } from '../../src/experiments/seed-cases.js';

test("reproduces the seed's own statistics from its runs", () => {
  let checked = 0;
  for (const c of SEED_CASES) {
    const seed = c.seed;
    if (!seed?.runs) continue;
    const s = summarize(seed.runs);
    assert.equal(Math.round(s.mean), seed.mean, `case ${c.id} mean`);
    assert.equal(Math.round(s.max), seed.max, `case ${c.id} max`);
    assert.equal(Math.round(s.min), seed.min, `case ${c.id} min`);
    assert.equal(Math.round(s.variance), seed.variance, `case ${c.id} variance`);
    // The seed rounds medians half up (case 3: 239.5 is reported as 240).
    assert.equal(Math.round(s.median), seed.median, `case ${c.id} median`);
    checked++;
  }
  assert.equal(checked, 5);
});

test('case 3 runs give the seed variance 1,553 (sample variance, n − 1)', () => {
  const runs = [247, 319, 219, 318, 241, 226, 241, 202, 228, 238];
  assert.equal(Math.round(sampleVariance(runs)), 1553);
  assert.equal(median(runs), 239.5);
});

test('percentiles interpolate and bracket the data', () => {
  assert.equal(percentile([1, 2, 3, 4], 50), 2.5);
  assert.equal(percentile([5], 99), 5);
  assert.equal(percentile([1, 2, 3, 4, 5], 0), 1);
  assert.equal(percentile([1, 2, 3, 4, 5], 100), 5);
  assert.throws(() => percentile([1], 101), RangeError);
  assert.ok(Number.isNaN(mean([])));
  assert.equal(sampleVariance([3]), 0);
  fc.assert(
    fc.property(fc.array(fc.double({ min: -1e6, max: 1e6, noNaN: true }), { minLength: 1 }), fc.double({ min: 0, max: 100, noNaN: true }), (xs, p) => {
      const v = percentile(xs, p);
      return v >= Math.min(...xs) - 1e-6 && v <= Math.max(...xs) + 1e-6;
    }),
  );
});
