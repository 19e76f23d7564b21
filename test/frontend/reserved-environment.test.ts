/**
 * Environment keys Lambda reserves ("Defined runtime environment variables") are refused in
 * CreateFunction and UpdateFunctionConfiguration with AWS's InvalidParameterValueException, and
 * the refused request changes nothing: a function is not created, a configuration not touched.
 * They matter doubly here: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN carry
 * the sandbox's identity.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GetFunctionCommand, GetFunctionConfigurationCommand, UpdateFunctionConfigurationCommand } from '@aws-sdk/client-lambda';
import { RESERVED_ENV_KEYS } from '../../src/functions/function-config.js';
import { createFn, rejectsAws, serverGroup } from '../helpers/lambda.js';
import { makeZip } from '../helpers/zip.js';

const ZIP = makeZip({ 'index.js': 'exports.handler = async () => 1;' });
const message = (keys: string[]) =>
  'Lambda was unable to configure your environment variables because the environment variables you have provided contains reserved keys ' +
  `that are currently not supported for modification. Reserved keys used in this request: ${keys.join(', ')}`;

void test(
  'reserved environment keys are refused, and nothing is half-written',
  serverGroup({}, async (t, { lambda }) => {
    await t.test('the list is AWS\'s', () => {
      assert.deepEqual([...RESERVED_ENV_KEYS].sort(), [
        'AWS_ACCESS_KEY',
        'AWS_ACCESS_KEY_ID',
        'AWS_DEFAULT_REGION',
        'AWS_EXECUTION_ENV',
        'AWS_LAMBDA_FUNCTION_MEMORY_SIZE',
        'AWS_LAMBDA_FUNCTION_NAME',
        'AWS_LAMBDA_FUNCTION_VERSION',
        'AWS_LAMBDA_INITIALIZATION_TYPE',
        'AWS_LAMBDA_LOG_GROUP_NAME',
        'AWS_LAMBDA_LOG_STREAM_NAME',
        'AWS_LAMBDA_RUNTIME_API',
        'AWS_REGION',
        'AWS_SECRET_ACCESS_KEY',
        'AWS_SESSION_TOKEN',
        'LAMBDA_RUNTIME_DIR',
        'LAMBDA_TASK_ROOT',
        '_HANDLER',
        '_X_AMZN_TRACE_ID',
      ]);
    });

    await t.test('CreateFunction: refused, and the function does not exist', async () => {
      for (const key of RESERVED_ENV_KEYS) {
        const refused = createFn(lambda, 'env-reserved', ZIP, { Environment: { Variables: { OK: '1', [key]: 'x' } } });
        if (key.startsWith('_')) {
          // _HANDLER and _X_AMZN_TRACE_ID already fail the model's key pattern, which AWS checks first.
          const err = await rejectsAws(refused, 'ValidationException', 400);
          assert.equal(
            err.message,
            `1 validation error detected: Value '${key}' at 'environment.variables' failed to satisfy constraint: ` +
              'Map keys must satisfy constraint: [Member must satisfy regular expression pattern: [a-zA-Z]([a-zA-Z0-9_])+]',
          );
        } else {
          const err = await rejectsAws(refused, 'InvalidParameterValueException', 400);
          assert.equal(err.message, message([key]));
        }
      }
      const err = await rejectsAws(
        createFn(lambda, 'env-reserved', ZIP, { Environment: { Variables: { AWS_SECRET_ACCESS_KEY: 's', MINE: '1', AWS_SESSION_TOKEN: 't' } } }),
        'InvalidParameterValueException',
        400,
      );
      assert.equal(err.message, message(['AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN']), 'every reserved key is named, in request order');
      await rejectsAws(lambda.send(new GetFunctionCommand({ FunctionName: 'env-reserved' })), 'ResourceNotFoundException', 404);
    });

    await t.test('UpdateFunctionConfiguration: refused, and the configuration is unchanged', async () => {
      await createFn(lambda, 'env-update', ZIP, { Environment: { Variables: { MINE: '1' } }, Description: 'before' });
      const before = await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: 'env-update' }));
      const err = await rejectsAws(
        lambda.send(
          new UpdateFunctionConfigurationCommand({
            FunctionName: 'env-update',
            Description: 'after',
            MemorySize: 256,
            Environment: { Variables: { MINE: '2', AWS_ACCESS_KEY_ID: 'AKIA', AWS_REGION: 'eu-west-1' } },
          }),
        ),
        'InvalidParameterValueException',
        400,
      );
      assert.equal(err.message, message(['AWS_ACCESS_KEY_ID', 'AWS_REGION']));
      const after = await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: 'env-update' }));
      assert.deepEqual(after.Environment, { Variables: { MINE: '1' } });
      assert.equal(after.Description, 'before');
      assert.equal(after.MemorySize, before.MemorySize);
      assert.equal(after.RevisionId, before.RevisionId);
      assert.equal(after.LastModified, before.LastModified);
    });
  }),
);
