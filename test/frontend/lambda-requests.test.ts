/**
 * The boundary's validation of Lambda request bodies: the checks that are made only here (the
 * function registry trusts them), each with AWS's exact error type and message.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  parseCreateAlias,
  parseCreateFunction,
  parseMaxItems,
  parseUpdateAlias,
  parseUpdateCode,
  plainFunctionName,
  updateCodeArchitectures,
} from '../../src/frontend/lambda-requests.js';
import { rejectsAwsError } from '../helpers/aws-error.js';
import { EMPTY_ZIP } from '../helpers/zip.js';

const caller = { account: '123456789012', region: 'us-east-1' };
const ZIP = EMPTY_ZIP.toString('base64');
const CREATE = { FunctionName: 'f', Runtime: 'nodejs20.x', Handler: 'index.handler', Role: 'arn:aws:iam::123456789012:role/lambda', Code: { ZipFile: ZIP } };
const SUBNET = 'subnet-0123456789abcdef0';
const SG = 'sg-0123456789abcdef0';
const one = (detail: string) => `1 validation error detected: ${detail}`;

void describe('Lambda request validation at the boundary', () => {
  void test('function names: a plain name of AWS pattern', async () => {
    assert.equal(plainFunctionName('ok-name_1', caller), 'ok-name_1');
    await rejectsAwsError(
      () => plainFunctionName('bad name', caller),
      'validation',
      one(
        "Value 'bad name' at 'functionName' failed to satisfy constraint: Member must satisfy regular expression pattern: " +
          '(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\\d{1}:)?(\\d{12}:)?(function:)?([a-zA-Z0-9-_]+)(:(\\$LATEST|[a-zA-Z0-9-_]+))?',
      ),
    );
  });

  void test('CreateFunction: zip packages only, VpcConfig list lengths, one architecture', async () => {
    await rejectsAwsError(
      () => parseCreateFunction({ ...CREATE, PackageType: 'Image' }),
      'invalidParameter',
      'lambkin runs .zip packages only; container images (ImageUri, PackageType Image) are not supported. Send Code.ZipFile.',
    );
    const subnets = Array.from({ length: 17 }, (_, i) => `subnet-${(0x10000000 + i).toString(16)}`);
    await rejectsAwsError(
      () => parseCreateFunction({ ...CREATE, VpcConfig: { SubnetIds: subnets, SecurityGroupIds: [SG] } }),
      'validation',
      one(`Value '${subnets.join(',')}' at 'vpcConfig.subnetIds' failed to satisfy constraint: Member must have length less than or equal to 16`),
    );
    const sgs = Array.from({ length: 6 }, (_, i) => `sg-${(0x10000000 + i).toString(16)}`);
    await rejectsAwsError(
      () => parseCreateFunction({ ...CREATE, VpcConfig: { SubnetIds: [SUBNET], SecurityGroupIds: sgs } }),
      'validation',
      one(`Value '${sgs.join(',')}' at 'vpcConfig.securityGroupIds' failed to satisfy constraint: Member must have length less than or equal to 5`),
    );
    await rejectsAwsError(
      () => parseCreateFunction({ ...CREATE, Architectures: ['x86_64', 'arm64'] }),
      'validation',
      one("Value 'x86_64,arm64' at 'architectures' failed to satisfy constraint: Member must have length less than or equal to 1"),
    );
    // At the limits, everything passes.
    const ok = parseCreateFunction({ ...CREATE, VpcConfig: { SubnetIds: subnets.slice(0, 16), SecurityGroupIds: sgs.slice(0, 5) }, Architectures: ['arm64'] });
    assert.deepEqual(ok.Architectures, ['arm64']);
  });

  void test('UpdateFunctionCode: at most one architecture, none meaning the default', async () => {
    await rejectsAwsError(
      () => updateCodeArchitectures(parseUpdateCode({ ZipFile: ZIP, Architectures: ['x86_64', 'arm64'] })),
      'validation',
      one(
        "Value '[x86_64, arm64]' at 'architectures' failed to satisfy constraint: " +
          'Member must have length less than or equal to 1, Member must satisfy enum value set: [x86_64, arm64]',
      ),
    );
    await rejectsAwsError(() => parseUpdateCode({ ZipFile: ZIP, Architectures: ['sparc'] }), 'validation', /at 'architectures\.0'/);
    assert.deepEqual(updateCodeArchitectures(parseUpdateCode({ ZipFile: ZIP, Architectures: ['arm64'] })), ['arm64']);
    assert.deepEqual(updateCodeArchitectures(parseUpdateCode({ ZipFile: ZIP, Architectures: [] })), []);
    assert.equal(updateCodeArchitectures(parseUpdateCode({ ZipFile: ZIP })), undefined);
  });

  void test('MaxItems: 1 to 10000', async () => {
    assert.equal(parseMaxItems(null), undefined);
    assert.equal(parseMaxItems('10000'), 10000);
    await rejectsAwsError(() => parseMaxItems('0'), 'validation', one("Value '0' at 'maxItems' failed to satisfy constraint: Member must have value greater than or equal to 1"));
    await rejectsAwsError(
      () => parseMaxItems('10001'),
      'validation',
      one("Value '10001' at 'maxItems' failed to satisfy constraint: Member must have value less than or equal to 10000"),
    );
  });

  void test('alias routing weights: 0.0 to 1.0, on create and update', async () => {
    await rejectsAwsError(
      () => parseCreateAlias({ Name: 'x', FunctionVersion: '1', RoutingConfig: { AdditionalVersionWeights: { '2': 1.5 } } }),
      'validation',
      one("Value '1.5' at 'routingConfig.additionalVersionWeights.2' failed to satisfy constraint: Member must have value less than or equal to 1"),
    );
    await rejectsAwsError(
      () => parseUpdateAlias({ RoutingConfig: { AdditionalVersionWeights: { '2': -0.5 } } }),
      'validation',
      one("Value '-0.5' at 'routingConfig.additionalVersionWeights.2' failed to satisfy constraint: Member must have value greater than or equal to 0"),
    );
    assert.deepEqual(parseCreateAlias({ Name: 'x', FunctionVersion: '1', RoutingConfig: { AdditionalVersionWeights: { '2': 1 } } }).RoutingConfig?.AdditionalVersionWeights, { '2': 1 });
  });
});
