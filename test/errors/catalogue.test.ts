import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GetFunctionCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { HttpServer } from '../../src/frontend/http-server.js';
import { awsError, catalogue, type ErrorCode } from '../../src/errors/catalogue.js';
import { leakFree } from '../helpers/leaks.js';

test(
  'every catalogue entry reaches a real AWS SDK as its named exception, status and message',
  leakFree(async (_t, defer) => {
    const codes = Object.keys(catalogue) as ErrorCode[];
    const server = await HttpServer.start({
      host: '127.0.0.1',
      port: 0,
      defaultRegion: 'us-east-1',
      routes: [
        {
          method: 'GET',
          pattern: '/2015-03-31/functions/:name',
          handler: (ctx) => {
            const code = ctx.params.name as ErrorCode;
            // Each entry's own example parameters (a typed map cannot name them generically).
            throw awsError(code, catalogue[code].example as never, code === 'throttled' ? { Reason: 'ConcurrentInvocationLimitExceeded' } : undefined);
          },
        },
      ],
    });
    defer(() => server.close());
    const client = new LambdaClient({ endpoint: server.url, region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' }, maxAttempts: 1 });
    defer(() => client.destroy());

    for (const code of codes) {
      const entry = catalogue[code];
      assert.match(entry.type, /^[A-Z][A-Za-z]+(Exception)$/, `${code}: an AWS error type`);
      const message = (entry.message as (p: unknown) => string)(entry.example);
      assert.ok(message.length > 10, `${code}: says what happened`);
      await assert.rejects(client.send(new GetFunctionCommand({ FunctionName: code })), (err: Error & { $metadata?: { httpStatusCode?: number }; Reason?: string }) => {
        assert.equal(err.name, entry.type, code);
        assert.equal(err.$metadata?.httpStatusCode, entry.status, code);
        assert.equal(err.message, message, code);
        if (code === 'throttled') assert.equal(err.Reason, 'ConcurrentInvocationLimitExceeded');
        return true;
      });
    }
  }),
);
