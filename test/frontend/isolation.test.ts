import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvokeCommand } from '@aws-sdk/client-lambda';
import { detectCapabilities, namespacesUnavailable } from '../../src/fleet/isolation/capabilities.js';
import { leakFree } from '../helpers/leaks.js';
import { createFn } from '../helpers/lambda.js';
import { startTestServer } from '../helpers/server.js';
import { makeZip } from '../helpers/zip.js';

const skip = namespacesUnavailable(detectCapabilities());

const HOG = `exports.handler = async (event) => {
  const hold = [];
  for (let i = 0; i < (event.mb || 0); i++) hold.push(Buffer.alloc(1 << 20, 1));
  return { root: process.env.LAMBDA_TASK_ROOT, held: hold.length, uid: process.getuid() };
};`;

test(
  'through the API with full isolation: MemorySize is a hard limit (Runtime.OutOfMemory), the sandbox is replaced, /var/task',
  { skip },
  leakFree(async (_t, defer) => {
    const { lambda } = await startTestServer(defer, { isolation: 'namespaces' });
    await createFn(lambda, 'hog', makeZip({ 'index.js': HOG }), { MemorySize: 128, Timeout: 60 });
    const decode = (p: Uint8Array | undefined) => JSON.parse(Buffer.from(p ?? []).toString()) as Record<string, unknown>;

    const fine = await lambda.send(new InvokeCommand({ FunctionName: 'hog', Payload: JSON.stringify({ mb: 10 }) }));
    assert.equal(fine.FunctionError, undefined);
    const before = decode(fine.Payload);
    assert.equal(before.root, '/var/task');
    assert.notEqual(before.uid, 0, 'the handler does not run as root');

    const killed = await lambda.send(new InvokeCommand({ FunctionName: 'hog', Payload: JSON.stringify({ mb: 400 }), LogType: 'Tail' }));
    assert.equal(killed.FunctionError, 'Unhandled');
    const doc = decode(killed.Payload);
    assert.equal(doc.errorType, 'Runtime.OutOfMemory');
    assert.match(String(doc.errorMessage), /Runtime exited with error: signal: killed/);
    const report = /Max Memory Used: (\d+) MB/.exec(Buffer.from(killed.LogResult ?? '', 'base64').toString());
    assert.ok(report && Number(report[1]) >= 100 && Number(report[1]) <= 140, `peak near 128 MB: ${report?.[1]}`);

    const after = await lambda.send(new InvokeCommand({ FunctionName: 'hog', Payload: JSON.stringify({ mb: 10 }) }));
    assert.equal(after.FunctionError, undefined);
    // Every sandbox runs as a uid of its own: a different uid is a fresh sandbox.
    assert.notEqual(decode(after.Payload).uid, before.uid, 'a fresh sandbox');
  }),
);
