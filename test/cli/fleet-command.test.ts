/** `lambkin fleet`: the fleet snapshot as aligned plain-text tables, from a live server. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvokeCommand } from '@aws-sdk/client-lambda';
import { formatFleet, showFleet, table } from '../../src/cli/fleet-command.js';
import { WorkerManager } from '../../src/worker-manager/worker-manager.js';
import { leakFree } from '../helpers/leaks.js';
import { startTestServer } from '../helpers/server.js';
import { makeZip } from '../helpers/zip.js';
import { createFn } from '../helpers/lambda.js';

test('table aligns columns and right-aligns numbers', () => {
  assert.equal(table(['ID', 'MB', 'STATE'], [['w-1', 128, 'idle'], ['w-10', 3008, 'busy']]), 'ID      MB  STATE\nw-1    128  idle\nw-10  3008  busy\n');
  assert.equal(table(['A', 'B'], []), 'A  B\n');
});

test('formatFleet shows hosts, workers, sandboxes and ENIs with account, function, memory, state and idle since', () => {
  const wm = new WorkerManager({ hostMemoryMb: 8192, vpcMode: 'legacy' });
  const spec = {
    versionKey: 'arn:aws:lambda:us-east-1:111111111111:function:f:$LATEST#c1',
    functionKey: 'arn:aws:lambda:us-east-1:111111111111:function:f',
    account: '111111111111',
    memoryMb: 256,
    vpcKey: 'subnet-1|sg-1',
  };
  const d = wm.acquire(spec, 1000);
  assert.equal(d.kind, 'cold');
  if (d.kind !== 'cold') return;
  wm.workerReady(d.workerId, 1000);
  for (const s of d.steps) if (s.kind === 'attach-eni') wm.eniReady(s.eniId, 1000);
  wm.ready(d.sandboxId, 1100);
  wm.release(d.sandboxId, 1200);
  wm.tick(13_700);
  const text = formatFleet(wm.view());
  const lines = text.split('\n');
  for (const h of ['HOSTS', 'WORKERS', 'SANDBOXES', 'ENIS']) assert.ok(lines.includes(h), `section ${h}`);
  const sandboxHeader = lines[lines.indexOf('SANDBOXES') + 1] ?? '';
  const sandboxRow = lines[lines.indexOf('SANDBOXES') + 2] ?? '';
  assert.match(sandboxRow, /^sb-1\s+w-1\s+111111111111\s+f\s+\$LATEST\s+256\s+idle\s+no\s+12\.5s ago$/);
  // Columns line up: every header starts where its value starts (left-aligned text columns).
  assert.equal(sandboxRow.indexOf('111111111111'), sandboxHeader.indexOf('ACCOUNT'));
  assert.equal(sandboxRow.indexOf('idle'), sandboxHeader.indexOf('STATE'));
  assert.match(lines[lines.indexOf('ENIS') + 2] ?? '', /^eni-1\s+legacy\s+111111111111\s+subnet-1\s+sg-1\s+w-1\s+ready\s+-$/);
  assert.match(lines[lines.indexOf('WORKERS') + 2] ?? '', /^w-1\s+111111111111\s+host-0\s+ready\s+3072\s+256\s+1\s+eni-1\s+-$/);
});

test(
  'showFleet prints a live server\'s fleet; an unreachable endpoint is exit code 1',
  leakFree(async (_t, defer) => {
    const { lambkin, lambda } = await startTestServer(defer);
    await createFn(lambda, 'shown', makeZip({ 'index.js': 'exports.handler = async () => 1;\n' }), { MemorySize: 512 });
    await lambda.send(new InvokeCommand({ FunctionName: 'shown' }));
    let out = '';
    let err = '';
    const code = await showFleet({ endpoint: lambkin.url, out: (s) => (out += s), err: (s) => (err += s) });
    assert.equal(code, 0, err);
    assert.match(out, /^SANDBOXES\n/m);
    assert.match(out, /^sb-1\s+w-1\s+000000000000\s+shown\s+\$LATEST\s+512\s+idle\s+no\s+\d+\.\ds ago$/m);
    const port = lambkin.port;
    await lambkin.close();
    err = '';
    assert.equal(await showFleet({ endpoint: `http://127.0.0.1:${port}`, out: () => undefined, err: (s) => (err += s) }), 1);
    assert.match(err, /cannot reach/);
  }),
);
