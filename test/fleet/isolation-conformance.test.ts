/**
 * The SandboxDriver conformance suite against the process driver at each isolation level.
 * Level `none` runs everywhere; the isolated levels skip (with the reason) where the machine lacks them.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe } from 'node:test';
import type { SandboxSpec } from '../../src/fleet/sandbox-driver.js';
import { sandboxDriverConformance, type FixtureKind } from './sandbox-driver-conformance.js';
import { ISOLATED_LEVELS, makeIsolatedDriver, scratchRoot } from './isolation-fixtures.js';

const root = scratchRoot('lambkin-isoconf-');
after(() => root.remove());

const sources: Record<FixtureKind, string> = {
  echo: 'exports.handler = async (event) => event;',
  counter: 'let count = 0;\nexports.handler = async () => ({ count: ++count });',
  throws: "exports.handler = async () => { throw new Error('boom'); };",
  hangs: 'exports.handler = () => new Promise(() => { setInterval(() => {}, 1000); });',
  'init-fails': "throw new Error('init exploded');\nexports.handler = async () => null;",
};

let n = 0;
async function makeSpec(kind: FixtureKind, overrides?: Partial<SandboxSpec>): Promise<SandboxSpec> {
  const dir = join(root.dir, `${kind}-${++n}`);
  mkdirSync(dir);
  writeFileSync(join(dir, 'index.js'), sources[kind]);
  return {
    sandboxId: `conf-${process.pid}-${n}`,
    account: '000000000000',
    region: 'us-east-1',
    functionName: 'f',
    functionVersion: '$LATEST',
    runtime: 'nodejs20.x',
    handler: 'index.handler',
    codeDir: dir,
    // 512 MB: enough CPU (0.29 vCPU) for Node.js to start quickly on a busy CI machine.
    memoryMb: 512,
    timeoutMs: 5000,
    environment: {},
    initializationType: 'on-demand',
    logGroupName: '/aws/lambda/f',
    logStreamName: 'stream',
    ...overrides,
  };
}

sandboxDriverConformance({ name: 'process, isolation none', makeDriver: () => makeIsolatedDriver('none'), makeSpec });

for (const level of ISOLATED_LEVELS) {
  if (level.skip) {
    describe(`SandboxDriver conformance: process, isolation ${level.request}`, { skip: level.skip }, () => {});
    continue;
  }
  sandboxDriverConformance({ name: `process, isolation ${level.request}`, makeDriver: () => makeIsolatedDriver(level.request), makeSpec });
}
