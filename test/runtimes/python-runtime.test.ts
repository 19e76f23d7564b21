import { test, describe } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { RuntimeInitError } from '../../src/fleet/runtime-api-server.js';
import type { RuntimeResult } from '../../src/fleet/runtime-api-server.js';
import { PYTHON_BOOTSTRAP, payloadJson, startSandbox, writeTaskRoot } from './sandbox-harness.js';
import type { Sandbox } from './sandbox-harness.js';

const python = spawnSync('python3', ['--version'], { encoding: 'utf8' });
const skip = python.status === 0 ? false : 'python3 is not installed';

const ISO = String.raw`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z`;

async function pySandbox(t: TestContext, files: Record<string, string>, handler: string): Promise<Sandbox> {
  const taskRoot = writeTaskRoot(t, files);
  return startSandbox(t, { command: 'python3', args: ['-u', PYTHON_BOOTSTRAP], taskRoot, handler });
}

async function ready(t: TestContext, files: Record<string, string>, handler: string): Promise<Sandbox> {
  const sb = await pySandbox(t, files, handler);
  await sb.api.waitForInit();
  return sb;
}

interface PyError {
  errorMessage: string;
  errorType: string;
  requestId: string;
  stackTrace: string[];
}

function errorDoc(r: RuntimeResult): PyError {
  assert.equal(r.kind, 'error', `expected an error, got ${r.payload.toString()}`);
  return payloadJson(r) as PyError;
}

async function initFailure(sb: Sandbox, errorType: string): Promise<PyError> {
  const err = await sb.api.waitForInit().then(
    () => assert.fail('init should fail'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof RuntimeInitError, String(err));
  assert.equal(err.errorType, errorType);
  assert.equal((await sb.exited).code, 1);
  return JSON.parse(err.payload.toString()) as PyError;
}

void describe('Python runtime client', { skip }, () => {
  void test('handler gets the event and a Lambda context; module state persists; trace id forwarded', async (t) => {
    const sb = await ready(
      t,
      {
        'app.py': `
import os, time
count = 0
def handler(event, context):
    global count
    count += 1
    first = context.get_remaining_time_in_millis()
    t0 = time.time()
    while time.time() - t0 < 0.006:
        pass
    second = context.get_remaining_time_in_millis()
    cc = context.client_context
    return {
        "count": count, "event": event, "first": first, "second": second,
        "function_name": context.function_name, "function_version": context.function_version,
        "invoked_function_arn": context.invoked_function_arn, "memory_limit_in_mb": context.memory_limit_in_mb,
        "aws_request_id": context.aws_request_id, "log_group_name": context.log_group_name,
        "log_stream_name": context.log_stream_name,
        "custom": cc.custom if cc else None,
        "identity_id": context.identity.cognito_identity_id,
        "trace": os.environ.get("_X_AMZN_TRACE_ID"), "cwd": os.getcwd(),
    }
`,
      },
      'app.handler',
    );
    const r1 = await sb.invoke({ a: 1 }, { requestId: 'py-1', deadlineMs: Date.now() + 30_000, traceId: 'Root=1-abc', clientContext: '{"custom":{"k":"v"}}', cognitoIdentity: '{"cognitoIdentityId":"cid","cognitoIdentityPoolId":"pool"}' });
    const v1 = payloadJson(r1) as Record<string, unknown>;
    assert.equal(v1['count'], 1);
    assert.deepEqual(v1['event'], { a: 1 });
    assert.equal(v1['function_name'], 'fn');
    assert.equal(v1['function_version'], '$LATEST');
    assert.equal(v1['invoked_function_arn'], 'arn:aws:lambda:us-east-1:123456789012:function:fn');
    assert.equal(v1['memory_limit_in_mb'], '256');
    assert.equal(v1['aws_request_id'], 'py-1');
    assert.equal(v1['log_group_name'], '/aws/lambda/fn');
    assert.equal(v1['log_stream_name'], '2024/01/01/[$LATEST]abcdef');
    assert.deepEqual(v1['custom'], { k: 'v' });
    assert.equal(v1['identity_id'], 'cid');
    assert.equal(v1['trace'], 'Root=1-abc');
    const first = v1['first'] as number;
    const second = v1['second'] as number;
    assert.ok(first > 0 && first <= 30_000, `remaining ${first}`);
    assert.ok(second <= first - 5, `remaining time must fall (${first} -> ${second})`);
    const v2 = payloadJson(await sb.invoke('text')) as Record<string, unknown>;
    assert.equal(v2['count'], 2);
    assert.equal(v2['event'], 'text');
    assert.equal(v2['trace'], null);
    assert.equal(v2['custom'], null);
  });

  void test('module paths with "/" and "." and a package', async (t) => {
    const files = { 'pkg/__init__.py': '', 'pkg/sub/mod.py': 'def main(e, c):\n    return "nested " + e\n' };
    const slash = await ready(t, files, 'pkg/sub/mod.main');
    assert.deepEqual(payloadJson(await slash.invoke('slash')), 'nested slash');
    const dots = await ready(t, files, 'pkg.sub.mod.main');
    assert.deepEqual(payloadJson(await dots.invoke('dots')), 'nested dots');
  });

  void test('a raised exception: AWS error document, header error type, logged traceback, runtime carries on', async (t) => {
    const sb = await ready(t, { 'app.py': 'def handler(event, context):\n    if event == "ok":\n        return "fine"\n    raise ValueError("bad value " + str(event))\n' }, 'app.handler');
    const r = await sb.invoke(7, { requestId: 'py-err' });
    assert.ok(r.kind === 'error');
    assert.equal(r.errorType, 'ValueError');
    const doc = errorDoc(r);
    assert.equal(doc.errorMessage, 'bad value 7');
    assert.equal(doc.errorType, 'ValueError');
    assert.equal(doc.requestId, 'py-err');
    assert.equal(doc.stackTrace.length, 1);
    assert.match(doc.stackTrace[0] ?? '', /^ {2}File ".*app\.py", line 4, in handler\n {4}raise ValueError/);
    await sb.waitForStdoutLine(/^\[ERROR\] ValueError: bad value 7\rTraceback \(most recent call last\):\r\u00a0\u00a0File /);
    assert.deepEqual(payloadJson(await sb.invoke('ok')), 'fine');
  });

  void test('an unserialisable result is Runtime.MarshalError; bytes are returned raw', async (t) => {
    const sb = await ready(t, { 'app.py': 'import decimal\ndef handler(event, context):\n    if event == "bytes":\n        return b"\\x00raw"\n    if event == "dec":\n        return {"d": decimal.Decimal("1.5"), "i": decimal.Decimal("3")}\n    return {1, 2}\n' }, 'app.handler');
    const doc = errorDoc(await sb.invoke('set'));
    assert.equal(doc.errorType, 'Runtime.MarshalError');
    assert.match(doc.errorMessage, /^Unable to marshal response: Object of type set is not JSON serializable$/);
    const raw = await sb.invoke('bytes');
    assert.equal(raw.kind, 'response');
    assert.deepEqual(raw.payload, Buffer.from([0, 0x72, 0x61, 0x77]));
    assert.deepEqual(payloadJson(await sb.invoke('dec')), { d: 1.5, i: 3 });
  });

  void test('init: Runtime.ImportModuleError for a missing module, exit 1', async (t) => {
    const sb = await pySandbox(t, { 'other.py': '' }, 'missing.handler');
    const doc = await initFailure(sb, 'Runtime.ImportModuleError');
    assert.deepEqual(doc, { errorMessage: "Unable to import module 'missing': No module named 'missing'", errorType: 'Runtime.ImportModuleError', requestId: '', stackTrace: [] });
    await sb.waitForStdoutLine(/^\[ERROR\] Runtime\.ImportModuleError: Unable to import module 'missing': No module named 'missing'/);
    await sb.waitForStdoutLine(new RegExp(`^\\[WARNING\\]\\t${ISO}\\t\\tLAMBDA_WARNING: Unhandled exception\\.`));
  });

  void test('init: a missing dependency of the module is Runtime.ImportModuleError too', async (t) => {
    const sb = await pySandbox(t, { 'app.py': 'import not_installed_pkg\ndef handler(e, c):\n    return 1\n' }, 'app.handler');
    const doc = await initFailure(sb, 'Runtime.ImportModuleError');
    assert.equal(doc.errorMessage, "Unable to import module 'app': No module named 'not_installed_pkg'");
  });

  void test('init: Runtime.HandlerNotFound', async (t) => {
    const sb = await pySandbox(t, { 'app.py': 'def other(e, c):\n    return 1\n' }, 'app.handler');
    const doc = await initFailure(sb, 'Runtime.HandlerNotFound');
    assert.equal(doc.errorMessage, "Handler 'handler' missing on module 'app'");
  });

  void test('init: Runtime.UserCodeSyntaxError', async (t) => {
    const sb = await pySandbox(t, { 'app.py': 'def handler(e, c)\n    return 1\n' }, 'app.handler');
    const doc = await initFailure(sb, 'Runtime.UserCodeSyntaxError');
    assert.match(doc.errorMessage, /^Syntax error in module 'app': /);
    assert.match(doc.stackTrace[0] ?? '', /^ {2}File ".*app\.py" Line 1\n/);
  });

  void test('init: an exception raised at import keeps its own type; malformed handler names', async (t) => {
    const sb = await pySandbox(t, { 'app.py': 'raise RuntimeError("no config")\n' }, 'app.handler');
    const doc = await initFailure(sb, 'RuntimeError');
    assert.equal(doc.errorMessage, 'no config');
    assert.ok(doc.stackTrace.some((l) => l.includes('app.py')));
    const bad = await pySandbox(t, { 'app.py': '' }, 'nodot');
    const d2 = await initFailure(bad, 'Runtime.MalformedHandlerName');
    assert.match(d2.errorMessage, /^Bad handler 'nodot': /);
  });

  void test('print() goes to stdout unchanged; the root logger prints Lambda format lines', async (t) => {
    const sb = await ready(
      t,
      {
        'app.py': `
import logging
logger = logging.getLogger()
logger.setLevel(logging.INFO)
print("init print")
def handler(event, context):
    print("plain print", event)
    logger.info("info %s", "formatted")
    logging.warning("two\\nlines")
    logging.getLogger("child").error("from child")
    logger.debug("hidden")
    return "ok"
`,
      },
      'app.handler',
    );
    await sb.invoke(1, { requestId: 'py-log' });
    await sb.waitForStdoutLine(/^init print$/);
    await sb.waitForStdoutLine(/^plain print 1$/);
    await sb.waitForStdoutLine(new RegExp(`^\\[INFO\\]\\t${ISO}\\tpy-log\\tinfo formatted$`));
    await sb.waitForStdoutLine(new RegExp(`^\\[WARNING\\]\\t${ISO}\\tpy-log\\ttwo\\rlines$`));
    await sb.waitForStdoutLine(new RegExp(`^\\[ERROR\\]\\t${ISO}\\tpy-log\\tfrom child$`));
    assert.ok(!sb.stdout().includes('hidden'));
  });
});
