import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { InvokeCommand } from '@aws-sdk/client-lambda';
import { startLambkin } from '../../src/cli/lambkin.js';
import { leakFree } from '../helpers/leaks.js';
import { createFn } from '../helpers/lambda.js';
import { startTestServer } from '../helpers/server.js';
import { makeZip } from '../helpers/zip.js';

test(
  "the server runs with the simulator's hybrid keep-alive policy: a second call is warm",
  leakFree(async (_t, defer) => {
    const { lambda } = await startTestServer(defer, { keepAlivePolicy: 'hybrid' });
    await createFn(lambda, 'h', makeZip({ 'index.js': 'let n = 0; exports.handler = async () => ++n;' }));
    const calls = [];
    for (let i = 0; i < 2; i++) calls.push(Buffer.from((await lambda.send(new InvokeCommand({ FunctionName: 'h' }))).Payload ?? []).toString());
    assert.deepEqual(calls, ['1', '2']);
  }),
);

test('an unknown keep-alive policy fails start-up with a readable error', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'lambkin-ka-'));
  try {
    await assert.rejects(startLambkin({ port: 0, dataDir, keepAlivePolicy: 'forever', log: () => {} }), /keepAlivePolicy: use fixed, fixed:DURATION, hybrid/);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});
