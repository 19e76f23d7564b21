/**
 * Concurrency operations of the Lambda API: Put/Get/DeleteFunctionConcurrency (reserved concurrency)
 * and Put/Get/Delete/ListProvisionedConcurrencyConfig(s), with AWS's paths, shapes and rules.
 *
 * The unreserved pool rule: AWS keeps at least 100 of an account's (default) 1000 concurrent executions
 * unreserved. lambkin keeps min(100, floor(accountConcurrency / 10)), so a small `--account-concurrency`
 * (tests, laptops) still allows reservations: 10 keeps 1 unreserved.
 */
import type { Route, RequestContext } from './http-server.js';
import { awsError, constraintMessage } from '../errors/catalogue.js';
import { parseFunctionName, qualifierKind, functionArn } from '../functions/names.js';
import { formatLastModified } from '../functions/function-version.js';
import type { FunctionRegistry } from '../functions/registry.js';
import type { ConcurrencyStore, ProvisionedConfig } from '../functions/concurrency-store.js';
import type { ConcurrencyController } from '../invocations/provisioned.js';
import { parseJsonBody, plainFunctionName } from './lambda-requests.js';
import type { Clock } from '../util/clock.js';

/** What the concurrency routes read and change. */
export interface ConcurrencyApiDeps {
  readonly registry: FunctionRegistry;
  readonly store: ConcurrencyStore;
  readonly controller: ConcurrencyController;
  /** `--account-concurrency`. */
  readonly accountConcurrency: number;
  /** The server's clock, for LastModified. */
  readonly clock: Clock;
}

/** The smallest unreserved pool AWS allows (100 of 1000), scaled for small account limits. */
export function minimumUnreserved(accountConcurrency: number): number {
  return Math.min(100, Math.floor(accountConcurrency / 10));
}

/** GetAccountSettings' UnreservedConcurrentExecutions for the caller. */
export function unreservedConcurrency(store: ConcurrencyStore, caller: { account: string; region: string }, accountConcurrency: number): number {
  return Math.max(0, accountConcurrency - store.reservedSum(caller));
}

function validation(value: unknown, member: string, constraint: string) {
  return awsError('validation', { errors: [constraintMessage(value === undefined || value === null ? 'null' : String(value), member, constraint)] });
}

/** An integer member of the body, at least `min`. */
function intMember(body: Record<string, unknown>, key: string, member: string, min: number): number {
  const v = body[key];
  if (v === undefined || v === null) throw validation(v, member, 'Member must not be null');
  if (typeof v !== 'number' || !Number.isInteger(v)) throw awsError('badJson', { detail: `${key} must be an integer` });
  if (v < min) throw validation(v, member, `Member must have value greater than or equal to ${min}`);
  return v;
}


const V1 = '/2017-10-31/functions/:name/concurrency';
const V2 = '/2019-09-30/functions/:name/concurrency';
const PC = '/2019-09-30/functions/:name/provisioned-concurrency';

/** Routes of the reserved and provisioned concurrency operations. */
export function concurrencyRoutes(d: ConcurrencyApiDeps): Route[] {
  const r = d.registry;
  const store = d.store;
  const now = () => new Date(d.clock.now());
  const min = minimumUnreserved(d.accountConcurrency);

  /** The function named in the path (no qualifier), which must exist: ResourceNotFoundException otherwise. */
  const existing = (ctx: RequestContext): string => {
    const name = plainFunctionName(ctx.params.name, ctx.caller);
    r.get(ctx.caller, { name });
    return name;
  };

  /** The provisioned concurrency requested for a function, over its configs other than `exceptQualifier`'s. */
  const provisionedSum = (caller: RequestContext['caller'], name: string, exceptQualifier?: string): number =>
    store.listProvisioned(caller, name).reduce((sum, c) => (c.qualifier === exceptQualifier ? sum : sum + c.requested), 0);

  /** Name plus the required Qualifier, which must name a published version or an alias that exists. */
  const qualified = (ctx: RequestContext): { name: string; qualifier: string; kind: 'version' | 'alias' } => {
    const ref = parseFunctionName(ctx.params.name, { caller: ctx.caller, shape: 'plain', qualifier: ctx.query.get('Qualifier') ?? undefined });
    if (ref.qualifier === undefined) throw validation(undefined, 'qualifier', 'Member must not be null');
    const kind = qualifierKind(ref.qualifier);
    if (kind === 'latest') throw awsError('provisionedOnUnpublished', {});
    r.get(ctx.caller, ref); // ResourceNotFoundException for a missing function, version or alias
    return { name: ref.name, qualifier: ref.qualifier, kind };
  };

  const render = (c: ProvisionedConfig, withArn: boolean): Record<string, unknown> => {
    const s = d.controller.status(c);
    return {
      ...(withArn ? { FunctionArn: functionArn(c.region, c.account, c.functionName, c.qualifier) } : {}),
      RequestedProvisionedConcurrentExecutions: s.requested,
      AvailableProvisionedConcurrentExecutions: s.available,
      AllocatedProvisionedConcurrentExecutions: s.allocated,
      Status: s.status,
      ...(s.statusReason !== undefined ? { StatusReason: s.statusReason } : {}),
      LastModified: s.lastModified,
    };
  };

  return [
    {
      method: 'PUT',
      pattern: V1,
      handler: (ctx) => {
        const name = existing(ctx);
        const n = intMember(parseJsonBody(ctx.body), 'ReservedConcurrentExecutions', 'reservedConcurrentExecutions', 0);
        if (d.accountConcurrency - store.reservedSum(ctx.caller, name) - n < min) throw awsError('unreservedBelowMinimum', { minimum: min });
        const provisioned = provisionedSum(ctx.caller, name);
        if (provisioned > n) {
          throw awsError('invalidParameter', {
            what: `ReservedConcurrentExecutions (${n}) cannot be less than the function's provisioned concurrency (${provisioned}).`,
          });
        }
        store.setReserved(ctx.caller, name, n);
        d.controller.reservedChanged(ctx.caller, name);
        return { status: 200, body: { ReservedConcurrentExecutions: n } };
      },
    },
    {
      method: 'GET',
      pattern: V2,
      handler: (ctx) => {
        const name = existing(ctx);
        const n = store.reserved(ctx.caller, name);
        return { status: 200, body: n === undefined ? {} : { ReservedConcurrentExecutions: n } };
      },
    },
    {
      method: 'DELETE',
      pattern: V1,
      handler: (ctx) => {
        const name = existing(ctx);
        store.deleteReserved(ctx.caller, name);
        d.controller.reservedChanged(ctx.caller, name);
        return { status: 204 };
      },
    },
    {
      method: 'PUT',
      pattern: PC,
      handler: (ctx) => {
        const q = qualified(ctx);
        const n = intMember(parseJsonBody(ctx.body), 'ProvisionedConcurrentExecutions', 'provisionedConcurrentExecutions', 1);
        const others = provisionedSum(ctx.caller, q.name, q.qualifier);
        const reserved = store.reserved(ctx.caller, q.name);
        if (reserved !== undefined && others + n > reserved) {
          throw awsError('invalidParameter', { what: `Requested Provisioned Concurrency should not be greater than the reservedConcurrentExecution for function` });
        }
        const available = d.accountConcurrency - store.reservedSum(ctx.caller) - min;
        if (reserved === undefined && others + n > available) {
          throw awsError('invalidParameter', {
            what: `Requested Provisioned Concurrency (${others + n} for this function) exceeds the account's unreserved concurrency available for it [${Math.max(0, available)}].`,
          });
        }
        const c = store.putProvisioned(ctx.caller, q.name, q.qualifier, q.kind, n, formatLastModified(now()));
        d.controller.provisionedChanged(c);
        return { status: 202, body: render(c, false) };
      },
    },
    {
      method: 'GET',
      pattern: PC,
      handler: (ctx) => {
        d.controller.reconcile(); // aliases may have moved or gone since (they emit no change events)
        const list = ctx.query.get('List');
        if (list !== null) {
          if (list !== 'ALL') throw validation(list, 'list', 'Member must satisfy enum value set: [ALL]');
          const name = existing(ctx);
          const rawMax = ctx.query.get('MaxItems');
          const maxItems = rawMax === null ? 50 : Number(rawMax);
          if (!Number.isInteger(maxItems) || maxItems < 1 || maxItems > 50) {
            throw validation(rawMax, 'maxItems', 'Member must have value between 1 and 50');
          }
          const all = store.listProvisioned(ctx.caller, name);
          const marker = ctx.query.get('Marker');
          const start = marker === null ? 0 : all.findIndex((c) => c.qualifier > marker);
          const page = start < 0 ? [] : all.slice(start, start + maxItems);
          const last = page[page.length - 1];
          const more = start >= 0 && start + maxItems < all.length;
          return {
            status: 200,
            body: { ProvisionedConcurrencyConfigs: page.map((c) => render(c, true)), ...(more && last ? { NextMarker: last.qualifier } : {}) },
          };
        }
        const q = qualified(ctx);
        const c = store.provisioned(ctx.caller, q.name, q.qualifier);
        if (!c) throw awsError('provisionedConfigNotFound', {});
        return { status: 200, body: render(c, false) };
      },
    },
    {
      method: 'DELETE',
      pattern: PC,
      handler: (ctx) => {
        const q = qualified(ctx);
        if (!store.deleteProvisioned(ctx.caller, q.name, q.qualifier)) throw awsError('provisionedConfigNotFound', {});
        d.controller.reconcile();
        return { status: 204 };
      },
    },
  ];
}
