/**
 * Hyperplane ENIs and function states on a virtual clock: a new VPC function is Pending (reason code
 * Creating) while its ENI is made, which with the aws-2019 profile takes 7.7–14.7 s of clock time, and
 * Active once it is ready; functions sharing the configuration share the ENI; legacy mode never
 * leaves a function Pending.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { GetFunctionCommand, InvokeCommand, UpdateFunctionConfigurationCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import { FakeDriver } from '../../src/fleet/fake-driver.js';
import { CREATING, UPDATING, initialStateFor, vpcKeyOf } from '../../src/invocations/vpc-enis.js';
import { VirtualClock } from '../../src/util/clock.js';
import { createFn, rejectsAws } from '../helpers/lambda.js';
import { leakFree } from '../helpers/leaks.js';
import { startTestServer } from '../helpers/server.js';
import { makeZip } from '../helpers/zip.js';
import { driven, settles } from './settle.js';

const T0 = Date.UTC(2026, 5, 1);
const VPC_A = { SubnetIds: ['subnet-22222222', 'subnet-11111111'], SecurityGroupIds: ['sg-aaaaaaaa'] };
const VPC_B = { SubnetIds: ['subnet-11111111'], SecurityGroupIds: ['sg-bbbbbbbb'] };
const zip = makeZip({ 'index.js': 'exports.handler = async () => "ok";\n' });

const stateOf = async (lambda: LambdaClient, name: string) => (await lambda.send(new GetFunctionCommand({ FunctionName: name }))).Configuration;

describe('vpc-enis', () => {
  test('vpcKeyOf sorts subnets and security groups, so the order given does not matter', () => {
    assert.equal(vpcKeyOf({ subnetIds: ['subnet-b', 'subnet-a'], securityGroupIds: ['sg-2', 'sg-1'] }), 'subnet-a,subnet-b|sg-1,sg-2');
    assert.equal(vpcKeyOf({ subnetIds: ['subnet-a', 'subnet-b'], securityGroupIds: ['sg-1', 'sg-2'] }), vpcKeyOf({ subnetIds: ['subnet-b', 'subnet-a'], securityGroupIds: ['sg-2', 'sg-1'] }));
  });

  test('initial states: Pending/Creating for a new hyperplane VPC version, InProgress for an update of an Active one, else Active', () => {
    const vpcConfig = { subnetIds: ['subnet-a'], securityGroupIds: ['sg-1'], vpcId: 'vpc-1' };
    const hyper = initialStateFor('hyperplane');
    assert.deepEqual(hyper({ vpcConfig, reason: 'create' }), CREATING);
    assert.deepEqual(CREATING, { state: 'Pending', reason: 'The function is being created.', reasonCode: 'Creating' });
    assert.deepEqual(hyper({ vpcConfig, reason: 'update', from: 'Active' }), { state: 'Active', lastUpdate: UPDATING });
    assert.deepEqual(UPDATING, { status: 'InProgress', reason: 'The function is being created.', reasonCode: 'Creating' });
    assert.deepEqual(hyper({ vpcConfig, reason: 'update', from: 'Pending' }), CREATING);
    assert.deepEqual(hyper({}), { state: 'Active' });
    assert.deepEqual(initialStateFor('legacy')({ vpcConfig, reason: 'create' }), { state: 'Active' });
  });

  test(
    'hyperplane: Pending until the ENI is ready on the clock, then Active; a second function shares the ENI',
    leakFree(async (_t, defer) => {
      const clock = new VirtualClock(T0);
      const driver = new FakeDriver({ 'index.handler': { handle: () => 'ok' } }, { clock });
      const s = await startTestServer(defer, { clock, driver, vpcMode: 'hyperplane', latencyProfile: 'aws-2019', seed: 3 });
      const wm = s.lambkin.workerManager;
      const keyA = vpcKeyOf({ subnetIds: VPC_A.SubnetIds, securityGroupIds: VPC_A.SecurityGroupIds });

      const a = await createFn(s.lambda, 'fa', zip, { VpcConfig: VPC_A });
      assert.equal(a.State, 'Pending');
      assert.equal(a.StateReasonCode, 'Creating');
      assert.equal(wm.hyperplaneEniState(keyA), 'pending');
      await rejectsAws(s.lambda.send(new InvokeCommand({ FunctionName: 'fa' })), 'ResourceConflictException', 409, /Pending/);

      // Same configuration, subnets in another order: waits for the same ENI.
      const b = await createFn(s.lambda, 'fb', zip, { VpcConfig: { ...VPC_A, SubnetIds: [...VPC_A.SubnetIds].reverse() } });
      assert.equal(b.State, 'Pending');

      // No ENI in the profile is made in under 7.7 s.
      clock.advance(T0 + 7000);
      await new Promise<void>((resolve) => setImmediate(resolve));
      assert.equal((await stateOf(s.lambda, 'fa'))?.State, 'Pending');
      assert.equal(wm.hyperplaneEniState(keyA), 'pending');

      // Every one is made within 14.8 s.
      clock.advance(T0 + 15_000);
      await settles('fa Active', async () => (await stateOf(s.lambda, 'fa'))?.State === 'Active');
      const fa = await stateOf(s.lambda, 'fa');
      assert.equal(fa?.StateReasonCode, undefined);
      assert.equal((await stateOf(s.lambda, 'fb'))?.State, 'Active');
      assert.equal(wm.hyperplaneEniState(keyA), 'ready');
      assert.equal(wm.counters().enisCreated, 1, 'one ENI for both');
      // The cold start's profile delays (worker, code download, init) are timers on the clock too.
      const out = await driven(clock, s.lambda.send(new InvokeCommand({ FunctionName: 'fa' })));
      assert.equal(Buffer.from(out.Payload ?? []).toString(), '"ok"');

      // A third function on the same configuration is Active at once, with no clock time passing.
      const t = clock.now();
      await createFn(s.lambda, 'fc', zip, { VpcConfig: VPC_A });
      assert.equal((await stateOf(s.lambda, 'fc'))?.State, 'Active');
      assert.equal(clock.now(), t);
      assert.equal(wm.counters().enisCreated, 1);
    }),
  );

  test(
    'hyperplane: changing the VpcConfig of an Active function keeps it Active with LastUpdateStatus InProgress until the new ENI is ready',
    leakFree(async (_t, defer) => {
      const clock = new VirtualClock(T0);
      const driver = new FakeDriver({ 'index.handler': { handle: () => 'ok' } }, { clock });
      const s = await startTestServer(defer, { clock, driver, vpcMode: 'hyperplane', latencyProfile: 'aws-2019', seed: 5 });
      await createFn(s.lambda, 'fu', zip, { VpcConfig: VPC_A });
      clock.advance(T0 + 15_000);
      await settles('fu Active', async () => (await stateOf(s.lambda, 'fu'))?.State === 'Active');

      await s.lambda.send(new UpdateFunctionConfigurationCommand({ FunctionName: 'fu', VpcConfig: VPC_B }));
      const during = await stateOf(s.lambda, 'fu');
      assert.equal(during?.State, 'Active');
      assert.equal(during?.LastUpdateStatus, 'InProgress');
      assert.equal(during?.LastUpdateStatusReasonCode, 'Creating');
      // Invocations still run the previous configuration meanwhile.
      const t1 = clock.now();
      assert.equal(Buffer.from((await driven(clock, s.lambda.send(new InvokeCommand({ FunctionName: 'fu' })))).Payload ?? []).toString(), '"ok"');
      assert.ok(clock.now() - t1 < 7000, 'the invocation did not need the new ENI');

      clock.advance(t1 + 15_000);
      const after = await settles('update Successful', async () => {
        const c = await stateOf(s.lambda, 'fu');
        return c?.LastUpdateStatus === 'Successful' ? c : undefined;
      });
      assert.equal(after.State, 'Active');
      assert.deepEqual(after.VpcConfig?.SecurityGroupIds, VPC_B.SecurityGroupIds);
      assert.equal(s.lambkin.workerManager.hyperplaneEniState(vpcKeyOf({ subnetIds: VPC_A.SubnetIds, securityGroupIds: VPC_A.SecurityGroupIds })), undefined, 'the old ENI is freed');
    }),
  );

  test(
    'legacy mode: a VPC function is Active at once and has no hyperplane ENI',
    leakFree(async (_t, defer) => {
      const clock = new VirtualClock(T0);
      const driver = new FakeDriver({ 'index.handler': { handle: () => 'ok' } }, { clock });
      const s = await startTestServer(defer, { clock, driver, vpcMode: 'legacy', latencyProfile: 'aws-2019' });
      const f = await createFn(s.lambda, 'fl', zip, { VpcConfig: VPC_A });
      assert.equal(f.State, 'Active');
      assert.equal(s.lambkin.workerManager.hyperplaneEniState(vpcKeyOf({ subnetIds: VPC_A.SubnetIds, securityGroupIds: VPC_A.SecurityGroupIds })), undefined);
    }),
  );
});
