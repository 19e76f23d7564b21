/**
 * The three runtime families end to end through the AWS SDK: Node.js (CommonJS, .mjs,
 * "type": "module"), Python 3 and a provided.al2023 bash bootstrap written as in AWS's custom
 * runtime tutorial.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvokeCommand } from '@aws-sdk/client-lambda';
import { makeZip } from '../helpers/zip.js';
import { createFn, json, serverGroup, tail, works } from '../helpers/lambda.js';
import { TUTORIAL_BOOTSTRAP, TUTORIAL_FUNCTION_SH } from '../helpers/custom-runtime.js';

const enc = (v: unknown) => Buffer.from(JSON.stringify(v));

const noPython = works('python3', ['--version']) ? false : 'python3 is not installed: the python3.x runtime cannot be tested here';
const noBashCurl = works('bash', ['--version']) && works('curl', ['--version']) ? false : 'bash and curl are needed for the custom runtime tutorial bootstrap';


void test(
  'runtime families end to end',
  serverGroup({}, async (t, { lambda }) => {
    await t.test('nodejs: CommonJS handler in a subfolder (dir/file.export)', async () => {
      await createFn(lambda, 'rt-cjs', makeZip({ 'src/app.js': `const os = require('node:os');\nexports.main = async (e) => ({ cjs: typeof module, n: e.n + 1 });\n` }), {
        Handler: 'src/app.main',
      });
      assert.deepEqual(json((await lambda.send(new InvokeCommand({ FunctionName: 'rt-cjs', Payload: enc({ n: 1 }) }))).Payload), { cjs: 'object', n: 2 });
    });

    await t.test('nodejs: an .mjs handler with top-level await', async () => {
      await createFn(lambda, 'rt-mjs', makeZip({ 'index.mjs': `const ready = await Promise.resolve('esm');\nexport const handler = async (e) => ({ ready, meta: typeof import.meta.url, e });\n` }), {
        Runtime: 'nodejs22.x',
      });
      assert.deepEqual(json((await lambda.send(new InvokeCommand({ FunctionName: 'rt-mjs', Payload: enc({ x: 1 }) }))).Payload), { ready: 'esm', meta: 'string', e: { x: 1 } });
    });

    await t.test('nodejs: a .js handler in a "type": "module" package', async () => {
      await createFn(
        lambda,
        'rt-module',
        makeZip({
          'package.json': JSON.stringify({ type: 'module' }),
          'index.js': `import { helper } from './lib/helper.js';\nexport async function handler() { return helper(); }\n`,
          'lib/helper.js': `export const helper = () => ({ module: typeof require === 'undefined' });\n`,
        }),
      );
      assert.deepEqual(json((await lambda.send(new InvokeCommand({ FunctionName: 'rt-module' }))).Payload), { module: true });
    });

    await t.test('python3.x: a handler module with the context object', { skip: noPython }, async () => {
      await createFn(
        lambda,
        'rt-python',
        makeZip({
          'app.py': `import json, os\n\nprint("init python")\n\ndef handler(event, context):\n    print("got", json.dumps(event))\n    return {"sum": event["a"] + event["b"], "name": context.function_name, "mem": context.memory_limit_in_mb, "req": context.aws_request_id, "region": os.environ["AWS_REGION"]}\n`,
        }),
        { Runtime: 'python3.12', Handler: 'app.handler' },
      );
      const out = await lambda.send(new InvokeCommand({ FunctionName: 'rt-python', Payload: enc({ a: 2, b: 3 }), LogType: 'Tail' }));
      assert.equal(out.FunctionError, undefined, Buffer.from(out.Payload ?? []).toString());
      assert.deepEqual(json(out.Payload), { sum: 5, name: 'rt-python', mem: '128', req: out.$metadata.requestId, region: 'us-east-1' });
      const log = tail(out.LogResult);
      assert.match(log, /got \{"a": 2, "b": 3\}/);
      assert.match(log, /REPORT RequestId: .*Init Duration: /);
    });

    await t.test('python3.x: an exception is the function error with Python\'s error type', { skip: noPython }, async () => {
      await createFn(lambda, 'rt-python-err', makeZip({ 'app.py': `def handler(event, context):\n    raise ValueError("nope")\n` }), {
        Runtime: 'python3.11',
        Handler: 'app.handler',
      });
      const out = await lambda.send(new InvokeCommand({ FunctionName: 'rt-python-err' }));
      assert.equal(out.FunctionError, 'Unhandled');
      const doc = json(out.Payload) as { errorType: string; errorMessage: string };
      assert.equal(doc.errorType, 'ValueError');
      assert.equal(doc.errorMessage, 'nope');
    });

    await t.test('provided.al2023: the tutorial\'s bash bootstrap (curl loop), warm across invocations', { skip: noBashCurl }, async () => {
      await createFn(lambda, 'rt-bash', makeZip({ bootstrap: { text: TUTORIAL_BOOTSTRAP, exec: true }, 'function.sh': TUTORIAL_FUNCTION_SH }), {
        Runtime: 'provided.al2023',
        Handler: 'function.handler',
      });
      for (const event of [{ key1: 'value1' }, { n: 2 }]) {
        const out = await lambda.send(new InvokeCommand({ FunctionName: 'rt-bash', Payload: enc(event), LogType: 'Tail' }));
        assert.equal(out.FunctionError, undefined);
        assert.equal(Buffer.from(out.Payload ?? []).toString(), `Echoing request: '${JSON.stringify(event)}'`);
        // The handler echoes the event to stderr, which is the function's log.
        assert.ok(tail(out.LogResult).includes(JSON.stringify(event)));
      }
    });

    await t.test('provided: a zip without an executable bootstrap fails as Runtime.InvalidEntrypoint', async () => {
      await createFn(lambda, 'rt-noboot', makeZip({ 'function.sh': TUTORIAL_FUNCTION_SH }), { Runtime: 'provided.al2', Handler: 'function.handler' });
      const out = await lambda.send(new InvokeCommand({ FunctionName: 'rt-noboot' }));
      assert.equal(out.FunctionError, 'Unhandled');
      assert.equal((json(out.Payload) as { errorType: string }).errorType, 'Runtime.InvalidEntrypoint');
    });
  }),
);
