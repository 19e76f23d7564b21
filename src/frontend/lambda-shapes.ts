/**
 * The JSON shapes the Lambda API returns for the registry's records: FunctionConfiguration and
 * AliasConfiguration, member order and optional members as AWS sends them.
 */
import type { Alias } from '../functions/aliases.js';
import type { FunctionVersion } from '../functions/function-version.js';

/**
 * The FunctionConfiguration JSON AWS returns for a version. `qualifyLatest` renders `$LATEST`'s
 * FunctionArn qualified, as ListVersionsByFunction does.
 */
export function toFunctionConfiguration(v: FunctionVersion, opts: { qualifyLatest?: boolean } = {}): Record<string, unknown> {
  const out: Record<string, unknown> = {
    FunctionName: v.functionName,
    FunctionArn: opts.qualifyLatest ? v.qualifiedArn : v.functionArn,
    Runtime: v.runtime,
    Role: v.role,
  };
  if (v.handler !== undefined) out.Handler = v.handler;
  Object.assign(out, {
    CodeSize: v.codeSize,
    Description: v.description,
    Timeout: v.timeout,
    MemorySize: v.memorySize,
    LastModified: v.lastModified,
    CodeSha256: v.codeSha256,
    Version: v.version,
  });
  if (v.vpcConfig) {
    out.VpcConfig = { SubnetIds: [...v.vpcConfig.subnetIds], SecurityGroupIds: [...v.vpcConfig.securityGroupIds], VpcId: v.vpcConfig.vpcId };
  }
  if (v.environment) out.Environment = { Variables: { ...v.environment } };
  out.TracingConfig = { Mode: v.tracingMode };
  out.RevisionId = v.revisionId;
  out.State = v.state;
  if (v.stateReason !== undefined) out.StateReason = v.stateReason;
  if (v.stateReasonCode !== undefined) out.StateReasonCode = v.stateReasonCode;
  out.LastUpdateStatus = v.lastUpdateStatus;
  if (v.lastUpdateStatusReason !== undefined) out.LastUpdateStatusReason = v.lastUpdateStatusReason;
  if (v.lastUpdateStatusReasonCode !== undefined) out.LastUpdateStatusReasonCode = v.lastUpdateStatusReasonCode;
  out.PackageType = v.packageType;
  out.Architectures = [...v.architectures];
  out.EphemeralStorage = { Size: v.ephemeralStorageMb };
  return out;
}

/** The AliasConfiguration JSON AWS returns. */
export function toAliasConfiguration(a: Alias): Record<string, unknown> {
  const out: Record<string, unknown> = {
    AliasArn: a.aliasArn,
    Name: a.name,
    FunctionVersion: a.functionVersion,
    Description: a.description,
  };
  if (Object.keys(a.additionalVersionWeights).length > 0) {
    out.RoutingConfig = { AdditionalVersionWeights: { ...a.additionalVersionWeights } };
  }
  out.RevisionId = a.revisionId;
  return out;
}
