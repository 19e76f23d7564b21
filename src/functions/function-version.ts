/**
 * What a function version is: the record every room of the registry hands out (`$LATEST` or a
 * published version, with everything FunctionConfiguration shows), and what the write operations
 * take. The AWS JSON rendering of these lives at the frontend (`frontend/lambda-shapes.ts`).
 */
import { createHash } from 'node:crypto';
import type { FunctionState, UpdateStatus } from './function-state.js';

/** The unpublished version every function has. */
export const LATEST = '$LATEST';

/** TracingConfig Mode. */
export type TracingMode = 'Active' | 'PassThrough';

/** A function's VpcConfig as stored and shown. */
export interface VpcConfig {
  readonly subnetIds: readonly string[];
  readonly securityGroupIds: readonly string[];
  /** A stable fake id derived from the subnets (there is no EC2 to ask). */
  readonly vpcId: string;
}

/** VpcConfig as a request gives it; both lists empty (or absent) means "no VPC". */
export interface VpcConfigInput {
  readonly subnetIds?: readonly string[];
  readonly securityGroupIds?: readonly string[];
}

/** One version of a function (`$LATEST` or published), with everything FunctionConfiguration shows. */
export interface FunctionVersion {
  readonly account: string;
  readonly region: string;
  readonly functionName: string;
  /** As AWS returns it: unqualified for `$LATEST`, `...:function:f:3` for version 3. */
  readonly functionArn: string;
  /** Always qualified (`...:function:f:$LATEST` for `$LATEST`). */
  readonly qualifiedArn: string;
  readonly version: string;
  readonly runtime: string;
  readonly role: string;
  readonly handler?: string;
  readonly description: string;
  readonly timeout: number;
  readonly memorySize: number;
  readonly ephemeralStorageMb: number;
  readonly architectures: readonly string[];
  readonly packageType: 'Zip';
  readonly environment?: Readonly<Record<string, string>>;
  readonly vpcConfig?: VpcConfig;
  readonly tracingMode: TracingMode;
  readonly codeSha256: string;
  readonly codeSize: number;
  /** The extracted code (LAMBDA_TASK_ROOT). */
  readonly codeDir: string;
  /** AWS format: `2019-07-31T06:40:18.123+0000`. */
  readonly lastModified: string;
  readonly revisionId: string;
  readonly state: FunctionState;
  readonly stateReason?: string;
  readonly stateReasonCode?: string;
  readonly lastUpdateStatus: UpdateStatus;
  readonly lastUpdateStatusReason?: string;
  readonly lastUpdateStatusReasonCode?: string;
  /**
   * Changes whenever the code or configuration of this version changes (not on state changes):
   * a sandbox made for one key must not serve another.
   */
  readonly versionKey: string;
}

/**
 * What CreateFunction gives; absent members take Lambda's defaults. The frontend has validated
 * the request's shape, types and ranges (`frontend/lambda-requests.ts`): a plain function name,
 * at most one architecture, list lengths within AWS's limits.
 */
export interface CreateFunctionInput {
  readonly functionName: string;
  readonly runtime: string;
  readonly role: string;
  readonly handler?: string;
  readonly code: Buffer;
  readonly description?: string;
  readonly memorySize?: number;
  readonly timeout?: number;
  readonly environment?: Readonly<Record<string, string>>;
  readonly vpcConfig?: VpcConfigInput;
  readonly tracingMode?: TracingMode;
  readonly ephemeralStorageMb?: number;
  readonly architectures?: readonly string[];
  readonly publish?: boolean;
}

/** What UpdateFunctionConfiguration may change. `environment: {}` / `null` removes all variables. */
export interface ConfigPatch {
  readonly runtime?: string;
  readonly role?: string;
  readonly handler?: string;
  readonly description?: string;
  readonly memorySize?: number;
  readonly timeout?: number;
  readonly environment?: Readonly<Record<string, string>> | null;
  readonly vpcConfig?: VpcConfigInput | null;
  readonly tracingMode?: TracingMode;
  readonly ephemeralStorageMb?: number;
}

/** What UpdateFunctionCode gives; `architectures: []` means the default (x86_64). */
export interface UpdateCodeInput {
  readonly code: Buffer;
  readonly publish?: boolean;
  readonly revisionId?: string;
  readonly architectures?: readonly string[];
}

/** What PublishVersion gives; `codeSha256` and `revisionId` guard against publishing something else. */
export interface PublishInput {
  readonly description?: string;
  readonly codeSha256?: string;
  readonly revisionId?: string;
}

/** AWS's LastModified format: `2019-07-31T06:40:18.123+0000`. */
export function formatLastModified(d: Date): string {
  return d.toISOString().replace('Z', '+0000');
}

/** The stable fake VpcId for a set of subnets. */
export function vpcIdFor(subnetIds: readonly string[]): string {
  const h = createHash('sha256').update([...subnetIds].sort().join(',')).digest('hex');
  return `vpc-${h.slice(0, 17)}`;
}
