/**
 * Provisioned concurrency allocation on a virtual clock: a config is IN_PROGRESS while its sandboxes
 * start (the aws-2019 profile's cold-start delays are timers on the clock), READY once all are
 * initialised, and FAILED with Lambda's StatusReason when the function's init fails.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  GetProvisionedConcurrencyConfigCommand,
  PublishVersionCommand,
  PutProvisionedConcurrencyConfigCommand,
  type LambdaClient,
} from '@aws-sdk/client-lambda';
import { FakeDriver, type FakeHandler } from '../../src/fleet/fake-driver.js';
import { VirtualClock } from '../../src/util/clock.js';
import { createFn } from '../helpers/lambda.js';
import { leakFree, type Defer } from '../helpers/leaks.js';
import { startTestServer } from '../helpers/server.js';
import { makeZip } from '../helpers/zip.js';
import { driven } from './settle.js';

const T0 = Date.UTC(2026, 6, 1);
const zip = makeZip({ 'index.js': 'exports.handler = async () => "ok";\n' });

async function server(defer: Defer, handler: FakeHandler) {
  const clock = new VirtualClock(T0);
  const driver = new FakeDriver({ 'index.handler': handler }, { clock });
  const s = await startTestServer(defer, { clock, driver, vpcMode: 'legacy', latencyProfile: 'aws-2019', seed: 7 });
  await createFn(s.lambda, 'pc', zip);
  const { Version } = await s.lambda.send(new PublishVersionCommand({ FunctionName: 'pc' }));
  assert.equal(Version, '1');
  return { clock, driver, s };
}

const config = (lambda: LambdaClient) => lambda.send(new GetProvisionedConcurrencyConfigCommand({ FunctionName: 'pc', Qualifier: '1' }));

/** Moves the clock until the config leaves IN_PROGRESS. */
async function untilSettled(clock: VirtualClock, lambda: LambdaClient) {
  return driven(
    clock,
    (async () => {
      for (;;) {
        const c = await config(lambda);
        if (c.Status !== 'IN_PROGRESS') return c;
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    })(),
  );
}

describe('provisioned concurrency', () => {
  test(
    'IN_PROGRESS with nothing allocated, then READY with every sandbox initialised once the clock has moved',
    leakFree(async (_t, defer) => {
      const { clock, driver, s } = await server(defer, { handle: () => 'ok' });
      const put = await s.lambda.send(new PutProvisionedConcurrencyConfigCommand({ FunctionName: 'pc', Qualifier: '1', ProvisionedConcurrentExecutions: 3 }));
      assert.equal(put.Status, 'IN_PROGRESS');
      assert.equal(put.RequestedProvisionedConcurrentExecutions, 3);
      assert.equal(put.AvailableProvisionedConcurrentExecutions, 0);
      assert.equal(put.AllocatedProvisionedConcurrentExecutions, 0);
      const before = await config(s.lambda);
      assert.equal(before.Status, 'IN_PROGRESS', 'no clock time has passed, so no sandbox is up');

      const ready = await untilSettled(clock, s.lambda);
      assert.equal(ready.Status, 'READY');
      assert.equal(ready.AvailableProvisionedConcurrentExecutions, 3);
      assert.equal(ready.AllocatedProvisionedConcurrentExecutions, 3);
      assert.ok(clock.now() > T0, 'the sandboxes took clock time to start');
      assert.equal(driver.created.length, 3);
      const provisioned = s.lambkin.workerManager.view().sandboxes.filter((x) => x.provisioned);
      assert.equal(provisioned.length, 3);
      assert.ok(provisioned.every((x) => x.state !== 'initializing'));
    }),
  );

  test(
    "a failing init makes the config FAILED with Lambda's FUNCTION_ERROR_INIT_FAILURE reason",
    leakFree(async (_t, defer) => {
      const { clock, s } = await server(defer, {
        init: () => {
          const e = new Error('no');
          e.name = 'Runtime.ImportModuleError';
          throw e;
        },
        handle: () => 'never',
      });
      await s.lambda.send(new PutProvisionedConcurrencyConfigCommand({ FunctionName: 'pc', Qualifier: '1', ProvisionedConcurrentExecutions: 1 }));
      const failed = await untilSettled(clock, s.lambda);
      assert.equal(failed.Status, 'FAILED');
      assert.equal(failed.StatusReason, "FUNCTION_ERROR_INIT_FAILURE: the function's initialization failed (Runtime.ImportModuleError).");
      assert.equal(failed.AvailableProvisionedConcurrentExecutions, 0);
      assert.equal(failed.AllocatedProvisionedConcurrentExecutions, 0);
    }),
  );
});
