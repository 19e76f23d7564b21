/**
 * Every bad input issue 2 names gets AWS's error type and status through the real SDK, and
 * nothing is half-written: after each rejected create or update, Get/List (and the code
 * directory) show exactly the previous state.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  GetFunctionCommand,
  GetFunctionConfigurationCommand,
  InvokeCommand,
  ListFunctionsCommand,
  UpdateFunctionCodeCommand,
  UpdateFunctionConfigurationCommand,
  type FunctionConfiguration,
  type LambdaClient,
  type Runtime,
} from '@aws-sdk/client-lambda';
import { EMPTY_ZIP, makeZip, withWrongCrcs } from '../helpers/zip.js';
import { createFn, escapingZip, incompressibleZip, json, rejectsAws, serverGroup, zipBomb } from '../helpers/lambda.js';

const GOOD = makeZip({ 'index.js': 'exports.handler = async (e) => ({ ok: true, size: JSON.stringify(e).length });\n' });

async function snapshot(lambda: LambdaClient, dataDir: string) {
  const fns = (await lambda.send(new ListFunctionsCommand({ MaxItems: 1000 }))).Functions ?? [];
  const code = readdirSync(join(dataDir, 'code')).sort();
  return { fns: fns.map((f) => [f.FunctionName, f.CodeSha256, f.RevisionId, f.MemorySize, f.Timeout, f.LastModified]), code };
}

const config = (c: FunctionConfiguration) => [c.CodeSha256, c.RevisionId, c.MemorySize, c.Timeout, c.Runtime, c.LastModified, c.Handler];

void test(
  'bad input gets the AWS error and leaves nothing half-written',
  serverGroup({}, async (t, { lambda, dataDir }) => {
    const existing = await createFn(lambda, 'bad-existing', GOOD);

    /** Runs a rejected create and checks that the registry and the code store did not change. */
    async function rejectedCreate(name: string, zip: Buffer, extra: Parameters<typeof createFn>[3], type: string, status: number, message?: RegExp) {
      const before = await snapshot(lambda, dataDir);
      const err = await rejectsAws(createFn(lambda, name, zip, extra), type, status, message);
      assert.deepEqual(await snapshot(lambda, dataDir), before, 'nothing was written');
      return err;
    }

    /** Runs a rejected update of bad-existing and checks its configuration and code did not change. */
    async function rejectedUpdate(call: () => Promise<unknown>, type: string, status: number, message?: RegExp) {
      const before = await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: 'bad-existing' }));
      const snap = await snapshot(lambda, dataDir);
      await rejectsAws(call(), type, status, message);
      const after = await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: 'bad-existing' }));
      assert.deepEqual(config(after), config(before), 'the function is unchanged');
      assert.deepEqual(await snapshot(lambda, dataDir), snap);
      assert.deepEqual(json((await lambda.send(new InvokeCommand({ FunctionName: 'bad-existing' }))).Payload), { ok: true, size: 2 });
    }

    await t.test('function names: AWS pattern and 64 characters', async () => {
      await rejectedCreate('bad name!', GOOD, {}, 'ValidationException', 400, /satisfy regular expression pattern/);
      await rejectedCreate('a'.repeat(65), GOOD, {}, 'ValidationException', 400, /less than or equal to 64/);
      await rejectedCreate('', GOOD, {}, 'ValidationException', 400);
      await rejectedCreate('arn:aws:lambda:us-east-1:000000000000:function:', GOOD, {}, 'ValidationException', 400);
      // A qualified name is not a name to create.
      await rejectedCreate('bad-q:1', GOOD, {}, 'InvalidParameterValueException', 400);
      const ok = await createFn(lambda, 'a'.repeat(64), GOOD);
      assert.equal(ok.FunctionName, 'a'.repeat(64));
      await rejectsAws(lambda.send(new InvokeCommand({ FunctionName: 'no such/thing' })), 'ValidationException', 400);
      await rejectsAws(lambda.send(new InvokeCommand({ FunctionName: 'arn:aws:lambda:us-east-1:42:function:x' })), 'ValidationException', 400);
      await rejectsAws(lambda.send(new InvokeCommand({ FunctionName: 'does-not-exist' })), 'ResourceNotFoundException', 404);
    });

    await t.test('MemorySize 128–10240 and Timeout 1–900 (ValidationException), on create and update', async () => {
      for (const extra of [{ MemorySize: 127 }, { MemorySize: 10241 }, { Timeout: 0 }, { Timeout: 901 }]) {
        const err = await rejectedCreate('bad-limits', GOOD, extra, 'ValidationException', 400);
        assert.match(err.message, /failed to satisfy constraint: Member must have value (greater|less) than or equal to/);
        await rejectedUpdate(() => lambda.send(new UpdateFunctionConfigurationCommand({ FunctionName: 'bad-existing', ...extra })), 'ValidationException', 400);
      }
      // The bounds themselves are fine.
      const edge = await createFn(lambda, 'bad-limits', GOOD, { MemorySize: 10240, Timeout: 900 });
      assert.deepEqual([edge.MemorySize, edge.Timeout], [10240, 900]);
    });

    await t.test('a request zip over 50 MB: RequestEntityTooLargeException 413', async () => {
      const big = incompressibleZip(51 * 1024 * 1024, randomBytes);
      await rejectedCreate('bad-big', big, {}, 'RequestEntityTooLargeException', 413);
      await rejectedUpdate(() => lambda.send(new UpdateFunctionCodeCommand({ FunctionName: 'bad-existing', ZipFile: big })), 'RequestEntityTooLargeException', 413);
    });

    await t.test('a zip that unzips to over 250 MB: InvalidParameterValueException', async () => {
      const bomb = zipBomb(251);
      assert.ok(bomb.length < 2 << 20, `the bomb itself is small (${bomb.length} bytes)`);
      await rejectedCreate('bad-bomb', bomb, {}, 'InvalidParameterValueException', 400, /Unzipped size must be smaller than 262144000 bytes/);
      await rejectedUpdate(
        () => lambda.send(new UpdateFunctionCodeCommand({ FunctionName: 'bad-existing', ZipFile: bomb })),
        'InvalidParameterValueException',
        400,
        /Unzipped size/,
      );
    });

    await t.test('a corrupt zip and a zip entry that escapes its folder: InvalidParameterValueException', async () => {
      await rejectedCreate('bad-corrupt', Buffer.from('this is not a zip file at all'), {}, 'InvalidParameterValueException', 400, /Could not unzip uploaded file/);
      const truncated = GOOD.subarray(0, GOOD.length - 30);
      await rejectedCreate('bad-corrupt', truncated, {}, 'InvalidParameterValueException', 400, /Could not unzip/);
      await rejectedCreate('bad-escape', escapingZip(), {}, 'InvalidParameterValueException', 400, /\.\.\/evil\.js/);
      await rejectedUpdate(
        () => lambda.send(new UpdateFunctionCodeCommand({ FunctionName: 'bad-existing', ZipFile: escapingZip() })),
        'InvalidParameterValueException',
        400,
      );
      await rejectedUpdate(
        () => lambda.send(new UpdateFunctionCodeCommand({ FunctionName: 'bad-existing', ZipFile: Buffer.from('PK\x03\x04garbage') })),
        'InvalidParameterValueException',
        400,
      );
    });

    await t.test('a zip with wrong CRC-32s and an empty zip: InvalidParameterValueException, on create and update', async () => {
      const aws = /^Could not unzip uploaded file\. Please check your file, then try to upload again\./;
      for (const zip of [withWrongCrcs(GOOD), EMPTY_ZIP]) {
        await rejectedCreate('bad-crc', zip, {}, 'InvalidParameterValueException', 400, aws);
        await rejectedUpdate(() => lambda.send(new UpdateFunctionCodeCommand({ FunctionName: 'bad-existing', ZipFile: zip })), 'InvalidParameterValueException', 400, aws);
      }
    });

    await t.test('a missing handler file: create succeeds, invoke gives Runtime.ImportModuleError', async () => {
      await createFn(lambda, 'bad-handler', GOOD, { Handler: 'missing.handler' });
      const out = await lambda.send(new InvokeCommand({ FunctionName: 'bad-handler' }));
      assert.equal(out.StatusCode, 200);
      assert.equal(out.FunctionError, 'Unhandled');
      const doc = json(out.Payload) as { errorType: string; errorMessage: string };
      assert.equal(doc.errorType, 'Runtime.ImportModuleError');
      assert.match(doc.errorMessage, /Cannot find module 'missing'/);
      // A missing export in an existing file is Runtime.HandlerNotFound.
      await createFn(lambda, 'bad-export', GOOD, { Handler: 'index.nothere' });
      const out2 = await lambda.send(new InvokeCommand({ FunctionName: 'bad-export' }));
      assert.equal((json(out2.Payload) as { errorType: string }).errorType, 'Runtime.HandlerNotFound');
    });

    await t.test('payload limits: sync over 6 MB and async over 256 KB are RequestTooLargeException 413', async () => {
      const sync = Buffer.from(JSON.stringify('x'.repeat(6 * 1024 * 1024)));
      await rejectsAws(lambda.send(new InvokeCommand({ FunctionName: 'bad-existing', Payload: sync })), 'RequestTooLargeException', 413);
      const asyncBody = Buffer.from(JSON.stringify('x'.repeat(256 * 1024)));
      await rejectsAws(
        lambda.send(new InvokeCommand({ FunctionName: 'bad-existing', InvocationType: 'Event', Payload: asyncBody })),
        'RequestTooLargeException',
        413,
      );
      // Just under the limits is fine.
      const under = Buffer.from(JSON.stringify('x'.repeat(200 * 1024)));
      assert.equal((await lambda.send(new InvokeCommand({ FunctionName: 'bad-existing', InvocationType: 'Event', Payload: under }))).StatusCode, 202);
      const big = Buffer.from(JSON.stringify('x'.repeat(5 * 1024 * 1024)));
      assert.deepEqual(json((await lambda.send(new InvokeCommand({ FunctionName: 'bad-existing', Payload: big }))).Payload), { ok: true, size: big.length });
    });

    await t.test('a payload that is not JSON: InvalidRequestContentException', async () => {
      for (const p of ['{not json', 'hello', '{"a":1']) {
        await rejectsAws(
          lambda.send(new InvokeCommand({ FunctionName: 'bad-existing', Payload: Buffer.from(p) })),
          'InvalidRequestContentException',
          400,
          /Could not parse request body into json/,
        );
      }
    });

    await t.test('a duplicate name: ResourceConflictException, the original is untouched', async () => {
      const other = makeZip({ 'index.js': 'exports.handler = async () => "impostor";' });
      await rejectedCreate('bad-existing', other, { MemorySize: 512 }, 'ResourceConflictException', 409, /Function already exist: bad-existing/);
      const got = await lambda.send(new GetFunctionCommand({ FunctionName: 'bad-existing' }));
      assert.equal(got.Configuration?.CodeSha256, existing.CodeSha256);
      assert.equal(got.Configuration?.RevisionId, existing.RevisionId);
    });

    await t.test('an unknown runtime: InvalidParameterValueException naming the valid values', async () => {
      const err = await rejectedCreate('bad-runtime', GOOD, { Runtime: 'cobol85' as Runtime }, 'InvalidParameterValueException', 400);
      assert.match(err.message, /Value cobol85 at 'runtime'/);
      for (const valid of ['nodejs20.x', 'nodejs8.10', 'python3.12', 'provided.al2023']) assert.ok(err.message.includes(valid), `names ${valid}`);
      await rejectedUpdate(() => lambda.send(new UpdateFunctionConfigurationCommand({ FunctionName: 'bad-existing', Runtime: 'cobol85' as Runtime })), 'InvalidParameterValueException', 400);
    });
  }),
);
