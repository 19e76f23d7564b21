/**
 * A version's configuration as the registry stores it: Lambda's defaults, the semantic rules on
 * VpcConfig and Environment that only the registry checks (id formats, both-or-neither, reserved
 * keys, the 4 KB limit), and the stored JSON forms. The request's types, ranges and list lengths
 * are validated once, at the frontend (`frontend/lambda-requests.ts`).
 */
import { awsError, constraintMessage } from '../errors/catalogue.js';
import { vpcIdFor, type VpcConfig, type VpcConfigInput } from './function-version.js';

/** Lambda's defaults for members CreateFunction leaves out. */
export const DEFAULT_TIMEOUT = 3;
export const DEFAULT_MEMORY = 128;
export const DEFAULT_EPHEMERAL = 512;
const DEFAULT_ARCHITECTURE = 'x86_64';

const MAX_ENV_BYTES = 4096;
const SUBNET_RE = /^subnet-[0-9a-f]{8}(?:[0-9a-f]{9})?$/;
const SG_RE = /^sg-[0-9a-f]{8}(?:[0-9a-f]{9})?$/;
const ENV_KEY_RE = /^[a-zA-Z][a-zA-Z0-9_]+$/;
/** Variables Lambda sets itself; AWS refuses them in Environment. */
export const RESERVED_ENV_KEYS: readonly string[] = [
  '_HANDLER',
  '_X_AMZN_TRACE_ID',
  'AWS_DEFAULT_REGION',
  'AWS_REGION',
  'AWS_EXECUTION_ENV',
  'AWS_LAMBDA_FUNCTION_NAME',
  'AWS_LAMBDA_FUNCTION_MEMORY_SIZE',
  'AWS_LAMBDA_FUNCTION_VERSION',
  'AWS_LAMBDA_INITIALIZATION_TYPE',
  'AWS_LAMBDA_LOG_GROUP_NAME',
  'AWS_LAMBDA_LOG_STREAM_NAME',
  'AWS_ACCESS_KEY',
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'AWS_LAMBDA_RUNTIME_API',
  'LAMBDA_TASK_ROOT',
  'LAMBDA_RUNTIME_DIR',
];

/**
 * The VpcConfig to store: duplicates dropped, undefined when both lists are empty (that detaches
 * the function from its VPC). Malformed ids are InvalidParameterValue, as EC2's answer is on AWS.
 */
export function normalizeVpc(input: VpcConfigInput | undefined): VpcConfig | undefined {
  if (!input) return undefined;
  const subnets = [...new Set(input.subnetIds ?? [])];
  const sgs = [...new Set(input.securityGroupIds ?? [])];
  if (subnets.length === 0 && sgs.length === 0) return undefined;
  for (const s of subnets) {
    if (!SUBNET_RE.test(s)) {
      throw awsError('invalidParameter', {
        what: `Error occurred while DescribeSubnets. EC2 Error Code: InvalidSubnetID.Malformed. EC2 Error Message: Invalid id: "${s}"`,
      });
    }
  }
  for (const g of sgs) {
    if (!SG_RE.test(g)) {
      throw awsError('invalidParameter', {
        what: `Error occurred while DescribeSecurityGroups. EC2 Error Code: InvalidGroupId.Malformed. EC2 Error Message: Invalid id: "${g}" (expecting "sg-...")`,
      });
    }
  }
  if (subnets.length === 0 || sgs.length === 0) {
    throw awsError('invalidParameter', {
      what: 'VpcConfig needs both SubnetIds and SecurityGroupIds, or neither (empty lists detach the function from its VPC).',
    });
  }
  return Object.freeze({ subnetIds: Object.freeze(subnets), securityGroupIds: Object.freeze(sgs), vpcId: vpcIdFor(subnets) });
}

/** The stored form of a VpcConfig (the VpcId is derived again when read). */
export function vpcJson(vpc: VpcConfig | undefined): string | null {
  return vpc ? JSON.stringify({ subnetIds: vpc.subnetIds, securityGroupIds: vpc.securityGroupIds }) : null;
}

/** A stored VpcConfig, with its VpcId. */
export function parseVpc(json: string | null): VpcConfig | undefined {
  if (json === null) return undefined;
  const v = JSON.parse(json) as { subnetIds: string[]; securityGroupIds: string[] };
  return Object.freeze({ subnetIds: Object.freeze(v.subnetIds), securityGroupIds: Object.freeze(v.securityGroupIds), vpcId: vpcIdFor(v.subnetIds) });
}

/** The Environment variables to store; undefined when there are none. */
export function normalizeEnv(vars: Readonly<Record<string, string>> | undefined): Record<string, string> | undefined {
  if (!vars) return undefined;
  const keys = Object.keys(vars);
  if (keys.length === 0) return undefined;
  const bad = keys.filter((k) => !ENV_KEY_RE.test(k));
  if (bad.length > 0) {
    throw awsError('validation', {
      errors: bad.map((k) =>
        constraintMessage(k, 'environment.variables', 'Map keys must satisfy constraint: [Member must satisfy regular expression pattern: [a-zA-Z]([a-zA-Z0-9_])+]'),
      ),
    });
  }
  const reserved = keys.filter((k) => RESERVED_ENV_KEYS.includes(k));
  if (reserved.length > 0) {
    throw awsError('invalidParameter', {
      what:
        'Lambda was unable to configure your environment variables because the environment variables you have provided contains ' +
        `reserved keys that are currently not supported for modification. Reserved keys used in this request: ${reserved.join(', ')}`,
    });
  }
  const measured = JSON.stringify(vars);
  if (Buffer.byteLength(measured) > MAX_ENV_BYTES) {
    throw awsError('invalidParameter', {
      what: `Lambda was unable to configure your environment variables because the environment variables you have provided exceeded the 4KB limit. String measured: ${measured}`,
    });
  }
  return { ...vars };
}

/** The stored Architectures: the given one, or x86_64 when none is given (also for `[]`). */
export function architecturesJson(a: readonly string[] | undefined): string {
  return JSON.stringify(a === undefined || a.length === 0 ? [DEFAULT_ARCHITECTURE] : [...a]);
}
