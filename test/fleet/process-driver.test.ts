import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { ProcessDriver } from '../../src/fleet/process-driver.js';
import type { SandboxSpec } from '../../src/fleet/sandbox-driver.js';
import { sandboxDriverConformance, type FixtureKind } from './sandbox-driver-conformance.js';

const root = mkdtempSync(join(tmpdir(), 'lambkin-pd-'));
after(() => rmSync(root, { recursive: true, force: true }));

const sources: Record<FixtureKind, string> = {
  echo: 'exports.handler = async (event) => event;',
  counter: 'let count = 0;\nexports.handler = async () => ({ count: ++count });',
  throws: "exports.handler = async () => { throw new Error('boom'); };",
  // A pending timer keeps the loop alive: a promise alone would let the runtime answer null when the loop empties, as AWS's does.
  hangs: 'exports.handler = () => new Promise(() => { setInterval(() => {}, 1000); });',
  'init-fails': "throw new Error('init exploded');\nexports.handler = async () => null;",
};

let n = 0;
sandboxDriverConformance({
  name: 'process (nodejs)',
  makeDriver: () => new ProcessDriver({ initTimeoutMs: 10_000, python: 'python3' }),
  makeSpec: async (kind, overrides): Promise<SandboxSpec> => {
    const dir = join(root, `${kind}-${++n}`);
    (await import('node:fs')).mkdirSync(dir);
    writeFileSync(join(dir, 'index.js'), sources[kind]);
    return {
      sandboxId: `proc-${n}`,
      account: '000000000000',
      region: 'us-east-1',
      functionName: 'f',
      functionVersion: '$LATEST',
      runtime: 'nodejs20.x',
      handler: 'index.handler',
      codeDir: dir,
      memoryMb: 128,
      timeoutMs: 5000,
      environment: {},
      initializationType: 'on-demand',
      logGroupName: '/aws/lambda/f',
      logStreamName: 'stream',
      ...overrides,
    };
  },
});
