/**
 * The durable async-invocation queue on a virtual clock and a real SQLite file: Lambda's retry
 * schedule for failed events (two retries, 60 s then 120 s after the previous attempt), throttled
 * events waiting without using up an attempt, event age kept across retries, the concurrency limit,
 * and re-running what a crash left running.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { resolveServerOptions } from '../../src/cli/server-options.js';
import { EventQueue, eventQueueMigrations, type EventOutcome, type EventQueueOptions, type QueuedEvent } from '../../src/invocations/event-queue.js';
import { openDatabase, type Database } from '../../src/store/database.js';
import { VirtualClock } from '../../src/util/clock.js';

const T0 = Date.UTC(2026, 0, 1);

/** Lets the queue's promise chains (settle, then pump) run to the end. */
const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

interface Run {
  readonly event: QueuedEvent;
  readonly at: number;
}

interface Harness {
  readonly clock: VirtualClock;
  readonly db: Database;
  readonly queue: EventQueue;
  readonly runs: Run[];
  readonly dropped: { id: string; why: string; at: number }[];
  /** Moves the clock and lets what that started settle. */
  advance(to: number): Promise<void>;
}

function harness(
  t: { after: (fn: () => Promise<void> | void) => void },
  outcome: (e: QueuedEvent) => Promise<EventOutcome> | EventOutcome,
  options: Partial<Omit<EventQueueOptions, 'db' | 'clock' | 'run'>> = {},
  file?: string,
): Harness {
  const dir = mkdtempSync(join(tmpdir(), 'lambkin-event-queue-'));
  const clock = new VirtualClock(T0);
  const db = openDatabase(file ?? join(dir, 'q.db'), eventQueueMigrations, { clock });
  const runs: Run[] = [];
  const dropped: Harness['dropped'] = [];
  const queue = new EventQueue({
    db,
    clock,
    run: async (event) => {
      runs.push({ event, at: clock.now() });
      return outcome(event);
    },
    retryDelaysMs: [60_000, 120_000],
    throttleBackoffMs: 1000,
    concurrency: 16,
    onDropped: (e, why) => dropped.push({ id: e.requestId, why, at: clock.now() }),
    ...options,
  });
  t.after(async () => {
    await queue.close();
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return {
    clock,
    db,
    queue,
    runs,
    dropped,
    advance: async (to) => {
      clock.advance(to);
      await flush();
    },
  };
}

const event = (requestId: string) => ({
  requestId,
  account: '000000000000',
  region: 'us-east-1',
  functionName: 'fn',
  qualifier: undefined,
  payload: Buffer.from('{"n":1}'),
});

describe('EventQueue', () => {
  test("the server's default is Lambda's: two retries, 60 s and then 120 s", () => {
    assert.deepEqual(resolveServerOptions({}).eventRetryDelaysMs, [60_000, 120_000]);
  });

  test('a failing event runs at once, again 60 s later, again 120 s after that, then is dropped', async (t) => {
    const h = harness(t, () => ({ kind: 'function-error' }));
    h.queue.enqueue(event('e1'));
    await flush();
    assert.deepEqual(
      h.runs.map((r) => [r.at - T0, r.event.attempts]),
      [[0, 0]],
    );
    assert.equal(h.queue.depth(), 1, 'waiting for its first retry');

    await h.advance(T0 + 59_999);
    assert.equal(h.runs.length, 1, 'not retried before 60 s');
    await h.advance(T0 + 60_000);
    assert.equal(h.runs.length, 2);

    await h.advance(T0 + 60_000 + 119_999);
    assert.equal(h.runs.length, 2, 'second retry not before 120 s after the first');
    await h.advance(T0 + 180_000);
    assert.deepEqual(
      h.runs.map((r) => [r.at - T0, r.event.attempts]),
      [
        [0, 0],
        [60_000, 1],
        [180_000, 2],
      ],
    );
    assert.deepEqual(h.dropped, [{ id: 'e1', why: 'failed 3 times', at: T0 + 180_000 }]);
    assert.equal(h.queue.depth(), 0);

    await h.advance(T0 + 3_600_000);
    assert.equal(h.runs.length, 3, 'never runs again');
  });

  test("event age: every attempt carries the original enqueue time and payload", async (t) => {
    const h = harness(t, () => ({ kind: 'function-error' }));
    await h.advance(T0 + 5000);
    h.queue.enqueue({ ...event('aged'), traceHeader: 'Root=1-00000000-000000000000000000000001' });
    await flush();
    await h.advance(T0 + 5000 + 60_000);
    await h.advance(T0 + 5000 + 180_000);
    assert.equal(h.runs.length, 3);
    for (const r of h.runs) {
      assert.equal(r.event.enqueuedAt, T0 + 5000);
      assert.equal(r.event.payload.toString(), '{"n":1}');
      assert.equal(r.event.traceHeader, 'Root=1-00000000-000000000000000000000001');
      assert.equal(r.event.qualifier, undefined);
    }
    assert.deepEqual(
      h.runs.map((r) => r.at - r.event.enqueuedAt),
      [0, 60_000, 180_000],
    );
  });

  test('a rejected run counts as a function error, and a success on retry ends it', async (t) => {
    let n = 0;
    const h = harness(t, () => {
      if (n++ === 0) throw new Error('boom');
      return { kind: 'done' };
    });
    h.queue.enqueue(event('e'));
    await flush();
    assert.equal(h.queue.depth(), 1);
    await h.advance(T0 + 60_000);
    assert.deepEqual(
      h.runs.map((r) => r.event.attempts),
      [0, 1],
    );
    assert.equal(h.queue.depth(), 0);
    assert.deepEqual(h.dropped, []);
  });

  test('custom retry delays: their count is the number of retries (none with [])', async (t) => {
    const h = harness(t, () => ({ kind: 'function-error' }), { retryDelaysMs: [] });
    h.queue.enqueue(event('once'));
    await flush();
    assert.equal(h.runs.length, 1);
    assert.deepEqual(h.dropped, [{ id: 'once', why: 'failed 1 times', at: T0 }]);
  });

  test('a throttled event waits the backoff and does not use up an attempt', async (t) => {
    let throttles = 3;
    const h = harness(t, () => (throttles-- > 0 ? { kind: 'throttled' } : { kind: 'function-error' }), { throttleBackoffMs: 1000 });
    h.queue.enqueue(event('th'));
    await flush();
    await h.advance(T0 + 999);
    assert.equal(h.runs.length, 1, 'not before the backoff');
    await h.advance(T0 + 1000);
    await h.advance(T0 + 2000);
    await h.advance(T0 + 3000);
    assert.deepEqual(
      h.runs.map((r) => [r.at - T0, r.event.attempts]),
      [
        [0, 0],
        [1000, 0],
        [2000, 0],
        [3000, 0],
      ],
    );
    // The first real failure is retried as attempt 1, 60 s later.
    await h.advance(T0 + 63_000);
    assert.deepEqual(h.runs.at(-1)?.event.attempts, 1);
    assert.equal(h.runs.at(-1)?.at, T0 + 63_000);
  });

  test('an event whose function is gone is dropped at once', async (t) => {
    const h = harness(t, () => ({ kind: 'gone' }));
    h.queue.enqueue(event('g'));
    await flush();
    assert.deepEqual(h.dropped, [{ id: 'g', why: 'the function no longer exists', at: T0 }]);
    assert.equal(h.queue.depth(), 0);
    await h.advance(T0 + 600_000);
    assert.equal(h.runs.length, 1);
  });

  test('no more than `concurrency` events run at once; a finishing one starts the next, oldest first', async (t) => {
    const release = new Map<string, () => void>();
    const h = harness(
      t,
      (e) =>
        new Promise<EventOutcome>((resolve) => {
          release.set(e.requestId, () => resolve({ kind: 'done' }));
        }),
      { concurrency: 2 },
    );
    for (const id of ['a', 'b', 'c', 'd', 'e']) {
      h.queue.enqueue(event(id));
      await h.advance(h.clock.now() + 1);
    }
    assert.deepEqual(
      h.runs.map((r) => r.event.requestId),
      ['a', 'b'],
    );
    assert.equal(h.queue.depth(), 5, 'depth counts running and waiting events');
    release.get('b')?.();
    await flush();
    assert.deepEqual(
      h.runs.map((r) => r.event.requestId),
      ['a', 'b', 'c'],
    );
    release.get('a')?.();
    release.get('c')?.();
    await flush();
    await flush();
    assert.deepEqual(
      h.runs.map((r) => r.event.requestId),
      ['a', 'b', 'c', 'd', 'e'],
    );
    assert.equal(h.queue.depth(), 2);
    release.get('d')?.();
    release.get('e')?.();
    await flush();
    assert.equal(h.queue.depth(), 0);
  });

  test('a due retry waits for a free slot when the queue is full', async (t) => {
    const release = new Map<string, () => void>();
    let failFirst = true;
    const h = harness(
      t,
      (e) => {
        if (e.requestId === 'r' && failFirst) {
          failFirst = false;
          return { kind: 'function-error' };
        }
        return new Promise<EventOutcome>((resolve) => release.set(e.requestId, () => resolve({ kind: 'done' })));
      },
      { concurrency: 1 },
    );
    h.queue.enqueue(event('r'));
    await flush();
    h.queue.enqueue(event('busy'));
    await flush();
    await h.advance(T0 + 90_000);
    assert.deepEqual(
      h.runs.map((r) => r.event.requestId),
      ['r', 'busy'],
      'the retry is due but the only slot is taken',
    );
    release.get('busy')?.();
    await flush();
    assert.deepEqual(
      h.runs.map((r) => [r.event.requestId, r.at - T0, r.event.attempts]),
      [
        ['r', 0, 0],
        ['busy', 0, 0],
        ['r', 90_000, 1],
      ],
    );
    release.get('r')?.();
    await flush();
    assert.equal(h.queue.depth(), 0);
  });

  test('events left running by a crash run again when the queue starts on the same database', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'lambkin-event-queue-crash-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'q.db');
    // The first process: its event does not finish before the second starts (as if the first had died with it running).
    let finishFirst!: () => void;
    const first = harness(t, () => new Promise<EventOutcome>((resolve) => (finishFirst = () => resolve({ kind: 'done' }))), {}, file);
    first.queue.enqueue(event('survivor'));
    await flush();
    assert.equal(first.runs.length, 1);
    const second = harness(t, () => ({ kind: 'done' }), {}, file);
    second.queue.pump();
    await flush();
    assert.deepEqual(
      second.runs.map((r) => [r.event.requestId, r.event.attempts]),
      [['survivor', 0]],
    );
    assert.equal(second.queue.depth(), 0);
    finishFirst();
  });

  test('closing leaves an unfinished failure queued for the next start instead of dropping it', async (t) => {
    let fail!: () => void;
    const h = harness(t, () => new Promise<EventOutcome>((resolve) => (fail = () => resolve({ kind: 'function-error' }))), { retryDelaysMs: [] });
    h.queue.enqueue(event('k'));
    await flush();
    const closed = h.queue.close();
    fail();
    await closed;
    assert.equal(h.queue.depth(), 1);
    assert.deepEqual(h.dropped, []);
  });
});
