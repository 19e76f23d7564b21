/**
 * Authentication through the real server and the real AWS SDK: `--auth strict` (issued keys only,
 * verified), `--auth any` (issued keys still verified, anything else accepted as before), and the
 * host-credential CLI end to end. Every refusal checks AWS's error type, status and message, and
 * that nothing was written.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { test } from 'node:test';
import {
  CreateFunctionCommand,
  GetFunctionCommand,
  InvokeCommand,
  LambdaClient,
  ListFunctionsCommand,
} from '@aws-sdk/client-lambda';
import { GetTraceSummariesCommand, XRayClient } from '@aws-sdk/client-xray';
import { SignatureV4 } from '@smithy/signature-v4';
import { uriEncode } from '../../src/frontend/sigv4.js';
import { showFleet } from '../../src/cli/fleet-command.js';
import { createFn, json, rejectsAws, ROLE } from '../helpers/lambda.js';
import { leakFree, type Defer } from '../helpers/leaks.js';
import { startTestServer } from '../helpers/server.js';
import { makeZip } from '../helpers/zip.js';
import { Sha256 } from '../helpers/sha256.js';

const ZIP = makeZip({ 'index.js': 'exports.handler = async (e) => ({ echo: e });' });
const UNRECOGNIZED = 'The security token included in the request is invalid.';
const BAD_SIGNATURE =
  'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.';
const LAMBKIN = fileURLToPath(new URL('../../../bin/lambkin.js', import.meta.url));

function clientFor(defer: Defer, endpoint: string, accessKeyId: string, secretAccessKey: string, extra: { systemClockOffset?: number } = {}): LambdaClient {
  const c = new LambdaClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId, secretAccessKey }, maxAttempts: 1, ...extra });
  defer(() => c.destroy());
  return c;
}

const names = async (c: LambdaClient) => ((await c.send(new ListFunctionsCommand({}))).Functions ?? []).map((f) => f.FunctionName).sort();

void test(
  '--auth strict: an issued key works; an unknown key, a wrong secret, a skewed clock or no signature are refused and write nothing',
  leakFree(async (_t, defer) => {
    const { lambkin } = await startTestServer(defer, { auth: 'strict' });
    const key = lambkin.credentials.host.create('123456789012');
    const good = clientFor(defer, lambkin.url, key.accessKeyId, key.secretAccessKey);

    const created = await createFn(good, 'strict-ok', ZIP);
    assert.equal(created.FunctionArn, 'arn:aws:lambda:us-east-1:123456789012:function:strict-ok', 'the key acts as its own account');
    const out = await good.send(new InvokeCommand({ FunctionName: 'strict-ok', Payload: Buffer.from('{"a":1}') }));
    assert.deepEqual(json(out.Payload), { echo: { a: 1 } });

    const refusals: [string, LambdaClient, string, string][] = [
      ['an unknown key', clientFor(defer, lambkin.url, 'AKIAIOSFODNN7EXAMPLE', key.secretAccessKey), 'UnrecognizedClientException', UNRECOGNIZED],
      ['a 12-digit key id (accepted by --auth any)', clientFor(defer, lambkin.url, '123456789012', 'x'), 'UnrecognizedClientException', UNRECOGNIZED],
      ['a wrong secret', clientFor(defer, lambkin.url, key.accessKeyId, `${key.secretAccessKey}x`), 'InvalidSignatureException', BAD_SIGNATURE],
    ];
    for (const [what, client, type, message] of refusals) {
      const err = await rejectsAws(client.send(new CreateFunctionCommand({ FunctionName: 'strict-no', Runtime: 'nodejs20.x', Handler: 'index.handler', Role: ROLE, Code: { ZipFile: ZIP } })), type, 403);
      assert.equal(err.message, message, what);
      await rejectsAws(client.send(new InvokeCommand({ FunctionName: 'strict-ok' })), type, 403);
    }
    // A clock 10 minutes behind: AWS's expiry message (the SDK would correct its clock and retry; maxAttempts is 1).
    const late = clientFor(defer, lambkin.url, key.accessKeyId, key.secretAccessKey, { systemClockOffset: -10 * 60_000 });
    const expired = await rejectsAws(late.send(new GetFunctionCommand({ FunctionName: 'strict-ok' })), 'InvalidSignatureException', 403);
    assert.match(expired.message, /^Signature expired: \d{8}T\d{6}Z is now earlier than \d{8}T\d{6}Z \(\d{8}T\d{6}Z - 5 min\.\)$/);
    assert.deepEqual(await names(good), ['strict-ok'], 'no refused request created anything');

    // No signature at all: Lambda's answer to an unsigned request.
    const unsigned = await fetch(`${lambkin.url}/2015-03-31/functions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ FunctionName: 'strict-unsigned', Runtime: 'nodejs20.x', Handler: 'index.handler', Role: ROLE, Code: { ZipFile: ZIP.toString('base64') } }),
    });
    assert.equal(unsigned.status, 403);
    assert.equal(unsigned.headers.get('x-amzn-errortype'), 'MissingAuthenticationTokenException');
    assert.equal(((await unsigned.json()) as { message: string }).message, 'Missing Authentication Token');
    assert.deepEqual(await names(good), ['strict-ok']);
    // GetFunction's Code.Location downloads unsigned, as AWS's presigned S3 URL does.
    const location = (await good.send(new GetFunctionCommand({ FunctionName: 'strict-ok' }))).Code?.Location;
    assert.ok(location);
    const download = await fetch(location);
    assert.equal(download.status, 200);
    assert.deepEqual(Buffer.from(await download.arrayBuffer()), ZIP);
    // The health check stays open.
    assert.equal((await fetch(`${lambkin.url}/lambkin/health`)).status, 200);

    // The X-Ray API on the same port is authenticated the same way.
    const xray = (accessKeyId: string, secretAccessKey: string) => {
      const c = new XRayClient({ endpoint: lambkin.url, region: 'us-east-1', credentials: { accessKeyId, secretAccessKey }, maxAttempts: 1 });
      defer(() => c.destroy());
      return c;
    };
    const range = { StartTime: new Date(Date.now() - 60_000), EndTime: new Date() };
    assert.ok(Array.isArray((await xray(key.accessKeyId, key.secretAccessKey).send(new GetTraceSummariesCommand(range))).TraceSummaries));
    await rejectsAws(xray('AKIAIOSFODNN7EXAMPLE', 'x').send(new GetTraceSummariesCommand(range)), 'UnrecognizedClientException', 403);

    // A presigned URL (query-string SigV4) made with the SDK's signer works with plain fetch, until it expires or is altered.
    const presigner = new SignatureV4({ service: 'lambda', region: 'us-east-1', credentials: key, sha256: Sha256 });
    const host = new URL(lambkin.url).host;
    const presign = async (signingDate: Date) => {
      const p = await presigner.presign(
        { method: 'GET', protocol: 'http:', hostname: '127.0.0.1', path: '/2015-03-31/functions/strict-ok/configuration', query: { Qualifier: '$LATEST' }, headers: { host } },
        { expiresIn: 60, signingDate },
      );
      const qs = Object.entries(p.query ?? {}).map(([k, v]) => `${uriEncode(k)}=${uriEncode(String(v))}`).join('&');
      return `${lambkin.url}${p.path}?${qs}`;
    };
    const url = await presign(new Date());
    const viaUrl = await fetch(url);
    assert.equal(viaUrl.status, 200);
    assert.equal(((await viaUrl.json()) as { FunctionArn: string }).FunctionArn, 'arn:aws:lambda:us-east-1:123456789012:function:strict-ok');
    const altered = await fetch(url.replace('Qualifier=%24LATEST', 'Qualifier=1'));
    assert.equal(altered.status, 403);
    assert.equal(altered.headers.get('x-amzn-errortype'), 'InvalidSignatureException');
    const stale = await fetch(await presign(new Date(Date.now() - 120_000)));
    assert.equal(stale.status, 403);
    assert.match(((await stale.json()) as { message: string }).message, /^Signature expired: .* - 60 s\)$/);

    // `lambkin fleet` signs with the credentials it is given; unsigned, the admin API is refused too.
    const printed: string[] = [];
    const io = { out: (s: string) => printed.push(s), err: (s: string) => printed.push(s) };
    assert.equal(await showFleet({ endpoint: lambkin.url, ...io, credentials: key }), 0, printed.join(''));
    assert.match(printed.join(''), /strict-ok/);
    printed.length = 0;
    assert.equal(await showFleet({ endpoint: lambkin.url, ...io }), 1);
    assert.match(printed.join(''), /answered 403: .*Missing Authentication Token/);

    // A deleted key stops working at once.
    assert.equal(lambkin.credentials.host.delete(key.accessKeyId), true);
    await rejectsAws(good.send(new GetFunctionCommand({ FunctionName: 'strict-ok' })), 'UnrecognizedClientException', 403);
  }),
);

void test(
  '--auth any (the default): issued keys are verified and act as their account; other credentials work as before',
  leakFree(async (_t, defer) => {
    const { lambkin, lambda, client } = await startTestServer(defer);
    assert.equal(lambkin.options.auth, 'any');
    const key = lambkin.credentials.host.create('222222222222');
    const good = clientFor(defer, lambkin.url, key.accessKeyId, key.secretAccessKey);
    assert.equal((await createFn(good, 'any-issued', ZIP)).FunctionArn, 'arn:aws:lambda:us-east-1:222222222222:function:any-issued');
    // The same account through a 12-digit key id (unverified, as before) sees it.
    assert.deepEqual(await names(client('222222222222')), ['any-issued']);
    assert.equal((await createFn(lambda, 'any-default', ZIP)).FunctionArn, 'arn:aws:lambda:us-east-1:000000000000:function:any-default');

    const wrong = clientFor(defer, lambkin.url, key.accessKeyId, 'not-the-secret');
    const err = await rejectsAws(createFn(wrong, 'any-forged', ZIP), 'InvalidSignatureException', 403);
    assert.equal(err.message, BAD_SIGNATURE);
    assert.deepEqual(await names(good), ['any-issued'], 'the forged request created nothing');
    assert.deepEqual(await names(lambda), ['any-default']);
    // Unsigned requests are accepted in `any` (default account).
    assert.equal((await fetch(`${lambkin.url}/2015-03-31/functions`)).status, 200);
  }),
);

const run = promisify(execFile);
async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [LAMBKIN, ...args], { env: { ...process.env, LAMBKIN_DATA_DIR: '' } });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { code: err.code ?? -1, stdout: err.stdout ?? '', stderr: err.stderr ?? '' };
  }
}

void test(
  '`lambkin credentials create|list|delete` issue keys a running strict server honours at once',
  leakFree(async (_t, defer) => {
    const dataDir = mkdtempSync(join(tmpdir(), 'lambkin-credentials-'));
    defer(() => rmSync(dataDir, { recursive: true, force: true }));
    const bad = await cli(['credentials', 'create', '--account', '12345', '--data-dir', dataDir]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--account must be a 12-digit account id/);

    const made = await cli(['credentials', 'create', '--account', '123456789012', '--data-dir', dataDir]);
    assert.equal(made.code, 0, made.stderr);
    const id = /^AccessKeyId: (AKIA[A-Z2-7]{16})$/m.exec(made.stdout)?.[1];
    const secret = /^SecretAccessKey: (\S{40})$/m.exec(made.stdout)?.[1];
    assert.ok(id && secret, made.stdout);
    assert.match(made.stdout, /^Account: 123456789012$/m);

    const { lambkin } = await startTestServer(defer, { dataDir, auth: 'strict' });
    const c = clientFor(defer, lambkin.url, id, secret);
    assert.equal((await createFn(c, 'cli-key', ZIP)).FunctionArn, 'arn:aws:lambda:us-east-1:123456789012:function:cli-key');

    // A key created while the server runs works without a restart; --json gives AWS's CreateAccessKey shape.
    const second = await cli(['credentials', 'create', '--account', '210987654321', '--data-dir', dataDir, '--json']);
    const { AccessKey } = JSON.parse(second.stdout) as { AccessKey: { AccessKeyId: string; SecretAccessKey: string; Account: string; Status: string } };
    assert.equal(AccessKey.Status, 'Active');
    assert.deepEqual(await names(clientFor(defer, lambkin.url, AccessKey.AccessKeyId, AccessKey.SecretAccessKey)), []);

    const list = await cli(['credentials', 'list', '--data-dir', dataDir]);
    assert.equal(list.code, 0);
    assert.match(list.stdout, new RegExp(`^${id}\\s+123456789012\\s+\\d{4}-`, 'm'));
    assert.match(list.stdout, new RegExp(`^${AccessKey.AccessKeyId}\\s+210987654321\\s`, 'm'));
    assert.ok(!list.stdout.includes(secret), 'list never prints secrets');

    const deleted = await cli(['credentials', 'delete', id, '--data-dir', dataDir]);
    assert.equal(deleted.code, 0, deleted.stderr);
    await rejectsAws(c.send(new GetFunctionCommand({ FunctionName: 'cli-key' })), 'UnrecognizedClientException', 403);
    const again = await cli(['credentials', 'delete', id, '--data-dir', dataDir]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /no access key/);
  }),
);
