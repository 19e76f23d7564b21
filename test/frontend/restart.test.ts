/**
 * Storage across a restart: a second server on the same data dir lists and invokes the
 * functions, versions and aliases of the first, and runs an Event invocation the first one
 * accepted (202) but had not run.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  CreateAliasCommand,
  GetAliasCommand,
  InvokeCommand,
  ListFunctionsCommand,
  ListVersionsByFunctionCommand,
  PublishVersionCommand,
  UpdateFunctionCodeCommand,
} from '@aws-sdk/client-lambda';
import { leakFree } from '../helpers/leaks.js';
import { startTestServer } from '../helpers/server.js';
import { makeZip } from '../helpers/zip.js';
import { createFn, json } from '../helpers/lambda.js';
import type { Lambkin } from '../../src/cli/lambkin.js';

const tagZip = (tag: string) =>
  makeZip({ 'index.js': `exports.handler = async (event) => { console.log('event', JSON.stringify(event)); return ${JSON.stringify(tag)}; };\n` });

/** Resolves once function `name`'s log contains `needle` (already, or in a later append). */
function logContains(lambkin: Lambkin, name: string, needle: string): Promise<void> {
  return new Promise((resolve) => {
    const off = lambkin.logs.subscribe((key, lines) => {
      if (key.functionName === name && lines.some((l) => l.includes(needle))) {
        off();
        resolve();
      }
    });
    const file = lambkin.logs.fileFor({ account: '000000000000', region: 'us-east-1', functionName: name });
    if (existsSync(file) && readFileSync(file, 'utf8').includes(needle)) {
      off();
      resolve();
    }
  });
}

void test(
  'functions, versions and aliases survive a restart and stay invocable',
  leakFree(async (_t, defer) => {
    const dataDir = mkdtempSync(join(tmpdir(), 'lambkin-restart-'));
    defer(() => rmSync(dataDir, { recursive: true, force: true }));

    const first = await startTestServer(defer, { dataDir });
    await createFn(first.lambda, 'keep', tagZip('one'), { Environment: { Variables: { KEEP_ME: 'b' } }, MemorySize: 160 });
    await first.lambda.send(new PublishVersionCommand({ FunctionName: 'keep' }));
    await first.lambda.send(new UpdateFunctionCodeCommand({ FunctionName: 'keep', ZipFile: tagZip('two') }));
    await first.lambda.send(new CreateAliasCommand({ FunctionName: 'keep', Name: 'stable', FunctionVersion: '1' }));
    await createFn(first.lambda, 'other', tagZip('other'));
    assert.equal(json((await first.lambda.send(new InvokeCommand({ FunctionName: 'keep' }))).Payload), 'two');
    const before = (await first.lambda.send(new ListFunctionsCommand({}))).Functions ?? [];
    await first.lambkin.close();

    const second = await startTestServer(defer, { dataDir });
    const after = (await second.lambda.send(new ListFunctionsCommand({}))).Functions ?? [];
    assert.deepEqual(
      after.map((f) => [f.FunctionName, f.CodeSha256, f.RevisionId, f.MemorySize, f.LastModified]),
      before.map((f) => [f.FunctionName, f.CodeSha256, f.RevisionId, f.MemorySize, f.LastModified]),
    );
    const versions = await second.lambda.send(new ListVersionsByFunctionCommand({ FunctionName: 'keep' }));
    assert.deepEqual(versions.Versions?.map((v) => v.Version), ['$LATEST', '1']);
    assert.equal((await second.lambda.send(new GetAliasCommand({ FunctionName: 'keep', Name: 'stable' }))).FunctionVersion, '1');
    const byAlias = await second.lambda.send(new InvokeCommand({ FunctionName: 'keep', Qualifier: 'stable' }));
    assert.equal(json(byAlias.Payload), 'one');
    assert.equal(byAlias.ExecutedVersion, '1');
    assert.equal(json((await second.lambda.send(new InvokeCommand({ FunctionName: 'keep' }))).Payload), 'two');
    assert.equal(json((await second.lambda.send(new InvokeCommand({ FunctionName: 'other' }))).Payload), 'other');
  }),
);

void test(
  'an Event invocation accepted before a stop runs after the restart',
  leakFree(async (_t, defer) => {
    const dataDir = mkdtempSync(join(tmpdir(), 'lambkin-restart-'));
    defer(() => rmSync(dataDir, { recursive: true, force: true }));

    // A function that blocks on a request to us until we let it go: with eventConcurrency 1 it
    // holds the only async slot, so the next event stays queued.
    let held: ServerResponse | undefined;
    let onHeld: () => void = () => {};
    const gate = createServer((_req, res) => {
      held = res;
      onHeld();
    });
    await new Promise<void>((r) => gate.listen(0, '127.0.0.1', r));
    defer(
      () =>
        new Promise<void>((r) => {
          gate.closeAllConnections();
          gate.close(() => r());
        }),
    );
    const gateUrl = `http://127.0.0.1:${(gate.address() as AddressInfo).port}/`;

    const first = await startTestServer(defer, { dataDir, eventConcurrency: 1 });
    await createFn(first.lambda, 'blocker', makeZip({ 'index.js': `exports.handler = async () => { await fetch(${JSON.stringify(gateUrl)}); return 'released'; };` }), {
      Timeout: 60,
    });
    await createFn(first.lambda, 'later', tagZip('later'));

    const blocking = new Promise<void>((r) => (onHeld = r));
    assert.equal((await first.lambda.send(new InvokeCommand({ FunctionName: 'blocker', InvocationType: 'Event' }))).StatusCode, 202);
    await blocking;
    const accepted = await first.lambda.send(
      new InvokeCommand({ FunctionName: 'later', InvocationType: 'Event', Payload: Buffer.from(JSON.stringify({ marker: 'survives-restart' })) }),
    );
    assert.equal(accepted.StatusCode, 202);
    assert.equal(first.lambkin.queue.depth(), 2, 'the blocker runs, the other event waits');

    // Stop taking events, then let the blocker finish, then stop the server.
    const queueClosed = first.lambkin.queue.close();
    held?.end('go');
    await queueClosed;
    await first.lambkin.close();
    const logFile = first.lambkin.logs.fileFor({ account: '000000000000', region: 'us-east-1', functionName: 'later' });
    assert.ok(!existsSync(logFile) || !readFileSync(logFile, 'utf8').includes('survives-restart'), 'it did not run before the stop');

    const second = await startTestServer(defer, { dataDir });
    await logContains(second.lambkin, 'later', 'survives-restart');
    const log = readFileSync(logFile, 'utf8');
    assert.match(log, /REPORT RequestId: /);
    assert.equal(log.split('\n').filter((l) => l.includes('event {"marker":"survives-restart"}')).length, 1, 'ran once');
  }),
);
