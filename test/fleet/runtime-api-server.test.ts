import { test, describe } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { existsSync, lstatSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MAX_RUNTIME_RESPONSE_BYTES, RuntimeApiClosedError, RuntimeApiServer, RuntimeInitError } from '../../src/fleet/runtime-api-server.js';
import type { RuntimeInvocation } from '../../src/fleet/runtime-api-server.js';

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  reusedSocket: boolean;
}

/** Plays the runtime: plain node:http requests against the API, over a keep-alive agent like AWS's client. */
class FakeRuntime {
  readonly agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  constructor(readonly api: RuntimeApiServer) {}

  request(method: string, path: string, body?: Buffer | string, headers: Record<string, string> = {}, agent: http.Agent | false = this.agent): Promise<Reply> {
    const [host, port] = this.api.address.split(':');
    return new Promise((resolve, reject) => {
      const req = http.request({ host, port: Number(port), method, path, agent, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), reusedSocket: req.reusedSocket }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  next(agent?: http.Agent | false): Promise<Reply> {
    return this.request('GET', '/2018-06-01/runtime/invocation/next', undefined, {}, agent);
  }

  respond(id: string, body: Buffer | string): Promise<Reply> {
    return this.request('POST', `/2018-06-01/runtime/invocation/${encodeURIComponent(id)}/response`, body);
  }

  error(id: string, body: Buffer | string, errorType?: string): Promise<Reply> {
    return this.request('POST', `/2018-06-01/runtime/invocation/${encodeURIComponent(id)}/error`, body, errorType ? { 'Lambda-Runtime-Function-Error-Type': errorType } : {});
  }
}

async function setup(t: TestContext): Promise<{ api: RuntimeApiServer; rt: FakeRuntime }> {
  const api = await RuntimeApiServer.start();
  const rt = new FakeRuntime(api);
  t.after(async () => {
    rt.agent.destroy();
    await api.close();
  });
  return { api, rt };
}

function invocation(id: string, extra: Partial<RuntimeInvocation> = {}): RuntimeInvocation {
  return { requestId: id, payload: Buffer.from(JSON.stringify({ id })), deadlineMs: 1_800_000_000_000, invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:f', ...extra };
}

/** Yields to the event loop until cond holds (for states no event announces). */
async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise<void>((resolve) => setImmediate(resolve));
}

function json(reply: Reply): Record<string, unknown> {
  return JSON.parse(reply.body.toString('utf8')) as Record<string, unknown>;
}

void describe('RuntimeApiServer', () => {
  void test('address is loopback host:port', async (t) => {
    const { api } = await setup(t);
    assert.match(api.address, /^127\.0\.0\.1:\d+$/);
  });

  void test('delivers an invocation with Lambda headers and resolves with the posted response bytes', async (t) => {
    const { api, rt } = await setup(t);
    const nextReply = rt.next();
    await api.waitForInit();
    assert.equal(api.parked, true);
    const result = api.invoke(
      invocation('req-1', { deadlineMs: 1_700_000_000_123, traceId: 'Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1', clientContext: '{"custom":{"a":1}}', cognitoIdentity: '{"cognitoIdentityId":"id1"}' }),
    );
    const next = await nextReply;
    assert.equal(next.status, 200);
    assert.equal(next.headers['content-type'], 'application/json');
    assert.equal(next.headers['lambda-runtime-aws-request-id'], 'req-1');
    assert.equal(next.headers['lambda-runtime-deadline-ms'], '1700000000123');
    assert.equal(next.headers['lambda-runtime-invoked-function-arn'], 'arn:aws:lambda:us-east-1:123456789012:function:f');
    assert.equal(next.headers['lambda-runtime-trace-id'], 'Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1');
    assert.equal(next.headers['lambda-runtime-client-context'], '{"custom":{"a":1}}');
    assert.equal(next.headers['lambda-runtime-cognito-identity'], '{"cognitoIdentityId":"id1"}');
    assert.deepEqual(JSON.parse(next.body.toString()), { id: 'req-1' });
    const bytes = Buffer.from([0, 1, 2, 255, 254, 10, 13]);
    const posted = await rt.respond('req-1', bytes);
    assert.equal(posted.status, 202);
    assert.deepEqual(json(posted), { status: 'OK' });
    assert.deepEqual(await result, { kind: 'response', payload: bytes });
  });

  void test('optional headers are absent when not given', async (t) => {
    const { api, rt } = await setup(t);
    const result = api.invoke(invocation('req-1'));
    const next = await rt.next();
    for (const h of ['lambda-runtime-trace-id', 'lambda-runtime-client-context', 'lambda-runtime-cognito-identity']) assert.equal(next.headers[h], undefined, h);
    await rt.respond('req-1', '"ok"');
    assert.equal((await result).payload.toString(), '"ok"');
  });

  void test('an invocation queued before the runtime polls is delivered by the first /next', async (t) => {
    const { api, rt } = await setup(t);
    const result = api.invoke(invocation('early'));
    const next = await rt.next();
    assert.equal(next.headers['lambda-runtime-aws-request-id'], 'early');
    await api.waitForInit();
    await rt.respond('early', '1');
    assert.equal((await result).payload.toString(), '1');
  });

  void test('after a response the next /next parks until the next invoke(), over one keep-alive socket', async (t) => {
    const { api, rt } = await setup(t);
    const first = rt.next();
    await api.waitForInit();
    const r1 = api.invoke(invocation('a'));
    assert.equal((await first).headers['lambda-runtime-aws-request-id'], 'a');
    const posted = await rt.respond('a', '"A"');
    assert.equal(posted.reusedSocket, true);
    assert.equal((await r1).payload.toString(), '"A"');
    const second = rt.next();
    let delivered = false;
    void second.then(() => (delivered = true));
    await api.waitForNext();
    assert.equal(api.parked, true);
    assert.equal(delivered, false, 'a parked /next must not be answered before an invocation exists');
    const r2 = api.invoke(invocation('b'));
    const n2 = await second;
    assert.equal(n2.reusedSocket, true);
    assert.equal(n2.headers['lambda-runtime-aws-request-id'], 'b');
    assert.equal(api.parked, false);
    await rt.respond('b', '"B"');
    assert.equal((await r2).payload.toString(), '"B"');
  });

  void test('error posts: JSON passed through, errorType from header, else body, else Runtime.Unknown; non-JSON wrapped', async (t) => {
    const { api, rt } = await setup(t);
    const cases: Array<{ body: string; header?: string; type: string; payload: unknown }> = [
      { body: '{"errorType":"TypeError","errorMessage":"x","trace":["TypeError: x"]}', header: 'TypeError', type: 'TypeError', payload: { errorType: 'TypeError', errorMessage: 'x', trace: ['TypeError: x'] } },
      { body: '{"errorType":"ValueError","errorMessage":"v"}', type: 'ValueError', payload: { errorType: 'ValueError', errorMessage: 'v' } },
      { body: '[1,2]', type: 'Runtime.Unknown', payload: [1, 2] },
      { body: 'plain text failure', header: 'Function.Custom', type: 'Function.Custom', payload: { errorMessage: 'plain text failure', errorType: 'Function.Custom' } },
      { body: 'oops', type: 'Runtime.Unknown', payload: { errorMessage: 'oops', errorType: 'Runtime.Unknown' } },
    ];
    for (const [i, c] of cases.entries()) {
      const id = `e${i}`;
      const result = api.invoke(invocation(id));
      await rt.next();
      const posted = await rt.error(id, c.body, c.header);
      assert.equal(posted.status, 202);
      assert.deepEqual(json(posted), { status: 'OK' });
      const r = await result;
      assert.equal(r.kind, 'error');
      assert.ok(r.kind === 'error');
      assert.equal(r.errorType, c.type);
      assert.deepEqual(JSON.parse(r.payload.toString()), c.payload);
      if (c.body.startsWith('{')) assert.equal(r.payload.toString(), c.body, 'JSON error bodies are passed through byte for byte');
    }
  });

  void test('init/error rejects waitForInit with RuntimeInitError; later /next and invoke are refused', async (t) => {
    const { api, rt } = await setup(t);
    const waiting = api.waitForInit();
    const body = '{"errorType":"Runtime.ImportModuleError","errorMessage":"Error: Cannot find module \'x\'","trace":[]}';
    const posted = await rt.request('POST', '/2018-06-01/runtime/init/error', body, { 'Lambda-Runtime-Function-Error-Type': 'Runtime.ImportModuleError' });
    assert.equal(posted.status, 202);
    assert.deepEqual(json(posted), { status: 'OK' });
    await assert.rejects(waiting, (e: unknown) => {
      assert.ok(e instanceof RuntimeInitError);
      assert.equal(e.errorType, 'Runtime.ImportModuleError');
      assert.equal(e.payload.toString(), body);
      return true;
    });
    await assert.rejects(api.invoke(invocation('x')), RuntimeInitError);
    const next = await rt.next();
    assert.equal(next.status, 403);
    assert.equal(json(next)['errorType'], 'InvalidStateTransition');
    const again = await rt.request('POST', '/2018-06-01/runtime/init/error', body);
    assert.equal(again.status, 403);
  });

  void test('init/error rejects an invocation queued before init', async (t) => {
    const { api, rt } = await setup(t);
    const queued = assert.rejects(api.invoke(invocation('q')), (e: unknown) => e instanceof RuntimeInitError && e.errorType === 'Runtime.ExitError' && JSON.parse(e.payload.toString()).errorMessage === 'not json');
    await rt.request('POST', '/2018-06-01/runtime/init/error', 'not json', { 'Lambda-Runtime-Function-Error-Type': 'Runtime.ExitError' });
    await queued;
  });

  void test('init/error after init is an invalid state transition', async (t) => {
    const { api, rt } = await setup(t);
    const parked = rt.next().catch(() => undefined);
    await api.waitForInit();
    const posted = await rt.request('POST', '/2018-06-01/runtime/init/error', '{}', {}, false);
    t.after(() => parked);
    assert.equal(posted.status, 403);
    assert.equal(json(posted)['errorType'], 'InvalidStateTransition');
  });

  void test('unknown or stale request ids get 400 InvalidRequestID', async (t) => {
    const { api, rt } = await setup(t);
    const before = await rt.respond('nobody', '1');
    assert.equal(before.status, 400);
    assert.deepEqual(json(before), { errorMessage: 'Invalid request ID', errorType: 'InvalidRequestID' });
    const result = api.invoke(invocation('real'));
    await rt.next();
    const wrong = await rt.respond('other', '1');
    assert.equal(wrong.status, 400);
    assert.equal(json(wrong)['errorType'], 'InvalidRequestID');
    const wrongErr = await rt.error('other', '{}');
    assert.equal(wrongErr.status, 400);
    await rt.respond('real', '2');
    assert.equal((await result).payload.toString(), '2');
  });

  void test('a second answer for the same id is refused (403 InvalidStateTransition) and does not change the result', async (t) => {
    const { api, rt } = await setup(t);
    const result = api.invoke(invocation('once'));
    await rt.next();
    assert.equal((await rt.respond('once', '"first"')).status, 202);
    const second = await rt.respond('once', '"second"');
    assert.equal(second.status, 403);
    assert.equal(json(second)['errorType'], 'InvalidStateTransition');
    assert.match(String(json(second)['errorMessage']), /^State transition from \w+ to InvocationResponse failed for runtime\. Error: State transition is not allowed$/);
    const asError = await rt.error('once', '{}');
    assert.equal(asError.status, 403);
    assert.equal((await result).payload.toString(), '"first"');
  });

  void test('/next while an invocation is outstanding is refused', async (t) => {
    const { api, rt } = await setup(t);
    const result = api.invoke(invocation('busy'));
    await rt.next();
    const again = await rt.next(false);
    assert.equal(again.status, 403);
    assert.equal(json(again)['errorType'], 'InvalidStateTransition');
    await rt.respond('busy', '0');
    await result;
  });

  void test('a response over 6291556 bytes gets 413 and resolves as Function.ResponseSizeTooLarge; exactly the limit is accepted', async (t) => {
    const { api, rt } = await setup(t);
    assert.equal(MAX_RUNTIME_RESPONSE_BYTES, 6291556);
    const big = api.invoke(invocation('big'));
    await rt.next();
    const posted = await rt.respond('big', Buffer.alloc(MAX_RUNTIME_RESPONSE_BYTES + 1, 0x61));
    assert.equal(posted.status, 413);
    assert.equal(json(posted)['errorType'], 'RequestEntityTooLarge');
    const r = await big;
    assert.ok(r.kind === 'error');
    assert.equal(r.errorType, 'Function.ResponseSizeTooLarge');
    assert.deepEqual(JSON.parse(r.payload.toString()), {
      errorMessage: 'Response payload size exceeded maximum allowed payload size (6291556 bytes).',
      errorType: 'Function.ResponseSizeTooLarge',
    });
    const exact = api.invoke(invocation('exact'));
    const n = await rt.next();
    assert.equal(n.reusedSocket, true, 'the connection survives a 413');
    assert.equal((await rt.respond('exact', Buffer.alloc(MAX_RUNTIME_RESPONSE_BYTES, 0x62))).status, 202);
    const e = await exact;
    assert.equal(e.kind, 'response');
    assert.equal(e.payload.length, MAX_RUNTIME_RESPONSE_BYTES);
  });

  void test('a second invoke while one is in flight is refused', async (t) => {
    const { api, rt } = await setup(t);
    const first = api.invoke(invocation('one'));
    await assert.rejects(api.invoke(invocation('two')), /busy/);
    await rt.next();
    await rt.respond('one', '1');
    await first;
  });

  void test('invalid invocation header values are refused', async (t) => {
    const { api } = await setup(t);
    await assert.rejects(api.invoke(invocation('bad\nid')), TypeError);
    await assert.rejects(api.invoke(invocation('ok', { traceId: 'a\r\nb' })), TypeError);
    await assert.rejects(api.invoke(invocation('')), TypeError);
  });

  void test('aborting a delivered invocation rejects invoke(); the late answer gets 400 and the runtime can poll again', async (t) => {
    const { api, rt } = await setup(t);
    const ac = new AbortController();
    const result = api.invoke(invocation('slow'), ac.signal);
    await rt.next();
    const reason = new Error('Task timed out');
    ac.abort(reason);
    await assert.rejects(result, (e) => e === reason);
    const late = await rt.respond('slow', '"late"');
    assert.equal(late.status, 400);
    assert.equal(json(late)['errorType'], 'InvalidRequestID');
    const nextReply = rt.next();
    await api.waitForNext();
    const r2 = api.invoke(invocation('after'));
    assert.equal((await nextReply).headers['lambda-runtime-aws-request-id'], 'after');
    await rt.respond('after', '"ok"');
    assert.equal((await r2).payload.toString(), '"ok"');
  });

  void test('aborting a queued invocation means it is never delivered', async (t) => {
    const { api, rt } = await setup(t);
    const ac = new AbortController();
    const queued = api.invoke(invocation('never'), ac.signal);
    ac.abort(new Error('gone'));
    await assert.rejects(queued, /gone/);
    await assert.rejects(api.invoke(invocation('pre'), AbortSignal.abort(new Error('pre-aborted'))), /pre-aborted/);
    const nextReply = rt.next();
    await api.waitForNext();
    const r = api.invoke(invocation('real'));
    assert.equal((await nextReply).headers['lambda-runtime-aws-request-id'], 'real');
    await rt.respond('real', '1');
    await r;
  });

  void test('waitForInit and waitForNext honour abort signals', async (t) => {
    const { api } = await setup(t);
    const ac = new AbortController();
    const w = api.waitForInit(ac.signal);
    const n = api.waitForNext(ac.signal);
    ac.abort(new Error('init timeout'));
    await assert.rejects(w, /init timeout/);
    await assert.rejects(n, /init timeout/);
  });

  void test('close() ends a parked long-poll and is idempotent', async (t) => {
    const { api, rt } = await setup(t);
    const parked = rt.next(false);
    await api.waitForInit();
    await Promise.all([api.close(), api.close()]);
    // close() resolving means the server has no socket left (server.close waits for every connection).
    await assert.rejects(parked, /socket hang up|ECONNRESET/);
    await assert.rejects(api.invoke(invocation('late')), RuntimeApiClosedError);
    await assert.rejects(api.waitForNext(), RuntimeApiClosedError);
    await assert.rejects(rt.next(false), /ECONNREFUSED/);
  });

  void test('close() rejects an invocation in flight, waitForInit and waitForNext', async (t) => {
    const { api, rt } = await setup(t);
    const inFlight = api.invoke(invocation('pending'));
    assert.equal((await rt.next()).headers['lambda-runtime-aws-request-id'], 'pending');
    const waitNext = api.waitForNext();
    await api.close();
    await assert.rejects(inFlight, RuntimeApiClosedError);
    await assert.rejects(waitNext, RuntimeApiClosedError);
    const fresh = await RuntimeApiServer.start();
    const w = fresh.waitForInit();
    await fresh.close();
    await assert.rejects(w, RuntimeApiClosedError);
  });

  void test('unknown paths and methods get 404 JSON', async (t) => {
    const { rt } = await setup(t);
    for (const [method, path] of [
      ['GET', '/'],
      ['GET', '/2018-06-01/runtime/invocation/x/response'],
      ['POST', '/2018-06-01/runtime/invocation/next'],
      ['PUT', '/2018-06-01/runtime/init/error'],
      ['GET', '/2018-06-01/runtime/invocation/a/b/response'],
      ['DELETE', '/2019-01-01/runtime/invocation/next'],
    ] as const) {
      const r = await rt.request(method, path, method === 'GET' || method === 'DELETE' ? undefined : 'body');
      assert.equal(r.status, 404, `${method} ${path}`);
      assert.equal(typeof json(r)['errorMessage'], 'string');
    }
  });

  void test('garbage on the socket never crashes the server', async (t) => {
    const { api, rt } = await setup(t);
    const [host, port] = api.address.split(':');
    const garbage = ['\x00\x01\x02 not http at all\r\n\r\n', 'GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n', 'POST /2018-06-01/runtime/invocation/%E0%A4%A/response HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx'];
    for (const g of garbage) {
      const answer = await new Promise<string>((resolve) => {
        const s = net.connect(Number(port), host, () => s.end(g));
        let data = '';
        s.on('data', (d: Buffer) => (data += d.toString()));
        s.on('close', () => resolve(data));
        s.on('error', () => resolve(data));
      });
      assert.match(answer, /^HTTP\/1\.1 (400|404)/, JSON.stringify(g));
    }
    // A client that hangs up mid-body or while parked is forgotten, not fatal.
    await new Promise<void>((resolve) => {
      const s = net.connect(Number(port), host, () => {
        s.write('POST /2018-06-01/runtime/invocation/x/response HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc');
        s.destroy();
        resolve();
      });
    });
    const abandoned = http.get({ host, port: Number(port), path: '/2018-06-01/runtime/invocation/next', agent: false });
    abandoned.on('error', () => {});
    await api.waitForNext();
    abandoned.destroy();
    await until(() => !api.parked);
    // Still serving: a fresh runtime poll gets the next invocation (the abandoned poll must not swallow it).
    const nextReply = rt.next();
    const r = api.invoke(invocation('still-alive'));
    assert.equal((await nextReply).headers['lambda-runtime-aws-request-id'], 'still-alive');
    await rt.respond('still-alive', '"yes"');
    assert.equal((await r).payload.toString(), '"yes"');
  });

  void test('a runtime whose connection dies mid-response may answer again', async (t) => {
    const { api, rt } = await setup(t);
    const result = api.invoke(invocation('retry'));
    await rt.next();
    const [host, port] = api.address.split(':');
    await new Promise<void>((resolve) => {
      const s = net.connect(Number(port), host, () => {
        s.write('POST /2018-06-01/runtime/invocation/retry/response HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc');
        s.destroy();
        resolve();
      });
    });
    // The server learns of the dead connection asynchronously; until then a second answer is (rightly) refused.
    let posted = await rt.respond('retry', '"complete"');
    for (let i = 0; posted.status === 403 && i < 1000; i++) posted = await rt.respond('retry', '"complete"');
    assert.equal(posted.status, 202);
    assert.equal((await result).payload.toString(), '"complete"');
  });

  void test('request ids are percent-decoded from the path', async (t) => {
    const { api, rt } = await setup(t);
    const result = api.invoke(invocation('id with spaces+u'));
    const next = await rt.next();
    const got = String(next.headers['lambda-runtime-aws-request-id']);
    assert.equal(got, 'id with spaces+u');
    assert.equal((await rt.respond(got, '7')).status, 202);
    assert.equal((await result).payload.toString(), '7');
  });
});

void describe('RuntimeApiServer on a Unix socket (a namespaced sandbox reaches it through its relay)', () => {
  const scratch = (t: TestContext): string => {
    const dir = mkdtempSync(join(tmpdir(), 'lambkin-rapi-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    return dir;
  };
  const unixRequest = (socketPath: string, method: string, path: string, agent: http.Agent, body?: string): Promise<Reply> =>
    new Promise((resolve, reject) => {
      const req = http.request({ socketPath, method, path, agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), reusedSocket: req.reusedSocket }));
      });
      req.on('error', reject);
      req.end(body);
    });

  void test('serves the whole cycle on the socket, connectable by anyone by default; close() removes the file', async (t) => {
    const path = join(scratch(t), 'runtime.sock');
    const api = await RuntimeApiServer.start({ socketPath: path });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    t.after(async () => {
      agent.destroy();
      await api.close();
    });
    assert.equal(api.address, `unix:${path}`);
    assert.equal(api.socketPath, path);
    assert.equal(statSync(path).mode & 0o777, 0o666);
    const next = unixRequest(path, 'GET', '/2018-06-01/runtime/invocation/next', agent);
    await api.waitForInit();
    const result = api.invoke(invocation('u-1'));
    assert.equal((await next).headers['lambda-runtime-aws-request-id'], 'u-1');
    const posted = await unixRequest(path, 'POST', '/2018-06-01/runtime/invocation/u-1/response', agent, '"over unix"');
    assert.equal(posted.status, 202);
    assert.equal(posted.reusedSocket, true);
    assert.equal((await result).payload.toString(), '"over unix"');
    await api.close();
    assert.equal(existsSync(path), false);
  });

  void test('socketUid: only that uid may connect (owner, 0600); a stale socket is replaced, any other file refused', { skip: process.getuid?.() === 0 ? false : 'needs root to chown' }, async (t) => {
    const dir = scratch(t);
    const path = join(dir, 'runtime.sock');
    // A socket file left behind by a killed server.
    const stale = net.createServer();
    await new Promise<void>((resolve) => stale.listen(path, resolve));
    // Closing would unlink it, so it is moved away for the close and back after.
    renameSync(path, join(dir, 'moved.sock'));
    await new Promise<void>((resolve) => stale.close(() => resolve()));
    renameSync(join(dir, 'moved.sock'), path);
    assert.ok(lstatSync(path).isSocket());
    const api = await RuntimeApiServer.start({ socketPath: path, socketUid: 12345 });
    t.after(() => api.close());
    const st = statSync(path);
    assert.equal(st.uid, 12345);
    assert.equal(st.mode & 0o777, 0o600);
    writeFileSync(join(dir, 'plain'), 'not a socket');
    await assert.rejects(RuntimeApiServer.start({ socketPath: join(dir, 'plain') }), { code: 'EADDRINUSE' });
    assert.equal(readFileSync(join(dir, 'plain'), 'utf8'), 'not a socket');
  });
});
