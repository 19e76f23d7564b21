/**
 * A few thousand malformed and truncated requests (seeded, so a failure replays): raw sockets
 * with random bytes, cut-off HTTP, bodies that stop mid-way, huge headers, broken chunking; and
 * fetch with bad JSON, wrong methods, bad percent-encoding and random field types. The server
 * must never answer 5xx to them, never leave a connection hanging, and keep serving.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { test } from 'node:test';
import { InvokeCommand } from '@aws-sdk/client-lambda';
import { leakFree } from '../helpers/leaks.js';
import { startTestServer } from '../helpers/server.js';
import { makeZip } from '../helpers/zip.js';
import { createFn, json } from '../helpers/lambda.js';

const SEED = Number(process.env.LAMBKIN_FUZZ_SEED ?? 0x5eed);
const RAW_CASES = 1500;
const FETCH_CASES = 1500;
const PARALLEL = 32;

/** mulberry32: a small seeded PRNG. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)] as T;
  const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => int(256)));
  const text = (n: number) => Array.from({ length: n }, () => String.fromCharCode(32 + int(95))).join('');
  return { next, int, pick, bytes, text };
}
type Rng = ReturnType<typeof prng>;

const PATHS = [
  '/2015-03-31/functions',
  '/2015-03-31/functions/',
  '/2015-03-31/functions/fz-x',
  '/2015-03-31/functions/fz-x/configuration',
  '/2015-03-31/functions/fz-cfg/configuration',
  '/2015-03-31/functions/fz-cfg/code',
  '/2015-03-31/functions/fz/invocations',
  '/2015-03-31/functions/fz-x/versions',
  '/2015-03-31/functions/fz-x/aliases',
  '/2015-03-31/functions/fz-x/aliases/live',
  '/2016-08-19/account-settings',
  '/lambkin/health',
  '/lambkin/v1/fleet',
  '/lambkin/v1/code/zz.zip',
  '/',
  '//',
  '/2015-03-31/functions/%E0%A4%A/invocations',
  '/2015-03-31/functions/%zz',
  '/2015-03-31/functions/%/configuration',
  '/2015-03-31/functions/..%2F..%2Fetc%2Fpasswd',
  '/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Afz-cfg/configuration',
  '/2015-03-31/functions/' + 'x'.repeat(300),
];
const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS'];
const FIELDS = [
  'FunctionName', 'Runtime', 'Role', 'Handler', 'Code', 'ZipFile', 'MemorySize', 'Timeout', 'Environment', 'Variables', 'VpcConfig',
  'SubnetIds', 'SecurityGroupIds', 'TracingConfig', 'Mode', 'Description', 'Publish', 'RevisionId', 'Name', 'FunctionVersion',
  'RoutingConfig', 'AdditionalVersionWeights', 'Architectures', 'PackageType', 'EphemeralStorage', 'Size', '__proto__', 'constructor',
];

function randomJson(r: Rng, depth = 0): unknown {
  switch (r.int(depth > 2 ? 6 : 9)) {
    case 0: return null;
    case 1: return r.next() < 0.5;
    case 2: return r.pick([0, -1, 127, 128, 900, 901, 10240, 10241, 1e308, -0, 3.5, Number.MAX_SAFE_INTEGER + 2]);
    case 3: return r.text(r.int(40));
    case 4: return r.pick(['nodejs20.x', 'python3.12', 'provided.al2023', 'cobol', '', 'index.handler', 'arn:aws:iam::000000000000:role/x', 'UEsDBA==', '$LATEST', 'Active']);
    case 5: return 'x'.repeat(r.int(3000));
    case 6: return Array.from({ length: r.int(5) }, () => randomJson(r, depth + 1));
    default: {
      const o: Record<string, unknown> = {};
      for (let i = r.int(6); i > 0; i--) o[r.pick(FIELDS)] = randomJson(r, depth + 1);
      return o;
    }
  }
}

/** A body: random JSON (sometimes cut off or with trailing junk), random bytes, or nothing. */
function randomBody(r: Rng): Buffer {
  const j = Buffer.from(JSON.stringify(randomJson(r)) ?? 'null');
  switch (r.int(5)) {
    case 0: return j;
    case 1: return j.subarray(0, r.int(j.length + 1));
    case 2: return Buffer.concat([j, Buffer.from(r.pick(['}', ']', ',', 'x', '\u0000']))]);
    case 3: return r.bytes(r.int(500));
    default: return Buffer.alloc(0);
  }
}

/** One raw request as bytes: every way an HTTP/1.1 request can be broken. */
function rawRequest(r: Rng, host: string): Buffer {
  const path = r.pick(PATHS);
  const valid = (body: Buffer, extra = '') =>
    Buffer.concat([Buffer.from(`${r.pick(METHODS)} ${path} HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\n${extra}Content-Length: ${body.length}\r\n\r\n`), body]);
  switch (r.int(9)) {
    case 0: return r.bytes(1 + r.int(2000));
    case 1: {
      const whole = valid(randomBody(r));
      return whole.subarray(0, r.int(whole.length));
    }
    case 2: {
      // Declares more body than it sends, then the client hangs up.
      const body = randomBody(r);
      return Buffer.concat([Buffer.from(`POST ${path} HTTP/1.1\r\nHost: ${host}\r\nContent-Length: ${body.length + 1 + r.int(100_000)}\r\n\r\n`), body]);
    }
    case 3: return valid(Buffer.alloc(0), `X-Huge: ${'h'.repeat(20_000 + r.int(80_000))}\r\n`);
    case 4: return Buffer.from(`${r.pick(['GET', 'FOO', 'G\u0000T', ''])} ${r.pick([path, '*', '', 'http://x/../..', '/%'])} ${r.pick(['HTTP/1.1', 'HTTP/9.9', 'HTTX', ''])}\r\n\r\n`);
    case 5: return Buffer.from(`POST ${path} HTTP/1.1\r\nHost: ${host}\r\nTransfer-Encoding: chunked\r\n\r\n${r.pick(['zz', '5\r\nab', 'ffffffffffffffff\r\n', '3\r\nabc\r\n'])}`);
    case 6: return Buffer.from(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\nabcde`);
    case 7: return Buffer.from(`GET ${path} HTTP/1.1\r\n${r.text(r.int(200))}\r\n\r\n`);
    default: return valid(randomBody(r), `X-Amz-Invocation-Type: ${r.pick(['DryRun', 'Event', 'Bogus', ''])}\r\nX-Amz-Log-Type: ${r.pick(['Tail', 'None', '???'])}\r\n`);
  }
}

/** Sends raw bytes, half-closes, and resolves when the server has closed the connection. */
function sendRaw(port: number, data: Buffer): Promise<{ status: number | undefined; hung: boolean }> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    let head = '';
    // A safety net, not a wait: the server ends every connection once we hang up.
    const timer = setTimeout(() => {
      s.destroy();
      resolve({ status: undefined, hung: true });
    }, 10_000);
    s.on('data', (c: Buffer) => {
      if (head.length < 64) head += c.toString('latin1');
    });
    s.on('error', () => {});
    s.on('close', () => {
      clearTimeout(timer);
      const m = /^HTTP\/1\.1 (\d{3})/.exec(head);
      resolve({ status: m ? Number(m[1]) : undefined, hung: false });
    });
    s.write(data, () => s.end());
  });
}

async function inBatches<T>(n: number, make: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < n; i += PARALLEL) {
    out.push(...(await Promise.all(Array.from({ length: Math.min(PARALLEL, n - i) }, (_, k) => make(i + k)))));
  }
  return out;
}

void test(
  'thousands of malformed and truncated requests: no 5xx, no hung connection, and the server keeps serving',
  leakFree(async (_t, defer) => {
    const started = Date.now();
    const internal: string[] = [];
    const { lambda, lambkin } = await startTestServer(defer, { log: (l) => internal.push(l) });
    await createFn(lambda, 'fz', makeZip({ 'index.js': 'exports.handler = async (e) => ({ echo: e });' }));
    // fz is only ever dry-run by the fuzz; fz-x and fz-cfg may be changed or deleted by it.
    await createFn(lambda, 'fz-x', makeZip({ 'index.js': 'exports.handler = async () => 1;' }));
    await createFn(lambda, 'fz-cfg', makeZip({ 'index.js': 'exports.handler = async () => 1;' }));
    const port = new URL(lambkin.url).port;
    const host = `127.0.0.1:${port}`;

    const rRaw = prng(SEED);
    const rawRequests = Array.from({ length: RAW_CASES }, () => rawRequest(rRaw, host));
    const raw = await inBatches(RAW_CASES, (i) => sendRaw(Number(port), rawRequests[i] as Buffer));
    const hung = raw.filter((x) => x.hung).length;
    const raw5xx = raw
      .map((x, i) => ({ ...x, sent: (rawRequests[i] as Buffer).subarray(0, 160).toString('latin1') }))
      .filter((x) => x.status !== undefined && x.status >= 500)
      .map((x) => `${x.status ?? ''} <- ${JSON.stringify(x.sent)}`);

    const rFetch = prng(SEED + 1);
    const fetch5xx: string[] = [];
    let answered = 0;
    await inBatches(FETCH_CASES, async () => {
      const method = rFetch.pick(METHODS);
      let path = rFetch.pick(PATHS);
      if (rFetch.next() < 0.3) path += `?${rFetch.pick(['MaxItems', 'Marker', 'Qualifier', 'FunctionVersion'])}=${encodeURIComponent(rFetch.text(rFetch.int(20)))}`;
      const headers: Record<string, string> = { 'content-type': rFetch.pick(['application/json', 'text/plain', 'application/x-amz-json-1.1']) };
      // Invocations of the real function are dry runs, so the fuzz does not start a sandbox per request.
      if (path.includes('/fz/invocations')) headers['x-amz-invocation-type'] = rFetch.pick(['DryRun', 'Bogus']);
      if (rFetch.next() < 0.2) headers['x-amz-client-context'] = rFetch.text(rFetch.int(100));
      if (rFetch.next() < 0.2) headers.authorization = rFetch.pick(['AWS4-HMAC-SHA256 Credential=', `AWS4-HMAC-SHA256 Credential=${rFetch.text(30)}`, 'Bearer x']);
      const body = method === 'GET' || method === 'HEAD' ? undefined : randomBody(rFetch);
      try {
        const res = await fetch(`${lambkin.url}${path}`, { method, headers, ...(body ? { body } : {}) });
        await res.arrayBuffer();
        answered++;
        if (res.status >= 500) fetch5xx.push(`${method} ${path} -> ${res.status}`);
      } catch {
        // the client refusing to send something (e.g. a malformed header) is not the server's doing
      }
    });

    assert.equal(hung, 0, `${hung} raw connections were left open by the server`);
    assert.deepEqual(raw5xx, [], 'no raw request gets a 5xx');
    assert.ok(answered > FETCH_CASES * 0.9, `only ${answered} fetches were answered`);
    assert.deepEqual(fetch5xx, [], 'no request gets a 5xx');

    // A request target such as `//x` is a path (it once made the URL parser throw: a 500).
    for (const target of ['//', '//evil.example/2015-03-31/functions']) {
      const res = await sendRaw(Number(port), Buffer.from(`GET ${target} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`));
      assert.equal(res.status, 404, target);
    }

    const health = await fetch(`${lambkin.url}/lambkin/health`);
    assert.equal(health.status, 200);
    assert.equal(((await health.json()) as { status: string }).status, 'ok');
    const out = await lambda.send(new InvokeCommand({ FunctionName: 'fz', Payload: Buffer.from('{"still":"here"}') }));
    assert.deepEqual(json(out.Payload), { echo: { still: 'here' } });
    assert.deepEqual(
      internal.filter((l) => /internal error/.test(l)),
      [],
      'no request made the server hit an internal error',
    );
    assert.ok(Date.now() - started < 60_000, 'the fuzz stays well under a minute');
  }),
);

