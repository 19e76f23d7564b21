/**
 * The Lambda control plane (2015-03-31 REST-JSON): functions, versions, aliases, account
 * settings. Validates requests at the boundary and renders AWS's JSON shapes; the function
 * registry does the rest.
 */
import type { Route, RequestContext } from './http-server.js';
import { limits, awsError } from '../errors/catalogue.js';
import { parseFunctionName, type FunctionRef } from '../functions/names.js';
import type { ConfigPatch, FunctionVersion, VpcConfigInput } from '../functions/function-version.js';
import type { FunctionRegistry } from '../functions/registry.js';
import { toAliasConfiguration, toFunctionConfiguration } from './lambda-shapes.js';
import {
  parseCreateAlias,
  parseCreateFunction,
  parseJsonBody,
  parseMaxItems,
  parsePublishVersion,
  parseUpdateAlias,
  plainFunctionName,
  parseUpdateCode,
  parseUpdateConfiguration,
  updateCodeArchitectures,
  type UpdateConfigurationRequest,
} from './lambda-requests.js';

/** What the control-plane routes read and change. */
export interface LambdaApiDeps {
  readonly registry: FunctionRegistry;
  /** Account-level settings GetAccountSettings reports (concurrency is per account and region, as on AWS). */
  readonly accountSettings: (account: string, region: string) => { concurrentExecutions: number; unreservedConcurrentExecutions: number };
  /** The function's reserved concurrency, for GetFunction's `Concurrency` (undefined: none set). */
  readonly reservedConcurrency?: (caller: { account: string; region: string }, name: string) => number | undefined;
}

const V = '/2015-03-31/functions';
const CREATE_LIMIT = limits.createFunctionRequestBytes;

/** The function named in the path, for operations on the function itself (no qualifier allowed). */
const fnName = (ctx: RequestContext): string => plainFunctionName(ctx.params.name, ctx.caller);

/** Name plus the Qualifier query parameter, for operations that take one. */
function fnRef(ctx: RequestContext, shape: 'plain' | 'namespaced' = 'namespaced'): FunctionRef {
  return parseFunctionName(ctx.params.name, { caller: ctx.caller, shape, qualifier: ctx.query.get('Qualifier') ?? undefined });
}

function vpcInput(v: { SubnetIds?: string[] | undefined; SecurityGroupIds?: string[] | undefined } | undefined): VpcConfigInput | undefined {
  if (!v) return undefined;
  return { subnetIds: v.SubnetIds ?? [], securityGroupIds: v.SecurityGroupIds ?? [] };
}

function configPatch(r: UpdateConfigurationRequest): ConfigPatch {
  const patch: Record<string, unknown> = {};
  if (r.Runtime !== undefined) patch.runtime = r.Runtime;
  if (r.Role !== undefined) patch.role = r.Role;
  if (r.Handler !== undefined) patch.handler = r.Handler;
  if (r.Description !== undefined) patch.description = r.Description;
  if (r.MemorySize !== undefined) patch.memorySize = r.MemorySize;
  if (r.Timeout !== undefined) patch.timeout = r.Timeout;
  if (r.Environment !== undefined) patch.environment = r.Environment.Variables ?? {};
  if (r.VpcConfig !== undefined) patch.vpcConfig = vpcInput(r.VpcConfig) ?? null;
  if (r.TracingConfig?.Mode !== undefined) patch.tracingMode = r.TracingConfig.Mode;
  if (r.EphemeralStorage !== undefined) patch.ephemeralStorageMb = r.EphemeralStorage.Size;
  return patch as ConfigPatch;
}

function codeLocation(ctx: RequestContext, v: FunctionVersion): Record<string, unknown> {
  const hex = Buffer.from(v.codeSha256, 'base64').toString('hex');
  return { RepositoryType: 'S3', Location: `${ctx.baseUrl}/lambkin/v1/code/${hex}.zip` };
}

const ok = (body: unknown, status = 200) => ({ status, body });

/** Routes of the Lambda control plane: functions, versions, aliases, account settings. */
export function lambdaRoutes(d: LambdaApiDeps): Route[] {
  const r = d.registry;
  return [
    {
      method: 'POST',
      pattern: V,
      maxBodyBytes: CREATE_LIMIT,
      tooLarge: () => awsError('requestEntityTooLarge', { operation: 'CreateFunction', limit: CREATE_LIMIT }),
      handler: async (ctx) => {
        const req = parseCreateFunction(parseJsonBody(ctx.body));
        const name = plainFunctionName(req.FunctionName, ctx.caller);
        const vpc = vpcInput(req.VpcConfig);
        const v = await r.create(ctx.caller, {
          functionName: name,
          runtime: req.Runtime ?? '',
          role: req.Role ?? '',
          code: req.zip,
          ...(req.Handler !== undefined ? { handler: req.Handler } : {}),
          ...(req.Description !== undefined ? { description: req.Description } : {}),
          ...(req.MemorySize !== undefined ? { memorySize: req.MemorySize } : {}),
          ...(req.Timeout !== undefined ? { timeout: req.Timeout } : {}),
          ...(req.Environment?.Variables !== undefined ? { environment: req.Environment.Variables } : {}),
          ...(vpc ? { vpcConfig: vpc } : {}),
          ...(req.TracingConfig?.Mode !== undefined ? { tracingMode: req.TracingConfig.Mode } : {}),
          ...(req.EphemeralStorage !== undefined ? { ephemeralStorageMb: req.EphemeralStorage.Size } : {}),
          ...(req.Architectures !== undefined ? { architectures: req.Architectures } : {}),
          ...(req.Publish !== undefined ? { publish: req.Publish } : {}),
        });
        return ok(toFunctionConfiguration(v), 201);
      },
    },
    {
      method: 'GET',
      pattern: V,
      handler: (ctx) => {
        const maxItems = parseMaxItems(ctx.query.get('MaxItems'));
        const marker = ctx.query.get('Marker') ?? undefined;
        const all = ctx.query.get('FunctionVersion') === 'ALL';
        const page = r.list(ctx.caller, {
          ...(marker !== undefined ? { marker } : {}),
          ...(maxItems !== undefined ? { maxItems } : {}),
          allVersions: all,
        });
        return ok({
          Functions: page.functions.map((v) => toFunctionConfiguration(v, { qualifyLatest: all })),
          ...(page.nextMarker ? { NextMarker: page.nextMarker } : {}),
        });
      },
    },
    {
      method: 'GET',
      pattern: `${V}/:name`,
      handler: (ctx) => {
        const v = r.get(ctx.caller, fnRef(ctx));
        const reserved = d.reservedConcurrency?.(ctx.caller, v.functionName);
        return ok({
          Configuration: toFunctionConfiguration(v),
          Code: codeLocation(ctx, v),
          ...(reserved !== undefined ? { Concurrency: { ReservedConcurrentExecutions: reserved } } : {}),
        });
      },
    },
    {
      method: 'GET',
      pattern: `${V}/:name/configuration`,
      handler: (ctx) => ok(toFunctionConfiguration(r.get(ctx.caller, fnRef(ctx)))),
    },
    {
      method: 'DELETE',
      pattern: `${V}/:name`,
      handler: (ctx) => {
        r.delete(ctx.caller, fnRef(ctx, 'plain'));
        return { status: 204 };
      },
    },
    {
      method: 'PUT',
      pattern: `${V}/:name/configuration`,
      handler: (ctx) => {
        const req = parseUpdateConfiguration(parseJsonBody(ctx.body));
        const v = r.updateConfiguration(ctx.caller, fnName(ctx), configPatch(req), req.RevisionId);
        return ok(toFunctionConfiguration(v));
      },
    },
    {
      method: 'PUT',
      pattern: `${V}/:name/code`,
      maxBodyBytes: CREATE_LIMIT,
      tooLarge: () => awsError('requestEntityTooLarge', { operation: 'UpdateFunctionCode', limit: CREATE_LIMIT }),
      handler: async (ctx) => {
        const req = parseUpdateCode(parseJsonBody(ctx.body));
        const name = fnName(ctx);
        const architectures = updateCodeArchitectures(req);
        const v = await r.updateCode(ctx.caller, name, {
          code: req.zip,
          ...(req.Publish !== undefined ? { publish: req.Publish } : {}),
          ...(req.RevisionId !== undefined ? { revisionId: req.RevisionId } : {}),
          ...(architectures !== undefined ? { architectures } : {}),
        });
        return ok(toFunctionConfiguration(v));
      },
    },
    {
      method: 'POST',
      pattern: `${V}/:name/versions`,
      handler: (ctx) => {
        const req = parsePublishVersion(parseJsonBody(ctx.body));
        const v = r.publishVersion(ctx.caller, fnName(ctx), {
          ...(req.Description !== undefined ? { description: req.Description } : {}),
          ...(req.CodeSha256 !== undefined ? { codeSha256: req.CodeSha256 } : {}),
          ...(req.RevisionId !== undefined ? { revisionId: req.RevisionId } : {}),
        });
        return ok(toFunctionConfiguration(v), 201);
      },
    },
    {
      method: 'GET',
      pattern: `${V}/:name/versions`,
      handler: (ctx) => {
        const page = r.listVersions(
          ctx.caller,
          fnName(ctx),
          ctx.query.get('Marker') ?? undefined,
          parseMaxItems(ctx.query.get('MaxItems')),
        );
        return ok({
          Versions: page.versions.map((v) => toFunctionConfiguration(v, { qualifyLatest: true })),
          ...(page.nextMarker ? { NextMarker: page.nextMarker } : {}),
        });
      },
    },
    {
      method: 'POST',
      pattern: `${V}/:name/aliases`,
      handler: (ctx) => {
        const req = parseCreateAlias(parseJsonBody(ctx.body));
        const a = r.createAlias(ctx.caller, fnName(ctx), {
          name: req.Name,
          functionVersion: req.FunctionVersion,
          ...(req.Description !== undefined ? { description: req.Description } : {}),
          ...(req.RoutingConfig?.AdditionalVersionWeights ? { additionalVersionWeights: req.RoutingConfig.AdditionalVersionWeights } : {}),
        });
        return ok(toAliasConfiguration(a), 201);
      },
    },
    {
      method: 'GET',
      pattern: `${V}/:name/aliases`,
      handler: (ctx) => {
        const maxItems = parseMaxItems(ctx.query.get('MaxItems'));
        const functionVersion = ctx.query.get('FunctionVersion') ?? undefined;
        const marker = ctx.query.get('Marker') ?? undefined;
        const page = r.listAliases(ctx.caller, fnName(ctx), {
          ...(functionVersion !== undefined ? { functionVersion } : {}),
          ...(marker !== undefined ? { marker } : {}),
          ...(maxItems !== undefined ? { maxItems } : {}),
        });
        return ok({ Aliases: page.aliases.map(toAliasConfiguration), ...(page.nextMarker ? { NextMarker: page.nextMarker } : {}) });
      },
    },
    {
      method: 'GET',
      pattern: `${V}/:name/aliases/:alias`,
      handler: (ctx) => ok(toAliasConfiguration(r.getAlias(ctx.caller, fnName(ctx), ctx.params.alias ?? ''))),
    },
    {
      method: 'PUT',
      pattern: `${V}/:name/aliases/:alias`,
      handler: (ctx) => {
        const req = parseUpdateAlias(parseJsonBody(ctx.body));
        const a = r.updateAlias(ctx.caller, fnName(ctx), ctx.params.alias ?? '', {
          ...(req.FunctionVersion !== undefined ? { functionVersion: req.FunctionVersion } : {}),
          ...(req.Description !== undefined ? { description: req.Description } : {}),
          ...(req.RoutingConfig !== undefined ? { additionalVersionWeights: req.RoutingConfig.AdditionalVersionWeights ?? {} } : {}),
          ...(req.RevisionId !== undefined ? { revisionId: req.RevisionId } : {}),
        });
        return ok(toAliasConfiguration(a));
      },
    },
    {
      method: 'DELETE',
      pattern: `${V}/:name/aliases/:alias`,
      handler: (ctx) => {
        r.deleteAlias(ctx.caller, fnName(ctx), ctx.params.alias ?? '');
        return { status: 204 };
      },
    },
    {
      method: 'GET',
      pattern: '/2016-08-19/account-settings',
      handler: (ctx) => {
        const all = r.list(ctx.caller, { maxItems: 10_000, allVersions: true }).functions;
        const s = d.accountSettings(ctx.caller.account, ctx.caller.region);
        return ok({
          // Lambda's default quotas (AWS docs, "Lambda quotas").
          AccountLimit: {
            TotalCodeSize: 80_530_636_800,
            CodeSizeUnzipped: 262_144_000,
            CodeSizeZipped: 52_428_800,
            ConcurrentExecutions: s.concurrentExecutions,
            UnreservedConcurrentExecutions: s.unreservedConcurrentExecutions,
          },
          AccountUsage: {
            TotalCodeSize: all.reduce((n, v) => n + v.codeSize, 0),
            FunctionCount: new Set(all.map((v) => v.functionName)).size,
          },
        });
      },
    },
  ];
}
