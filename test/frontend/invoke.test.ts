/**
 * Invoke through the real AWS SDK: RequestResponse, Event (202, then it really runs), DryRun (204),
 * LogType=Tail, Qualifier, X-Amz-Function-Error with the error document, ClientContext and the
 * context object.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvokeCommand, PublishVersionCommand, UpdateFunctionCodeCommand } from '@aws-sdk/client-lambda';
import { makeZip } from '../helpers/zip.js';
import { createFn, json, nextLog, serverGroup, tail } from '../helpers/lambda.js';

const ECHO = makeZip({
  'index.js': `
exports.handler = async (event, context) => {
  console.log('event', JSON.stringify(event));
  return {
    event,
    functionName: context.functionName,
    functionVersion: context.functionVersion,
    invokedFunctionArn: context.invokedFunctionArn,
    memoryLimitInMB: context.memoryLimitInMB,
    awsRequestId: context.awsRequestId,
    logGroupName: context.logGroupName,
    logStreamName: context.logStreamName,
    remaining: context.getRemainingTimeInMillis(),
    clientContext: context.clientContext ?? null,
  };
};
exports.chatty = async () => {
  for (let i = 0; i < 200; i++) console.log('line ' + i + ' ' + 'x'.repeat(60));
  return 'done';
};
exports.fails = async () => {
  throw new TypeError('bad thing happened');
};
exports.callback = (event, context, callback) => {
  setTimeout(() => callback(null, { viaCallback: event.n * 2 }), 5);
};
`,
});

const enc = (v: unknown) => Buffer.from(JSON.stringify(v));

void test(
  'Invoke through the AWS SDK',
  serverGroup({}, async (t, { lambda, lambkin }) => {
    await createFn(lambda, 'inv', ECHO, { MemorySize: 256, Timeout: 5 });
    await createFn(lambda, 'inv-chatty', ECHO, { Handler: 'index.chatty' });
    await createFn(lambda, 'inv-fails', ECHO, { Handler: 'index.fails' });
    await createFn(lambda, 'inv-callback', ECHO, { Handler: 'index.callback' });

    await t.test('RequestResponse returns the result and a context as Lambda builds it', async () => {
      const out = await lambda.send(new InvokeCommand({ FunctionName: 'inv', Payload: enc({ hello: 'world' }) }));
      assert.equal(out.StatusCode, 200);
      assert.equal(out.FunctionError, undefined);
      assert.equal(out.ExecutedVersion, '$LATEST');
      const r = json(out.Payload) as Record<string, unknown>;
      assert.deepEqual(r.event, { hello: 'world' });
      assert.equal(r.functionName, 'inv');
      assert.equal(r.functionVersion, '$LATEST');
      assert.equal(r.invokedFunctionArn, 'arn:aws:lambda:us-east-1:000000000000:function:inv');
      assert.equal(String(r.memoryLimitInMB), '256');
      assert.equal(r.awsRequestId, out.$metadata.requestId);
      assert.equal(r.logGroupName, '/aws/lambda/inv');
      assert.match(String(r.logStreamName), /^\d{4}\/\d\d\/\d\d\/\[\$LATEST\][0-9a-f]{32}$/);
      assert.ok(typeof r.remaining === 'number' && r.remaining > 0 && r.remaining <= 5000, `remaining ${String(r.remaining)}`);
      assert.equal(r.clientContext, null);
    });

    await t.test('a callback-style handler answers through its callback', async () => {
      const out = await lambda.send(new InvokeCommand({ FunctionName: 'inv-callback', Payload: enc({ n: 21 }) }));
      assert.deepEqual(json(out.Payload), { viaCallback: 42 });
    });

    await t.test('an empty payload is the event {}', async () => {
      const out = await lambda.send(new InvokeCommand({ FunctionName: 'inv' }));
      assert.deepEqual((json(out.Payload) as { event: unknown }).event, {});
    });

    await t.test('Event: 202 at once, then the event runs in the background', async () => {
      const ran = nextLog(lambkin, 'inv', /"async":true/);
      const out = await lambda.send(new InvokeCommand({ FunctionName: 'inv', InvocationType: 'Event', Payload: enc({ async: true }) }));
      assert.equal(out.StatusCode, 202);
      assert.equal(Buffer.from(out.Payload ?? []).length, 0);
      const lines = await ran;
      assert.ok(lines.some((l) => /^START RequestId: \S+ Version: \$LATEST$/.test(l)));
      assert.ok(lines.some((l) => l.startsWith('REPORT RequestId: ')));
      assert.ok(lines.some((l) => l.includes(`event {"async":true}`)));
    });

    await t.test('DryRun: 204 and nothing runs', async () => {
      await createFn(lambda, 'inv-dry', ECHO);
      const out = await lambda.send(new InvokeCommand({ FunctionName: 'inv-dry', InvocationType: 'DryRun', Payload: enc({ a: 1 }) }));
      assert.equal(out.StatusCode, 204);
      const sandboxes = lambkin.workerManager.view().sandboxes.filter((s) => s.functionKey.endsWith(':function:inv-dry'));
      assert.deepEqual(sandboxes, [], 'DryRun started no sandbox');
    });

    await t.test('LogType=Tail: START, console lines in Lambda format, END, REPORT', async () => {
      const out = await lambda.send(new InvokeCommand({ FunctionName: 'inv', LogType: 'Tail', Payload: enc({ tail: 1 }) }));
      const id = out.$metadata.requestId ?? '';
      assert.ok(id);
      const log = tail(out.LogResult);
      const lines = log.trimEnd().split('\n');
      assert.ok(lines.includes(`START RequestId: ${id} Version: $LATEST`), log);
      assert.ok(lines.includes(`END RequestId: ${id}`), log);
      const consoleLine = lines.find((l) => l.includes('event {"tail":1}'));
      assert.ok(consoleLine, log);
      assert.match(consoleLine, new RegExp(`^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z\\t${id}\\tINFO\\tevent \\{"tail":1\\}$`));
      const report = lines.at(-1) ?? '';
      assert.match(
        report,
        new RegExp(`^REPORT RequestId: ${id}\\tDuration: \\d+\\.\\d\\d ms\\tBilled Duration: \\d+ ms\\tMemory Size: 256 MB\\tMax Memory Used: \\d+ MB`),
      );
      // No LogResult unless asked for.
      const quiet = await lambda.send(new InvokeCommand({ FunctionName: 'inv' }));
      assert.equal(quiet.LogResult, undefined);
    });

    await t.test('LogType=Tail returns only the last 4 KB', async () => {
      const out = await lambda.send(new InvokeCommand({ FunctionName: 'inv-chatty', LogType: 'Tail' }));
      const raw = Buffer.from(out.LogResult ?? '', 'base64');
      assert.ok(raw.length <= 4096 && raw.length > 3500, `tail is ${raw.length} bytes`);
      const log = raw.toString();
      assert.match(log, /REPORT RequestId: .*\n$/);
      assert.ok(log.includes('line 199 '));
      assert.ok(!log.includes('\tline 0 '), 'the beginning was cut');
    });

    await t.test('Qualifier selects the version', async () => {
      await createFn(lambda, 'inv-q', makeZip({ 'index.js': 'exports.handler = async () => "one";' }));
      await lambda.send(new PublishVersionCommand({ FunctionName: 'inv-q' }));
      await lambda.send(new UpdateFunctionCodeCommand({ FunctionName: 'inv-q', ZipFile: makeZip({ 'index.js': 'exports.handler = async () => "two";' }) }));
      const v1 = await lambda.send(new InvokeCommand({ FunctionName: 'inv-q', Qualifier: '1', LogType: 'Tail' }));
      assert.equal(json(v1.Payload), 'one');
      assert.equal(v1.ExecutedVersion, '1');
      assert.match(tail(v1.LogResult), /START RequestId: \S+ Version: 1\n/);
      const latest = await lambda.send(new InvokeCommand({ FunctionName: 'inv-q', Qualifier: '$LATEST' }));
      assert.equal(json(latest.Payload), 'two');
    });

    await t.test('a thrown error: X-Amz-Function-Error Unhandled and the error document', async () => {
      const out = await lambda.send(new InvokeCommand({ FunctionName: 'inv-fails', LogType: 'Tail' }));
      assert.equal(out.StatusCode, 200);
      assert.equal(out.FunctionError, 'Unhandled');
      const doc = json(out.Payload) as { errorType: string; errorMessage: string; trace: string[] };
      assert.equal(doc.errorType, 'TypeError');
      assert.equal(doc.errorMessage, 'bad thing happened');
      assert.ok(Array.isArray(doc.trace) && doc.trace[0]?.startsWith('TypeError: bad thing happened'));
      // The runtime logs the error in Lambda's format.
      assert.match(tail(out.LogResult), /\tERROR\tInvoke Error \t/);
      // The sandbox survives a handled error and serves again.
      const again = await lambda.send(new InvokeCommand({ FunctionName: 'inv-fails' }));
      assert.equal(again.FunctionError, 'Unhandled');
    });

    await t.test('ClientContext reaches context.clientContext', async () => {
      const cc = { custom: { tenant: 'acme' }, env: { locale: 'en-US' }, client: { installation_id: 'i-1' } };
      const out = await lambda.send(new InvokeCommand({ FunctionName: 'inv', ClientContext: Buffer.from(JSON.stringify(cc)).toString('base64') }));
      assert.deepEqual((json(out.Payload) as { clientContext: unknown }).clientContext, cc);
    });
  }),
);
