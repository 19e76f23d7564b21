/** Provisioned concurrency through the AWS SDK: configs on versions and aliases, READY, warm first invokes. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateAliasCommand,
  DeleteProvisionedConcurrencyConfigCommand,
  GetProvisionedConcurrencyConfigCommand,
  InvokeCommand,
  ListProvisionedConcurrencyConfigsCommand,
  PublishVersionCommand,
  PutFunctionConcurrencyCommand,
  PutProvisionedConcurrencyConfigCommand,
  type LambdaClient,
} from '@aws-sdk/client-lambda';
import { leakFree } from '../helpers/leaks.js';
import { startTestServer } from '../helpers/server.js';
import { makeZip } from '../helpers/zip.js';
import { createFn, json, rejectsAws, tail } from '../helpers/lambda.js';
import { eventually, fleetOf } from './placement-fleet.js';

const zip = makeZip({ 'index.js': 'exports.handler = async () => ({ init: process.env.AWS_LAMBDA_INITIALIZATION_TYPE });\n' });
const failingZip = makeZip({ 'index.js': 'throw new Error("init fails");\n' });

function config(lambda: LambdaClient, name: string, qualifier: string) {
  return lambda.send(new GetProvisionedConcurrencyConfigCommand({ FunctionName: name, Qualifier: qualifier }));
}

const ready = (lambda: LambdaClient, name: string, qualifier: string) =>
  eventually(`${name}:${qualifier} READY`, async () => {
    const c = await config(lambda, name, qualifier);
    return c.Status === 'READY' ? c : undefined;
  });

test(
  'provisioned concurrency: IN_PROGRESS → READY, used first, warm, AWS_LAMBDA_INITIALIZATION_TYPE; aliases; list; delete; restart',
  leakFree(async (_t, defer) => {
    const dataDir = mkdtempSync(join(tmpdir(), 'lambkin-pc-'));
    defer(() => rmSync(dataDir, { recursive: true, force: true }));
    const first = await startTestServer(defer, { dataDir });
    const { lambda, lambkin } = first;
    await createFn(lambda, 'pc', zip);
    const v1 = await lambda.send(new PublishVersionCommand({ FunctionName: 'pc' }));
    assert.equal(v1.Version, '1');

    await rejectsAws(
      lambda.send(new PutProvisionedConcurrencyConfigCommand({ FunctionName: 'pc', Qualifier: '$LATEST', ProvisionedConcurrentExecutions: 1 })),
      'InvalidParameterValueException',
      400,
      /unpublished function versions/,
    );
    await rejectsAws(
      lambda.send(new PutProvisionedConcurrencyConfigCommand({ FunctionName: 'pc', Qualifier: '9', ProvisionedConcurrentExecutions: 1 })),
      'ResourceNotFoundException',
      404,
    );
    await rejectsAws(config(lambda, 'pc', '1'), 'ProvisionedConcurrencyConfigNotFoundException', 404);

    const put = await lambda.send(new PutProvisionedConcurrencyConfigCommand({ FunctionName: 'pc', Qualifier: '1', ProvisionedConcurrentExecutions: 2 }));
    assert.equal(put.$metadata.httpStatusCode, 202);
    assert.equal(put.RequestedProvisionedConcurrentExecutions, 2);
    assert.equal(put.Status, 'IN_PROGRESS');
    assert.match(put.LastModified ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$/);
    const c = await ready(lambda, 'pc', '1');
    assert.equal(c.AvailableProvisionedConcurrentExecutions, 2);
    assert.equal(c.AllocatedProvisionedConcurrentExecutions, 2);
    let view = await fleetOf(lambkin.url);
    assert.equal(view.sandboxes.filter((s) => s.provisioned && s.state === 'idle').length, 2);
    assert.equal(view.counters.provisionedCreated, 2);

    const out = await lambda.send(new InvokeCommand({ FunctionName: 'pc', Qualifier: '1', LogType: 'Tail' }));
    assert.deepEqual(json(out.Payload), { init: 'provisioned-concurrency' });
    const log = tail(out.LogResult);
    assert.match(log, /REPORT RequestId/);
    assert.doesNotMatch(log, /Init Duration/, 'the first invocation is warm');
    view = await fleetOf(lambkin.url);
    assert.equal(view.counters.coldStarts, 0);
    assert.equal(view.counters.warmStarts, 1);
    // $LATEST has no provisioned concurrency: on demand.
    const latest = await lambda.send(new InvokeCommand({ FunctionName: 'pc' }));
    assert.deepEqual(json(latest.Payload), { init: 'on-demand' });

    // An alias on version 1 adds its own sandboxes to the same version.
    await lambda.send(new CreateAliasCommand({ FunctionName: 'pc', Name: 'live', FunctionVersion: '1' }));
    await lambda.send(new PutProvisionedConcurrencyConfigCommand({ FunctionName: 'pc', Qualifier: 'live', ProvisionedConcurrentExecutions: 1 }));
    await ready(lambda, 'pc', 'live');
    const list = await lambda.send(new ListProvisionedConcurrencyConfigsCommand({ FunctionName: 'pc' }));
    assert.deepEqual(
      list.ProvisionedConcurrencyConfigs?.map((x) => [x.FunctionArn, x.RequestedProvisionedConcurrentExecutions, x.Status]),
      [
        ['arn:aws:lambda:us-east-1:000000000000:function:pc:1', 2, 'READY'],
        ['arn:aws:lambda:us-east-1:000000000000:function:pc:live', 1, 'READY'],
      ],
    );
    assert.equal((await fleetOf(lambkin.url)).sandboxes.filter((s) => s.provisioned).length, 3);

    // Reserved concurrency below the provisioned total is refused.
    await rejectsAws(lambda.send(new PutFunctionConcurrencyCommand({ FunctionName: 'pc', ReservedConcurrentExecutions: 2 })), 'InvalidParameterValueException', 400);

    await lambda.send(new DeleteProvisionedConcurrencyConfigCommand({ FunctionName: 'pc', Qualifier: 'live' }));
    await rejectsAws(config(lambda, 'pc', 'live'), 'ProvisionedConcurrencyConfigNotFoundException', 404);
    assert.equal((await fleetOf(lambkin.url)).sandboxes.filter((s) => s.provisioned).length, 2);
    await lambkin.close();

    // Persisted and applied again at start-up.
    const second = await startTestServer(defer, { dataDir });
    const again = await ready(second.lambda, 'pc', '1');
    assert.equal(again.AvailableProvisionedConcurrentExecutions, 2);
    const list2 = await second.lambda.send(new ListProvisionedConcurrencyConfigsCommand({ FunctionName: 'pc' }));
    assert.equal(list2.ProvisionedConcurrencyConfigs?.length, 1);
  }),
);

test(
  'provisioned concurrency whose init fails is FAILED with a StatusReason',
  leakFree(async (_t, defer) => {
    const { lambda } = await startTestServer(defer);
    await createFn(lambda, 'broken', failingZip);
    await lambda.send(new PublishVersionCommand({ FunctionName: 'broken' }));
    await lambda.send(new PutProvisionedConcurrencyConfigCommand({ FunctionName: 'broken', Qualifier: '1', ProvisionedConcurrentExecutions: 1 }));
    const failed = await eventually('FAILED', async () => {
      const c = await config(lambda, 'broken', '1');
      return c.Status === 'FAILED' ? c : undefined;
    });
    assert.match(failed.StatusReason ?? '', /FUNCTION_ERROR_INIT_FAILURE/);
    assert.equal(failed.AvailableProvisionedConcurrentExecutions, 0);
  }),
);
