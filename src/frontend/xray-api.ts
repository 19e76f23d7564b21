/**
 * The X-Ray API on lambkin's port, REST-JSON as the AWS SDKs send it: GetTraceSummaries
 * (`POST /TraceSummaries`), BatchGetTraces (`POST /Traces`) and PutTraceSegments
 * (`POST /TraceSegments`). Errors are X-Ray's (`InvalidRequestException`).
 */
import { createHash } from 'node:crypto';
import { awsError } from '../errors/catalogue.js';
import { decodePageToken, encodePageToken } from '../store/page-token.js';
import type { Clock } from '../util/clock.js';
import { compileFilter } from '../tracing/filter-expression.js';
import type { SummaryCursor, TimeRangeType, TraceStore } from '../tracing/trace-store.js';
import type { Route } from './http-server.js';

/** What the X-Ray routes need. */
/** What the X-Ray routes read and write. */
export interface XrayDeps {
  readonly store: TraceStore;
  readonly clock: Clock;
  /** Summaries per GetTraceSummaries page (default 100). */
  readonly pageSize?: number;
}

const MAX_BATCH_TRACE_IDS = 5;
/** PutTraceSegments bodies: many documents of up to 64 KiB each. */
const MAX_PUT_BODY = 8 << 20;

function invalid(what: string): never {
  throw awsError('xrayInvalidRequest', { what });
}

function jsonBody(body: Buffer): Record<string, unknown> {
  if (body.length === 0) return {};
  let v: unknown;
  try {
    v = JSON.parse(body.toString('utf8'));
  } catch (e) {
    return invalid(`Could not parse request body into json: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) invalid('The request body must be a JSON object');
  return v as Record<string, unknown>;
}

/** A timestamp as the SDKs send it (epoch seconds); ISO strings are accepted too. Returns epoch seconds. */
function timestamp(v: unknown, member: string): number {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string' && v !== '') {
    const n = Number(v);
    if (Number.isFinite(n)) return n;
    const ms = Date.parse(v);
    if (Number.isFinite(ms)) return ms / 1000;
  }
  if (v === undefined || v === null) return invalid(`${member} is required`);
  return invalid(`${member} must be a timestamp (epoch seconds)`);
}

/** Ties a NextToken to the query it pages through, so it cannot be replayed against another one. */
function fingerprint(parts: readonly unknown[]): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('base64url').slice(0, 16);
}

function encodeToken(c: SummaryCursor, fp: string): string {
  return encodePageToken({ k: c.key, id: c.id, q: fp });
}

function decodeToken(token: string, fp: string): SummaryCursor {
  const t = decodePageToken(token) as { k?: unknown; id?: unknown; q?: unknown } | null | undefined;
  if (typeof t !== 'object' || t === null || typeof t.k !== 'number' || typeof t.id !== 'string') return invalid('The NextToken is not valid');
  if (t.q !== fp) invalid('The NextToken belongs to a request with other StartTime, EndTime, TimeRangeType or FilterExpression');
  return { key: t.k, id: t.id };
}

/** Routes of the X-Ray API. */
export function xrayRoutes(deps: XrayDeps): Route[] {
  const { store, clock } = deps;
  return [
    {
      method: 'POST',
      pattern: '/TraceSummaries',
      handler: (ctx) => {
        const b = jsonBody(ctx.body);
        const start = timestamp(b.StartTime, 'StartTime');
        const end = timestamp(b.EndTime, 'EndTime');
        if (end < start) invalid('EndTime must not be before StartTime');
        const trt = b.TimeRangeType ?? 'TraceId';
        if (trt !== 'TraceId' && trt !== 'Event' && trt !== 'Service') {
          invalid(`TimeRangeType must be one of TraceId, Event, Service; got '${String(trt)}'`);
        }
        const expr = b.FilterExpression;
        if (expr !== undefined && expr !== null && typeof expr !== 'string') invalid('FilterExpression must be a string');
        const filter = typeof expr === 'string' && expr.trim() !== '' ? compileFilter(expr) : undefined;
        const fp = fingerprint([start, end, trt, expr ?? '']);
        const token = b.NextToken;
        if (token !== undefined && token !== null && typeof token !== 'string') invalid('NextToken must be a string');
        const after = typeof token === 'string' && token !== '' ? decodeToken(token, fp) : undefined;
        // Sampling and SamplingStrategy are accepted and ignored: every matching trace is returned.
        const page = store.summaries({
          start,
          end,
          timeRangeType: trt as TimeRangeType,
          ...(filter ? { filter } : {}),
          ...(after ? { after } : {}),
          pageSize: deps.pageSize ?? 100,
          owner: ctx.caller,
        });
        const out: Record<string, unknown> = {
          TraceSummaries: page.summaries,
          ApproximateTime: Math.floor(clock.now() / 1000),
          TracesProcessedCount: page.processed,
        };
        if (page.next) out.NextToken = encodeToken(page.next, fp);
        return { status: 200, body: out };
      },
    },
    {
      method: 'POST',
      pattern: '/Traces',
      handler: (ctx) => {
        const b = jsonBody(ctx.body);
        const ids = b.TraceIds;
        if (!Array.isArray(ids) || ids.some((i) => typeof i !== 'string')) invalid('TraceIds is required: a list of trace ids');
        if (ids.length > MAX_BATCH_TRACE_IDS) invalid(`TraceIds may hold at most ${MAX_BATCH_TRACE_IDS} trace ids`);
        const traces = [];
        const unprocessed: string[] = [];
        for (const id of new Set(ids as string[])) {
          const t = store.trace(id, ctx.caller);
          if (t) traces.push(t);
          else unprocessed.push(id);
        }
        return { status: 200, body: { Traces: traces, UnprocessedTraceIds: unprocessed } };
      },
    },
    {
      method: 'POST',
      pattern: '/TraceSegments',
      maxBodyBytes: MAX_PUT_BODY,
      tooLarge: () => awsError('xrayInvalidRequest', { what: `The request body must be smaller than ${MAX_PUT_BODY} bytes` }),
      handler: (ctx) => {
        const b = jsonBody(ctx.body);
        const docs = b.TraceSegmentDocuments;
        if (!Array.isArray(docs) || docs.some((d) => typeof d !== 'string')) {
          invalid('TraceSegmentDocuments is required: a list of segment documents as JSON strings');
        }
        return { status: 200, body: { UnprocessedTraceSegments: store.putJson(docs as string[], ctx.caller) } };
      },
    },
  ];
}
