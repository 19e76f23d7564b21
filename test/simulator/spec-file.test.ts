import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, describe, test } from 'node:test';
import { runAdviseCommand } from '../../src/cli/advise-command.js';
import { runSimulateCommand } from '../../src/cli/simulate-command.js';
import { dataPath } from '../../src/simulator/data-files.js';
import { parseSpecText, SpecSyntaxError } from '../../src/simulator/spec-file.js';
import { loadWorkload, WorkloadError } from '../../src/simulator/workload-spec.js';

const dir = mkdtempSync(join(tmpdir(), 'lambkin-spec-file-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

const quiet = () => new Writable({ write: (_c: Buffer, _e, cb) => cb() });

/** The JSON output without the wall-clock figures, which differ from run to run. */
function withoutWallClock(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(withoutWallClock);
  if (v !== null && typeof v === 'object') {
    return Object.fromEntries(Object.entries(v).filter(([k]) => k !== 'wallSeconds' && k !== 'invocationsPerSecond').map(([k, x]) => [k, withoutWallClock(x)]));
  }
  return v;
}

const YAML_EXAMPLE = dataPath('examples/shop.yaml');
const JSON_EXAMPLE = dataPath('examples/shop.json');

describe('workload spec files: YAML and JSON', () => {
  test('the shipped example in YAML and JSON is the same workload', () => {
    const y = loadWorkload(YAML_EXAMPLE);
    assert.deepEqual(y, loadWorkload(JSON_EXAMPLE));
    assert.equal(y.name, 'shop');
    assert.equal(y.duration, 7_200_000);
    assert.deepEqual(y.functions.map((f) => f.name), ['api', 'orders', 'cron']);
    // YAML reads `0:` as a number; the percentiles keep working as the JSON's "0".
    assert.equal(y.functions[1]!.handler.percentiles?.['0'], 5);
  });

  test('YAML and JSON forms give identical simulation results with the same --seed (and differ with another)', async () => {
    const run = async (spec: string, seed: number) => withoutWallClock(await runSimulateCommand({ spec, seed, json: true, progress: false, stdout: quiet() })) as { invocations: number };
    const y = await run(YAML_EXAMPLE, 7);
    const j = await run(JSON_EXAMPLE, 7);
    assert.ok(y.invocations > 5_000, String(y.invocations));
    assert.deepEqual(y, j);
    assert.notDeepEqual(await run(YAML_EXAMPLE, 8), y);
  });

  test('a .yml spec works for advise too', async () => {
    const spec = file('one.yml', 'functions:\n  - name: api\n    memoryMb: 1024\n    handler: { dist: constant, valueMs: 100 }\n    arrivals: { kind: poisson, ratePerSec: 0.5 }\nduration: 10m\n');
    const a = await runAdviseCommand({ target: spec, candidates: [512, 1024], variants: ['none'], optimize: 'mean', seed: 1, json: true, progress: false, stdout: quiet() });
    assert.equal(a.name, 'api');
    assert.equal(a.rows.find((r) => r.memoryMb === 512)!.handlerMeanMs, 200);
  });

  test('malformed YAML: a readable error with file, line and column', () => {
    const p = file('broken.yaml', 'name: x\nfunctions:\n  - name: api\n    memoryMb: [128\n    handler: {}\n');
    assert.throws(
      () => loadWorkload(p),
      (e: unknown) => e instanceof WorkloadError && e.message.startsWith(`Workload "${p}" is not valid YAML: `) && /at line \d+, column \d+/.test(e.message) && !/\[object Object\]/.test(e.message),
    );
    assert.throws(() => loadWorkload(file('dup.yaml', 'name: a\nname: b\n')), /is not valid YAML: Map keys must be unique at line 2, column 1/);
    assert.throws(() => loadWorkload(file('two.yaml', 'name: a\n---\nname: b\n')), /is not valid YAML: Source contains multiple documents/);
    assert.throws(() => loadWorkload(file('broken.yml', 'a: b: c\n')), /broken\.yml" is not valid YAML: .*at line 1, column/);
  });

  test('validation errors name the path and the line, in YAML and in JSON', () => {
    const yaml = file('bad.yaml', 'duration: 1h\nfunctions:\n  - name: api\n    memoryMb: 64\n    handler: { dist: constant, valueMs: 5 }\n    arrivals: { kind: poisson, ratePerSec: 1 }\n    colour: blue\n');
    assert.throws(() => loadWorkload(yaml), (e: unknown) => {
      assert.ok(e instanceof WorkloadError);
      assert.match(e.message, /^Invalid workload ".*bad\.yaml":/);
      assert.match(e.message, /→ at functions\[0\]\.memoryMb \(line 4\)/);
      assert.match(e.message, /Unrecognized key: "colour"\n {2}→ at functions\[0\] \(line 7\)/);
      return true;
    });
    const json = file('bad.json', JSON.stringify({ functions: [{ name: 'api', memoryMb: 1024, handler: { dist: 'lognormal' }, arrivals: { kind: 'list', atMs: [1] } }] }, null, 2));
    assert.throws(() => loadWorkload(json), /lognormal needs meanMs\n {2}→ at functions\[0\]\.handler\.meanMs \(line 6\)/);
    // A missing required key points at the object that lacks it.
    assert.throws(() => loadWorkload(file('nomem.yaml', 'functions:\n  - name: api\n    handler: { dist: constant, valueMs: 1 }\n    arrivals: { kind: list, atMs: [1] }\n')), /→ at functions\[0\]\.memoryMb \(line 2\)/);
  });

  test('JSON syntax errors keep their message and gain a line where V8 gives an offset', () => {
    assert.throws(() => loadWorkload(file('broken.json', '{ nope')), /is not valid JSON/);
    assert.throws(() => parseSpecText('{\n  "a": 1,\n  "b": 2\n  "c": 3\n}', 'json'), (e: unknown) => e instanceof SpecSyntaxError && e.line === 4 && /\(line 4, column 3\)/.test(e.message));
  });

  test('a spec in an unrelated file name is read as JSON, as before', () => {
    const p = join(dir, 'spec.txt');
    copyFileSync(JSON_EXAMPLE, p);
    assert.equal(loadWorkload(p).name, 'shop');
  });
});
