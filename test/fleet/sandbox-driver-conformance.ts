/**
 * The contract every SandboxDriver meets. Run by process-driver.test.ts and fake-driver.test.ts,
 * each with its own way of making a function of each kind.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SandboxInitError, type SandboxDriver, type SandboxSpec } from '../../src/fleet/sandbox-driver.js';
import { leakFree } from '../helpers/leaks.js';

/** The functions the suite needs; `counter` returns {count} incremented per call in module state. */
export type FixtureKind = 'echo' | 'counter' | 'throws' | 'hangs' | 'init-fails';

export interface ConformanceTarget {
  readonly name: string;
  makeDriver(): SandboxDriver;
  makeSpec(kind: FixtureKind, overrides?: Partial<SandboxSpec>): Promise<SandboxSpec>;
}

/** Node.js handlers for each fixture kind, for drivers that run real runtimes. */
export const NODE_FIXTURE_SOURCES: Readonly<Record<FixtureKind, string>> = {
  echo: 'exports.handler = async (event) => event;',
  counter: 'let count = 0;\nexports.handler = async () => ({ count: ++count });',
  throws: "exports.handler = async () => { throw new Error('boom'); };",
  // A pending timer keeps the loop alive: a promise alone would let the runtime answer null when the loop empties, as AWS's does.
  hangs: 'exports.handler = () => new Promise(() => { setInterval(() => {}, 1000); });',
  'init-fails': "throw new Error('init exploded');\nexports.handler = async () => null;",
};

/** A nodejs20.x spec with Lambda's defaults; tests override what they need. */
export function baseSpec(overrides: Partial<SandboxSpec> & Pick<SandboxSpec, 'sandboxId' | 'codeDir'>): SandboxSpec {
  return {
    account: '000000000000',
    region: 'us-east-1',
    functionName: 'f',
    functionVersion: '$LATEST',
    runtime: 'nodejs20.x',
    handler: 'index.handler',
    memoryMb: 128,
    timeoutMs: 5000,
    environment: {},
    initializationType: 'on-demand',
    logGroupName: '/aws/lambda/f',
    logStreamName: 'stream',
    ...overrides,
  };
}

let seq = 0;
function invocation(payload: unknown, timeoutMs = 5000) {
  return {
    requestId: `req-${++seq}`,
    payload: Buffer.from(JSON.stringify(payload)),
    invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:f',
    deadlineMs: Date.now() + timeoutMs,
  };
}

export function sandboxDriverConformance(target: ConformanceTarget): void {
  describe(`SandboxDriver conformance: ${target.name}`, () => {
    test(
      'runs an invocation and returns the handler result',
      leakFree(async (_t, defer) => {
        const driver = target.makeDriver();
        defer(() => driver.close());
        const sandbox = await driver.create(await target.makeSpec('echo'));
        assert.equal(sandbox.state, 'idle');
        assert.ok(sandbox.initDurationMs >= 0);
        const out = await sandbox.invoke(invocation({ hello: 'world' }));
        assert.equal(out.kind, 'success');
        assert.deepEqual(JSON.parse(out.payload.toString()), { hello: 'world' });
        assert.equal(sandbox.state, 'idle');
      }),
    );

    test(
      'keeps module state between invocations of one sandbox, not across sandboxes',
      leakFree(async (_t, defer) => {
        const driver = target.makeDriver();
        defer(() => driver.close());
        const spec = await target.makeSpec('counter');
        const a = await driver.create(spec);
        const counts = [];
        for (let i = 0; i < 3; i++) {
          const out = await a.invoke(invocation({}));
          assert.equal(out.kind, 'success');
          counts.push((JSON.parse(out.payload.toString()) as { count: number }).count);
        }
        assert.deepEqual(counts, [1, 2, 3]);
        const b = await driver.create({ ...spec, sandboxId: `${spec.sandboxId}-b` });
        const out = await b.invoke(invocation({}));
        assert.equal((JSON.parse(out.payload.toString()) as { count: number }).count, 1);
      }),
    );

    test(
      'reports a handler error as a non-fatal error outcome',
      leakFree(async (_t, defer) => {
        const driver = target.makeDriver();
        defer(() => driver.close());
        const sandbox = await driver.create(await target.makeSpec('throws'));
        const out = await sandbox.invoke(invocation({}));
        assert.equal(out.kind, 'error');
        if (out.kind !== 'error') return;
        assert.equal(out.fatal, false);
        const doc = JSON.parse(out.payload.toString()) as { errorType: string; errorMessage: string };
        assert.equal(doc.errorType, 'Error');
        assert.equal(doc.errorMessage, 'boom');
        assert.equal(sandbox.state, 'idle');
      }),
    );

    test(
      'fails an invocation whose payload is not JSON, not the sandbox',
      leakFree(async (_t, defer) => {
        const driver = target.makeDriver();
        defer(() => driver.close());
        const sandbox = await driver.create(await target.makeSpec('echo'));
        const out = await sandbox.invoke({ ...invocation({}), payload: Buffer.from('{not json') });
        assert.equal(out.kind, 'error');
        if (out.kind !== 'error') return;
        assert.equal(out.fatal, false);
        assert.equal(out.errorType, 'SyntaxError');
        assert.equal(sandbox.state, 'idle');
        const again = await sandbox.invoke(invocation({ ok: true }));
        assert.deepEqual(JSON.parse(again.payload.toString()), { ok: true });
      }),
    );

    test(
      'times out a handler past its deadline and marks the sandbox unusable',
      leakFree(async (_t, defer) => {
        const driver = target.makeDriver();
        defer(() => driver.close());
        const sandbox = await driver.create(await target.makeSpec('hangs', { timeoutMs: 300 }));
        const out = await sandbox.invoke(invocation({}, 300));
        assert.equal(out.kind, 'error');
        if (out.kind !== 'error') return;
        assert.equal(out.fatal, true);
        assert.equal(out.errorType, 'Sandbox.Timedout');
        assert.match(out.payload.toString(), /Task timed out after 0\.30 seconds/);
        await sandbox.stop();
      }),
    );

    test(
      'fails create with SandboxInitError when init fails',
      leakFree(async (_t, defer) => {
        const driver = target.makeDriver();
        defer(() => driver.close());
        await assert.rejects(driver.create(await target.makeSpec('init-fails')), (err: unknown) => {
          assert.ok(err instanceof SandboxInitError);
          assert.equal(err.errorType, 'Error');
          assert.match(err.payload.toString(), /init exploded/);
          return true;
        });
      }),
    );

    test(
      'stop is idempotent and leaves nothing behind',
      leakFree(async (_t, defer) => {
        const driver = target.makeDriver();
        defer(() => driver.close());
        const sandbox = await driver.create(await target.makeSpec('echo'));
        await Promise.all([sandbox.stop(), sandbox.stop()]);
        await sandbox.stop();
        assert.equal(sandbox.state, 'stopped');
      }),
    );
  });
}
