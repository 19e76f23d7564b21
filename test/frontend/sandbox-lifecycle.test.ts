/**
 * Sandbox lifecycle through the real server and SDK: warm reuse, init once, one sandbox per
 * concurrent invocation, keep-alive expiry, timeout, a runtime that exits, init timeout,
 * retirement on update, the Lambda environment inside the sandbox, nodejs8.10's note.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { InvokeCommand, UpdateFunctionCodeCommand, UpdateFunctionConfigurationCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import { makeZip } from '../helpers/zip.js';
import { createFn, json, nextLog, serverGroup, tail } from '../helpers/lambda.js';
import type { Defer } from '../helpers/leaks.js';

const enc = (v: unknown) => Buffer.from(JSON.stringify(v));

/** Module state, the pid, and optional behaviours selected by the event. */
const STATEFUL_SOURCE = `
console.log('init ran');
let count = 0;
exports.handler = async (event) => {
  count++;
  if (event.hang) await new Promise((r) => setTimeout(r, 60000));
  if (event.exit) process.exit(1);
  if (event.wait) await fetch(event.wait);
  return { count, pid: process.pid, api: process.env.AWS_LAMBDA_RUNTIME_API, tag: 'v1' };
};
`;
const STATEFUL = makeZip({ 'index.js': STATEFUL_SOURCE });

async function invoke(lambda: LambdaClient, name: string, event: unknown = {}) {
  const out = await lambda.send(new InvokeCommand({ FunctionName: name, Payload: enc(event), LogType: 'Tail' }));
  return { out, body: json(out.Payload) as { count: number; pid: number; api: string; tag: string }, log: tail(out.LogResult) };
}

/** An HTTP server that answers its requests only once `n` of them are waiting (a barrier for sandboxes). */
async function barrier(defer: Defer, n: number): Promise<string> {
  const waiting: ServerResponse[] = [];
  const server = createServer((_req: IncomingMessage, res: ServerResponse) => {
    waiting.push(res);
    if (waiting.length >= n) for (const r of waiting.splice(0)) r.end('go');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  defer(
    () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  );
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
}

const sandboxesOf = (view: { sandboxes: { functionKey: string; id: string }[] }, name: string) =>
  view.sandboxes.filter((s) => s.functionKey.endsWith(`:function:${name}`));

void test(
  'sandbox lifecycle (default options)',
  serverGroup({}, async (t, { lambda, lambkin, client }, defer) => {
    await t.test('warm reuse: module state survives, init runs once, Init Duration on the first REPORT only', async () => {
      await createFn(lambda, 'lc-warm', STATEFUL);
      const a = await invoke(lambda, 'lc-warm');
      const b = await invoke(lambda, 'lc-warm');
      const c = await invoke(lambda, 'lc-warm');
      assert.deepEqual([a.body.count, b.body.count, c.body.count], [1, 2, 3]);
      assert.equal(b.body.pid, a.body.pid);
      assert.equal(c.body.pid, a.body.pid);
      assert.match(a.log, /\tINFO\tinit ran\n/);
      assert.match(a.log, /REPORT RequestId: [^\n]*\tInit Duration: \d+\.\d\d ms/);
      for (const warm of [b.log, c.log]) {
        assert.doesNotMatch(warm, /init ran/);
        assert.doesNotMatch(warm, /Init Duration/);
        assert.match(warm, /REPORT RequestId: /);
      }
      assert.equal(sandboxesOf(lambkin.workerManager.view(), 'lc-warm').length, 1);
    });

    await t.test('two concurrent invocations run in two sandboxes', async () => {
      await createFn(lambda, 'lc-concurrent', STATEFUL);
      const url = await barrier(defer, 2);
      // Each handler blocks until the other has also reached the barrier: only two sandboxes can get there.
      const [x, y] = await Promise.all([invoke(lambda, 'lc-concurrent', { wait: url }), invoke(lambda, 'lc-concurrent', { wait: url })]);
      assert.equal(x.out.FunctionError, undefined, JSON.stringify(x.body));
      assert.equal(y.out.FunctionError, undefined, JSON.stringify(y.body));
      assert.notEqual(x.body.pid, y.body.pid);
      assert.notEqual(x.body.api, y.body.api, 'each sandbox has its own Runtime API address');
      assert.deepEqual([x.body.count, y.body.count], [1, 1]);
      assert.match(x.log, /Init Duration/);
      assert.match(y.log, /Init Duration/);
      assert.equal(sandboxesOf(lambkin.workerManager.view(), 'lc-concurrent').length, 2);
    });

    await t.test('timeout: "Task timed out after 1.00 seconds", Unhandled, and the next invoke gets a fresh sandbox', async () => {
      await createFn(lambda, 'lc-timeout', STATEFUL, { Timeout: 1 });
      const first = await invoke(lambda, 'lc-timeout');
      const started = Date.now();
      const hung = await invoke(lambda, 'lc-timeout', { hang: true });
      const took = Date.now() - started;
      assert.ok(took >= 950 && took < 10_000, `timed out after ${took} ms`);
      assert.equal(hung.out.FunctionError, 'Unhandled');
      const doc = hung.body as unknown as { errorType: string; errorMessage: string };
      assert.match(doc.errorMessage, /Task timed out after 1\.00 seconds/);
      assert.match(hung.log, /Task timed out after 1\.00 seconds/);
      assert.match(hung.log, /REPORT RequestId: .*Status: timeout/);
      const next = await invoke(lambda, 'lc-timeout');
      assert.notEqual(next.body.pid, first.body.pid, 'a new process');
      assert.equal(next.body.count, 1, 'module state starts over');
      assert.match(next.log, /Init Duration/);
    });

    await t.test('a runtime that exits mid-invocation: Runtime.ExitError, then a replacement sandbox', async () => {
      await createFn(lambda, 'lc-exit', STATEFUL);
      const first = await invoke(lambda, 'lc-exit');
      const crashed = await invoke(lambda, 'lc-exit', { exit: true });
      assert.equal(crashed.out.FunctionError, 'Unhandled');
      const doc = crashed.body as unknown as { errorType: string; errorMessage: string };
      assert.equal(doc.errorType, 'Runtime.ExitError');
      assert.match(doc.errorMessage, /Runtime exited with error: exit status 1/);
      const next = await invoke(lambda, 'lc-exit');
      assert.equal(next.out.FunctionError, undefined);
      assert.notEqual(next.body.pid, first.body.pid);
      assert.equal(next.body.count, 1);
    });

    await t.test('UpdateFunctionCode and UpdateFunctionConfiguration retire the sandboxes of $LATEST', async () => {
      await createFn(lambda, 'lc-update', STATEFUL);
      const before = await invoke(lambda, 'lc-update');
      assert.equal(before.body.tag, 'v1');
      const v2 = makeZip({ 'index.js': STATEFUL_SOURCE.replace("tag: 'v1'", "tag: 'v2', env: process.env.MODE") });
      await lambda.send(new UpdateFunctionCodeCommand({ FunctionName: 'lc-update', ZipFile: v2 }));
      const afterCode = await invoke(lambda, 'lc-update');
      assert.equal(afterCode.body.tag, 'v2', 'the new code answers at once');
      assert.notEqual(afterCode.body.pid, before.body.pid);
      await lambda.send(new UpdateFunctionConfigurationCommand({ FunctionName: 'lc-update', Environment: { Variables: { MODE: 'fresh' } } }));
      const afterConfig = await invoke(lambda, 'lc-update');
      assert.equal((afterConfig.body as unknown as { env: string }).env, 'fresh');
      assert.notEqual(afterConfig.body.pid, afterCode.body.pid);
      assert.equal(sandboxesOf(lambkin.workerManager.view(), 'lc-update').length, 1, 'the retired sandboxes are gone');
    });

    await t.test('the sandbox has the Lambda environment variables with the right values', async () => {
      await createFn(
        lambda,
        'lc-env',
        makeZip({
          'index.js': `exports.handler = async () => {
  const keys = ['AWS_LAMBDA_FUNCTION_NAME', 'AWS_LAMBDA_FUNCTION_VERSION', 'AWS_LAMBDA_FUNCTION_MEMORY_SIZE', 'AWS_LAMBDA_LOG_GROUP_NAME',
    'AWS_LAMBDA_LOG_STREAM_NAME', 'AWS_REGION', 'AWS_LAMBDA_RUNTIME_API', 'LAMBDA_TASK_ROOT', '_HANDLER', 'TZ', '_X_AMZN_TRACE_ID', 'MY_VAR'];
  return Object.fromEntries(keys.map((k) => [k, process.env[k] ?? null]));
};`,
        }),
        { MemorySize: 192, Environment: { Variables: { MY_VAR: 'mine' } } },
      );
      const out = await invoke(lambda, 'lc-env');
      const env = out.body as unknown as Record<string, string | null>;
      assert.equal(env.AWS_LAMBDA_FUNCTION_NAME, 'lc-env');
      assert.equal(env.AWS_LAMBDA_FUNCTION_VERSION, '$LATEST');
      assert.equal(env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE, '192');
      assert.equal(env.AWS_LAMBDA_LOG_GROUP_NAME, '/aws/lambda/lc-env');
      assert.match(env.AWS_LAMBDA_LOG_STREAM_NAME ?? '', /^\d{4}\/\d\d\/\d\d\/\[\$LATEST\][0-9a-f]{32}$/);
      assert.equal(env.AWS_REGION, 'us-east-1');
      assert.match(env.AWS_LAMBDA_RUNTIME_API ?? '', /^127\.0\.0\.1:\d+$/);
      assert.ok(env.LAMBDA_TASK_ROOT && existsSync(join(env.LAMBDA_TASK_ROOT, 'index.js')), 'LAMBDA_TASK_ROOT holds the code');
      assert.equal(env._HANDLER, 'index.handler');
      assert.equal(env.TZ, ':UTC');
      assert.equal(env.MY_VAR, 'mine');
      // Lambda always hands the function a trace header, a new Root when the caller sent none.
      const own = env._X_AMZN_TRACE_ID ?? '';
      assert.match(own, /^Root=1-[0-9a-f]{8}-[0-9a-f]{24};Parent=[0-9a-f]{16};Sampled=0$/, 'a trace id of its own, not sampled (PassThrough)');

      // A request that carries a trace header: the sandbox sees it as _X_AMZN_TRACE_ID.
      const traced = client('AKIDEXAMPLE');
      const trace = 'Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1';
      traced.middlewareStack.add(
        (next) => (args) => {
          (args.request as { headers: Record<string, string> }).headers['x-amzn-trace-id'] = trace;
          return next(args);
        },
        { step: 'build' },
      );
      const withTrace = json((await traced.send(new InvokeCommand({ FunctionName: 'lc-env' }))).Payload) as Record<string, string | null>;
      // The caller's Root and sampling decision continue; Parent becomes the function segment's id.
      assert.match(withTrace._X_AMZN_TRACE_ID ?? '', /^Root=1-5759e988-bd862e3fe1be46a994272793;Parent=[0-9a-f]{16};Sampled=1$/);
      // Per invocation: the next one without a header gets a new Root of its own.
      const again = (await invoke(lambda, 'lc-env')).body as unknown as Record<string, string | null>;
      assert.doesNotMatch(again._X_AMZN_TRACE_ID ?? '', /5759e988/);
      assert.notEqual(again._X_AMZN_TRACE_ID, own);
    });

    await t.test('nodejs8.10 runs on the local Node.js and its log says so once', async () => {
      await createFn(lambda, 'lc-node8', makeZip({ 'hello.js': 'exports.handler = async () => ({ statusCode: 200, node: process.version });' }), {
        Runtime: 'nodejs8.10',
        Handler: 'hello.handler',
      });
      const first = await invoke(lambda, 'lc-node8');
      assert.equal((first.body as unknown as { node: string }).node, process.version);
      const note = /nodejs8\.10 is deprecated on AWS Lambda; this function runs on the local Node\.js v\d+/;
      assert.match(first.log, note);
      // A second cold start (after a configuration change) does not repeat it.
      await lambda.send(new UpdateFunctionConfigurationCommand({ FunctionName: 'lc-node8', Description: 'again' }));
      const logged = nextLog(lambkin, 'lc-node8');
      const second = await invoke(lambda, 'lc-node8');
      await logged;
      assert.match(second.log, /Init Duration/);
      assert.doesNotMatch(second.log, note);
      const file = lambkin.logs.fileFor({ account: '000000000000', region: 'us-east-1', functionName: 'lc-node8' });
      assert.equal(readFileSync(file, 'utf8').split('\n').filter((l) => note.test(l)).length, 1);
    });
  }),
);

void test(
  'an idle sandbox is stopped after the keep-alive time',
  serverGroup({ keepAliveMs: 300 }, async (t, { lambda, lambkin }, defer) => {
    // The sandbox holds a TCP connection to us from its init: it closes when the process dies.
    const sockets: Socket[] = [];
    let onConnection: (s: Socket) => void = () => {};
    const server = createTcpServer((s) => {
      sockets.push(s);
      onConnection(s);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    defer(
      () =>
        new Promise<void>((r) => {
          for (const s of sockets) s.destroy();
          server.close(() => r());
        }),
    );
    const port = (server.address() as AddressInfo).port;
    await createFn(
      lambda,
      'ka-idle',
      makeZip({
        'index.js': `const net = require('node:net');
const s = net.connect(${port}, '127.0.0.1');
s.on('error', () => {});
exports.handler = async () => process.pid;`,
      }),
    );
    const connected = new Promise<Socket>((r) => (onConnection = r));
    const out = await lambda.send(new InvokeCommand({ FunctionName: 'ka-idle', LogType: 'Tail' }));
    assert.match(tail(out.LogResult), /Init Duration/);
    const socket = await connected;
    // Event, not a sleep: the connection ends when the keep-alive expiry kills the sandbox.
    await new Promise<void>((r) => (socket.destroyed ? r() : socket.once('close', () => r())));
    const view = lambkin.workerManager.view();
    assert.deepEqual(sandboxesOf(view, 'ka-idle'), [], 'the sandbox is gone from the fleet');
    assert.equal(view.counters.expirations, 1, 'stopped as an expiry');
    await t.test('the next invocation is a cold start again', async () => {
      const again = await lambda.send(new InvokeCommand({ FunctionName: 'ka-idle', LogType: 'Tail' }));
      assert.notEqual(json(again.Payload), json(out.Payload));
      assert.match(tail(again.LogResult), /Init Duration/);
    });
  }),
);

void test(
  'an init longer than initTimeoutMs is retried once under the function timeout, as Lambda does',
  serverGroup({ initTimeoutMs: 500 }, async (t, { lambda, lambkin }) => {
    await t.test('an init that never finishes fails with the function timeout', async () => {
      await createFn(lambda, 'init-slow', makeZip({ 'index.mjs': `await new Promise((r) => setTimeout(r, 30000));\nexport const handler = async () => 'never';\n` }), { Timeout: 2 });
      const started = Date.now();
      const out = await lambda.send(new InvokeCommand({ FunctionName: 'init-slow', LogType: 'Tail' }));
      assert.ok(Date.now() - started < 10_000, 'failed at the init timeout plus the function timeout, not later');
      assert.equal(out.StatusCode, 200);
      assert.equal(out.FunctionError, 'Unhandled');
      const doc = json(out.Payload) as { errorType: string; errorMessage: string };
      assert.equal(doc.errorType, 'Sandbox.Timedout');
      assert.equal(doc.errorMessage, 'Task timed out after 2.00 seconds');
      const log = tail(out.LogResult);
      assert.match(log, /INIT_REPORT Init Duration: .*Phase: init\tStatus: timeout/);
      assert.match(log, /INIT_REPORT Init Duration: .*Status: error/);
      assert.deepEqual(sandboxesOf(lambkin.workerManager.view(), 'init-slow'), [], 'the failed sandbox is not kept');
    });
    await t.test('an init that finishes within the function timeout succeeds on the retry', async () => {
      await createFn(lambda, 'init-late', makeZip({ 'index.mjs': `await new Promise((r) => setTimeout(r, 800));\nexport const handler = async () => 'ready';\n` }), { Timeout: 5 });
      const out = await lambda.send(new InvokeCommand({ FunctionName: 'init-late', LogType: 'Tail' }));
      assert.equal(out.FunctionError, undefined);
      assert.equal(json(out.Payload), 'ready');
      const log = tail(out.LogResult);
      assert.match(log, /INIT_REPORT Init Duration: .*Status: timeout/, 'the first init overran');
      assert.match(log, /REPORT RequestId: .*Init Duration: /);
    });
  }),
);
