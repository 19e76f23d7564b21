/**
 * The process driver's narrow seam for sandbox identity: the credentials and endpoint variables
 * win over the function's own, and are revoked when the sandbox stops (also when its init fails).
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { ProcessDriver, type SandboxIdentity } from '../../src/fleet/process-driver.js';
import { SandboxInitError, type SandboxSpec } from '../../src/fleet/sandbox-driver.js';
import { leakFree } from '../helpers/leaks.js';
import { invocation, nodeSpec, scratchRoot } from './isolation-fixtures.js';

const root = scratchRoot('lambkin-identity-');
after(() => root.remove());

const ENV_ECHO = `exports.handler = async () => {
  const pick = (k) => process.env[k];
  return Object.fromEntries(['AWS_ACCESS_KEY_ID', 'AWS_SESSION_TOKEN', 'AWS_ENDPOINT_URL', 'MINE', 'AWS_LAMBDA_FUNCTION_NAME'].map((k) => [k, pick(k)]));
};`;

/** Records what the driver asks of the identity seam. */
function recordingIdentity() {
  const issued: string[] = [];
  const revoked: string[] = [];
  const identity: SandboxIdentity = {
    environment: (spec: SandboxSpec, endpointUrl = 'http://127.0.0.1:1234') => {
      issued.push(spec.sandboxId);
      return { AWS_ACCESS_KEY_ID: `ASIA-${spec.sandboxId}`, AWS_SESSION_TOKEN: 'token', AWS_ENDPOINT_URL: endpointUrl };
    },
    revoke: (sandboxId) => revoked.push(sandboxId),
  };
  return { identity, issued, revoked };
}

void test(
  "the sandbox's identity variables win over the function's and are revoked when it stops",
  leakFree(async (_t, defer) => {
    const { identity, issued, revoked } = recordingIdentity();
    const driver = new ProcessDriver({ initTimeoutMs: 10_000, python: 'python3', sandboxIdentity: identity });
    defer(() => driver.close());
    const spec = nodeSpec(root.dir, ENV_ECHO, { environment: { MINE: 'kept', AWS_ENDPOINT_URL: 'http://elsewhere.invalid' } });
    const sandbox = await driver.create(spec);
    assert.deepEqual(issued, [spec.sandboxId]);
    const out = await sandbox.invoke(invocation({}));
    assert.equal(out.kind, 'success', out.payload.toString());
    assert.deepEqual(JSON.parse(out.payload.toString()), {
      AWS_ACCESS_KEY_ID: `ASIA-${spec.sandboxId}`,
      AWS_SESSION_TOKEN: 'token',
      AWS_ENDPOINT_URL: 'http://127.0.0.1:1234',
      MINE: 'kept',
      AWS_LAMBDA_FUNCTION_NAME: spec.functionName,
    });
    assert.deepEqual(revoked, []);
    await sandbox.stop();
    assert.deepEqual(revoked, [spec.sandboxId], 'revoked by the time stop() resolves');
  }),
);

void test(
  'a sandbox whose init fails has its credentials revoked too',
  leakFree(async (_t, defer) => {
    const { identity, issued, revoked } = recordingIdentity();
    const driver = new ProcessDriver({ initTimeoutMs: 10_000, python: 'python3', sandboxIdentity: identity });
    defer(() => driver.close());
    const spec = nodeSpec(root.dir, 'throw new Error("init fails");');
    await assert.rejects(driver.create(spec), (e: unknown) => e instanceof SandboxInitError);
    assert.deepEqual(issued, [spec.sandboxId]);
    assert.deepEqual(revoked, [spec.sandboxId]);
  }),
);
