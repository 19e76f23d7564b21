/**
 * Trace storage in SQLite: every segment document (and independently sent subsegment) by trace id,
 * plus one summary row per trace that is recomputed whenever a piece of the trace arrives, so that
 * GetTraceSummaries reads an index and BatchGetTraces sees pieces appended later.
 *
 * Retention: traces not updated for `retentionMs` (default 30 days, `--trace-retention`) are
 * removed by {@link TraceStore.prune}; {@link startRetention} runs it periodically.
 */
import type { Clock } from '../util/clock.js';
import { applyMigrations, type Database, type Migration } from '../store/database.js';
import type { SegmentDocument } from './segments.js';
import { mergeDocuments, summarize, type TraceSummary } from './summary.js';
import { isSegmentId, isTraceId } from './trace-header.js';

/** The trace store's tables. Append new migrations; never edit an applied one. */
export const TRACING_MIGRATIONS: readonly Migration[] = [
  {
    id: 'tracing-001',
    sql: `
      CREATE TABLE trace_documents (
        trace_id TEXT NOT NULL,
        id TEXT NOT NULL,
        start_time REAL NOT NULL,
        complete INTEGER NOT NULL,
        document TEXT NOT NULL,
        received_at REAL NOT NULL,
        PRIMARY KEY (trace_id, id)
      ) STRICT;
      CREATE TABLE trace_summaries (
        trace_id TEXT PRIMARY KEY,
        start_time REAL NOT NULL,
        end_time REAL NOT NULL,
        updated_at REAL NOT NULL,
        revision INTEGER NOT NULL,
        pieces INTEGER NOT NULL,
        account TEXT,
        region TEXT,
        summary TEXT NOT NULL
      ) STRICT;
      CREATE INDEX trace_summaries_by_start ON trace_summaries (start_time, trace_id);
      CREATE INDEX trace_summaries_by_end ON trace_summaries (end_time, trace_id);
      CREATE INDEX trace_summaries_by_update ON trace_summaries (updated_at, trace_id);
    `,
  },
];

/** How long a trace is kept after its last update when no retention is given (X-Ray's 30 days). */
export const DEFAULT_TRACE_RETENTION_MS = 30 * 24 * 3600 * 1000;
/** X-Ray's limit for one segment document. */
export const MAX_DOCUMENT_BYTES = 64 * 1024;
/** Pieces stored per trace; more are refused (a function looping over subsegments must not grow a trace without bound). */
export const MAX_PIECES_PER_TRACE = 1000;

/**
 * The account and region a trace belongs to: X-Ray is per account and region. The first piece that
 * names an owner sets it; pieces without one (the UDP daemon's, which can arrive before Lambda's own
 * segments) join whichever owner the trace gets. A trace without an owner is not listed.
 */
export interface TraceOwner {
  readonly account: string;
  readonly region: string;
}

/** One refused document, as PutTraceSegments reports it. */
export interface UnprocessedSegment {
  readonly Id?: string;
  readonly ErrorCode: string;
  readonly Message: string;
}

/** A trace as BatchGetTraces returns it. */
export interface StoredTrace {
  readonly Id: string;
  readonly Duration: number;
  readonly LimitExceeded: boolean;
  readonly Segments: { Id: string; Document: string }[];
}

/** Which time GetTraceSummaries' range applies to: trace start, last update, or latest segment end. */
export type TimeRangeType = 'TraceId' | 'Event' | 'Service';

/** Where a page of summaries continues: after this (time key, trace id). */
export interface SummaryCursor {
  readonly key: number;
  readonly id: string;
}

/** What {@link TraceStore.summaries} pages through. */
export interface SummaryQuery {
  /** Epoch seconds, inclusive. */
  readonly start: number;
  readonly end: number;
  readonly timeRangeType: TimeRangeType;
  readonly filter?: (s: TraceSummary) => boolean;
  readonly after?: SummaryCursor;
  /** Only traces of this account and region (all traces when absent). */
  readonly owner?: TraceOwner;
  /** Summaries per page (default 100). */
  readonly pageSize?: number;
}

/** One page of {@link TraceStore.summaries}. */
export interface SummaryPage {
  readonly summaries: TraceSummary[];
  /** Traces looked at (matching the time range) for this page. */
  readonly processed: number;
  readonly next?: SummaryCursor;
}

/** Options of {@link TraceStore}. */
export interface TraceStoreOptions {
  /** Stamps `updated_at` (TimeRangeType Event) and drives retention. */
  readonly clock: Clock;
  /** Traces not updated for this long are pruned (default {@link DEFAULT_TRACE_RETENTION_MS}). */
  readonly retentionMs?: number;
}

type Parsed = { ok: true; doc: SegmentDocument } | { ok: false; unprocessed: UnprocessedSegment };

function refuse(message: string, id?: unknown): Parsed {
  return { ok: false, unprocessed: { ...(typeof id === 'string' ? { Id: id } : {}), ErrorCode: 'InvalidSegment', Message: message } };
}

/**
 * Validates one segment document as PutTraceSegments and the daemon receive it: a JSON object with
 * `trace_id`, a 16-hex `id`, a `name`, a numeric `start_time` and either `end_time` or
 * `in_progress: true`; an independent subsegment (`"type": "subsegment"`) also needs `parent_id`.
 */
export function parseSegmentDocument(json: string): Parsed {
  if (Buffer.byteLength(json) > MAX_DOCUMENT_BYTES) return refuse(`Segment document exceeds ${MAX_DOCUMENT_BYTES} bytes`);
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (e) {
    return refuse(`Segment document is not valid JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return refuse('Segment document must be a JSON object');
  const d = raw as Record<string, unknown>;
  if (!isSegmentId(d.id)) return refuse('Segment id must be 16 hexadecimal digits', d.id);
  if (!isTraceId(d.trace_id)) return refuse('Invalid trace_id: expected 1-<8 hex digits>-<24 hex digits>', d.id);
  if (typeof d.name !== 'string' || d.name.length === 0 || d.name.length > 200) return refuse('Segment name must be 1 to 200 characters', d.id);
  if (typeof d.start_time !== 'number' || !Number.isFinite(d.start_time)) return refuse('start_time must be a number (epoch seconds)', d.id);
  const hasEnd = typeof d.end_time === 'number' && Number.isFinite(d.end_time);
  if (!hasEnd && d.in_progress !== true) return refuse('A segment needs end_time, or in_progress: true', d.id);
  if (d.parent_id !== undefined && !isSegmentId(d.parent_id)) return refuse('parent_id must be 16 hexadecimal digits', d.id);
  if (d.type !== undefined && d.type !== 'subsegment') return refuse(`Unknown segment type '${String(d.type)}'`, d.id);
  if (d.type === 'subsegment' && d.parent_id === undefined) return refuse('An independent subsegment needs parent_id', d.id);
  if (d.subsegments !== undefined && !Array.isArray(d.subsegments)) return refuse('subsegments must be an array', d.id);
  return { ok: true, doc: d as SegmentDocument };
}

interface SummaryRow {
  trace_id: string;
  k: number;
  summary: string;
}

/** SQLite-backed store of X-Ray segment documents and trace summaries. */
export class TraceStore {
  private readonly clock: Clock;
  readonly retentionMs: number;
  private readonly stmts;

  constructor(
    private readonly db: Database,
    options: TraceStoreOptions,
  ) {
    applyMigrations(db, TRACING_MIGRATIONS, options.clock);
    this.clock = options.clock;
    this.retentionMs = options.retentionMs ?? DEFAULT_TRACE_RETENTION_MS;
    this.stmts = {
      existing: db.prepare('SELECT complete FROM trace_documents WHERE trace_id = ? AND id = ?'),
      upsert: db.prepare(
        `INSERT INTO trace_documents (trace_id, id, start_time, complete, document, received_at) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (trace_id, id) DO UPDATE SET start_time = excluded.start_time, complete = excluded.complete,
           document = excluded.document, received_at = excluded.received_at`,
      ),
      pieces: db.prepare('SELECT document FROM trace_documents WHERE trace_id = ? ORDER BY start_time, id'),
      count: db.prepare('SELECT COUNT(*) AS n FROM trace_documents WHERE trace_id = ?'),
      revision: db.prepare('SELECT revision FROM trace_summaries WHERE trace_id = ?'),
      putSummary: db.prepare(
        `INSERT INTO trace_summaries (trace_id, start_time, end_time, updated_at, revision, pieces, summary, account, region)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (trace_id) DO UPDATE SET start_time = excluded.start_time, end_time = excluded.end_time,
           updated_at = excluded.updated_at, revision = excluded.revision, pieces = excluded.pieces, summary = excluded.summary,
           account = COALESCE(trace_summaries.account, excluded.account),
           region = CASE WHEN trace_summaries.account IS NULL THEN excluded.region ELSE trace_summaries.region END`,
      ),
      getSummary: db.prepare('SELECT summary, account, region FROM trace_summaries WHERE trace_id = ?'),
      pruneDocs: db.prepare('DELETE FROM trace_documents WHERE trace_id IN (SELECT trace_id FROM trace_summaries WHERE updated_at < ?)'),
      pruneSummaries: db.prepare('DELETE FROM trace_summaries WHERE updated_at < ?'),
      range: {
        TraceId: this.rangeStatement('start_time'),
        Event: this.rangeStatement('updated_at'),
        Service: this.rangeStatement('end_time'),
      },
    };
  }

  private rangeStatement(column: 'start_time' | 'end_time' | 'updated_at') {
    // Keyset paging: rows after (key, id) in (key, id) order; one statement per time column.
    return this.db.prepare(
      `SELECT trace_id, ${column} AS k, summary FROM trace_summaries
       WHERE ${column} >= @start AND ${column} <= @end AND (${column} > @key OR (${column} = @key AND trace_id > @id))
         AND (@account IS NULL OR (account = @account AND region = @region))
       ORDER BY ${column}, trace_id LIMIT @limit`,
    );
  }

  /**
   * Stores documents (already validated with {@link parseSegmentDocument}) and recomputes the summary
   * of each trace they belong to. A document with an id already stored replaces it, except that an
   * `in_progress` one never replaces a completed one (UDP may reorder). Returns the documents refused
   * because their trace is full. `owner` claims the traces for an account and region (see {@link TraceOwner}).
   */
  put(docs: readonly SegmentDocument[], owner?: TraceOwner): UnprocessedSegment[] {
    const refused: UnprocessedSegment[] = [];
    const now = this.clock.now() / 1000;
    this.db.transaction(() => {
      const touched = new Map<string, number>();
      for (const d of docs) {
        const traceId = d.trace_id as string;
        const complete = d.in_progress === true ? 0 : 1;
        const existing = this.stmts.existing.get(traceId, d.id) as { complete: number } | undefined;
        if (existing && existing.complete === 1 && complete === 0) continue;
        if (!existing) {
          const n = (this.stmts.count.get(traceId) as { n: number }).n;
          if (n >= MAX_PIECES_PER_TRACE) {
            refused.push({ Id: d.id, ErrorCode: 'TraceSizeExceeded', Message: `A trace holds at most ${MAX_PIECES_PER_TRACE} segment documents` });
            continue;
          }
        }
        this.stmts.upsert.run(traceId, d.id, d.start_time, complete, JSON.stringify(d), now);
        touched.set(traceId, (touched.get(traceId) ?? 0) + 1);
      }
      for (const [traceId, updates] of touched) this.resummarize(traceId, updates, now, owner);
    })();
    return refused;
  }

  /** Validates and stores JSON documents (PutTraceSegments, the daemon); returns the ones refused. */
  putJson(documents: readonly string[], owner?: TraceOwner): UnprocessedSegment[] {
    const ok: SegmentDocument[] = [];
    const refused: UnprocessedSegment[] = [];
    for (const json of documents) {
      const p = parseSegmentDocument(json);
      if (p.ok) ok.push(p.doc);
      else refused.push(p.unprocessed);
    }
    if (ok.length > 0) refused.push(...this.put(ok, owner));
    return refused;
  }

  private resummarize(traceId: string, updates: number, now: number, owner: TraceOwner | undefined): void {
    const pieces = (this.stmts.pieces.all(traceId) as { document: string }[]).map((r) => JSON.parse(r.document) as SegmentDocument);
    const prev = this.stmts.revision.get(traceId) as { revision: number } | undefined;
    const revision = (prev?.revision ?? -1) + updates;
    const s = summarize(traceId, pieces, revision);
    this.stmts.putSummary.run(
      traceId,
      s.startTime,
      s.endTime,
      now,
      revision,
      pieces.length,
      JSON.stringify(s.summary),
      owner?.account ?? null,
      owner?.region ?? null,
    );
  }

  /** The summary of one trace, if stored (and, given `owner`, owned by it). */
  summary(traceId: string, owner?: TraceOwner): TraceSummary | undefined {
    const row = this.stmts.getSummary.get(traceId) as { summary: string; account: string | null; region: string | null } | undefined;
    if (!row || (owner && (row.account !== owner.account || row.region !== owner.region))) return undefined;
    return JSON.parse(row.summary) as TraceSummary;
  }

  /** One page of summaries in the time range, oldest first, matching `filter`. */
  summaries(q: SummaryQuery): SummaryPage {
    const pageSize = Math.max(1, q.pageSize ?? 100);
    const stmt = this.stmts.range[q.timeRangeType];
    const out: TraceSummary[] = [];
    let cursor: SummaryCursor = q.after ?? { key: -Number.MAX_VALUE, id: '' };
    let processed = 0;
    let lastMatched: SummaryCursor | undefined;
    // Rows are read in batches because a filter may skip most of them; a page needs only pageSize.
    const batch = 500;
    for (;;) {
      const rows = stmt.all({
        start: q.start,
        end: q.end,
        key: cursor.key,
        id: cursor.id,
        limit: batch,
        account: q.owner?.account ?? null,
        region: q.owner?.region ?? null,
      }) as SummaryRow[];
      for (const row of rows) {
        const summary = JSON.parse(row.summary) as TraceSummary;
        if (q.filter && !q.filter(summary)) {
          processed++;
          continue;
        }
        // A further match exists past a full page: the page ends at the previous one.
        if (out.length === pageSize) return { summaries: out, processed, next: lastMatched };
        processed++;
        out.push(summary);
        lastMatched = { key: row.k, id: row.trace_id };
      }
      const last = rows[rows.length - 1];
      if (rows.length < batch || !last) return { summaries: out, processed };
      cursor = { key: last.k, id: last.trace_id };
    }
  }

  /** A trace with its merged segment documents, or undefined when nothing of it is stored (for `owner`). */
  trace(traceId: string, owner?: TraceOwner): StoredTrace | undefined {
    const summary = this.summary(traceId, owner);
    if (owner && !summary) return undefined;
    const pieces = (this.stmts.pieces.all(traceId) as { document: string }[]).map((r) => JSON.parse(r.document) as SegmentDocument);
    if (pieces.length === 0) return undefined;
    return {
      Id: traceId,
      Duration: summary?.Duration ?? 0,
      LimitExceeded: pieces.length >= MAX_PIECES_PER_TRACE,
      Segments: mergeDocuments(pieces).map((d) => ({ Id: d.id, Document: JSON.stringify(d) })),
    };
  }

  /** Removes traces last updated before `now - retentionMs`; returns how many. */
  prune(now: number = this.clock.now()): number {
    const cutoff = (now - this.retentionMs) / 1000;
    return this.db.transaction(() => {
      this.stmts.pruneDocs.run(cutoff);
      return this.stmts.pruneSummaries.run(cutoff).changes;
    })();
  }
}

/** Runs `store.prune` now and then every `everyMs` (default 1 h) on `clock`; `close()` stops it. */
export function startRetention(store: TraceStore, clock: Clock, everyMs = 3600_000): { close(): void } {
  let cancel: (() => void) | undefined;
  let closed = false;
  const run = () => {
    if (closed) return;
    store.prune(clock.now());
    cancel = clock.setTimer(clock.now() + everyMs, run);
  };
  run();
  return {
    close() {
      closed = true;
      cancel?.();
    },
  };
}
