/**
 * The SandboxDriver conformance suite against the process driver at each isolation level.
 * Level `none` runs everywhere; the isolated levels skip (with the reason) where the machine lacks them.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe } from 'node:test';
import type { SandboxSpec } from '../../src/fleet/sandbox-driver.js';
import { NODE_FIXTURE_SOURCES, baseSpec, sandboxDriverConformance, type FixtureKind } from './sandbox-driver-conformance.js';
import { ISOLATED_LEVELS, makeIsolatedDriver, scratchRoot } from './isolation-fixtures.js';

const root = scratchRoot('lambkin-isoconf-');
after(() => root.remove());

let n = 0;
async function makeSpec(kind: FixtureKind, overrides?: Partial<SandboxSpec>): Promise<SandboxSpec> {
  const dir = join(root.dir, `${kind}-${++n}`);
  mkdirSync(dir);
  writeFileSync(join(dir, 'index.js'), NODE_FIXTURE_SOURCES[kind]);
  // 512 MB: enough CPU (0.29 vCPU) for Node.js to start quickly on a busy CI machine.
  return baseSpec({ sandboxId: `conf-${process.pid}-${n}`, codeDir: dir, memoryMb: 512, ...overrides });
}

sandboxDriverConformance({ name: 'process, isolation none', makeDriver: () => makeIsolatedDriver('none'), makeSpec });

for (const level of ISOLATED_LEVELS) {
  if (level.skip) {
    describe(`SandboxDriver conformance: process, isolation ${level.request}`, { skip: level.skip }, () => {});
    continue;
  }
  sandboxDriverConformance({ name: `process, isolation ${level.request}`, makeDriver: () => makeIsolatedDriver(level.request), makeSpec });
}
