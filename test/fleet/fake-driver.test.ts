import { FakeDriver, type FakeHandler } from '../../src/fleet/fake-driver.js';
import type { SandboxSpec } from '../../src/fleet/sandbox-driver.js';
import { baseSpec, sandboxDriverConformance, type FixtureKind } from './sandbox-driver-conformance.js';

const handlers: Record<FixtureKind, FakeHandler> = {
  echo: { handle: (e) => e },
  counter: {
    handle: (_e, ctx) => {
      ctx.state.count = ((ctx.state.count as number | undefined) ?? 0) + 1;
      return { count: ctx.state.count };
    },
  },
  throws: { handle: () => Promise.reject(new Error('boom')) },
  hangs: { handle: () => new Promise(() => {}) },
  'init-fails': {
    init: () => {
      throw new Error('init exploded');
    },
    handle: () => null,
  },
};

let n = 0;
sandboxDriverConformance({
  name: 'fake',
  makeDriver: () => new FakeDriver(handlers),
  makeSpec: async (kind, overrides): Promise<SandboxSpec> =>
    baseSpec({ sandboxId: `fake-${++n}`, codeDir: '/nonexistent', handler: kind, ...overrides }),
});
