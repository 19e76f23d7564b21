/** Reserved concurrency through the AWS SDK: the API, its rules, persistence, and throttling. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DeleteFunctionCommand,
  DeleteFunctionConcurrencyCommand,
  GetAccountSettingsCommand,
  GetFunctionCommand,
  GetFunctionConcurrencyCommand,
  InvokeCommand,
  PutFunctionConcurrencyCommand,
  TooManyRequestsException,
} from '@aws-sdk/client-lambda';
import { leakFree } from '../helpers/leaks.js';
import { startTestServer } from '../helpers/server.js';
import { makeZip } from '../helpers/zip.js';
import { createFn, nextLog, rejectsAws } from '../helpers/lambda.js';
import { eventually } from './placement-fleet.js';

const zip = makeZip({ 'index.js': 'exports.handler = async (e) => { await new Promise((r) => setTimeout(r, e.ms ?? 0)); return "done"; };\n' });

test(
  'Put/Get/DeleteFunctionConcurrency, the unreserved minimum, GetFunction and GetAccountSettings; persisted, removed with the function',
  leakFree(async (_t, defer) => {
    const dataDir = mkdtempSync(join(tmpdir(), 'lambkin-conc-'));
    defer(() => rmSync(dataDir, { recursive: true, force: true }));
    const options = { accountConcurrency: 50, dataDir };
    const first = await startTestServer(defer, options);
    const lambda = first.lambda;
    await createFn(lambda, 'r', zip);
    await createFn(lambda, 'other', zip);
    assert.deepEqual((await lambda.send(new GetFunctionConcurrencyCommand({ FunctionName: 'r' }))).ReservedConcurrentExecutions, undefined);
    assert.equal((await lambda.send(new GetFunctionCommand({ FunctionName: 'r' }))).Concurrency, undefined);

    const put = await lambda.send(new PutFunctionConcurrencyCommand({ FunctionName: 'r', ReservedConcurrentExecutions: 10 }));
    assert.equal(put.ReservedConcurrentExecutions, 10);
    assert.equal((await lambda.send(new GetFunctionConcurrencyCommand({ FunctionName: 'r' }))).ReservedConcurrentExecutions, 10);
    assert.deepEqual((await lambda.send(new GetFunctionCommand({ FunctionName: 'r' }))).Concurrency, { ReservedConcurrentExecutions: 10 });
    let settings = await lambda.send(new GetAccountSettingsCommand({}));
    assert.equal(settings.AccountLimit?.ConcurrentExecutions, 50);
    assert.equal(settings.AccountLimit?.UnreservedConcurrentExecutions, 40);

    // 50 with a minimum of 5 unreserved: 10 + 36 leaves 4.
    await rejectsAws(
      lambda.send(new PutFunctionConcurrencyCommand({ FunctionName: 'other', ReservedConcurrentExecutions: 36 })),
      'InvalidParameterValueException',
      400,
      /decreases account's UnreservedConcurrentExecution below its minimum value of \[5\]/,
    );
    await lambda.send(new PutFunctionConcurrencyCommand({ FunctionName: 'other', ReservedConcurrentExecutions: 35 }));
    await rejectsAws(lambda.send(new PutFunctionConcurrencyCommand({ FunctionName: 'missing', ReservedConcurrentExecutions: 1 })), 'ResourceNotFoundException', 404);
    await rejectsAws(lambda.send(new PutFunctionConcurrencyCommand({ FunctionName: 'r', ReservedConcurrentExecutions: -1 })), 'ValidationException', 400);
    await first.lambkin.close();

    const second = await startTestServer(defer, options);
    const l2 = second.lambda;
    assert.equal((await l2.send(new GetFunctionConcurrencyCommand({ FunctionName: 'r' }))).ReservedConcurrentExecutions, 10, 'survives a restart');
    settings = await l2.send(new GetAccountSettingsCommand({}));
    assert.equal(settings.AccountLimit?.UnreservedConcurrentExecutions, 5);
    await l2.send(new DeleteFunctionConcurrencyCommand({ FunctionName: 'other' }));
    assert.equal((await l2.send(new GetFunctionConcurrencyCommand({ FunctionName: 'other' }))).ReservedConcurrentExecutions, undefined);
    await l2.send(new DeleteFunctionCommand({ FunctionName: 'r' }));
    await createFn(l2, 'r', zip);
    assert.equal((await l2.send(new GetFunctionConcurrencyCommand({ FunctionName: 'r' }))).ReservedConcurrentExecutions, undefined, 'removed with the function');
    assert.equal((await l2.send(new GetAccountSettingsCommand({}))).AccountLimit?.UnreservedConcurrentExecutions, 50);
  }),
);

test(
  'reserved concurrency 0 blocks, 1 admits one of two concurrent calls; throttled Event invocations wait in the queue',
  leakFree(async (_t, defer) => {
    const { lambkin, lambda } = await startTestServer(defer);
    await createFn(lambda, 'blocked', zip);
    await lambda.send(new PutFunctionConcurrencyCommand({ FunctionName: 'blocked', ReservedConcurrentExecutions: 0 }));
    const err = await rejectsAws(lambda.send(new InvokeCommand({ FunctionName: 'blocked' })), 'TooManyRequestsException', 429);
    assert.ok(err instanceof TooManyRequestsException);
    assert.equal(err.Reason, 'ReservedFunctionConcurrentInvocationLimitExceeded');

    await createFn(lambda, 'one', zip);
    await lambda.send(new PutFunctionConcurrencyCommand({ FunctionName: 'one', ReservedConcurrentExecutions: 1 }));
    const payload = Buffer.from(JSON.stringify({ ms: 300 }));
    const results = await Promise.allSettled([0, 1].map(() => lambda.send(new InvokeCommand({ FunctionName: 'one', Payload: payload }))));
    const ok = results.filter((r) => r.status === 'fulfilled');
    const throttled = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as TooManyRequestsException] : []));
    assert.equal(ok.length, 1);
    assert.equal(throttled.length, 1);
    assert.equal(throttled[0]?.name, 'TooManyRequestsException');
    assert.equal(throttled[0]?.Reason, 'ReservedFunctionConcurrentInvocationLimitExceeded');

    // An Event invocation of a blocked function is accepted, throttled, and kept until it can run.
    const throttlesBefore = lambkin.workerManager.counters().throttles;
    const accepted = await lambda.send(new InvokeCommand({ FunctionName: 'blocked', InvocationType: 'Event' }));
    assert.equal(accepted.StatusCode, 202);
    await eventually('the queued event to be throttled', () => lambkin.workerManager.counters().throttles > throttlesBefore || undefined);
    assert.equal(lambkin.queue.depth(), 1, 'still queued, not dropped');
    const ran = nextLog(lambkin, 'blocked');
    await lambda.send(new DeleteFunctionConcurrencyCommand({ FunctionName: 'blocked' }));
    const lines = await ran;
    assert.ok(lines.some((l) => l.startsWith('REPORT ')));
    await eventually('the queue to drain', () => lambkin.queue.depth() === 0 || undefined);
  }),
);
