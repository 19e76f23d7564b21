/**
 * SigV4 verification against signatures made by the AWS SDK's own signer (@smithy/signature-v4),
 * in both forms (Authorization header, presigned URL) and many request shapes; tampering, wrong
 * secrets and clock skew are refused with AWS's error types.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { SignatureV4 } from '@smithy/signature-v4';
import { AwsError } from '../../src/errors/catalogue.js';
import { canonicalQuery, canonicalUri, readSignature, signRequest, uriEncode, verifySignature, type IncomingSignedRequest } from '../../src/frontend/sigv4.js';
import { Sha256 } from '../helpers/sha256.js';


const SECRET = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY';
const AT = new Date('2024-03-01T12:00:00Z');
const NOW = AT.getTime();

interface Shape {
  readonly method: string;
  /** Path as the SDK puts it on the wire (already percent-encoded). */
  readonly path: string;
  readonly query?: Record<string, string | string[]>;
  readonly headers?: Record<string, string>;
  readonly body?: Buffer;
}

function signer(opts: { applyChecksum?: boolean; sessionToken?: string; secret?: string; region?: string } = {}): SignatureV4 {
  return new SignatureV4({
    service: 'lambda',
    region: opts.region ?? 'us-east-1',
    credentials: { accessKeyId: 'AKIAEXAMPLE', secretAccessKey: opts.secret ?? SECRET, ...(opts.sessionToken ? { sessionToken: opts.sessionToken } : {}) },
    sha256: Sha256,
    applyChecksum: opts.applyChecksum ?? false,
  });
}

/** The query string as the SDK's HTTP handler writes it. */
function queryString(query: Record<string, string | string[] | null>): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(query)) {
    for (const one of Array.isArray(v) ? v : [v]) parts.push(one === null ? uriEncode(k) : `${uriEncode(k)}=${uriEncode(one)}`);
  }
  return parts.join('&');
}

/** What the server would see of the request the SDK sends. */
function onTheWire(r: { method: string; path: string; query?: Record<string, string | string[] | null>; headers: Record<string, string>; body?: unknown }): IncomingSignedRequest {
  const qs = queryString(r.query ?? {});
  return {
    method: r.method,
    target: qs ? `${r.path}?${qs}` : r.path,
    rawHeaders: Object.entries(r.headers).flat(),
    body: Buffer.isBuffer(r.body) ? r.body : Buffer.from(typeof r.body === 'string' ? r.body : ''),
  };
}

function request(shape: Shape) {
  return {
    method: shape.method,
    protocol: 'http:',
    hostname: '127.0.0.1',
    port: 4590,
    path: shape.path,
    query: shape.query ?? {},
    headers: { host: '127.0.0.1:4590', ...(shape.body ? { 'content-type': 'application/octet-stream' } : {}), ...shape.headers },
    ...(shape.body ? { body: shape.body } : {}),
  };
}

async function signed(shape: Shape, opts: Parameters<typeof signer>[0] = {}): Promise<IncomingSignedRequest> {
  return onTheWire(await signer(opts).sign(request(shape), { signingDate: AT }));
}

async function presigned(shape: Shape, expiresIn: number, opts: Parameters<typeof signer>[0] = {}): Promise<IncomingSignedRequest> {
  return onTheWire(await signer(opts).presign(request(shape), { signingDate: AT, expiresIn }));
}

function verify(req: IncomingSignedRequest, secret = SECRET, now = NOW): void {
  const claim = readSignature(req);
  assert.ok(claim, 'the request carries a signature');
  verifySignature(req, claim, secret, now);
}

function refused(fn: () => void, code: string, message?: string | RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof AwsError, String(e));
    assert.equal(e.code, code, e.message);
    if (typeof message === 'string') assert.equal(e.message, message);
    else if (message) assert.match(e.message, message);
    return true;
  });
}

const ARN = 'arn:aws:lambda:us-east-1:123456789012:function:my-fn:live';
const SHAPES: Record<string, Shape> = {
  'plain GET': { method: 'GET', path: '/2015-03-31/functions' },
  'query with special characters': {
    method: 'GET',
    path: '/2015-03-31/functions',
    query: { MaxItems: '10', Marker: "a b+c/d=e&f?g#h%i~j*k'l(m)n!o", FunctionVersion: 'ALL', 'ü-key': 'ünïcødé ✓' },
  },
  'repeated query key': { method: 'GET', path: '/x', query: { b: ['2', '1', '10'], a: '' } },
  'path with an encoded function ARN': { method: 'GET', path: `/2015-03-31/functions/${encodeURIComponent(ARN)}/configuration`, query: { Qualifier: '$LATEST' } },
  'path with spaces and reserved characters': { method: 'DELETE', path: `/2015-03-31/functions/${encodeURIComponent('a b$c@d')}/aliases/x` },
  'trailing slash and dot segments': { method: 'GET', path: '/a/./b/../c/' },
  'empty body POST': { method: 'POST', path: '/2015-03-31/functions/f/invocations', body: Buffer.alloc(0) },
  'JSON body': { method: 'POST', path: '/2015-03-31/functions', body: Buffer.from(JSON.stringify({ FunctionName: 'f', Environment: { Variables: { A: 'é' } } })) },
  'binary body': { method: 'PUT', path: '/2015-03-31/functions/f/code', body: randomBytes(4096) },
  'headers with runs of spaces and several values': {
    method: 'POST',
    path: '/2015-03-31/functions/f/invocations',
    headers: { 'x-amz-invocation-type': '  Event  ', 'x-amz-client-context': 'a   b\t c', 'x-amzn-trace-id': 'Root=1-5e1b4151-5ac6c58f5b5daa6532e4f2a8;Sampled=1' },
    body: Buffer.from('{}'),
  },
};

void test('header-signed requests of many shapes, signed by the AWS SDK signer, verify', async (t) => {
  for (const [name, shape] of Object.entries(SHAPES)) {
    await t.test(name, async () => {
      verify(await signed(shape));
      // With x-amz-content-sha256 (as S3-style signing sends it) too.
      verify(await signed(shape, { applyChecksum: true }));
    });
  }
});

void test('presigned URLs of many shapes verify until they expire', async (t) => {
  for (const [name, shape] of Object.entries(SHAPES)) {
    await t.test(name, async () => {
      const req = await presigned({ ...shape, body: Buffer.alloc(0) }, 300);
      const claim = readSignature(req);
      assert.equal(claim?.form, 'query');
      assert.equal(claim.expiresSeconds, 300);
      verify(req);
      verify(req, SECRET, NOW + 300_000);
    });
  }
});

void test('a presigned URL: expiry, tampering, wrong secret, session token', async () => {
  const shape = SHAPES['path with an encoded function ARN'] as Shape;
  const req = await presigned(shape, 60);
  refused(
    () => verify(req, SECRET, NOW + 61_000),
    'signatureExpired',
    'Signature expired: 20240301T120000Z is now earlier than 20240301T120001Z (20240301T120101Z - 60 s)',
  );
  refused(() => verify(req, 'not-the-secret'), 'invalidSignature');
  refused(() => verify({ ...req, target: req.target.replace('Qualifier=%24LATEST', 'Qualifier=1') }), 'invalidSignature');
  refused(() => verify({ ...req, target: req.target.replace('X-Amz-Expires=60', 'X-Amz-Expires=600') }, SECRET, NOW + 120_000), 'invalidSignature');
  refused(() => verify({ ...req, method: 'DELETE' }), 'invalidSignature');
  // Signed a long way in the future.
  refused(() => verify(req, SECRET, NOW - 3_600_000), 'signatureExpired', /^Signature not yet current: 20240301T120000Z is still later than/);

  const withToken = await presigned(shape, 60, { sessionToken: 'TOKEN/+=' });
  const claim = readSignature(withToken);
  assert.equal(claim?.sessionToken, 'TOKEN/+=');
  verify(withToken);
  refused(() => verify({ ...withToken, target: withToken.target.replace(/X-Amz-Security-Token=[^&]*/, 'X-Amz-Security-Token=OTHER') }), 'invalidSignature');
});

void test('a header signature: tampering with any signed part, a wrong secret, a wrong scope', async () => {
  const base = await signed(SHAPES['headers with runs of spaces and several values'] as Shape);
  verify(base);
  refused(() => verify(base, 'wrong'), 'invalidSignature', /^The request signature we calculated does not match the signature you provided\./);
  refused(() => verify({ ...base, body: Buffer.from('{ }') }), 'invalidSignature');
  refused(() => verify({ ...base, target: `${base.target}?extra=1` }), 'invalidSignature');
  refused(() => verify({ ...base, target: base.target.replace('/f/', '/g/') }), 'invalidSignature');
  const swapped = [...base.rawHeaders];
  swapped[swapped.indexOf('  Event  ')] = 'RequestResponse';
  refused(() => verify({ ...base, rawHeaders: swapped }), 'invalidSignature');
  // An unsigned header may be added (proxies do).
  verify({ ...base, rawHeaders: [...base.rawHeaders, 'x-forwarded-for', '10.0.0.1'] });
  // The body hash a request declares must be its body's.
  const checked = await signed(SHAPES['binary body'] as Shape, { applyChecksum: true });
  refused(() => verify({ ...checked, body: randomBytes(4096) }), 'invalidSignature');
});

void test('the clock: 5 minutes of skew either way, exact AWS messages past it', async () => {
  const req = await signed(SHAPES['plain GET'] as Shape);
  verify(req, SECRET, NOW + 5 * 60_000);
  verify(req, SECRET, NOW - 5 * 60_000);
  refused(
    () => verify(req, SECRET, NOW + 5 * 60_000 + 1000),
    'signatureExpired',
    'Signature expired: 20240301T120000Z is now earlier than 20240301T120001Z (20240301T120501Z - 5 min.)',
  );
  refused(
    () => verify(req, SECRET, NOW - 5 * 60_000 - 1000),
    'signatureExpired',
    'Signature not yet current: 20240301T120000Z is still later than 20240301T115959Z (20240301T115459Z + 5 min.)',
  );
});

void test('malformed signatures are IncompleteSignatureException; no signature reads as none', async () => {
  assert.equal(readSignature({ method: 'GET', target: '/x?a=1', rawHeaders: ['Host', 'h'], body: Buffer.alloc(0) }), undefined);
  const req = await signed(SHAPES['plain GET'] as Shape);
  const auth = req.rawHeaders[req.rawHeaders.indexOf('authorization') + 1] as string;
  const withAuth = (value: string) => ({ ...req, rawHeaders: req.rawHeaders.map((h, i, all) => (all[i - 1] === 'authorization' ? value : h)) });
  refused(() => readSignature(withAuth(auth.replace(/, Signature=[0-9a-f]+/, ''))), 'incompleteSignature', "Authorization header requires 'Signature' parameter.");
  refused(() => readSignature(withAuth(auth.replace('AWS4-HMAC-SHA256', 'AWS4-HMAC-SHA1'))), 'incompleteSignature');
  refused(() => readSignature(withAuth(auth.replace('/us-east-1/', '/'))), 'incompleteSignature', /^Credential should be scoped/);
  refused(() => readSignature(withAuth('Bearer abc')), 'incompleteSignature');
  // Host must be signed.
  const noHost = withAuth(auth.replace('SignedHeaders=host;', 'SignedHeaders='));
  refused(() => verify(noHost), 'incompleteSignature', "'Host' must be a signed header.");
  // The scope's date must be the signing date's.
  refused(() => verify(withAuth(auth.replace('/20240301/', '/20240302/'))), 'invalidSignature');
});

void test('canonical URI and query follow AWS rules', () => {
  assert.equal(canonicalUri('/2015-03-31/functions/arn%3Aaws%3Alambda'), '/2015-03-31/functions/arn%253Aaws%253Alambda');
  assert.equal(canonicalUri(''), '/');
  assert.equal(canonicalUri('/a//b/'), '/a/b/');
  assert.equal(canonicalUri('/a//b/', false), '/a//b/');
  assert.equal(canonicalUri('/a/./b/../c'), '/a/c');
  assert.equal(canonicalUri('/~user/a-b_c.d'), '/~user/a-b_c.d');
  assert.equal(canonicalQuery('b=2&a=%20x&a=1&c&X-Amz-Signature=abc'), 'a=%20x&a=1&b=2&c=');
  assert.equal(canonicalQuery('k=a+b'), 'k=a%2Bb');
  assert.equal(canonicalQuery("k=*!'()~"), 'k=%2A%21%27%28%29~');
});

void test("lambkin's own signer signs as the AWS SDK does", async () => {
  const url = new URL('http://127.0.0.1:4590/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Af/configuration?Qualifier=%24LATEST&b=a%20b');
  for (const sessionToken of [undefined, 'TOKEN']) {
    const creds = { accessKeyId: 'AKIAEXAMPLE', secretAccessKey: SECRET, ...(sessionToken ? { sessionToken } : {}) };
    const ours = signRequest({ method: 'GET', url }, creds, { region: 'us-east-1', service: 'lambda' }, NOW);
    const sdk = await signer({ ...(sessionToken ? { sessionToken } : {}) }).sign(
      {
        method: 'GET',
        protocol: 'http:',
        hostname: '127.0.0.1',
        port: 4590,
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        headers: { host: url.host },
      },
      { signingDate: AT },
    );
    assert.equal(ours.authorization, sdk.headers.authorization);
    verify({ method: 'GET', target: `${url.pathname}${url.search}`, rawHeaders: Object.entries(ours).flat(), body: Buffer.alloc(0) });
  }
});
