import type { Database } from 'better-sqlite3';
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

export interface EventQueueOptions {
  readonly db: Database;
  readonly clock: Clock;
  readonly run: (event: QueuedEvent) => Promise<EventOutcome>;
  /** Lambda retries a failed asynchronous invocation twice, about 1 and 2 minutes later (AWS docs, "Asynchronous invocation"). */
  readonly retryDelaysMs: readonly number[];
  readonly throttleBackoffMs: number;
  /** Events running at once. */
  readonly concurrency: number;
  /** Called when an event is dropped after its last retry, or because its function is gone. */
  readonly onDropped?: (event: QueuedEvent, why: string) => void;
  readonly onSettled?: (event: QueuedEvent, outcome: EventOutcome) => void;
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

  constructor(private readonly o: EventQueueOptions) {
    o.db.prepare('UPDATE event_queue SET running = 0 WHERE running = 1').run();
  }

  enqueue(e: Omit<QueuedEvent, 'attempts' | 'enqueuedAt'>): void {
    const now = this.o.clock.now();
    this.o.db
      .prepare(
        `INSERT INTO event_queue (request_id, account, region, function, qualifier, payload, not_before, enqueued_at, trace_header)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(e.requestId, e.account, e.region, e.functionName, e.qualifier ?? null, e.payload, now, now, e.traceHeader ?? null);
    this.pump();
  }

  /** Events waiting or running. */
  depth(): number {
    return (this.o.db.prepare('SELECT count(*) AS n FROM event_queue').get() as { n: number }).n;
  }

  /** Starts due events up to the concurrency limit and arms a timer for the next one. */
  pump(): void {
    if (this.closed) return;
    const now = this.o.clock.now();
    const free = this.o.concurrency - this.inFlight.size;
    if (free > 0) {
      const rows = this.o.db
        .prepare('SELECT * FROM event_queue WHERE running = 0 AND not_before <= ? ORDER BY not_before, enqueued_at LIMIT ?')
        .all(now, free) as Row[];
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
    this.o.db.prepare('UPDATE event_queue SET running = 1 WHERE request_id = ?').run(row.request_id);
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
      .then((outcome) => this.settle(event, outcome));
    this.inFlight.add(p);
    void p.finally(() => {
      this.inFlight.delete(p);
      this.pump();
    });
  }

  private settle(event: QueuedEvent, outcome: EventOutcome): void {
    if (this.closed && outcome.kind !== 'done') {
      // Shutting down: leave it queued for the next start.
      this.o.db.prepare('UPDATE event_queue SET running = 0 WHERE request_id = ?').run(event.requestId);
      return;
    }
    const now = this.o.clock.now();
    const del = this.o.db.prepare('DELETE FROM event_queue WHERE request_id = ?');
    switch (outcome.kind) {
      case 'done':
        del.run(event.requestId);
        break;
      case 'gone':
        del.run(event.requestId);
        this.o.onDropped?.(event, 'the function no longer exists');
        break;
      case 'throttled':
        this.o.db
          .prepare('UPDATE event_queue SET running = 0, not_before = ? WHERE request_id = ?')
          .run(now + this.o.throttleBackoffMs, event.requestId);
        break;
      case 'function-error': {
        const delay = this.o.retryDelaysMs[event.attempts];
        if (delay === undefined) {
          del.run(event.requestId);
          this.o.onDropped?.(event, `failed ${event.attempts + 1} times`);
        } else {
          this.o.db
            .prepare('UPDATE event_queue SET running = 0, attempts = attempts + 1, not_before = ? WHERE request_id = ?')
            .run(now + delay, event.requestId);
        }
        break;
      }
    }
    this.o.onSettled?.(event, outcome);
  }

  private armTimer(): void {
    const next = this.o.db
      .prepare('SELECT min(not_before) AS t FROM event_queue WHERE running = 0')
      .get() as { t: number | null };
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
