/**
 * The README's AWS CLI example, run as written (only the endpoint's port differs) against a real
 * lambkin, plus list-functions / get-function / delete-function. Skipped when `aws` is not on PATH.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { test } from 'node:test';
import { leakFree } from '../helpers/leaks.js';
import { startTestServer } from '../helpers/server.js';
import { works } from '../helpers/lambda.js';

const README = fileURLToPath(new URL('../../../README.md', import.meta.url));
const skip = !works('aws', ['--version'])
  ? 'the AWS CLI (aws) is not on PATH (Debian: awscli)'
  : !works('zip', ['-v'])
    ? 'zip is not installed (the README example zips the function with it; Debian: zip)'
    : false;

/** The ```sh block under the README's "### AWS CLI" heading. */
function readmeCliBlock(): string {
  const text = readFileSync(README, 'utf8');
  const section = text.slice(text.indexOf('### AWS CLI'));
  const m = /```sh\n([\s\S]*?)```/.exec(section);
  if (!m?.[1]) throw new Error('README.md has no ```sh block under "### AWS CLI"');
  return m[1];
}

void test(
  "the README's AWS CLI example works against lambkin",
  { skip },
  leakFree(async (_t, defer) => {
    const { lambkin } = await startTestServer(defer);
    const dir = mkdtempSync(join(tmpdir(), 'lambkin-awscli-'));
    defer(() => rmSync(dir, { recursive: true, force: true }));
    const env = {
      ...process.env,
      AWS_CONFIG_FILE: join(dir, 'no-config'),
      AWS_SHARED_CREDENTIALS_FILE: join(dir, 'no-credentials'),
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_PAGER: '',
    };
    let block = readmeCliBlock();
    assert.ok(block.includes('--payload fileb://'), 'the payload is a file, which AWS CLI v1 and v2 both send as is');
    assert.ok(block.includes('http://127.0.0.1:4590'), 'the example uses the default endpoint');
    assert.ok(block.includes('fileb://'), 'the example uploads the zip with fileb://');
    block = block.replaceAll('http://127.0.0.1:4590', lambkin.url);
    const sh = (script: string) => promisify(execFile)('bash', ['-euo', 'pipefail', '-c', script], { cwd: dir, env, timeout: 90_000 });

    const { stdout } = await sh(block);
    // `cat out.json` is the last command: the function's answer.
    assert.ok(stdout.trimEnd().endsWith(JSON.stringify({ statusCode: 200, body: JSON.stringify({ hi: 1 }) })), stdout);
    const invoked = JSON.parse(/\{\s*"StatusCode"[\s\S]*?\n\}/.exec(stdout)?.[0] ?? 'null') as { StatusCode: number; LogResult: string; ExecutedVersion: string };
    assert.equal(invoked.StatusCode, 200);
    assert.equal(invoked.ExecutedVersion, '$LATEST');
    assert.match(Buffer.from(invoked.LogResult, 'base64').toString(), /REPORT RequestId: /);

    const aws = `aws --endpoint-url ${lambkin.url} lambda`;
    const creds = 'export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1';
    const listed = JSON.parse((await sh(`${creds}; ${aws} list-functions`)).stdout) as { Functions: { FunctionName: string; Runtime: string }[] };
    assert.deepEqual(listed.Functions.map((f) => [f.FunctionName, f.Runtime]), [['hello', 'nodejs22.x']]);
    const got = JSON.parse((await sh(`${creds}; ${aws} get-function --function-name hello`)).stdout) as { Code: { Location: string }; Configuration: { CodeSize: number } };
    const zip = Buffer.from(await (await fetch(got.Code.Location)).arrayBuffer());
    assert.deepEqual(zip, readFileSync(join(dir, 'function.zip')));
    await sh(`${creds}; ${aws} delete-function --function-name hello`);
    // The CLI turns the 404 into ResourceNotFoundException and a non-zero exit.
    await assert.rejects(sh(`${creds}; ${aws} get-function --function-name hello`), (err: { stderr: string }) => /ResourceNotFoundException/.test(err.stderr));
  }),
);
