import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { Writable } from 'node:stream';
import { runSimulateCommand } from '../../src/cli/simulate-command.js';
import { loadAzureTrace } from '../../src/simulator/azure-trace.js';
import { specFunctions } from '../../src/simulator/workload.js';
import { loadWorkload, parseWorkload, WorkloadError } from '../../src/simulator/workload-spec.js';
import { Rng } from '../../src/profiles/rng.js';

const dir = mkdtempSync(join(tmpdir(), 'lambkin-workload-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

function sink(): { stream: Writable; text: () => string } {
  let s = '';
  return {
    stream: new Writable({
      write(chunk: Buffer, _enc, cb) {
        s += chunk.toString();
        cb();
      },
    }),
    text: () => s,
  };
}

const good = {
  name: 'shop',
  duration: '2h',
  functions: [
    {
      name: 'api',
      memoryMb: 512,
      vpc: { subnetIds: ['subnet-1'], securityGroupIds: ['sg-1'] },
      handler: { dist: 'lognormal', meanMs: 80, sdMs: 20 },
      arrivals: { kind: 'poisson', ratePerSec: 2, diurnal: { amplitude: 0.5 }, bursts: [{ start: '30m', duration: '1m', factor: 10 }] },
    },
    { name: 'cron', memoryMb: 128, handler: { dist: 'constant', valueMs: 1000 }, arrivals: { kind: 'periodic', every: '15m' }, replicas: 3 },
  ],
};

describe('workload specs', () => {
  test('a valid spec expands replicas, parses durations and VPC keys', () => {
    const w = parseWorkload(good);
    assert.equal(w.duration, 7_200_000);
    const fns = specFunctions(w);
    assert.deepEqual(fns.map((f) => f.name), ['api', 'cron-1', 'cron-2', 'cron-3']);
    assert.equal(fns[0]!.vpcKey, 'subnet-1|sg-1');
    assert.equal(fns[1]!.vpcKey, undefined);
    assert.equal(fns[1]!.poissonRatePerSec, undefined);
    // Bursts: the 1-minute ×10 window adds 9 minutes' worth of traffic.
    assert.ok(Math.abs(fns[0]!.expected(7_200_000) - 2 * (7200 + 9 * 60)) < 1e-6);
    const src = fns[1]!.arrivals(3_600_000, new Rng(1));
    const times: number[] = [];
    for (let t = src.next(); t !== Infinity; t = src.next()) times.push(t);
    assert.deepEqual(times, [0, 900_000, 1_800_000, 2_700_000]);
  });

  test('errors name the path and the problem', () => {
    const bad = (data: unknown, re: RegExp) => assert.throws(() => parseWorkload(data, 'test'), (e: unknown) => e instanceof WorkloadError && re.test(e.message));
    bad({ functions: [] }, /a workload needs functions or azureTrace/);
    bad({ functions: [{ ...good.functions[1], memoryMb: 64 }] }, /memoryMb/);
    bad({ functions: [{ ...good.functions[1], handler: { dist: 'lognormal' } }] }, /lognormal needs meanMs/);
    bad({ functions: [{ ...good.functions[1], handler: { dist: 'percentiles', percentiles: { 50: 3 } } }] }, /needs at least the keys "0" and "100"/);
    bad({ functions: [{ ...good.functions[1], arrivals: { kind: 'periodic', every: 'often' } }] }, /not a duration/);
    bad({ functions: [{ ...good.functions[1], arrivals: { kind: 'random' } }] }, /kind/);
    bad({ functions: [good.functions[1], good.functions[1]] }, /duplicate function name "cron"/);
    bad({ functions: [{ ...good.functions[1], account: '12' }] }, /account must be 12 digits/);
    bad({ functions: [good.functions[1]], extra: 1 }, /extra/);
    assert.throws(() => loadWorkload(file('broken.json', '{ nope')), /is not valid JSON/);
    assert.throws(() => loadWorkload(join(dir, 'missing.json')), /Cannot read workload/);
  });

  test('Azure trace files: bad header, short rows and bad numbers are reported with file and line', () => {
    const header = `HashOwner,HashApp,HashFunction,Trigger,${Array.from({ length: 3 }, (_, i) => i + 1).join(',')}`;
    const ok = file('inv.csv', `${header}\no1,a1,f1,http,1,0,2\no1,a1,f2,timer,0,1,0\n`);
    const fns = loadAzureTrace({ invocations: ok });
    assert.equal(fns.length, 2);
    assert.deepEqual([...fns[0]!.perMinuteCounts!], [1, 0, 2]);
    assert.equal(fns[0]!.account, fns[1]!.account);
    assert.equal(fns[0]!.memoryMb, 128);
    assert.throws(() => loadAzureTrace({ invocations: file('h.csv', 'Owner,App\nx,y\n') }), /has no column "HashOwner"/);
    assert.throws(() => loadAzureTrace({ invocations: file('s.csv', `${header}\no,a,f,http,1\n`) }), /line 2: 5 fields, the header has 7/);
    assert.throws(() => loadAzureTrace({ invocations: file('n.csv', `${header}\no,a,f,http,1,x,2\n`) }), /line 2: minute 2 is "x"/);
    assert.throws(() => loadAzureTrace({ invocations: file('m.csv', 'HashOwner,HashApp,HashFunction,Trigger\n') }), /no per-minute columns/);
    const mem = file('mem.csv', 'HashOwner,HashApp,SampleCount,AverageAllocatedMb\no1,a1,10,300\n');
    const dur = file('dur.csv', 'HashOwner,HashApp,HashFunction,Average,Count,Minimum,Maximum,percentile_Average_0,percentile_Average_1,percentile_Average_25,percentile_Average_50,percentile_Average_75,percentile_Average_99,percentile_Average_100\no1,a1,f1,10,3,1,50,1,2,5,8,12,40,50\n');
    const full = loadAzureTrace({ invocations: ok, memory: mem, durations: dur });
    assert.equal(full[0]!.memoryMb, 320);
    assert.equal(full[0]!.handler.dist, 'percentiles');
    assert.equal(full[1]!.handler.dist, 'constant');
  });
});

describe('lambkin simulate (command)', () => {
  test('--json for a spec has invocations and wallSeconds; two keep-alive policies compared', async () => {
    const spec = file('spec.json', JSON.stringify(good));
    const out = sink();
    const json = (await runSimulateCommand({ spec, keepAlive: ['fixed', 'hybrid'], seed: 3, json: true, progress: false, html: join(dir, 'r.html'), stdout: out.stream })) as {
      invocations: number;
      wallSeconds: number;
      results: { label: string; invocations: number }[];
    };
    const printed = JSON.parse(out.text()) as typeof json;
    assert.equal(printed.invocations, json.invocations);
    // 2 req/s for 2 h at night (diurnal factor ~0.6) plus the burst, and 3 timers.
    assert.ok(json.invocations > 5_000 && json.invocations < 15_000, String(json.invocations));
    assert.ok(json.wallSeconds > 0);
    assert.deepEqual(json.results.map((r) => r.label), ['fixed', 'hybrid']);
    const html = (await import('node:fs')).readFileSync(join(dir, 'r.html'), 'utf8');
    assert.match(html, /<svg/);
    assert.doesNotMatch(html, /<script/);
  });

  test('--preset seed-2019 --json has cases shaped like the experiment report', async () => {
    const out = sink();
    const json = (await runSimulateCommand({ preset: 'seed-2019', repeat: 3, seed: 1, json: true, progress: false, stdout: out.stream })) as {
      invocations: number;
      wallSeconds: number;
      cases: { id: number; enisCreated: number; workersCreated: number; stats: Record<string, number> }[];
    };
    assert.equal(json.cases.length, 6);
    assert.equal(json.invocations, 3 * (5 * 10 + 10 * 10));
    for (const c of json.cases) for (const k of ['mean', 'median', 'max', 'min', 'variance']) assert.equal(typeof c.stats[k], 'number');
    assert.deepEqual(json.cases.map((c) => c.enisCreated), [1, 10, 0, 0, json.cases[4]!.enisCreated, 0]);
  });

  test('bad input: no workload, two workloads, unknown preset', async () => {
    await assert.rejects(runSimulateCommand({ seed: 1, json: true, progress: false }), /give exactly one workload/);
    await assert.rejects(runSimulateCommand({ preset: 'bench', spec: 'x.json', seed: 1, json: true, progress: false }), /give exactly one workload/);
    await assert.rejects(runSimulateCommand({ preset: 'tiny', seed: 1, json: true, progress: false }), /unknown preset "tiny"/);
  });
});
