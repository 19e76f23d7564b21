import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/profiles/rng.js';

describe('Rng', () => {
  test('same seed gives the same sequence; different seeds and streams differ', () => {
    const draw = (r: Rng): number[] => Array.from({ length: 20 }, () => r.next());
    assert.deepEqual(draw(new Rng(42)), draw(new Rng(42)));
    assert.notDeepEqual(draw(new Rng(42)), draw(new Rng(43)));
    assert.notDeepEqual(draw(new Rng(42, 1)), draw(new Rng(42, 2)));
    // All bits of a large seed count.
    assert.notDeepEqual(draw(new Rng(2 ** 40 + 1)), draw(new Rng(1)));
  });

  test('next() is uniform in [0, 1)', () => {
    const r = new Rng(7);
    const n = 200_000;
    const bins = new Array<number>(10).fill(0);
    let sum = 0;
    for (let i = 0; i < n; i++) {
      const x = r.next();
      assert.ok(x >= 0 && x < 1, `out of range: ${x}`);
      sum += x;
      bins[Math.floor(x * 10)]!++;
    }
    assert.ok(Math.abs(sum / n - 0.5) < 0.005, `mean ${sum / n}`);
    for (const b of bins) assert.ok(Math.abs(b / n - 0.1) < 0.005, `bin share ${b / n}`);
  });

  test('normal() has mean 0 and sd 1', () => {
    const r = new Rng(1);
    const n = 200_000;
    let s = 0;
    let s2 = 0;
    for (let i = 0; i < n; i++) {
      const x = r.normal();
      s += x;
      s2 += x * x;
    }
    const mean = s / n;
    assert.ok(Math.abs(mean) < 0.01, `mean ${mean}`);
    assert.ok(Math.abs(Math.sqrt(s2 / n - mean * mean) - 1) < 0.01);
  });

  test('rejects a seed that is not a safe integer', () => {
    assert.throws(() => new Rng(1.5), RangeError);
    assert.throws(() => new Rng(Number.NaN), RangeError);
  });
});
