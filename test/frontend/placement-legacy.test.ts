/**
 * The seed's observations, reproduced by placement (issue 3's Proof): legacy VPC mode with the aws-2019
 * latency profile at time scale 0.1 (an ENI takes ~0.8-1.5 s instead of ~8-15 s), real sandboxes, the
 * real AWS SDK, and the fleet as GET /lambkin/v1/fleet reports it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import { leakFree } from '../helpers/leaks.js';
import { startTestServer } from '../helpers/server.js';
import { makeZip } from '../helpers/zip.js';
import { createFn } from '../helpers/lambda.js';
import { fleetOf } from './placement-fleet.js';

const LEGACY = { vpcMode: 'legacy', latencyProfile: 'aws-2019', timeScale: 0.1, seed: 7, hostMemoryMb: 40_000 } as const;
const VPC = { SubnetIds: ['subnet-0a1b2c3d'], SecurityGroupIds: ['sg-0a1b2c3d'] };
/** The smallest ENI of aws-2019 is ~7.7 s, so ~770 ms at time scale 0.1; a local cold start is far below. */
const SLOW_MS = 700;

const zip = makeZip({ 'index.js': 'exports.handler = async () => ({ ok: true });\n' });

async function timedInvoke(lambda: LambdaClient, name: string): Promise<number> {
  const t0 = performance.now();
  const out = await lambda.send(new InvokeCommand({ FunctionName: name }));
  const ms = performance.now() - t0;
  assert.equal(out.FunctionError, undefined, `${name} failed`);
  return ms;
}

test(
  'legacy VPC, 128 MB: ten functions share one worker and one ENI; one slow start, nine fast',
  leakFree(async (_t, defer) => {
    const { lambkin, lambda } = await startTestServer(defer, LEGACY);
    const names = Array.from({ length: 10 }, (_, i) => `vpc128-${i}`);
    for (const n of names) await createFn(lambda, n, zip, { MemorySize: 128, VpcConfig: VPC });
    // One after the other, as the seed did: only the first finds no worker with the ENI.
    const times: number[] = [];
    for (const n of names) times.push(await timedInvoke(lambda, n));
    const view = await fleetOf(lambkin.url);
    assert.equal(view.enis.length, 1, 'exactly one ENI');
    assert.equal(view.enis[0]?.mode, 'legacy');
    assert.equal(view.workers.length, 1, 'exactly one worker');
    assert.equal(view.sandboxes.length, 10);
    assert.ok(view.sandboxes.every((s) => s.workerId === view.workers[0]?.id));
    const slow = times.filter((t) => t >= SLOW_MS);
    assert.equal(slow.length, 1, `one slow invocation, got ${times.map((t) => t.toFixed(0)).join(', ')} ms`);
    assert.ok((times[0] ?? 0) >= SLOW_MS, 'the first one attached the ENI');
    assert.equal(view.counters.enisCreated, 1);
    assert.equal(view.counters.narrowColdStarts, 1);
  }),
);

test(
  'legacy VPC, 3008 MB: ten functions need ten workers and ten ENIs; every start is slow',
  leakFree(async (_t, defer) => {
    const { lambkin, lambda } = await startTestServer(defer, LEGACY);
    const names = Array.from({ length: 10 }, (_, i) => `vpc3008-${i}`);
    await Promise.all(names.map((n) => createFn(lambda, n, zip, { MemorySize: 3008, VpcConfig: VPC })));
    // Concurrently, to keep the suite short: each sandbox fills a worker alone, so order does not matter.
    const times = await Promise.all(names.map((n) => timedInvoke(lambda, n)));
    const view = await fleetOf(lambkin.url);
    assert.equal(view.enis.length, 10, 'ten ENIs');
    assert.equal(view.workers.length, 10, 'ten workers');
    assert.equal(new Set(view.enis.map((e) => e.workerId)).size, 10, 'one ENI per worker');
    assert.ok(
      times.every((t) => t >= SLOW_MS),
      `all slow, got ${times.map((t) => t.toFixed(0)).join(', ')} ms`,
    );
  }),
);

test(
  'without VPC no ENI at all; two accounts never share a worker',
  leakFree(async (_t, defer) => {
    const { lambkin, client } = await startTestServer(defer, LEGACY);
    const a = client('111111111111');
    const b = client('222222222222');
    for (let i = 0; i < 3; i++) {
      await createFn(a, `plain-${i}`, zip);
      await createFn(b, `plain-${i}`, zip);
    }
    await Promise.all([0, 1, 2].flatMap((i) => [timedInvoke(a, `plain-${i}`), timedInvoke(b, `plain-${i}`)]));
    const view = await fleetOf(lambkin.url);
    assert.equal(view.enis.length, 0, 'no ENI without VpcConfig');
    assert.equal(view.counters.enisCreated, 0);
    assert.equal(view.sandboxes.length, 6);
    const accountOf = new Map(view.workers.map((w) => [w.id, w.account]));
    for (const s of view.sandboxes) assert.equal(accountOf.get(s.workerId), s.account, `${s.id} sits in a worker of its own account`);
    assert.deepEqual([...new Set(view.workers.map((w) => w.account))].sort(), ['111111111111', '222222222222']);
    assert.equal(view.workers.length, 2, 'three 128 MB sandboxes per account fit one worker each');
  }),
);
