/**
 * Requests no SDK sends, over raw sockets: each gets an HTTP answer in AWS's error shape instead of
 * a silently closed connection. CONNECT is 405; a Content-Length over the 256 MiB cap is 413,
 * answered at once without reading the body (none is sent here), and the connection then closes.
 * A forged Host header does not leak into URLs lambkin hands back.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { test } from 'node:test';
import { leakFree } from '../helpers/leaks.js';
import { startTestServer } from '../helpers/server.js';
import { createFn } from '../helpers/lambda.js';
import { makeZip } from '../helpers/zip.js';

interface RawResponse {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

/** Sends `request` as is and reads until the server closes the connection. */
function rawExchange(port: number, request: string): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('error', reject);
    socket.on('end', () => {
      socket.destroy();
      const text = Buffer.concat(chunks).toString('utf8');
      const split = text.indexOf('\r\n\r\n');
      if (split < 0) return reject(new Error(`no HTTP answer: ${JSON.stringify(text)}`));
      const [statusLine = '', ...lines] = text.slice(0, split).split('\r\n');
      const headers: Record<string, string> = {};
      for (const l of lines) {
        const i = l.indexOf(':');
        headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
      }
      resolve({ status: Number(statusLine.split(' ')[1]), headers, body: text.slice(split + 4) });
    });
    socket.write(request);
  });
}

function assertAwsError(res: RawResponse, status: number, type: string, message: RegExp): void {
  assert.equal(res.status, status);
  assert.equal(res.headers['x-amzn-errortype'], type);
  assert.ok(res.headers['x-amzn-requestid'], 'carries a request id');
  assert.equal(res.headers['connection'], 'close');
  assert.equal(Number(res.headers['content-length']), Buffer.byteLength(res.body));
  const body = JSON.parse(res.body) as { message: string; Message: string; Type: string };
  assert.match(body.message, message);
  assert.equal(body.Message, body.message);
  assert.equal(body.Type, 'User');
}

void test(
  'CONNECT and an over-limit Content-Length get AWS-shaped HTTP answers, not a closed socket',
  leakFree(async (t, defer) => {
    const { lambkin, lambda } = await startTestServer(defer);
    const port = Number(new URL(lambkin.url).port);

    await t.test('CONNECT is 405 MethodNotAllowedException', async () => {
      const res = await rawExchange(port, 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n');
      assertAwsError(res, 405, 'MethodNotAllowedException', /CONNECT method is not supported/);
      assert.ok(res.headers['allow']?.includes('POST'));
    });

    await t.test('Content-Length over 256 MiB on CreateFunction is 413 RequestEntityTooLargeException, body unread', async () => {
      const res = await rawExchange(
        port,
        'POST /2015-03-31/functions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 300000000\r\n\r\n',
      );
      assertAwsError(res, 413, 'RequestEntityTooLargeException', /^Request must be smaller than 69905067 bytes for the CreateFunction operation$/);
    });

    await t.test('on Invoke it is the Invoke operation\'s own 413 (RequestTooLargeException)', async () => {
      const res = await rawExchange(port, 'POST /2015-03-31/functions/f/invocations HTTP/1.1\r\nHost: x\r\nContent-Length: 268435457\r\n\r\n');
      assertAwsError(res, 413, 'RequestTooLargeException', /Request must be smaller than 6291456 bytes for the InvokeFunction operation/);
    });

    await t.test('on a path no operation has, 404 without waiting for the body', async () => {
      const res = await rawExchange(port, 'POST /nothing/here HTTP/1.1\r\nHost: x\r\nContent-Length: 300000000\r\n\r\n');
      assertAwsError(res, 404, 'UnknownOperationException', /No Lambda operation matches POST \/nothing\/here/);
    });

    await t.test("GetFunction's Code.Location names lambkin's own address, not a forged Host header", async () => {
      await createFn(lambda, 'raw-host', makeZip({ 'index.js': 'exports.handler = async () => 1;' }));
      const res = await rawExchange(port, 'GET /2015-03-31/functions/raw-host HTTP/1.1\r\nHost: evil.example:1\r\nConnection: close\r\n\r\n');
      assert.equal(res.status, 200, res.body);
      const location = (JSON.parse(res.body) as { Code: { Location: string } }).Code.Location;
      assert.ok(location.startsWith(`${lambkin.url}/lambkin/v1/code/`), location);
      assert.ok(!location.includes('evil'), location);
      // And it serves the zip there.
      const zip = await fetch(location);
      assert.equal(zip.status, 200);
      assert.equal((await zip.arrayBuffer()).byteLength > 0, true);
    });

    await t.test('the server still serves afterwards', async () => {
      const res = await rawExchange(port, 'GET /2015-03-31/functions/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      assert.equal(res.status, 200);
    });
  }),
);
