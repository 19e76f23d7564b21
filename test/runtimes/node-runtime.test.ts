import { test, describe } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { RuntimeInitError } from '../../src/fleet/runtime-api-server.js';
import type { RuntimeResult } from '../../src/fleet/runtime-api-server.js';
import { NODE_BOOTSTRAP, payloadJson, startSandbox, writeTaskRoot } from './sandbox-harness.js';
import type { Sandbox } from './sandbox-harness.js';

const ISO = String.raw`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z`;

async function nodeSandbox(t: TestContext, files: Record<string, string>, handler: string, env?: Record<string, string>): Promise<Sandbox> {
  const taskRoot = writeTaskRoot(t, files);
  return startSandbox(t, { command: process.execPath, args: [NODE_BOOTSTRAP], taskRoot, handler, ...(env ? { env } : {}) });
}

async function ready(t: TestContext, files: Record<string, string>, handler: string, env?: Record<string, string>): Promise<Sandbox> {
  const sb = await nodeSandbox(t, files, handler, env);
  await sb.api.waitForInit();
  return sb;
}

function errorDoc(r: RuntimeResult): { errorType: string; errorMessage: string; trace?: string[] } {
  assert.equal(r.kind, 'error', `expected an error, got ${r.payload.toString()}`);
  return payloadJson(r) as { errorType: string; errorMessage: string; trace?: string[] };
}

/** Asserts init fails with errorType and the process exits with code; returns the posted error document. */
async function initFailure(sb: Sandbox, errorType: string, exitCode: number): Promise<{ errorType: string; errorMessage: string; trace: string[] }> {
  const err = await sb.api.waitForInit().then(
    () => assert.fail('init should fail'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof RuntimeInitError, String(err));
  assert.equal(err.errorType, errorType);
  const exit = await sb.exited;
  assert.equal(exit.code, exitCode);
  return JSON.parse(err.payload.toString()) as { errorType: string; errorMessage: string; trace: string[] };
}

void describe('Node.js runtime client', () => {
  void test('CommonJS async handler: event, context fields, module state across invocations, trace id, remaining time', async (t) => {
    const sb = await ready(
      t,
      {
        'index.js': `
          let count = 0;
          exports.handler = async (event, context) => {
            count++;
            const first = context.getRemainingTimeInMillis();
            const t0 = Date.now();
            while (Date.now() - t0 < 5) {}
            const second = context.getRemainingTimeInMillis();
            return {
              count, event, first, second,
              functionName: context.functionName, functionVersion: context.functionVersion,
              invokedFunctionArn: context.invokedFunctionArn, memoryLimitInMB: context.memoryLimitInMB,
              awsRequestId: context.awsRequestId, logGroupName: context.logGroupName, logStreamName: context.logStreamName,
              callbackWaitsForEmptyEventLoop: context.callbackWaitsForEmptyEventLoop,
              clientContext: context.clientContext, identity: context.identity,
              trace: process.env._X_AMZN_TRACE_ID ?? null, cwd: process.cwd(),
            };
          };`,
      },
      'index.handler',
    );
    const deadlineMs = Date.now() + 30_000;
    const r1 = await sb.invoke({ hello: 'world' }, { requestId: 'rid-1', deadlineMs, traceId: 'Root=1-65f0-abc;Sampled=1', clientContext: '{"custom":{"k":"v"}}', cognitoIdentity: '{"cognitoIdentityId":"cid"}' });
    assert.equal(r1.kind, 'response');
    const v1 = payloadJson(r1) as Record<string, unknown>;
    assert.equal(v1['count'], 1);
    assert.deepEqual(v1['event'], { hello: 'world' });
    assert.equal(v1['functionName'], 'fn');
    assert.equal(v1['functionVersion'], '$LATEST');
    assert.equal(v1['invokedFunctionArn'], 'arn:aws:lambda:us-east-1:123456789012:function:fn');
    assert.equal(v1['memoryLimitInMB'], '256');
    assert.equal(v1['awsRequestId'], 'rid-1');
    assert.equal(v1['logGroupName'], '/aws/lambda/fn');
    assert.equal(v1['logStreamName'], '2024/01/01/[$LATEST]abcdef');
    assert.equal(v1['callbackWaitsForEmptyEventLoop'], true);
    assert.deepEqual(v1['clientContext'], { custom: { k: 'v' } });
    assert.deepEqual(v1['identity'], { cognitoIdentityId: 'cid' });
    assert.equal(v1['trace'], 'Root=1-65f0-abc;Sampled=1');
    const first = v1['first'] as number;
    const second = v1['second'] as number;
    assert.ok(first > 0 && first <= 30_000, `remaining ${first}`);
    assert.ok(second <= first - 5, `remaining time must fall as time passes (${first} -> ${second})`);
    const r2 = await sb.invoke([1, 2, 3]);
    const v2 = payloadJson(r2) as Record<string, unknown>;
    assert.equal(v2['count'], 2, 'module state survives between invocations');
    assert.deepEqual(v2['event'], [1, 2, 3]);
    assert.equal(v2['trace'], null, '_X_AMZN_TRACE_ID is cleared when an invocation has no trace id');
    assert.equal(v2['clientContext'], undefined);
  });

  void test('.mjs handler', async (t) => {
    const sb = await ready(t, { 'app.mjs': `export const handler = async (e) => ({ esm: true, twice: e.n * 2, url: import.meta.url.startsWith('file:') });` }, 'app.handler');
    assert.deepEqual(payloadJson(await sb.invoke({ n: 21 })), { esm: true, twice: 42, url: true });
  });

  void test('"type": "module" package with a .js handler, and a default-export object', async (t) => {
    const sb = await ready(
      t,
      { 'package.json': '{"type":"module"}', 'index.js': `import { helper } from './helper.js'; export const handler = async () => helper();`, 'helper.js': `export const helper = () => 'from esm';`, 'obj.js': `export default { handler: async () => 'default-export' };` },
      'index.handler',
    );
    assert.deepEqual(payloadJson(await sb.invoke({})), 'from esm');
    const sb2 = await ready(t, { 'package.json': '{"type":"module"}', 'obj.js': `export default { handler: async () => 'default-export' };` }, 'obj.handler');
    assert.deepEqual(payloadJson(await sb2.invoke({})), 'default-export');
  });

  void test('handler in a subdirectory with a nested export path; .cjs file', async (t) => {
    const sb = await ready(t, { 'src/lib/index.js': `exports.handlers = { main: async () => 'nested' };` }, 'src/lib/index.handlers.main');
    assert.deepEqual(payloadJson(await sb.invoke({})), 'nested');
    const sb2 = await ready(t, { 'package.json': '{"type":"module"}', 'h.cjs': `module.exports.handler = async () => 'cjs in esm package';` }, 'h.handler');
    assert.deepEqual(payloadJson(await sb2.invoke({})), 'cjs in esm package');
  });

  void test('callback handler waits for an empty event loop by default', async (t) => {
    const sb = await ready(
      t,
      {
        'index.js': `
          const state = { fired: false };
          exports.handler = (event, context, callback) => {
            if (event.check) return callback(null, { fired: state.fired });
            setTimeout(() => { state.fired = true; }, 50);
            callback(null, 'first');
          };`,
      },
      'index.handler',
    );
    const started = Date.now();
    assert.deepEqual(payloadJson(await sb.invoke({})), 'first');
    assert.ok(Date.now() - started >= 45, 'the response waited for the pending timer');
    assert.deepEqual(payloadJson(await sb.invoke({ check: true })), { fired: true });
  });

  void test('callbackWaitsForEmptyEventLoop = false posts the callback result at once', async (t) => {
    const sb = await ready(
      t,
      {
        'index.js': `
          const state = { fired: false };
          exports.handler = (event, context, callback) => {
            context.callbackWaitsForEmptyEventLoop = false;
            if (event.check) return callback(null, { fired: state.fired });
            setTimeout(() => { state.fired = true; }, 60000);
            callback(null, 'first');
          };`,
      },
      'index.handler',
    );
    assert.deepEqual(payloadJson(await sb.invoke({})), 'first');
    assert.deepEqual(payloadJson(await sb.invoke({ check: true })), { fired: false });
  });

  void test('context.succeed / done / fail, a sync handler that never answers, and only the first answer counts', async (t) => {
    const sb = await ready(
      t,
      {
        'index.js': `
          exports.handler = (event, context, callback) => {
            switch (event.mode) {
              case 'succeed': context.succeed({ via: 'succeed' }); context.succeed('ignored'); return;
              case 'done': context.done(null, 'via done'); return;
              case 'fail': context.fail(new RangeError('via fail')); return;
              case 'nothing': return;
              case 'twice': callback(null, 'one'); callback(null, 'two'); return;
            }
          };`,
      },
      'index.handler',
    );
    assert.deepEqual(payloadJson(await sb.invoke({ mode: 'succeed' })), { via: 'succeed' });
    assert.deepEqual(payloadJson(await sb.invoke({ mode: 'done' })), 'via done');
    const failed = errorDoc(await sb.invoke({ mode: 'fail' }));
    assert.equal(failed.errorType, 'RangeError');
    assert.equal(failed.errorMessage, 'via fail');
    const nothing = await sb.invoke({ mode: 'nothing' });
    assert.equal(nothing.kind, 'response');
    assert.equal(nothing.payload.toString(), 'null');
    assert.deepEqual(payloadJson(await sb.invoke({ mode: 'twice' })), 'one');
    assert.deepEqual(payloadJson(await sb.invoke({ mode: 'done' })), 'via done');
  });

  void test('errors: shape, error-type header, non-Error throws, callback errors, unserialisable results', async (t) => {
    const sb = await ready(
      t,
      {
        'index.js': `
          class CustomError extends Error { constructor(m) { super(m); this.name = 'CustomError'; } }
          exports.handler = async (event) => {
            switch (event.mode) {
              case 'type': null.x; break;
              case 'custom': throw new CustomError('custom failure');
              case 'string': throw 'just a string';
              case 'circular': { const o = {}; o.self = o; return o; }
              case 'ok': return 'fine';
            }
          };
          exports.cb = (event, context, callback) => callback(new Error('callback error'));`,
      },
      'index.handler',
    );
    const typeErr = await sb.invoke({ mode: 'type' });
    const doc = errorDoc(typeErr);
    assert.ok(typeErr.kind === 'error');
    assert.equal(typeErr.errorType, 'TypeError', 'Lambda-Runtime-Function-Error-Type carries the error name');
    assert.equal(doc.errorType, 'TypeError');
    assert.match(doc.errorMessage, /Cannot read properties of null/);
    assert.ok(Array.isArray(doc.trace));
    assert.equal(doc.trace?.[0], `TypeError: ${doc.errorMessage}`);
    assert.ok(doc.trace?.some((l) => l.includes('index.js')));
    const custom = errorDoc(await sb.invoke({ mode: 'custom' }));
    assert.deepEqual([custom.errorType, custom.errorMessage], ['CustomError', 'custom failure']);
    const str = errorDoc(await sb.invoke({ mode: 'string' }));
    assert.deepEqual(str, { errorType: 'string', errorMessage: 'just a string', trace: [] });
    const circ = errorDoc(await sb.invoke({ mode: 'circular' }));
    assert.deepEqual([circ.errorType, circ.errorMessage], ['Error', 'Unable to stringify response body']);
    assert.deepEqual(payloadJson(await sb.invoke({ mode: 'ok' })), 'fine', 'the runtime keeps serving after errors');
    await sb.waitForStdoutLine(new RegExp(`^${ISO}\\t[^\\t]+\\tERROR\\tInvoke Error \\t\\{"errorType":"CustomError","errorMessage":"custom failure"`));
    const cb = await ready(t, { 'index.js': `exports.cb = (event, context, callback) => callback(new Error('callback error'));` }, 'index.cb');
    const cbDoc = errorDoc(await cb.invoke({}));
    assert.deepEqual([cbDoc.errorType, cbDoc.errorMessage], ['Error', 'callback error']);
  });

  void test('a response too large becomes Function.ResponseSizeTooLarge and the runtime carries on', async (t) => {
    const sb = await ready(t, { 'index.js': `exports.handler = async (e) => e.big ? 'x'.repeat(7 * 1024 * 1024) : 'small';` }, 'index.handler');
    const big = await sb.invoke({ big: true });
    assert.ok(big.kind === 'error');
    assert.equal(big.errorType, 'Function.ResponseSizeTooLarge');
    assert.deepEqual(payloadJson(await sb.invoke({})), 'small');
  });

  void test('init: missing module is Runtime.ImportModuleError, posted to /init/error, exit 129', async (t) => {
    const sb = await nodeSandbox(t, { 'other.js': '' }, 'missing.handler');
    const doc = await initFailure(sb, 'Runtime.ImportModuleError', 129);
    assert.equal(doc.errorType, 'Runtime.ImportModuleError');
    assert.match(doc.errorMessage, /^Error: Cannot find module 'missing'\nRequire stack:\n- /);
    assert.match(doc.trace[0] ?? '', /^Runtime\.ImportModuleError: Error: Cannot find module 'missing'/);
    await sb.waitForStdoutLine(new RegExp(`^${ISO}\\tundefined\\tERROR\\tUncaught Exception \\t\\{"errorType":"Runtime.ImportModuleError"`));
  });

  void test('init: a missing dependency (CommonJS require and ESM import) is Runtime.ImportModuleError', async (t) => {
    const cjs = await nodeSandbox(t, { 'index.js': `require('not-installed-pkg'); exports.handler = async () => 1;` }, 'index.handler');
    const d1 = await initFailure(cjs, 'Runtime.ImportModuleError', 129);
    assert.match(d1.errorMessage, /^Error: Cannot find module 'not-installed-pkg'\nRequire stack:\n- .*index\.js/);
    const esm = await nodeSandbox(t, { 'index.mjs': `import 'not-installed-pkg'; export const handler = async () => 1;` }, 'index.handler');
    const d2 = await initFailure(esm, 'Runtime.ImportModuleError', 129);
    assert.match(d2.errorMessage, /^Error \[ERR_MODULE_NOT_FOUND\]: Cannot find package 'not-installed-pkg' imported from .*index\.mjs$/);
  });

  void test('init: missing export and non-function export are Runtime.HandlerNotFound', async (t) => {
    const missing = await nodeSandbox(t, { 'index.js': `exports.other = () => 1;` }, 'index.handler');
    const d1 = await initFailure(missing, 'Runtime.HandlerNotFound', 129);
    assert.equal(d1.errorMessage, 'index.handler is undefined or not exported');
    const notFn = await nodeSandbox(t, { 'index.js': `exports.handler = 42;` }, 'index.handler');
    const d2 = await initFailure(notFn, 'Runtime.HandlerNotFound', 129);
    assert.equal(d2.errorMessage, 'index.handler is not a function');
  });

  void test('init: malformed handler names and syntax errors', async (t) => {
    const noDot = await nodeSandbox(t, { 'index.js': '' }, 'index');
    assert.equal((await initFailure(noDot, 'Runtime.MalformedHandlerName', 129)).errorMessage, 'Bad handler');
    const up = await nodeSandbox(t, { 'index.js': '' }, '../index.handler');
    await initFailure(up, 'Runtime.MalformedHandlerName', 129);
    const syntax = await nodeSandbox(t, { 'index.js': 'exports.handler = async () => {' }, 'index.handler');
    const d = await initFailure(syntax, 'Runtime.UserCodeSyntaxError', 129);
    assert.match(d.errorMessage, /^SyntaxError: /);
  });

  void test('init: an error thrown by the module keeps its own name', async (t) => {
    const sb = await nodeSandbox(t, { 'index.js': `throw new TypeError('config missing');` }, 'index.handler');
    const doc = await initFailure(sb, 'TypeError', 129);
    assert.equal(doc.errorMessage, 'config missing');
    assert.equal(doc.trace[0], 'TypeError: config missing');
  });

  void test('console output in Lambda format on stdout; request id undefined outside invocations; raw stderr untouched', async (t) => {
    const sb = await ready(
      t,
      {
        'index.js': `
          console.log('init line');
          exports.handler = async () => {
            console.log('hello %s', 'world', { a: 1 });
            console.info('info line');
            console.warn('two\\nlines');
            console.error('an error:', 42);
            console.debug('debugging');
            console.trace('tracing');
            process.stderr.write('raw stderr\\n');
            return 'done';
          };`,
      },
      'index.handler',
    );
    await sb.invoke({}, { requestId: 'log-req-1' });
    const id = 'log-req-1';
    await sb.waitForStdoutLine(new RegExp(`^${ISO}\\tundefined\\tINFO\\tinit line$`));
    await sb.waitForStdoutLine(new RegExp(`^${ISO}\\t${id}\\tINFO\\thello world \\{ a: 1 \\}$`));
    await sb.waitForStdoutLine(new RegExp(`^${ISO}\\t${id}\\tINFO\\tinfo line$`));
    await sb.waitForStdoutLine(new RegExp(`^${ISO}\\t${id}\\tWARN\\ttwo\\rlines$`));
    await sb.waitForStdoutLine(new RegExp(`^${ISO}\\t${id}\\tERROR\\tan error: 42$`));
    await sb.waitForStdoutLine(new RegExp(`^${ISO}\\t${id}\\tDEBUG\\tdebugging$`));
    await sb.waitForStdoutLine(new RegExp(`^${ISO}\\t${id}\\tTRACE\\ttracing$`));
    // The log lines precede the response on the pipe: they were written synchronously before the post.
    const lines = sb.stdout().split('\n').filter((l) => l.includes(`\t${id}\t`));
    assert.deepEqual(lines.map((l) => l.split('\t')[2]), ['INFO', 'INFO', 'WARN', 'ERROR', 'DEBUG', 'TRACE']);
    assert.ok(!sb.stdout().includes('raw stderr'));
  });

  void test('AWS_LAMBDA_LOG_FORMAT=JSON and AWS_LAMBDA_LOG_LEVEL', async (t) => {
    const sb = await ready(t, { 'index.js': `exports.handler = async () => { console.debug('hidden'); console.warn('shown', 1); return 1; };` }, 'index.handler', { AWS_LAMBDA_LOG_FORMAT: 'JSON', AWS_LAMBDA_LOG_LEVEL: 'WARN' });
    await sb.invoke({}, { requestId: 'json-1' });
    const line = await sb.waitForStdoutLine(/"message":"shown 1"/);
    const doc = JSON.parse(line) as Record<string, unknown>;
    assert.equal(doc['level'], 'WARN');
    assert.equal(doc['requestId'], 'json-1');
    assert.ok(!sb.stdout().includes('hidden'));
  });

  void test('an unhandled rejection during an invocation is reported and the process exits 128', async (t) => {
    const sb = await ready(t, { 'index.js': `exports.handler = async () => { Promise.reject(new Error('nobody catches me')); await new Promise(() => setTimeout(() => {}, 60000)); };` }, 'index.handler');
    const r = await sb.invoke({});
    const doc = errorDoc(r);
    assert.equal(doc.errorType, 'Runtime.UnhandledPromiseRejection');
    assert.equal(doc.errorMessage, 'Error: nobody catches me');
    assert.equal((await sb.exited).code, 128);
  });

  void test('an uncaught exception during an invocation is reported with its own name and the process exits 129', async (t) => {
    const sb = await ready(t, { 'index.js': `exports.handler = (e, c, cb) => { setTimeout(() => { throw new SyntaxError('async boom'); }, 1); };` }, 'index.handler');
    const doc = errorDoc(await sb.invoke({}));
    assert.deepEqual([doc.errorType, doc.errorMessage], ['SyntaxError', 'async boom']);
    assert.equal((await sb.exited).code, 129);
  });

  void test('an async handler whose promise never settles is Runtime.NodeJsExit once the event loop drains', async (t) => {
    const sb = await ready(t, { 'index.js': `exports.handler = async (e) => { if (e.ok) return 'ok'; await new Promise(() => {}); };` }, 'index.handler');
    const doc = errorDoc(await sb.invoke({}));
    assert.equal(doc.errorType, 'Runtime.NodeJsExit');
    assert.deepEqual(payloadJson(await sb.invoke({ ok: true })), 'ok');
  });
});
