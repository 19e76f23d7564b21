import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  builtinProfileNames,
  createSampler,
  loadProfile,
  pointAt,
  stepDelays,
  type ProfileSampler,
} from '../../src/profiles/latency-profile.js';
import type { Step } from '../../src/worker-manager/types.js';

const aws = loadProfile('aws-2019');
const sampler = (seed = 1, timeScale = 1): ProfileSampler => createSampler(aws, { seed, timeScale });

function stats(xs: number[]): { mean: number; variance: number; min: number; max: number } {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const variance = xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1);
  return { mean, variance, min: Math.min(...xs), max: Math.max(...xs) };
}
const draws = (n: number, f: () => number): number[] => Array.from({ length: n }, f);
const near = (actual: number, expected: number, rel: number, what: string): void =>
  assert.ok(Math.abs(actual - expected) <= rel * expected, `${what}: ${actual.toFixed(1)} not within ${rel * 100}% of ${expected}`);

describe('loading', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lambkin-profiles-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const write = (name: string, text: string): string => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };

  test('every built-in loads, cites a source, and has a data file (and no data file is unlisted)', () => {
    assert.deepEqual(builtinProfileNames().sort(), ['aws-2019', 'none']);
    for (const name of builtinProfileNames()) {
      const p = loadProfile(name);
      assert.equal(p.name, name);
      assert.ok(p.source.length > 20);
    }
    const files = readdirSync(new URL('../../src/profiles/data/', import.meta.url)).filter((f) => f.endsWith('.json'));
    assert.deepEqual(files.map((f) => f.replace(/\.json$/, '')).sort(), builtinProfileNames().sort());
  });

  test('the loaded profile is frozen', () => {
    assert.ok(Object.isFrozen(aws) && Object.isFrozen(aws.coldStartTotalMs.points[0]));
  });

  test('an unknown name is an error naming the built-ins', () => {
    assert.throws(() => loadProfile('aws-2020'), /Unknown latency profile "aws-2020".*none, aws-2019/);
  });

  test('a profile file loads from a path', () => {
    const data = JSON.parse(readFileSync(new URL('../../src/profiles/data/aws-2019.json', import.meta.url), 'utf8')) as Record<string, unknown>;
    const p = loadProfile(write('measured.json', JSON.stringify({ ...data, name: 'measured', source: 'a test' })));
    assert.equal(p.name, 'measured');
  });

  test('bad files are clear errors', () => {
    assert.throws(() => loadProfile(join(dir, 'missing.json')), /Cannot read latency profile .*missing\.json/);
    assert.throws(() => loadProfile(write('broken.json', '{ "name": ')), /not valid JSON/);
    const none = JSON.parse(readFileSync(new URL('../../src/profiles/data/none.json', import.meta.url), 'utf8')) as Record<string, unknown>;
    const { source: _source, ...unsourced } = none;
    assert.throws(() => loadProfile(write('unsourced.json', JSON.stringify(unsourced))), /Invalid latency profile[\s\S]*source/);
    assert.throws(() => loadProfile(write('typo.json', JSON.stringify({ ...none, eniCreateMS: 1 }))), /Invalid latency profile[\s\S]*eniCreateMS/);
    const badBounds = { ...none, eniCreateMs: { kind: 'normal', mean: 10, sd: 1, min: 11, max: 20 } };
    assert.throws(() => loadProfile(write('bounds.json', JSON.stringify(badBounds))), /min <= mean <= max/);
    const unsorted = {
      ...none,
      handlerMs: {
        dist: 'normal',
        points: [
          { memoryMb: 1024, mean: 1, sd: 0, min: 1, max: 1 },
          { memoryMb: 128, mean: 2, sd: 0, min: 2, max: 2 },
        ],
      },
    };
    assert.throws(() => loadProfile(write('unsorted.json', JSON.stringify(unsorted))), /ascending memoryMb/);
    const negative = { ...none, workerProvisionMs: { kind: 'constant', value: -1 } };
    assert.throws(() => loadProfile(write('negative.json', JSON.stringify(negative))), /Invalid latency profile/);
  });
});

describe('sampling', () => {
  test('same seed → same draws; another seed → other draws', () => {
    const seq = (s: ProfileSampler): number[] => [
      s.eniCreateMs(), s.coldStartTotalMs(128), s.workerProvisionMs(), s.platformExtraMs(512), s.codeDownloadMs(128), s.handlerMs(3008),
      s.eniCreateMs(), s.coldStartTotalMs(128),
    ];
    assert.deepEqual(seq(sampler(5)), seq(sampler(5)));
    assert.notDeepEqual(seq(sampler(5)), seq(sampler(6)));
  });

  test('quantities use separate streams: extra ENI draws do not shift cold-start draws', () => {
    const a = sampler(9);
    const b = sampler(9);
    b.eniCreateMs();
    b.eniCreateMs();
    assert.deepEqual(draws(5, () => a.coldStartTotalMs(128)), draws(5, () => b.coldStartTotalMs(128)));
  });

  test('the time scale multiplies every duration', () => {
    const one = sampler(3, 1);
    const tenth = sampler(3, 0.1);
    const pairs: [number, number][] = [
      [one.workerProvisionMs(), tenth.workerProvisionMs()],
      [one.eniCreateMs(), tenth.eniCreateMs()],
      [one.codeDownloadMs(256), tenth.codeDownloadMs(256)],
      [one.platformExtraMs(256), tenth.platformExtraMs(256)],
      [one.coldStartTotalMs(256), tenth.coldStartTotalMs(256)],
      [one.handlerMs(256), tenth.handlerMs(256)],
    ];
    for (const [full, scaled] of pairs) {
      assert.ok(full > 0);
      assert.ok(Math.abs(scaled - full * 0.1) < 1e-9 * full, `${scaled} vs ${full}`);
    }
    assert.equal(sampler(3, 0).eniCreateMs(), 0);
    assert.throws(() => createSampler(aws, { seed: 1, timeScale: -1 }), RangeError);
    assert.throws(() => createSampler(aws, { seed: 0.5, timeScale: 1 }), RangeError);
  });

  test('none: every draw is zero', () => {
    const s = createSampler(loadProfile('none'), { seed: 1, timeScale: 1 });
    for (const m of [128, 1024, 10240]) {
      assert.deepEqual(
        [s.workerProvisionMs(), s.eniCreateMs(), s.codeDownloadMs(m), s.platformExtraMs(m), s.coldStartTotalMs(m), s.handlerMs(m)],
        [0, 0, 0, 0, 0, 0],
      );
    }
  });
});

describe('interpolation by memory', () => {
  const mems = [128, 192, 256, 384, 512, 640, 768, 896, 1024];
  test('piecewise linear between points, flat beyond the ends', () => {
    const t = aws.coldStartTotalMs;
    assert.equal(pointAt(t, 64).mean, pointAt(t, 128).mean);
    assert.equal(pointAt(t, 10240).mean, pointAt(t, 3008).mean);
    const a = pointAt(t, 128);
    const b = pointAt(t, 256);
    assert.equal(pointAt(t, 192).mean, (a.mean + b.mean) / 2);
    assert.equal(pointAt(t, 192).sd, (a.sd + b.sd) / 2);
  });

  test('cold starts: non-increasing from 128 MB to 1 GB, then flat (within 5%)', () => {
    for (const table of [aws.coldStartTotalMs, aws.platformExtraMs]) {
      for (let i = 1; i < mems.length; i++) {
        assert.ok(pointAt(table, mems[i]!).mean <= pointAt(table, mems[i - 1]!).mean, `at ${mems[i]} MB`);
      }
      const at1g = pointAt(table, 1024).mean;
      assert.ok(pointAt(table, 128).mean > 1.2 * at1g, '128 MB is clearly slower than 1 GB');
      for (const m of [1536, 1769, 2048, 3008, 4096, 10240]) {
        assert.ok(Math.abs(pointAt(table, m).mean - at1g) <= 0.05 * at1g, `flat at ${m} MB`);
      }
    }
  });

  test('draws follow the table: more memory, faster start', () => {
    const s = sampler(11);
    const m128 = stats(draws(20_000, () => s.coldStartTotalMs(128))).mean;
    const m512 = stats(draws(20_000, () => s.coldStartTotalMs(512))).mean;
    const m1024 = stats(draws(20_000, () => s.coldStartTotalMs(1024))).mean;
    assert.ok(m128 > m512 && m512 > m1024, `${m128} > ${m512} > ${m1024}`);
  });
});

describe('aws-2019 reproduces the seed', () => {
  // Seed figures (shared/seed/SUMMARY.md). A "case" is ten new functions, each invoked once.
  const s = sampler(2019);
  const N = 100_000;

  test('ENI creation: mean ~10.4 s (case 2 minus a fast start), all draws within the case-2 range', () => {
    const st = stats(draws(N, () => s.eniCreateMs()));
    near(st.mean, 9_500, 0.1, 'ENI mean vs the issue\'s ~9.5 s');
    near(st.mean, 10_645 - 184, 0.02, 'ENI mean vs case 2 minus case 4');
    assert.ok(st.min >= 7_738 && st.max <= 14_713, `range ${st.min}-${st.max}`);
    const scaled = sampler(2019, 0.1);
    for (let i = 0; i < 10_000; i++) {
      const x = scaled.eniCreateMs();
      assert.ok(x >= 773.8 - 1e-9 && x <= 1_471.3 + 1e-9, `scaled ${x}`);
    }
  });

  test('worker provisioning and code download are small (tens of ms at most)', () => {
    const w = stats(draws(N, () => s.workerProvisionMs()));
    assert.ok(w.mean > 1 && w.mean < 20 && w.max <= 40, JSON.stringify(w));
    const c = stats(draws(N, () => s.codeDownloadMs(128)));
    assert.ok(c.mean > 1 && c.mean < 20 && c.max <= 40, JSON.stringify(c));
  });

  test('server delay of a fast cold start is a modest fraction of the whole', () => {
    for (const m of [128, 1024, 3008]) {
      const extra = stats(draws(N, () => s.codeDownloadMs(m) + s.platformExtraMs(m))).mean;
      const total = stats(draws(N, () => s.coldStartTotalMs(m))).mean;
      assert.ok(extra > 0.1 * total && extra < 0.3 * total, `${m} MB: ${extra} of ${total}`);
    }
  });

  /** One run of a case with n narrow (new worker) starts and e ENI starts among ten, as the simulator composes it. */
  function runCase(memoryMb: number, narrow: number, enis: number): number[] {
    return Array.from({ length: 10 }, (_, i) =>
      (i < narrow ? s.workerProvisionMs() : 0) + (i < enis ? s.eniCreateMs() : 0) + s.coldStartTotalMs(memoryMb) + s.handlerMs(memoryMb),
    );
  }
  const repeat = (k: number, run: () => number[]): number[] => Array.from({ length: k }, run).flat();

  test('the brief\'s check: case 1 ≈ (eni + cold(128)) + 9 × cold(128) → mean near 1,217', () => {
    const runs = repeat(2_000, () => [s.eniCreateMs() + s.coldStartTotalMs(128), ...draws(9, () => s.coldStartTotalMs(128))]);
    near(stats(runs).mean, 1_217, 0.15, 'case 1 mean');
  });

  test('cases 1-4 and 6 with worker provisioning and handler: means within 15%', () => {
    near(stats(repeat(2_000, () => runCase(128, 1, 1))).mean, 1_217, 0.15, 'case 1');
    near(stats(repeat(2_000, () => runCase(3008, 10, 10))).mean, 10_645, 0.15, 'case 2');
    near(stats(repeat(2_000, () => runCase(128, 1, 0))).mean, 248, 0.15, 'case 3');
    near(stats(repeat(2_000, () => runCase(3008, 10, 0))).mean, 184, 0.15, 'case 4');
    near(stats(repeat(2_000, () => runCase(1024, 4, 0))).mean, 180, 0.15, 'case 6');
  });

  test('cold starts alone: case 3 (128 MB), case 6 (1024 MB), case 4 (3008 MB) within 15%; variances of the right size', () => {
    const c3 = stats(draws(N, () => s.coldStartTotalMs(128)));
    const c6 = stats(draws(N, () => s.coldStartTotalMs(1024)));
    const c4 = stats(draws(N, () => s.coldStartTotalMs(3008)));
    near(c3.mean, 248, 0.15, 'case 3');
    near(c6.mean, 180, 0.15, 'case 6');
    near(c4.mean, 184, 0.15, 'case 4');
    assert.ok(c3.variance > 500 && c3.variance < 5_000, `case 3 variance ${c3.variance} (seed 1,553)`);
    assert.ok(c4.variance > 40 && c4.variance < 400, `case 4 variance ${c4.variance} (seed 122)`);
    assert.ok(c3.variance > 5 * c4.variance, 'more memory, lower variance');
  });

  test('the handler takes ~1-2 ms', () => {
    near(stats(draws(N, () => s.handlerMs(128))).mean, 2, 0.1, 'handler at 128 MB');
    near(stats(draws(N, () => s.handlerMs(3008))).mean, 1, 0.1, 'handler at 3008 MB');
  });
});

describe('stepDelays', () => {
  test('maps steps to profile draws; teardown steps cost nothing', () => {
    const delays = stepDelays(sampler(4));
    const ref = sampler(4);
    const steps: Step[] = [
      { kind: 'provision-worker', workerId: 'w-1', account: '1', memoryMb: 3072, hostId: 'h-1' },
      { kind: 'attach-eni', eniId: 'eni-1', workerId: 'w-1', vpcKey: 'k' },
      { kind: 'attach-eni', eniId: 'eni-2', vpcKey: 'k' },
      { kind: 'create-sandbox', sandboxId: 'sb-1', workerId: 'w-1', versionKey: 'v', memoryMb: 256, provisioned: false },
    ];
    assert.deepEqual(steps.map((st) => delays.delayFor(st)), [
      ref.workerProvisionMs(),
      ref.eniCreateMs(),
      ref.eniCreateMs(),
      ref.codeDownloadMs(256) + ref.platformExtraMs(256),
    ]);
    const teardown: Step[] = [
      { kind: 'stop-sandbox', sandboxId: 'sb-1', reason: 'expired' },
      { kind: 'retire-worker', workerId: 'w-1' },
      { kind: 'delete-eni', eniId: 'eni-1' },
    ];
    for (const st of teardown) assert.equal(delays.delayFor(st), 0);
  });
});

test('sampling is fast enough for the simulator (≥ 2 million draws per second)', () => {
  const s = sampler(1);
  const n = 2_000_000;
  let sum = 0;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) sum += s.coldStartTotalMs(128);
  const seconds = (performance.now() - t0) / 1000;
  assert.ok(sum > 0);
  assert.ok(n / seconds > 2_000_000, `${Math.round(n / seconds)} draws/s`);
});
