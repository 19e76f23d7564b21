/** The placement options of `lambkin serve`: defaults, validation, and the latency profile wiring. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { resolveServerOptions } from '../../src/cli/server-options.js';
import { startLambkin } from '../../src/cli/lambkin.js';
import { minimumUnreserved } from '../../src/frontend/concurrency-api.js';
import { leakFree } from '../helpers/leaks.js';

const main = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

test('defaults: no latency profile, time scale 1, seed 1, hyperplane, 1000 concurrent executions, 3072 MB workers', () => {
  const o = resolveServerOptions({});
  assert.equal(o.latencyProfile, 'none');
  assert.equal(o.timeScale, 1);
  assert.equal(o.seed, 1);
  assert.equal(o.vpcMode, 'hyperplane');
  assert.equal(o.accountConcurrency, 1000);
  assert.equal(o.workerMemoryMb, 3072);
  assert.ok(Object.isFrozen(o));
  assert.throws(() => resolveServerOptions({ timeScale: 0 }), /timeScale/);
  assert.throws(() => resolveServerOptions({ seed: 1.5 }), /seed/);
  assert.throws(() => resolveServerOptions({ vpcMode: 'classic' as 'legacy' }), /vpcMode/);
});

test('the unreserved minimum is AWS\'s 100, scaled down for small account limits', () => {
  assert.equal(minimumUnreserved(1000), 100);
  assert.equal(minimumUnreserved(5000), 100);
  assert.equal(minimumUnreserved(50), 5);
  assert.equal(minimumUnreserved(5), 0);
});

test(
  'an unknown latency profile stops start-up with the names that exist',
  leakFree(async () => {
    await assert.rejects(startLambkin({ port: 0, dataDir: '/nonexistent/never-created', latencyProfile: 'aws-2099' }), /Unknown latency profile "aws-2099".*aws-2019/s);
  }),
);

test('lambkin serve documents and validates the placement flags', () => {
  const help = spawnSync(process.execPath, [main, 'serve', '--help'], { encoding: 'utf8' });
  assert.equal(help.status, 0);
  for (const flag of ['--host-memory-mb', '--worker-memory-mb', '--worker-idle', '--account-concurrency', '--vpc-mode', '--latency-profile', '--time-scale', '--seed']) {
    assert.ok(help.stdout.includes(flag), `${flag} in --help`);
  }
  const bad = spawnSync(process.execPath, [main, 'serve', '--time-scale', '0'], { encoding: 'utf8' });
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /--time-scale must be a positive number/);
});
