/**
 * Hyperplane VPC mode (Lambda since Sept 2019): one ENI per (subnets, security groups), made when a
 * function is created or reconfigured; the function is Pending until it is ready; functions with the
 * same configuration share it; it is deleted when nobody uses it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DeleteFunctionCommand,
  GetFunctionCommand,
  InvokeCommand,
  UpdateFunctionConfigurationCommand,
  waitUntilFunctionActiveV2,
  type LambdaClient,
} from '@aws-sdk/client-lambda';
import { leakFree } from '../helpers/leaks.js';
import { startTestServer } from '../helpers/server.js';
import { makeZip } from '../helpers/zip.js';
import { createFn, rejectsAws } from '../helpers/lambda.js';
import { HYPERPLANE, SG_A, SG_B, SUBNETS, fleetOf } from './placement-fleet.js';

const zip = makeZip({ 'index.js': 'exports.handler = async () => "ok";\n' });

const active = (lambda: LambdaClient, name: string) =>
  waitUntilFunctionActiveV2({ client: lambda, maxWaitTime: 20, minDelay: 1, maxDelay: 1 }, { FunctionName: name });

async function state(lambda: LambdaClient, name: string) {
  const f = await lambda.send(new GetFunctionCommand({ FunctionName: name }));
  return f.Configuration;
}

test(
  'hyperplane: Pending until the ENI exists, then Active; one ENI per subnets + security groups, deleted with its last function',
  leakFree(async (_t, defer) => {
    const { lambkin, lambda } = await startTestServer(defer, HYPERPLANE);
    const a = await createFn(lambda, 'fa', zip, { VpcConfig: { SubnetIds: SUBNETS, SecurityGroupIds: SG_A } });
    assert.equal(a.State, 'Pending');
    assert.equal(a.StateReasonCode, 'Creating');
    assert.equal(a.StateReason, 'The function is being created.');
    assert.match(a.VpcConfig?.VpcId ?? '', /^vpc-/);
    await rejectsAws(lambda.send(new InvokeCommand({ FunctionName: 'fa' })), 'ResourceConflictException', 409, /Pending/);
    // Same subnets (other order) and security groups: shares the ENI being made.
    await createFn(lambda, 'fb', zip, { VpcConfig: { SubnetIds: [...SUBNETS].reverse(), SecurityGroupIds: SG_A } });
    await createFn(lambda, 'fc', zip, { VpcConfig: { SubnetIds: SUBNETS, SecurityGroupIds: SG_B } });
    let view = await fleetOf(lambkin.url);
    assert.equal(view.enis.length, 2, 'two configurations, two ENIs');
    assert.ok(view.enis.every((e) => e.mode === 'hyperplane' && e.state === 'pending'));

    await Promise.all(['fa', 'fb', 'fc'].map((n) => active(lambda, n)));
    for (const n of ['fa', 'fb', 'fc']) {
      const c = await state(lambda, n);
      assert.equal(c?.State, 'Active');
      assert.equal(c?.StateReasonCode, undefined);
    }
    view = await fleetOf(lambkin.url);
    assert.deepEqual(view.enis.map((e) => [e.state, e.functions]).sort(), [['ready', 1], ['ready', 2]]);
    const out = await lambda.send(new InvokeCommand({ FunctionName: 'fa' }));
    assert.equal(Buffer.from(out.Payload ?? []).toString(), '"ok"');
    assert.equal((await fleetOf(lambkin.url)).workers[0]?.enis.length, 0, 'hyperplane ENIs are not attached to workers');

    // A fourth function with a configuration that already has its ENI is Active at once.
    await createFn(lambda, 'fd', zip, { VpcConfig: { SubnetIds: SUBNETS, SecurityGroupIds: SG_A } });
    assert.equal((await state(lambda, 'fd'))?.State, 'Active');
    assert.equal((await fleetOf(lambkin.url)).counters.enisCreated, 2);

    // Moving fc to SG_A frees (deletes) the SG_B ENI.
    await lambda.send(new UpdateFunctionConfigurationCommand({ FunctionName: 'fc', VpcConfig: { SubnetIds: SUBNETS, SecurityGroupIds: SG_A } }));
    await active(lambda, 'fc');
    view = await fleetOf(lambkin.url);
    assert.equal(view.enis.length, 1);
    assert.equal(view.enis[0]?.functions, 4);

    for (const n of ['fa', 'fb', 'fc']) await lambda.send(new DeleteFunctionCommand({ FunctionName: n }));
    assert.equal((await fleetOf(lambkin.url)).enis.length, 1, 'fd still uses it');
    await lambda.send(new DeleteFunctionCommand({ FunctionName: 'fd' }));
    view = await fleetOf(lambkin.url);
    assert.equal(view.enis.length, 0, 'deleted with its last function');
    assert.equal(view.counters.enisDeleted, 2);
  }),
);

test(
  'hyperplane: deleting a function in another partition (aws-cn) deletes its ENI too',
  leakFree(async (_t, defer) => {
    const { lambkin, client } = await startTestServer(defer, HYPERPLANE);
    const cn = client('AKIDEXAMPLE', 'cn-north-1');
    const created = await createFn(cn, 'in-china', zip, { VpcConfig: { SubnetIds: SUBNETS, SecurityGroupIds: SG_A } });
    assert.match(created.FunctionArn ?? '', /^arn:aws-cn:lambda:cn-north-1:/);
    await active(cn, 'in-china');
    assert.equal((await fleetOf(lambkin.url)).enis.length, 1);
    await cn.send(new DeleteFunctionCommand({ FunctionName: 'in-china' }));
    assert.equal((await fleetOf(lambkin.url)).enis.length, 0, 'nobody uses it any more');
  }),
);

test(
  'hyperplane: ENIs of existing VPC functions are re-created at start-up; legacy mode never waits',
  leakFree(async (_t, defer) => {
    const dataDir = mkdtempSync(join(tmpdir(), 'lambkin-vpc-'));
    defer(() => rmSync(dataDir, { recursive: true, force: true }));
    {
      const first = await startTestServer(defer, { ...HYPERPLANE, dataDir });
      await createFn(first.lambda, 'kept', zip, { VpcConfig: { SubnetIds: SUBNETS, SecurityGroupIds: SG_A } });
      await active(first.lambda, 'kept');
      await first.lambkin.close();
    }
    const second = await startTestServer(defer, { ...HYPERPLANE, dataDir });
    const view = await fleetOf(second.lambkin.url);
    assert.equal(view.enis.length, 1, 're-created at start-up');
    await active(second.lambda, 'kept');
    const out = await second.lambda.send(new InvokeCommand({ FunctionName: 'kept' }));
    assert.equal(out.FunctionError, undefined);
    await second.lambkin.close();

    const legacy = await startTestServer(defer, { vpcMode: 'legacy', dataDir });
    const created = await createFn(legacy.lambda, 'at-once', zip, { VpcConfig: { SubnetIds: SUBNETS, SecurityGroupIds: SG_B } });
    assert.equal(created.State, 'Active');
    assert.equal((await state(legacy.lambda, 'kept'))?.State, 'Active');
    assert.equal((await fleetOf(legacy.lambkin.url)).enis.length, 0, 'legacy ENIs are made at cold start, per worker');
  }),
);
