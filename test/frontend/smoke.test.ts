import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CreateFunctionCommand, InvokeCommand } from '@aws-sdk/client-lambda';
import { leakFree } from '../helpers/leaks.js';
import { startTestServer } from '../helpers/server.js';
import { helloZip } from '../helpers/zip.js';

test(
  'create and invoke the seed hello function through the AWS SDK',
  leakFree(async (_t, defer) => {
    const { lambda } = await startTestServer(defer);
    const created = await lambda.send(
      new CreateFunctionCommand({
        FunctionName: 'hello',
        Runtime: 'nodejs8.10',
        Handler: 'hello.handler',
        Role: 'arn:aws:iam::000000000000:role/lambda-role',
        Code: { ZipFile: helloZip() },
      }),
    );
    assert.equal(created.FunctionArn, 'arn:aws:lambda:us-east-1:000000000000:function:hello');
    const out = await lambda.send(new InvokeCommand({ FunctionName: 'hello', LogType: 'Tail' }));
    assert.equal(out.StatusCode, 200);
    assert.equal(out.FunctionError, undefined);
    assert.deepEqual(JSON.parse(Buffer.from(out.Payload ?? []).toString()), { statusCode: 200, body: '"Hello from Lambda!"' });
    const log = Buffer.from(out.LogResult ?? '', 'base64').toString();
    assert.match(log, /REPORT RequestId: .*Init Duration/);
  }),
);
