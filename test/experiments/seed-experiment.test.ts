import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { runExperimentCommand } from '../../src/cli/experiment-command.js';
import { leakFree } from '../helpers/leaks.js';

test(
  'lambkin experiment seed reproduces the ENI counts of cases 1, 2, 3, 4 and 6 on an embedded lambkin',
  leakFree(async (_t, defer) => {
    const out = mkdtempSync(join(tmpdir(), 'lambkin-exp-'));
    defer(() => rmSync(out, { recursive: true, force: true }));
    let printed = '';
    const stdout = new Writable({
      write(chunk: Buffer, _enc, cb) {
        printed += chunk.toString();
        cb();
      },
    });
    // Time scale 0.2: an ENI takes 1.54–2.94 s, far above a local cold start even on a loaded 2-core
    // machine (at 0.1 a plain cold start under load crossed the 0.7 s line it left).
    const { results } = await runExperimentCommand({
      region: 'ap-northeast-1',
      cases: '1,2,3,4,6',
      repeat: 1,
      out,
      runtime: 'nodejs8.10',
      role: 'arn:aws:iam::000000000000:role/lambda-role',
      subnetIds: ['subnet-0123456789abcdef0'],
      securityGroupIds: ['sg-0123456789abcdef0'],
      timeScale: 0.2,
      seed: 7,
      traceWaitMs: 10_000,
      progress: false,
      stdout,
    });
    const byId = new Map(results.map((r) => [r.id, r]));
    const enis = [1, 2, 3, 4, 6].map((id) => byId.get(id)?.enisCreated);
    assert.deepEqual(enis, [1, 10, 0, 0, 0]);
    assert.deepEqual([1, 2, 3, 4, 6].map((id) => byId.get(id)?.workersCreated), [1, 10, 1, 10, 4]);
    for (const id of [1, 2, 3, 4, 6]) assert.equal(byId.get(id)?.durationsMs.length, 10, `case ${id} has ten durations`);

    // Case 1: one slow start (the ENI), nine fast; case 2: all slow; case 3: all fast.
    const slow = (ms: number) => ms >= 1400;
    assert.equal(byId.get(1)?.durationsMs.filter(slow).length, 1);
    assert.equal(byId.get(2)?.durationsMs.filter(slow).length, 10);
    assert.equal(byId.get(3)?.durationsMs.filter(slow).length, 0);

    const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as { cases: { id: number; memoryMb: unknown; vpc: boolean; durationsMs: number[]; stats: Record<string, number>; enisCreated: number; workersCreated: number }[] };
    assert.equal(report.cases.length, 5);
    for (const c of report.cases) {
      for (const k of ['mean', 'median', 'max', 'min', 'variance']) assert.equal(typeof c.stats[k], 'number', `case ${c.id} stats.${k}`);
      assert.ok(Array.isArray(c.durationsMs));
      assert.equal(typeof c.vpc, 'boolean');
    }
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    assert.match(html, /<svg/);
    assert.doesNotMatch(html, /<script|https?:\/\/(?!www\.w3\.org)/, 'the report is self-contained');
    assert.ok(existsSync(join(out, 'report.json')));
    assert.match(printed, /Case 1: VPC, 128 MB\s+ENIs created: 1\.0/);
    assert.match(printed, /variance\s+[\d,]+\s+9,566,172/);
  }),
);

test(
  'an interrupted experiment deletes every function it created',
  leakFree(async (_t, defer) => {
    const { startTestServer } = await import('../helpers/server.js');
    const { lambkin } = await startTestServer(defer);
    const out = mkdtempSync(join(tmpdir(), 'lambkin-exp-'));
    defer(() => rmSync(out, { recursive: true, force: true }));
    const abort = new AbortController();
    let created = 0;
    const stop = lambkin.registry.onChange((e) => {
      if (e.kind === 'created' && ++created === 3) abort.abort(new Error('interrupted'));
    });
    defer(stop);
    await assert.rejects(
      runExperimentCommand({
        endpoint: lambkin.url,
        region: 'us-east-1',
        cases: '3',
        repeat: 1,
        out,
        runtime: 'nodejs20.x',
        role: 'arn:aws:iam::000000000000:role/lambda-role',
        subnetIds: [],
        securityGroupIds: [],
        timeScale: 1,
        seed: 1,
        traceWaitMs: 1000,
        progress: false,
        signal: abort.signal,
      }),
    );
    assert.equal(created, 3);
    assert.deepEqual(lambkin.registry.listAll(), [], 'no function is left behind');
  }),
);

test(
  "case 5's sweep counts only the starts that reused a worker",
  leakFree(async (_t, defer) => {
    const out = mkdtempSync(join(tmpdir(), 'lambkin-exp-'));
    defer(() => rmSync(out, { recursive: true, force: true }));
    const { results } = await runExperimentCommand({
      region: 'us-east-1',
      cases: '5',
      repeat: 1,
      out,
      runtime: 'nodejs20.x',
      role: 'arn:aws:iam::000000000000:role/lambda-role',
      subnetIds: ['subnet-0123456789abcdef0'],
      securityGroupIds: ['sg-0123456789abcdef0'],
      timeScale: 0.01,
      seed: 3,
      traceWaitMs: 10_000,
      progress: false,
      stdout: new Writable({ write: (_c, _e, cb) => cb() }),
    });
    const sweep = results[0]?.sweep ?? [];
    assert.deepEqual(
      sweep.map((s) => s.memoryMb),
      [128, 256, 384, 512, 640, 768, 896, 1024, 1152, 1280],
    );
    // Ten functions per size; each new 3072 MB worker (and its ENI) is a narrow start, left out:
    // floor(3072 / MB) sandboxes fit a worker, so 1, 1, 2, 2, 3, 3, 4, 4, 5, 5 workers.
    assert.deepEqual(
      sweep.map((s) => s.durationsMs.length),
      [9, 9, 8, 8, 7, 7, 6, 6, 5, 5],
    );
    assert.equal(results[0]?.durationsMs.length, 70);
  }),
);

test('against AWS, X-Ray is read from its own endpoint; lambkin serves both on one', async () => {
  const { xrayEndpointFor } = await import('../../src/cli/experiment-command.js');
  assert.equal(xrayEndpointFor('https://lambda.ap-northeast-1.amazonaws.com'), 'https://xray.ap-northeast-1.amazonaws.com');
  assert.equal(xrayEndpointFor('https://lambda.cn-north-1.amazonaws.com.cn/'), 'https://xray.cn-north-1.amazonaws.com.cn');
  assert.equal(xrayEndpointFor('http://127.0.0.1:4590'), 'http://127.0.0.1:4590');
});
