/**
 * Hyperplane VPC mode, UpdateFunctionConfiguration of a VpcConfig: as on Lambda the function stays
 * Active with LastUpdateStatus InProgress until the new ENI exists; invocations meanwhile run the
 * previous configuration; a second update is refused; then LastUpdateStatus is Successful and
 * invocations run the new configuration.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  GetFunctionConfigurationCommand,
  InvokeCommand,
  UpdateFunctionCodeCommand,
  UpdateFunctionConfigurationCommand,
  waitUntilFunctionActiveV2,
  waitUntilFunctionUpdatedV2,
  type LambdaClient,
} from '@aws-sdk/client-lambda';
import { leakFree } from '../helpers/leaks.js';
import { startTestServer } from '../helpers/server.js';
import { makeZip } from '../helpers/zip.js';
import { createFn, json, rejectsAws } from '../helpers/lambda.js';
import { HYPERPLANE, SG_A, SG_B, SUBNETS, fleetOf } from './placement-fleet.js';

const zip = makeZip({ 'index.js': 'exports.handler = async () => process.env.CONFIG ?? "none";\n' });

const waitOpts = (lambda: LambdaClient) => ({ client: lambda, maxWaitTime: 20, minDelay: 1, maxDelay: 1 });
const config = (lambda: LambdaClient, name: string) => lambda.send(new GetFunctionConfigurationCommand({ FunctionName: name }));
const invoke = async (lambda: LambdaClient, name: string) => json((await lambda.send(new InvokeCommand({ FunctionName: name }))).Payload);
const pairs = async (url: string) => (await fleetOf(url)).enis.map((e) => [e.state, e.functions]).sort();

test(
  'hyperplane: a VpcConfig update is Active + InProgress until the new ENI exists; invocations run the previous configuration meanwhile',
  leakFree(async (_t, defer) => {
    const { lambkin, lambda } = await startTestServer(defer, HYPERPLANE);
    const arn = 'arn:aws:lambda:us-east-1:000000000000:function:moving';
    await createFn(lambda, 'moving', zip, {
      VpcConfig: { SubnetIds: SUBNETS, SecurityGroupIds: SG_A },
      Environment: { Variables: { CONFIG: 'old' } },
    });
    await waitUntilFunctionActiveV2(waitOpts(lambda), { FunctionName: 'moving' });
    assert.equal(await invoke(lambda, 'moving'), 'old');
    assert.equal((await fleetOf(lambkin.url)).sandboxes.length, 1);

    const updated = await lambda.send(
      new UpdateFunctionConfigurationCommand({
        FunctionName: 'moving',
        VpcConfig: { SubnetIds: SUBNETS, SecurityGroupIds: SG_B },
        Environment: { Variables: { CONFIG: 'new' } },
      }),
    );
    assert.equal(updated.State, 'Active');
    assert.equal(updated.LastUpdateStatus, 'InProgress');
    assert.deepEqual(updated.VpcConfig?.SecurityGroupIds, SG_B, 'the response shows the new configuration');

    const during = await config(lambda, 'moving');
    assert.equal(during.State, 'Active');
    assert.equal(during.StateReasonCode, undefined);
    assert.equal(during.LastUpdateStatus, 'InProgress');
    assert.equal(during.LastUpdateStatusReason, 'The function is being created.');
    assert.equal(during.LastUpdateStatusReasonCode, 'Creating');
    assert.deepEqual(during.Environment?.Variables, { CONFIG: 'new' });
    // The previous configuration's ENI stays (it still runs) next to the new one being made.
    assert.deepEqual(await pairs(lambkin.url), [['pending', 1], ['ready', 1]]);

    // No further update until this one completes.
    await rejectsAws(
      lambda.send(new UpdateFunctionConfigurationCommand({ FunctionName: 'moving', Timeout: 9 })),
      'ResourceConflictException',
      409,
      new RegExp(`^The operation cannot be performed at this time\\. An update is in progress for resource: ${arn}$`),
    );
    await rejectsAws(lambda.send(new UpdateFunctionCodeCommand({ FunctionName: 'moving', ZipFile: zip })), 'ResourceConflictException', 409, /An update is in progress/);

    // Invocations run the previous configuration, in its warm sandbox.
    assert.equal(await invoke(lambda, 'moving'), 'old');
    assert.equal((await fleetOf(lambkin.url)).sandboxes.length, 1, 'the warm sandbox of the previous configuration served it');

    const done = await waitUntilFunctionUpdatedV2(waitOpts(lambda), { FunctionName: 'moving' });
    assert.equal(done.state, 'SUCCESS');
    const after = await config(lambda, 'moving');
    assert.equal(after.State, 'Active');
    assert.equal(after.LastUpdateStatus, 'Successful');
    assert.equal(after.LastUpdateStatusReason, undefined);
    assert.equal(after.LastUpdateStatusReasonCode, undefined);
    const view = await fleetOf(lambkin.url);
    assert.deepEqual(await pairs(lambkin.url), [['ready', 1]], "the previous configuration's ENI is deleted with its last user");
    assert.equal(view.counters.enisDeleted, 1);

    assert.equal(await invoke(lambda, 'moving'), 'new');
    const sandboxes = (await fleetOf(lambkin.url)).sandboxes;
    assert.equal(sandboxes.length, 1, "the previous configuration's sandbox was retired");
    assert.equal(after.Timeout, 3, 'the refused update changed nothing');

    // Updates are accepted again.
    const again = await lambda.send(new UpdateFunctionConfigurationCommand({ FunctionName: 'moving', Timeout: 9 }));
    assert.equal(again.LastUpdateStatus, 'Successful');
  }),
);

test(
  'hyperplane: adding a VpcConfig keeps running without one until the ENI exists; an update to a ready ENI completes at once',
  leakFree(async (_t, defer) => {
    const { lambkin, lambda } = await startTestServer(defer, HYPERPLANE);
    await createFn(lambda, 'plain', zip, { Environment: { Variables: { CONFIG: 'outside' } } });
    const updated = await lambda.send(
      new UpdateFunctionConfigurationCommand({
        FunctionName: 'plain',
        VpcConfig: { SubnetIds: SUBNETS, SecurityGroupIds: SG_A },
        Environment: { Variables: { CONFIG: 'inside' } },
      }),
    );
    assert.equal(updated.State, 'Active');
    assert.equal(updated.LastUpdateStatus, 'InProgress');
    assert.equal(await invoke(lambda, 'plain'), 'outside');
    await waitUntilFunctionUpdatedV2(waitOpts(lambda), { FunctionName: 'plain' });
    assert.equal(await invoke(lambda, 'plain'), 'inside');

    // A second function moves onto the configuration whose ENI is ready: Successful at once.
    await createFn(lambda, 'second', zip);
    const moved = await lambda.send(new UpdateFunctionConfigurationCommand({ FunctionName: 'second', VpcConfig: { SubnetIds: SUBNETS, SecurityGroupIds: SG_A } }));
    assert.equal(moved.LastUpdateStatus, 'InProgress', 'as on Lambda, the update answer itself says InProgress');
    assert.equal((await config(lambda, 'second')).LastUpdateStatus, 'Successful');
    assert.deepEqual(await pairs(lambkin.url), [['ready', 2]]);

    // Leaving the VPC needs no ENI: Successful at once, and the ENI goes with its last user.
    const left = await lambda.send(new UpdateFunctionConfigurationCommand({ FunctionName: 'second', VpcConfig: { SubnetIds: [], SecurityGroupIds: [] } }));
    assert.equal(left.LastUpdateStatus, 'Successful');
    assert.deepEqual(await pairs(lambkin.url), [['ready', 1]]);
  }),
);

test(
  'hyperplane: an update InProgress at shutdown completes after a restart, once the ENI exists again',
  leakFree(async (_t, defer) => {
    const dataDir = mkdtempSync(join(tmpdir(), 'lambkin-vpc-update-'));
    defer(() => rmSync(dataDir, { recursive: true, force: true }));
    {
      const first = await startTestServer(defer, { ...HYPERPLANE, dataDir });
      await createFn(first.lambda, 'interrupted', zip, { VpcConfig: { SubnetIds: SUBNETS, SecurityGroupIds: SG_A }, Environment: { Variables: { CONFIG: 'old' } } });
      await waitUntilFunctionActiveV2(waitOpts(first.lambda), { FunctionName: 'interrupted' });
      const u = await first.lambda.send(
        new UpdateFunctionConfigurationCommand({
          FunctionName: 'interrupted',
          VpcConfig: { SubnetIds: SUBNETS, SecurityGroupIds: SG_B },
          Environment: { Variables: { CONFIG: 'new' } },
        }),
      );
      assert.equal(u.LastUpdateStatus, 'InProgress');
      await first.lambkin.close();
    }
    const second = await startTestServer(defer, { ...HYPERPLANE, dataDir });
    const restored = await config(second.lambda, 'interrupted');
    assert.equal(restored.State, 'Pending', 'what runs has no ENI yet after the restart');
    assert.equal(restored.StateReasonCode, 'Restoring');
    assert.equal(restored.LastUpdateStatus, 'InProgress');
    await waitUntilFunctionActiveV2(waitOpts(second.lambda), { FunctionName: 'interrupted' });
    await waitUntilFunctionUpdatedV2(waitOpts(second.lambda), { FunctionName: 'interrupted' });
    const c = await config(second.lambda, 'interrupted');
    assert.equal(c.State, 'Active');
    assert.equal(c.LastUpdateStatus, 'Successful');
    assert.equal(await invoke(second.lambda, 'interrupted'), 'new');
    assert.deepEqual(await pairs(second.lambkin.url), [['ready', 1]]);
    await second.lambkin.close();

    // Interrupted again, then started in legacy mode, which never waits for a hyperplane ENI.
    const third = await startTestServer(defer, { ...HYPERPLANE, dataDir });
    await waitUntilFunctionActiveV2(waitOpts(third.lambda), { FunctionName: 'interrupted' });
    const back = await third.lambda.send(new UpdateFunctionConfigurationCommand({ FunctionName: 'interrupted', VpcConfig: { SubnetIds: SUBNETS, SecurityGroupIds: SG_A } }));
    assert.equal(back.LastUpdateStatus, 'InProgress');
    await third.lambkin.close();
    const legacy = await startTestServer(defer, { vpcMode: 'legacy', dataDir });
    const l = await config(legacy.lambda, 'interrupted');
    assert.equal(l.State, 'Active');
    assert.equal(l.LastUpdateStatus, 'Successful');
  }),
);
