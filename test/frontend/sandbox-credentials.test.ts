/**
 * Functions call AWS APIs as themselves: a Python function, using only its environment and boto3,
 * invokes a sibling of its own account through lambkin's sandbox-facing endpoint, is refused
 * another account's function, and its credentials stop working once its sandbox stops. The
 * sandbox-facing endpoint (loopback TCP and Unix socket) accepts sandbox credentials only.
 */
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  GetFunctionCommand,
  GetFunctionConfigurationCommand,
  InvokeCommand,
  LambdaClient,
  UpdateFunctionConfigurationCommand,
} from '@aws-sdk/client-lambda';
import { SignatureV4 } from '@smithy/signature-v4';
import { createFn, json, rejectsAws } from '../helpers/lambda.js';
import type { Defer } from '../helpers/leaks.js';
import { serverGroup } from '../helpers/lambda.js';
import { makeZip } from '../helpers/zip.js';
import { Sha256 } from '../helpers/sha256.js';
import { BOTO3_READS_ENDPOINT_ENV, PYTHON_CANDIDATES, pythonWhere } from '../helpers/tools.js';
import { detectCapabilities, namespacesUnavailable } from '../../src/fleet/isolation/capabilities.js';

// The sandboxes run the functions with an interpreter whose boto3 takes its endpoint from the environment.
const boto3Python = pythonWhere(BOTO3_READS_ENDPOINT_ENV);
const python = boto3Python ?? 'python3';
const skip = boto3Python ? false : `no python3 has a boto3 that reads AWS_ENDPOINT_URL_LAMBDA (tried ${PYTHON_CANDIDATES.join(', ')}; the machine image's Python has one)`;

const CALLER = makeZip({
  'index.py': `
import json, os
import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

KEYS = ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_ENDPOINT_URL', 'AWS_ENDPOINT_URL_LAMBDA', 'AWS_ENDPOINT_URL_XRAY', 'AWS_REGION']

def handler(event, context):
    if event.get('env'):
        return {k: os.environ.get(k) for k in KEYS}
    client = boto3.client('lambda', config=Config(retries={'total_max_attempts': 1}))
    try:
        r = client.invoke(FunctionName=event['target'], Payload=json.dumps({'from': context.function_name}))
        return {'ok': True, 'payload': json.loads(r['Payload'].read())}
    except ClientError as e:
        return {'ok': False, 'code': e.response['Error']['Code'], 'message': e.response['Error']['Message'],
                'status': e.response['ResponseMetadata']['HTTPStatusCode']}
`,
});
const ECHO = makeZip({ 'index.js': 'exports.handler = async (e) => ({ echo: e, name: process.env.AWS_LAMBDA_FUNCTION_NAME });' });

interface Env {
  AWS_ACCESS_KEY_ID: string;
  AWS_SECRET_ACCESS_KEY: string;
  AWS_SESSION_TOKEN: string;
  AWS_ENDPOINT_URL: string;
  AWS_ENDPOINT_URL_LAMBDA: string;
  AWS_ENDPOINT_URL_XRAY: string;
  AWS_REGION: string;
}

function clientFor(defer: Defer, endpoint: string, credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string }): LambdaClient {
  const c = new LambdaClient({ endpoint, region: 'us-east-1', credentials, maxAttempts: 1 });
  defer(() => c.destroy());
  return c;
}

async function invoke(c: LambdaClient, name: string, event: unknown): Promise<unknown> {
  const out = await c.send(new InvokeCommand({ FunctionName: name, Payload: Buffer.from(JSON.stringify(event)) }));
  assert.equal(out.FunctionError, undefined, Buffer.from(out.Payload ?? []).toString());
  return json(out.Payload);
}

/** Awaits a condition the server reaches on its own (a sandbox stopping), turn by turn, with a deadline. */
async function until(what: string, done: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!done()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting until ${what}`);
    await new Promise((r) => setImmediate(r));
  }
}

/** GET `path` over the Unix socket, signed with `env`'s credentials; status and JSON body. */
async function overSocket(socketPath: string, path: string, env: Env): Promise<{ status: number; body: Record<string, unknown> }> {
  const signer = new SignatureV4({
    service: 'lambda',
    region: 'us-east-1',
    sha256: Sha256,
    credentials: { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY, sessionToken: env.AWS_SESSION_TOKEN },
  });
  const signed = await signer.sign({ method: 'GET', protocol: 'http:', hostname: 'localhost', path, query: {}, headers: { host: 'localhost' } });
  return new Promise((resolve, reject) => {
    const req = httpRequest({ socketPath, path, method: 'GET', headers: signed.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString() || '{}') as Record<string, unknown> }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

void test(
  'a function calls the Lambda API as itself, with the credentials of its sandbox',
  { skip },
  serverGroup({ isolation: 'none', auth: 'strict', python }, async (t, { lambkin, dataDir }, defer) => {
    const owner = lambkin.credentials.host.create('111111111111');
    const stranger = lambkin.credentials.host.create('222222222222');
    const host = clientFor(defer, lambkin.url, owner);
    const other = clientFor(defer, lambkin.url, stranger);
    await createFn(host, 'caller', CALLER, {
      Runtime: 'python3.12',
      Handler: 'index.handler',
      Timeout: 30,
      // The function's own variables cannot redirect its identity: the sandbox's win.
      Environment: { Variables: { AWS_ENDPOINT_URL_LAMBDA: 'http://127.0.0.1:9', MODE: 'test' } },
    });
    await createFn(host, 'callee', ECHO);
    await createFn(other, 'foreign', ECHO);
    const foreignArn = 'arn:aws:lambda:us-east-1:222222222222:function:foreign';

    let env: Env | undefined;
    await t.test('the sandbox gets temporary credentials and the sandbox-facing endpoint, not shown in the configuration', async () => {
      env = (await invoke(host, 'caller', { env: true })) as Env;
      assert.match(env.AWS_ACCESS_KEY_ID, /^ASIA[A-Z2-7]{16}$/);
      assert.equal(env.AWS_SECRET_ACCESS_KEY.length, 40);
      assert.ok(env.AWS_SESSION_TOKEN.length > 100);
      assert.equal(env.AWS_ENDPOINT_URL, lambkin.sandboxEndpoint.url);
      assert.equal(env.AWS_ENDPOINT_URL_LAMBDA, lambkin.sandboxEndpoint.url);
      assert.equal(env.AWS_ENDPOINT_URL_XRAY, lambkin.sandboxEndpoint.url);
      assert.notEqual(new URL(lambkin.sandboxEndpoint.url).port, String(lambkin.port));
      const config = await host.send(new GetFunctionConfigurationCommand({ FunctionName: 'caller' }));
      assert.deepEqual(config.Environment?.Variables, { AWS_ENDPOINT_URL_LAMBDA: 'http://127.0.0.1:9', MODE: 'test' });
    });

    await t.test('boto3 in the function invokes a function of its own account', async () => {
      assert.deepEqual(await invoke(host, 'caller', { target: 'callee' }), { ok: true, payload: { echo: { from: 'caller' }, name: 'callee' } });
    });

    await t.test("another account's function: AccessDeniedException by ARN, not found by name", async () => {
      assert.deepEqual(await invoke(host, 'caller', { target: foreignArn }), {
        ok: false,
        code: 'AccessDeniedException',
        status: 403,
        message:
          'User: arn:aws:sts::111111111111:assumed-role/lambda-role/caller is not authorized to perform: lambda:InvokeFunction on resource: ' +
          `${foreignArn} because no resource-based policy allows the lambda:InvokeFunction action`,
      });
      assert.deepEqual(await invoke(host, 'caller', { target: 'foreign' }), {
        ok: false,
        code: 'ResourceNotFoundException',
        status: 404,
        message: 'Function not found: arn:aws:lambda:us-east-1:111111111111:function:foreign',
      });
    });

    await t.test('the sandbox-facing endpoint accepts sandbox credentials only, on TCP and on its Unix socket', async () => {
      assert.ok(env);
      const creds = { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY, sessionToken: env.AWS_SESSION_TOKEN };
      const asSandbox = clientFor(defer, lambkin.sandboxEndpoint.url, creds);
      const got = await asSandbox.send(new GetFunctionCommand({ FunctionName: 'caller' }));
      assert.equal(got.Configuration?.FunctionArn, 'arn:aws:lambda:us-east-1:111111111111:function:caller');

      assert.equal(lambkin.sandboxEndpoint.socketPath, join(dataDir, 'run', 'sandbox-api.sock'));
      const overUnix = await overSocket(lambkin.sandboxEndpoint.socketPath, '/2015-03-31/functions/callee/configuration', env);
      assert.equal(overUnix.status, 200);
      assert.equal(overUnix.body.FunctionArn, 'arn:aws:lambda:us-east-1:111111111111:function:callee');

      // A host key, however valid on the host API, is not a sandbox's.
      const err = await rejectsAws(clientFor(defer, lambkin.sandboxEndpoint.url, owner).send(new GetFunctionCommand({ FunctionName: 'caller' })), 'UnrecognizedClientException', 403);
      assert.equal(err.message, 'The security token included in the request is invalid.');
      // Temporary credentials without their session token are not valid.
      const { sessionToken: _dropped, ...noToken } = creds;
      await rejectsAws(clientFor(defer, lambkin.sandboxEndpoint.url, noToken).send(new GetFunctionCommand({ FunctionName: 'caller' })), 'UnrecognizedClientException', 403);
      await rejectsAws(
        clientFor(defer, lambkin.sandboxEndpoint.url, { ...creds, secretAccessKey: `x${creds.secretAccessKey.slice(1)}` }).send(new GetFunctionCommand({ FunctionName: 'caller' })),
        'InvalidSignatureException',
        403,
      );
      const unsigned = await fetch(`${lambkin.sandboxEndpoint.url}/2015-03-31/functions`);
      assert.equal(unsigned.status, 403);
      assert.equal(unsigned.headers.get('x-amzn-errortype'), 'MissingAuthenticationTokenException');
      // lambkin's own endpoints are not served there.
      assert.equal((await fetch(`${lambkin.sandboxEndpoint.url}/lambkin/health`)).status, 404);
    });

    await t.test("a sandbox's credentials stop working once it stops", async () => {
      assert.ok(env);
      const creds = { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY, sessionToken: env.AWS_SESSION_TOKEN };
      const asSandbox = clientFor(defer, lambkin.sandboxEndpoint.url, creds);
      await asSandbox.send(new GetFunctionCommand({ FunctionName: 'caller' }));
      // A configuration change retires the function's sandboxes.
      await host.send(new UpdateFunctionConfigurationCommand({ FunctionName: 'caller', Description: 'retire the sandbox' }));
      await until('the retired sandbox has stopped', () => lambkin.credentials.sandbox.get(creds.accessKeyId) === undefined);
      const err = await rejectsAws(asSandbox.send(new GetFunctionCommand({ FunctionName: 'caller' })), 'UnrecognizedClientException', 403);
      assert.equal(err.message, 'The security token included in the request is invalid.');
      // Nor on the host API.
      await rejectsAws(clientFor(defer, lambkin.url, creds).send(new GetFunctionCommand({ FunctionName: 'caller' })), 'UnrecognizedClientException', 403);
      // The next sandbox gets new credentials.
      const fresh = (await invoke(host, 'caller', { env: true })) as Env;
      assert.notEqual(fresh.AWS_ACCESS_KEY_ID, creds.accessKeyId);
    });
  }),
);

const sealed = namespacesUnavailable(detectCapabilities());
void test(
  'in a sealed sandbox (isolation auto, a network of its own), boto3 reaches the sandbox-facing endpoint through 127.0.0.1:9002 as itself',
  { skip: skip || (sealed ? `full isolation is not available here: ${sealed}` : false) },
  serverGroup({ isolation: 'auto', auth: 'strict', python }, async (_t, { lambkin }, defer) => {
    const owner = lambkin.credentials.host.create('111111111111');
    const stranger = lambkin.credentials.host.create('222222222222');
    const host = clientFor(defer, lambkin.url, owner);
    await createFn(host, 'caller', CALLER, { Runtime: 'python3.12', Handler: 'index.handler', Timeout: 30, MemorySize: 512 });
    await createFn(host, 'callee', ECHO);
    await createFn(clientFor(defer, lambkin.url, stranger), 'foreign', ECHO);
    const env = (await invoke(host, 'caller', { env: true })) as Env;
    assert.equal(env.AWS_ENDPOINT_URL, 'http://127.0.0.1:9002');
    assert.equal(env.AWS_ENDPOINT_URL_LAMBDA, 'http://127.0.0.1:9002');
    assert.deepEqual(await invoke(host, 'caller', { target: 'callee' }), { ok: true, payload: { echo: { from: 'caller' }, name: 'callee' } });
    const denied = (await invoke(host, 'caller', { target: 'arn:aws:lambda:us-east-1:222222222222:function:foreign' })) as { code: string; status: number };
    assert.equal(denied.code, 'AccessDeniedException');
    assert.equal(denied.status, 403);
  }),
);
