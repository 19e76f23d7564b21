import { statementCache, type Database, type StatementCache } from '../store/database.js';
import type { Clock } from '../util/clock.js';

/** The queue's table; applied by the store's migration runner. */
export const eventQueueMigrations = [
  {
    id: 'event-queue-001',
    sql: `CREATE TABLE event_queue (
      request_id   TEXT PRIMARY KEY,
      account      TEXT NOT NULL,
      region       TEXT NOT NULL,
      function     TEXT NOT NULL,
      qualifier    TEXT,
      payload      BLOB NOT NULL,
      attempts     INTEGER NOT NULL DEFAULT 0,
      not_before   INTEGER NOT NULL,
      enqueued_at  INTEGER NOT NULL,
      running      INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX event_queue_due ON event_queue (running, not_before);`,
  },
  { id: 'event-queue-002', sql: 'ALTER TABLE event_queue ADD COLUMN trace_header TEXT;' },
] as const;

/** One asynchronous invocation as stored. */
export interface QueuedEvent {
  readonly requestId: string;
  readonly account: string;
  readonly region: string;
  /** The FunctionName as the caller gave it (name or ARN). */
  readonly functionName: string;
  readonly qualifier: string | undefined;
  readonly payload: Buffer;
  /** The caller's X-Amzn-Trace-Id, if any. */
  readonly traceHeader?: string;
  /** How many times it ran before (0 on the first try). */
  readonly attempts: number;
  readonly enqueuedAt: number;
}

/** What running an event came to. */
export type EventOutcome =
  | { kind: 'done' }
  /** The function failed: retried up to Lambda's limit. */
  | { kind: 'function-error' }
  /** Throttled: waits in the queue, not counted as an attempt. */
  | { kind: 'throttled' }
  /** The function is gone: the event is dropped. */
  | { kind: 'gone' };

/** How an EventQueue stores, runs and retries events. */
export interface EventQueueOptions {
  /** Holds the `event_queue` table (`eventQueueMigrations` applied). */
  readonly db: Database;
  readonly clock: Clock;
  /** Runs one event; a rejection counts as a function error. */
  readonly run: (event: QueuedEvent) => Promise<EventOutcome>;
  /**
   * Delay before each retry of a failed event; its length is the number of retries. Lambda retries a
   * failed asynchronous invocation twice, about 1 and 2 minutes later (AWS docs, "Asynchronous invocation").
   */
  readonly retryDelaysMs: readonly number[];
  /** How long a throttled event waits before it is tried again. */
  readonly throttleBackoffMs: number;
  /** Events running at once. */
  readonly concurrency: number;
  /** Called when an event is dropped after its last retry, or because its function is gone. */
  readonly onDropped?: (event: QueuedEvent, why: string) => void;
  /**
   * Called when an event's outcome could not be recorded (e.g. the database failed); the event stays
   * marked running and runs again after a restart. Default: ignored.
   */
  readonly onError?: (event: QueuedEvent, err: unknown) => void;
}

interface Row {
  request_id: string;
  account: string;
  region: string;
  function: string;
  qualifier: string | null;
  payload: Buffer;
  attempts: number;
  enqueued_at: number;
  trace_header: string | null;
}

/**
 * Durable queue of asynchronous invocations in SQLite. `enqueue` returns only after the row is
 * committed, so a 202 means the event survives a crash; events left running by a crash are run
 * again at start-up (at least once, as on Lambda).
 */
export class EventQueue {
  private inFlight = new Set<Promise<void>>();
  private cancelTimer: (() => void) | undefined;
  private timerAt = Infinity;
  private closed = false;
  /** Every Event invoke and every settled event runs statements: prepared once each. */
  private readonly sql: StatementCache;

  constructor(private readonly o: EventQueueOptions) {
    this.sql = statementCache(o.db);
    this.sql('UPDATE event_queue SET running = 0 WHERE running = 1').run();
  }

  /** Stores the event (committed when this returns, so a 202 survives a crash) and starts it when there is room. */
  enqueue(e: Omit<QueuedEvent, 'attempts' | 'enqueuedAt'>): void {
    const now = this.o.clock.now();
    this.sql(
      `INSERT INTO event_queue (request_id, account, region, function, qualifier, payload, not_before, enqueued_at, trace_header)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(e.requestId, e.account, e.region, e.functionName, e.qualifier ?? null, e.payload, now, now, e.traceHeader ?? null);
    this.pump();
  }

  /** Events waiting or running. */
  depth(): number {
    return (this.sql('SELECT count(*) AS n FROM event_queue').get() as { n: number }).n;
  }

  /** Starts due events up to the concurrency limit and arms a timer for the next one. */
  pump(): void {
    if (this.closed) return;
    const now = this.o.clock.now();
    const free = this.o.concurrency - this.inFlight.size;
    if (free > 0) {
      const rows = this.sql('SELECT * FROM event_queue WHERE running = 0 AND not_before <= ? ORDER BY not_before, enqueued_at LIMIT ?').all(
        now,
        free,
      ) as Row[];
      for (const row of rows) this.start(row);
    }
    this.armTimer();
  }

  /** Stops taking events and waits for the running ones. */
  async close(): Promise<void> {
    this.closed = true;
    this.cancelTimer?.();
    await Promise.allSettled([...this.inFlight]);
  }

  private start(row: Row): void {
    this.sql('UPDATE event_queue SET running = 1 WHERE request_id = ?').run(row.request_id);
    const event: QueuedEvent = {
      requestId: row.request_id,
      account: row.account,
      region: row.region,
      functionName: row.function,
      qualifier: row.qualifier ?? undefined,
      payload: row.payload,
      ...(row.trace_header ? { traceHeader: row.trace_header } : {}),
      attempts: row.attempts,
      enqueuedAt: row.enqueued_at,
    };
    const p = this.o
      .run(event)
      .catch((): EventOutcome => ({ kind: 'function-error' }))
      .then((outcome) => this.settle(event, outcome))
      // Nothing awaits `p` but close(): a failure here would otherwise be an unhandled rejection.
      .catch((err: unknown) => this.o.onError?.(event, err));
    this.inFlight.add(p);
    void p.finally(() => {
      this.inFlight.delete(p);
      this.pump();
    });
  }

  private settle(event: QueuedEvent, outcome: EventOutcome): void {
    if (this.closed && outcome.kind !== 'done') {
      // Shutting down: leave it queued for the next start.
      this.sql('UPDATE event_queue SET running = 0 WHERE request_id = ?').run(event.requestId);
      return;
    }
    const now = this.o.clock.now();
    const del = this.sql('DELETE FROM event_queue WHERE request_id = ?');
    switch (outcome.kind) {
      case 'done':
        del.run(event.requestId);
        break;
      case 'gone':
        del.run(event.requestId);
        this.o.onDropped?.(event, 'the function no longer exists');
        break;
      case 'throttled':
        this.sql('UPDATE event_queue SET running = 0, not_before = ? WHERE request_id = ?').run(now + this.o.throttleBackoffMs, event.requestId);
        break;
      case 'function-error': {
        const delay = this.o.retryDelaysMs[event.attempts];
        if (delay === undefined) {
          del.run(event.requestId);
          this.o.onDropped?.(event, `failed ${event.attempts + 1} times`);
        } else {
          this.sql('UPDATE event_queue SET running = 0, attempts = attempts + 1, not_before = ? WHERE request_id = ?').run(now + delay, event.requestId);
        }
        break;
      }
    }
  }

  private armTimer(): void {
    const next = this.sql('SELECT min(not_before) AS t FROM event_queue WHERE running = 0').get() as { t: number | null };
    if (next.t === null) return;
    if (this.inFlight.size >= this.o.concurrency) return; // a finishing event pumps again
    if (next.t >= this.timerAt) return;
    this.cancelTimer?.();
    this.timerAt = next.t;
    this.cancelTimer = this.o.clock.setTimer(next.t, () => {
      this.timerAt = Infinity;
      this.cancelTimer = undefined;
      this.pump();
    });
  }
}
