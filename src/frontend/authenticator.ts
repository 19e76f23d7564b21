/**
 * Who is calling, and whether to believe it: turns a request's SigV4 signature into a
 * {@link Caller}. Keys lambkin issued (host keys from `lambkin credentials create`, sandbox keys
 * from {@link SandboxCredentials}) are always verified and act as their own account. What happens
 * to everything else depends on the mode:
 * - `any`: lambkin's historical behaviour: any other credentials (or none) are accepted, the
 *   account read from a 12-digit access key id, the region from the credential scope;
 * - `strict`: a request must be signed with an issued key;
 * - `sandbox`: a request must be signed with a live sandbox key (the sandbox-facing endpoint).
 */
import { timingSafeEqual } from 'node:crypto';
import { AwsError, awsError } from '../errors/catalogue.js';
import type { Caller } from '../functions/names.js';
import type { Clock } from '../util/clock.js';
import type { HostCredentials } from './host-credentials.js';
import { callerFrom } from './identity.js';
import type { SandboxCredentials } from './sandbox-credentials.js';
import { readSignature, verifySignature, type IncomingSignedRequest, type SignatureClaim } from './sigv4.js';

/** How strictly requests are authenticated. */
export type AuthMode = 'any' | 'strict' | 'sandbox';

/** Where issued keys are looked up, and the time signatures are checked against. */
export interface AuthenticatorDeps {
  /** Host keys; absent: none issued. */
  readonly hostKeys?: Pick<HostCredentials, 'get'>;
  readonly sandboxKeys: Pick<SandboxCredentials, 'get'>;
  readonly clock: Clock;
  /** The caller's region when an accepted request carries no credential scope (`any` only). */
  readonly defaultRegion: string;
}

/** Authenticates one request: the caller, or an AwsError (403/400) to answer with. */
export type Authenticate = (req: IncomingSignedRequest) => Caller;

function headerOf(req: IncomingSignedRequest, name: string): string | undefined {
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
    if ((req.rawHeaders[i] as string).toLowerCase() === name) return req.rawHeaders[i + 1];
  }
  return undefined;
}

/** Compares secrets in constant time. */
function sameSecret(a: string | undefined, b: string): boolean {
  if (a === undefined) return false;
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** The caller as `any` mode has always read it (no verification). */
function unverifiedCaller(req: IncomingSignedRequest, defaultRegion: string): Caller {
  const q = req.target.indexOf('?');
  const credential = q < 0 ? null : new URLSearchParams(req.target.slice(q + 1)).get('X-Amz-Credential');
  return callerFrom(headerOf(req, 'authorization'), credential, defaultRegion);
}

/** An authenticator for `mode`. */
export function authenticator(mode: AuthMode, deps: AuthenticatorDeps): Authenticate {
  return (req) => {
    let claim: SignatureClaim | undefined;
    try {
      claim = readSignature(req);
    } catch (err) {
      // `any` accepted whatever it could read before; a malformed signature is only an error where signatures matter.
      if (mode === 'any' && err instanceof AwsError) return unverifiedCaller(req, deps.defaultRegion);
      throw err;
    }
    if (!claim) {
      if (mode === 'any') return unverifiedCaller(req, deps.defaultRegion);
      throw awsError('missingAuthenticationToken', {});
    }
    const now = deps.clock.now();
    const sandbox = deps.sandboxKeys.get(claim.accessKeyId);
    if (sandbox) {
      // Temporary credentials are only valid with their own session token.
      if (!sameSecret(claim.sessionToken, sandbox.sessionToken)) throw awsError('unrecognizedClient', {});
      verifySignature(req, claim, sandbox.secretAccessKey, now);
      return { account: sandbox.principal.account, region: claim.region, principal: sandbox.principalArn };
    }
    if (mode === 'sandbox') throw awsError('unrecognizedClient', {});
    const host = deps.hostKeys?.get(claim.accessKeyId);
    if (host) {
      // A long-term key has no session: a token with it is not one lambkin issued.
      if (claim.sessionToken !== undefined) throw awsError('unrecognizedClient', {});
      verifySignature(req, claim, host.secretAccessKey, now);
      return { account: host.account, region: claim.region, principal: `arn:aws:iam::${host.account}:root` };
    }
    if (mode === 'strict') throw awsError('unrecognizedClient', {});
    return unverifiedCaller(req, deps.defaultRegion);
  };
}
