/**
 * The seed's script (its create -> invoke -> delete loop) run unchanged in spirit through boto3
 * against a real lambkin: only endpoint_url is added and the placeholders are filled. The X-Ray
 * part is left out (a later issue). Skipped when boto3 is not importable.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { test } from 'node:test';
import { ListFunctionsCommand } from '@aws-sdk/client-lambda';
import { leakFree } from '../helpers/leaks.js';
import { startTestServer } from '../helpers/server.js';
import { helloZip } from '../helpers/zip.js';
import { pythonMissing, pythonWith } from '../helpers/tools.js';

const python = pythonWith('boto3');
const skip = python ? false : pythonMissing(['boto3'], ['python3-boto3']);

/** The seed's script, lines 45-95, with endpoint_url added, placeholders filled, X-Ray left out, and checks printed. */
const SCRIPT = (endpoint: string) => `
import boto3
import json
from datetime import datetime, timedelta, timezone
import time

def main():
  lambda_client = boto3.client('lambda', endpoint_url='${endpoint}')

  for i in range(1, 11):
    fnc_name = f'vpc_lambda_{i}'
    t1 = time.time()
    lambda_client.create_function(
      FunctionName=fnc_name, Runtime='nodejs8.10',Handler='hello.handler',
      Role='arn:aws:iam::000000000000:role/lambda-role',
      Code={'ZipFile':open('hello.zip','rb').read()},
      TracingConfig={'Mode': 'Active'},
      MemorySize=128,
      VpcConfig={
        'SubnetIds': ['subnet-0123456789abcdef0'],
        'SecurityGroupIds': ['sg-0123456789abcdef0']
      }
    )
    res = lambda_client.invoke(FunctionName=fnc_name)
    print(json.dumps({'name': fnc_name, 'status': res['StatusCode'], 'error': res.get('FunctionError'), 'payload': json.loads(res['Payload'].read())}))

  config = lambda_client.get_function_configuration(FunctionName='vpc_lambda_1')
  print(json.dumps({'config': {'arn': config['FunctionArn'], 'tracing': config['TracingConfig'], 'vpc': config['VpcConfig'], 'state': config['State']}}))

  # Workerが再利用されないようにLambdaの実行が全て完了してから削除
  for i in range(1, 11):
    fnc_name = f'vpc_lambda_{i}'
    lambda_client.delete_function(FunctionName=fnc_name)

  left = [f['FunctionName'] for f in lambda_client.list_functions()['Functions']]
  print(json.dumps({'left': left}))

if __name__ == '__main__':
  main()
`;

void test(
  "the seed's boto3 create -> invoke -> delete loop runs against lambkin",
  { skip },
  leakFree(async (_t, defer) => {
    const { lambkin, lambda } = await startTestServer(defer);
    const dir = mkdtempSync(join(tmpdir(), 'lambkin-boto3-'));
    defer(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'hello.zip'), helloZip());
    writeFileSync(join(dir, 'seed.py'), SCRIPT(lambkin.url));

    const { stdout } = await promisify(execFile)(python ?? 'python3', ['seed.py'], {
      cwd: dir,
      timeout: 90_000,
      env: {
        ...process.env,
        AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
        AWS_SECRET_ACCESS_KEY: 'secret',
        AWS_DEFAULT_REGION: 'ap-northeast-1',
        AWS_CONFIG_FILE: join(dir, 'no-config'),
        AWS_SHARED_CREDENTIALS_FILE: join(dir, 'no-credentials'),
        AWS_EC2_METADATA_DISABLED: 'true',
      },
    });
    const lines = stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const invokes = lines.filter((l) => 'status' in l);
    assert.equal(invokes.length, 10);
    for (const [i, r] of invokes.entries()) {
      assert.deepEqual(r, { name: `vpc_lambda_${i + 1}`, status: 200, error: null, payload: { statusCode: 200, body: '"Hello from Lambda!"' } });
    }
    const config = lines.find((l) => 'config' in l)?.config as { arn: string; tracing: unknown; vpc: { SubnetIds: string[]; SecurityGroupIds: string[] }; state: string };
    assert.equal(config.arn, 'arn:aws:lambda:ap-northeast-1:000000000000:function:vpc_lambda_1');
    assert.deepEqual(config.tracing, { Mode: 'Active' });
    assert.deepEqual(config.vpc.SubnetIds, ['subnet-0123456789abcdef0']);
    assert.deepEqual(config.vpc.SecurityGroupIds, ['sg-0123456789abcdef0']);
    assert.equal(config.state, 'Active');
    assert.deepEqual(lines.find((l) => 'left' in l)?.left, []);
    // Everything happened in ap-northeast-1 (the SigV4 scope), not in the SDK client's us-east-1.
    assert.deepEqual((await lambda.send(new ListFunctionsCommand({}))).Functions, []);
  }),
);
