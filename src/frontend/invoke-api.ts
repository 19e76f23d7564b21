/** Invoke (2015-03-31): RequestResponse, Event and DryRun, with Lambda's headers and limits. */
import type { Route, RequestContext } from './http-server.js';
import { awsError, limits } from '../errors/catalogue.js';
import { functionArn, parseFunctionName } from '../functions/names.js';
import type { FunctionVersion } from '../functions/function-version.js';
import type { FunctionRegistry } from '../functions/registry.js';
import type { InvokeService, InvocableVersion } from '../invocations/invoke-service.js';
import type { EventQueue } from '../invocations/event-queue.js';

/** What the Invoke route needs. */
export interface InvokeApiDeps {
  readonly registry: FunctionRegistry;
  readonly invoker: InvokeService;
  readonly queue: EventQueue;
  /** Per-function settings the invoke path needs beyond the registry (reserved concurrency, VPC key). */
  readonly invocable: (v: FunctionVersion) => InvocableVersion;
}

/** Checks that a payload is JSON, as Lambda does before running anything; an empty one is `{}`. */
export function checkPayload(body: Buffer): Buffer {
  if (body.length === 0) return Buffer.from('{}');
  try {
    JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw awsError('payloadNotJson', { detail: (err as Error).message });
  }
  return body;
}

function header(ctx: RequestContext, name: string): string | undefined {
  const v = ctx.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * Another account's function named by ARN: Lambda authorizes before it looks the function up, and
 * without a resource-based policy granting the caller (lambkin keeps none) the answer is
 * AccessDeniedException, whether or not the function exists.
 */
function refuseOtherAccount(ctx: RequestContext): void {
  const account = /^(?:arn:[^:]*:lambda:[^:]*:)?(\d{12}):/.exec(ctx.params.name ?? '')?.[1];
  if (account === undefined || account === ctx.caller.account) return;
  // Parsed as that account would (so malformed names keep their ValidationException).
  const ref = parseFunctionName(ctx.params.name, { caller: { ...ctx.caller, account }, qualifier: ctx.query.get('Qualifier') ?? undefined });
  throw awsError('accessDenied', {
    principal: ctx.caller.principal ?? `arn:aws:iam::${ctx.caller.account}:root`,
    action: 'lambda:InvokeFunction',
    resource: functionArn(ctx.caller.region, account, ref.name, ref.qualifier),
  });
}

/** The Invoke route (`POST /2015-03-31/functions/:name/invocations`). */
export function invokeRoutes(d: InvokeApiDeps): Route[] {
  return [
    {
      method: 'POST',
      pattern: '/2015-03-31/functions/:name/invocations',
      maxBodyBytes: limits.invokeSyncBytes,
      tooLarge: () => awsError('invokeTooLarge', { async: false }),
      handler: async (ctx) => {
        const type = header(ctx, 'x-amz-invocation-type') ?? 'RequestResponse';
        if (type !== 'RequestResponse' && type !== 'Event' && type !== 'DryRun') {
          throw awsError('validation', {
            errors: [`Value '${type}' at 'invocationType' failed to satisfy constraint: Member must satisfy enum value set: [Event, RequestResponse, DryRun]`],
          });
        }
        const logType = header(ctx, 'x-amz-log-type') ?? 'None';
        if (logType !== 'None' && logType !== 'Tail') {
          throw awsError('validation', {
            errors: [`Value '${logType}' at 'logType' failed to satisfy constraint: Member must satisfy enum value set: [None, Tail]`],
          });
        }
        if (type === 'Event' && ctx.body.length > limits.invokeAsyncBytes) throw awsError('invokeTooLarge', { async: true });
        refuseOtherAccount(ctx);
        const ref = parseFunctionName(ctx.params.name, { caller: ctx.caller, qualifier: ctx.query.get('Qualifier') ?? undefined });
        const resolved = d.registry.resolve(ctx.caller, ref);
        const v = resolved.version;
        if (v.state !== 'Active') {
          throw awsError('functionNotReady', { state: v.state, reason: v.stateReasonCode ?? '' });
        }
        const payload = checkPayload(ctx.body);
        const executed = { 'x-amz-executed-version': resolved.executedVersion };
        if (type === 'DryRun') return { status: 204, headers: executed };
        if (type === 'Event') {
          const traceHeader = header(ctx, 'x-amzn-trace-id');
          d.queue.enqueue({
            requestId: ctx.requestId,
            ...(traceHeader ? { traceHeader } : {}),
            account: ctx.caller.account,
            region: ctx.caller.region,
            functionName: ref.name,
            qualifier: ref.qualifier,
            payload,
          });
          return { status: 202 };
        }
        const clientContext = header(ctx, 'x-amz-client-context');
        // An incoming X-Ray trace header is honoured: its Root and Parent continue in Lambda's segments.
        const traceHeader = header(ctx, 'x-amzn-trace-id');
        const result = await d.invoker.invoke(d.invocable(v), {
          requestId: ctx.requestId,
          payload,
          // The ARN as invoked: qualified by the alias or version the caller named, if any.
          invokedFunctionArn: functionArn(v.region, v.account, v.functionName, ref.qualifier),
          signal: ctx.signal,
          ...(clientContext !== undefined ? { clientContext: Buffer.from(clientContext, 'base64').toString('utf8') } : {}),
          ...(traceHeader ? { traceHeader } : {}),
          receivedAt: ctx.receivedAt,
        });
        return {
          status: 200,
          headers: {
            ...executed,
            'content-type': 'application/json',
            ...(result.functionError ? { 'x-amz-function-error': result.functionError } : {}),
            ...(logType === 'Tail' ? { 'x-amz-log-result': result.logTail } : {}),
            ...(result.traceHeader ? { 'x-amzn-trace-id': result.traceHeader } : {}),
          },
          body: result.payload,
        };
      },
    },
  ];
}
