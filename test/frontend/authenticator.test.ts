/**
 * The authenticator's decision table (modes × kinds of credentials), with the time taken from an
 * injected virtual clock and requests signed by the AWS SDK's signer.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SignatureV4 } from '@smithy/signature-v4';
import { AwsError } from '../../src/errors/catalogue.js';
import { authenticator, type AuthMode } from '../../src/frontend/authenticator.js';
import type { HostCredential } from '../../src/frontend/host-credentials.js';
import { SandboxCredentials } from '../../src/frontend/sandbox-credentials.js';
import type { IncomingSignedRequest } from '../../src/frontend/sigv4.js';
import { VirtualClock } from '../../src/util/clock.js';
import { Sha256 } from '../helpers/sha256.js';

const T0 = Date.UTC(2025, 5, 1, 8, 0, 0);
const HOST: HostCredential = { accessKeyId: 'AKIAHOSTKEY000000000', secretAccessKey: 'host-secret', account: '123456789012', createdAt: '2025-01-01T00:00:00.000Z' };

async function signedBy(creds: { accessKeyId: string; secretAccessKey: string; sessionToken?: string } | undefined, region = 'eu-west-1'): Promise<IncomingSignedRequest> {
  const base = { method: 'GET', protocol: 'http:', hostname: '127.0.0.1', port: 4590, path: '/2015-03-31/functions', query: {}, headers: { host: '127.0.0.1:4590' } };
  const req = creds ? await new SignatureV4({ service: 'lambda', region, credentials: creds, sha256: Sha256 }).sign(base, { signingDate: new Date(T0) }) : base;
  return { method: req.method, target: req.path, rawHeaders: Object.entries(req.headers).flat(), body: Buffer.alloc(0) };
}

function setup(mode: AuthMode) {
  const clock = new VirtualClock(T0);
  const sandboxKeys = new SandboxCredentials();
  const hostKeys = { get: (id: string) => (id === HOST.accessKeyId ? HOST : undefined) };
  return { clock, sandboxKeys, auth: authenticator(mode, { hostKeys, sandboxKeys, clock, defaultRegion: 'us-east-1' }) };
}

function refusedWith(fn: () => unknown, code: string): void {
  assert.throws(fn, (e: unknown) => e instanceof AwsError && e.code === code);
}

void test('the decision table: who is accepted in which mode, as which account', async () => {
  for (const mode of ['any', 'strict', 'sandbox'] as const) {
    const { auth, sandboxKeys } = setup(mode);
    const issued = sandboxKeys.issue({
      sandboxId: 'sb-1',
      account: '111111111111',
      region: 'eu-west-1',
      functionArn: 'arn:aws:lambda:eu-west-1:111111111111:function:f',
      role: 'arn:aws:iam::111111111111:role/service-role/exec',
    });
    const sandbox = { accessKeyId: issued.AWS_ACCESS_KEY_ID, secretAccessKey: issued.AWS_SECRET_ACCESS_KEY, sessionToken: issued.AWS_SESSION_TOKEN };

    // A live sandbox key: verified everywhere, its own account, named as the function's session.
    assert.deepEqual(auth(await signedBy(sandbox)), {
      account: '111111111111',
      region: 'eu-west-1',
      principal: 'arn:aws:sts::111111111111:assumed-role/exec/f',
    });
    const wrongSecret = await signedBy({ ...sandbox, secretAccessKey: 'x' });
    refusedWith(() => auth(wrongSecret), 'invalidSignature');
    const unsigned = await signedBy(undefined);
    if (mode === 'any') assert.deepEqual(auth(unsigned), { account: '000000000000', region: 'us-east-1' });
    else refusedWith(() => auth(unsigned), 'missingAuthenticationToken');
    const noToken = await signedBy({ accessKeyId: sandbox.accessKeyId, secretAccessKey: sandbox.secretAccessKey });
    // An issued key is verified in every mode: without its session token it is not valid.
    refusedWith(() => auth(noToken), 'unrecognizedClient');

    // A host key: verified (even in `any`), refused on the sandbox endpoint.
    const host = await signedBy(HOST);
    if (mode === 'sandbox') refusedWith(() => auth(host), 'unrecognizedClient');
    else assert.deepEqual(auth(host), { account: '123456789012', region: 'eu-west-1', principal: 'arn:aws:iam::123456789012:root' });
    const forged = await signedBy({ ...HOST, secretAccessKey: 'guess' });
    refusedWith(() => auth(forged), mode === 'sandbox' ? 'unrecognizedClient' : 'invalidSignature');

    // Anything else: only `any` takes it, unverified.
    const other = await signedBy({ accessKeyId: '210987654321', secretAccessKey: 'whatever' });
    if (mode === 'any') assert.deepEqual(auth(other), { account: '210987654321', region: 'eu-west-1' });
    else refusedWith(() => auth(other), 'unrecognizedClient');

    // Revoked: the sandbox key is unknown from then on.
    sandboxKeys.revoke('sb-1');
    const revoked = await signedBy(sandbox);
    if (mode === 'any') assert.equal(auth(revoked).account, '000000000000');
    else refusedWith(() => auth(revoked), 'unrecognizedClient');
  }
});

void test('signatures are checked against the injected clock', async () => {
  const { auth, clock } = setup('strict');
  const req = await signedBy(HOST);
  assert.equal(auth(req).account, '123456789012');
  clock.advance(T0 + 5 * 60_000);
  assert.equal(auth(req).account, '123456789012', 'still within 5 minutes');
  clock.advance(T0 + 5 * 60_000 + 1);
  assert.throws(
    () => auth(req),
    (e: unknown) =>
      e instanceof AwsError &&
      e.type === 'InvalidSignatureException' &&
      e.message === 'Signature expired: 20250601T080000Z is now earlier than 20250601T080000Z (20250601T080500Z - 5 min.)',
  );
});
