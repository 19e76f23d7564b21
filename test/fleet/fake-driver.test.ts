import { FakeDriver, type FakeHandler } from '../../src/fleet/fake-driver.js';
import type { SandboxSpec } from '../../src/fleet/sandbox-driver.js';
import { sandboxDriverConformance, type FixtureKind } from './sandbox-driver-conformance.js';

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
  makeSpec: async (kind, overrides): Promise<SandboxSpec> => ({
    sandboxId: `fake-${++n}`,
    account: '000000000000',
    region: 'us-east-1',
    functionName: 'f',
    functionVersion: '$LATEST',
    runtime: 'nodejs20.x',
    handler: kind,
    codeDir: '/nonexistent',
    memoryMb: 128,
    timeoutMs: 5000,
    environment: {},
    initializationType: 'on-demand',
    logGroupName: '/aws/lambda/f',
    logStreamName: 'stream',
    ...overrides,
  }),
});
