import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { test } from 'node:test';
import { leakFree } from '../helpers/leaks.js';
import { startTestServer } from '../helpers/server.js';
import { pythonMissing, pythonWith } from '../helpers/tools.js';
import { helloZip } from '../helpers/zip.js';

const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), '../../../test/fixtures/seed-script.py');

const python = pythonWith('boto3');

/** The script with its placeholders filled and endpoint_url added to its two clients; nothing else changes. */
function filledScript(endpoint: string): string {
  const text = readFileSync(SCRIPT, 'utf8')
    .replace("boto3.client('xray')", `boto3.client('xray', endpoint_url='${endpoint}')`)
    .replace("boto3.client('lambda')", `boto3.client('lambda', endpoint_url='${endpoint}')`)
    .replaceAll('<AWSアカウントID>', '000000000000')
    .replace('適当なLambda実行ロールのARN', 'arn:aws:iam::000000000000:role/lambda-role')
    .replace('<適当なサブネットID>', 'subnet-0123456789abcdef0')
    .replace('<適当なセキュリティグループのID>', 'sg-0123456789abcdef0');
  assert.doesNotMatch(text, /<[^>]*ID>|適当/, 'every placeholder is filled');
  return text;
}

test(
  "the seed's boto3 script, unchanged but for its endpoint: one slow start and nine fast (legacy VPC, aws-2019 at 0.2)",
  { skip: python ? false : pythonMissing(['boto3'], ['python3-boto3']) },
  leakFree(async (_t, defer) => {
    const { lambkin } = await startTestServer(defer, {
      vpcMode: 'legacy',
      latencyProfile: 'aws-2019',
      timeScale: 0.2, // ENI 1.54–2.94 s: far above a cold start on a loaded machine
      hostMemoryMb: 100_000,
    });
    const dir = mkdtempSync(join(tmpdir(), 'lambkin-seed-script-'));
    defer(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'hello.zip'), helloZip());
    writeFileSync(join(dir, 'seed.py'), filledScript(lambkin.url));
    // The script itself waits 30 s for X-Ray before it reads the summaries.
    const { stdout } = await promisify(execFile)(python ?? 'python3', ['seed.py'], {
      cwd: dir,
      timeout: 120_000,
      env: { ...process.env, AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test', AWS_DEFAULT_REGION: 'ap-northeast-1', AWS_CONFIG_FILE: join(dir, 'none'), AWS_SHARED_CREDENTIALS_FILE: join(dir, 'none') },
    });
    const durations = stdout.trim().split('\n').map(Number);
    assert.equal(durations.length, 10, stdout);
    assert.ok(durations.every((d) => Number.isInteger(d) && d > 0), stdout);
    // At time scale 0.1 the ENI costs 0.77–1.47 s, far above a local cold start.
    const slow = durations.filter((d) => d >= 1400);
    assert.equal(slow.length, 1, `one slow start expected: ${durations.join(', ')}`);
    const fleet = (await (await fetch(`${lambkin.url}/lambkin/v1/fleet`)).json()) as { counters: { enisCreated: number; workersCreated: number } };
    assert.equal(fleet.counters.enisCreated, 1);
    assert.equal(fleet.counters.workersCreated, 1);
  }),
);
