/**
 * SQLite for lambkin's state: one file (or `:memory:`), WAL, foreign keys on, and append-only
 * migrations that each component registers for its own tables.
 *
 * A migration is `{ id, sql }` with ids like `functions-001`. Each id is applied once, in the
 * order given, and remembered in the `migrations` table with a checksum of its SQL: a migration
 * that was already applied must never change (add a new one instead), so a changed checksum is
 * an error at start-up rather than a silently diverging schema.
 */
import BetterSqlite3, { type Statement } from 'better-sqlite3';
import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { realClock, type Clock } from '../util/clock.js';

/** The better-sqlite3 handle every component receives. */
export type Database = BetterSqlite3.Database;

/** One schema change owned by a component. `id` is unique across all components. */
export interface Migration {
  readonly id: string;
  readonly sql: string;
}

/** How {@link openDatabase} opens the file. */
export interface OpenOptions {
  /** How long a writer waits for a lock held by another connection, in ms (default 5000). */
  readonly busyTimeoutMs?: number;
  /** Stamps applied migrations (default: the real clock). */
  readonly clock?: Clock;
}

const ID_PATTERN = /^[a-z][a-z0-9-]*-\d{3,}$/;

/**
 * Opens (creating it and its directory if needed) the database at `file` and applies `migrations` that are not yet
 * applied. Further components may call {@link applyMigrations} on the returned handle.
 */
export function openDatabase(file: string, migrations: readonly Migration[] = [], options: OpenOptions = {}): Database {
  // The data dir may not exist yet on first start.
  if (file !== ':memory:' && file !== '') mkdirSync(path.dirname(file), { recursive: true });
  const db = new BetterSqlite3(file);
  try {
    // WAL lets readers (list/get) run while a writer commits; ':memory:' reports 'memory'.
    db.pragma('journal_mode = WAL');
    db.pragma('foreign_keys = ON');
    db.pragma(`busy_timeout = ${Math.max(0, Math.trunc(options.busyTimeoutMs ?? 5000))}`);
    // NORMAL is durable across application crashes in WAL mode; only a power loss can drop the
    // last transactions, which is the usual trade-off for a local control plane.
    db.pragma('synchronous = NORMAL');
    db.exec(`CREATE TABLE IF NOT EXISTS migrations (
      id TEXT PRIMARY KEY,
      checksum TEXT NOT NULL,
      applied_at TEXT NOT NULL
    ) STRICT`);
    applyMigrations(db, migrations, options.clock);
    return db;
  } catch (e) {
    db.close();
    throw e;
  }
}

/**
 * Applies the migrations of `list` that are not applied yet, in list order, all in one
 * transaction (either every pending one is applied or none). Returns the ids applied now.
 * Throws if an id repeats, is malformed, or an applied migration's SQL has changed since. `clock`
 * stamps them (default: the real clock).
 */
export function applyMigrations(db: Database, list: readonly Migration[], clock: Clock = realClock): string[] {
  const seen = new Set<string>();
  for (const m of list) {
    if (!ID_PATTERN.test(m.id)) throw new Error(`migration id '${m.id}' must look like 'component-001'`);
    if (seen.has(m.id)) throw new Error(`migration id '${m.id}' appears twice`);
    seen.add(m.id);
  }
  const insert = db.prepare('INSERT INTO migrations (id, checksum, applied_at) VALUES (?, ?, ?)');
  // IMMEDIATE: another process opening the same file waits for us (busy_timeout) and then sees
  // what we applied, instead of both deciding a migration is pending and the second one failing.
  return db
    .transaction(() => {
      const applied = new Map(
        (db.prepare('SELECT id, checksum FROM migrations').all() as { id: string; checksum: string }[]).map((r) => [r.id, r.checksum]),
      );
      const done: string[] = [];
      for (const m of list) {
        const sum = checksum(m.sql);
        const old = applied.get(m.id);
        if (old === undefined) {
          db.exec(m.sql);
          insert.run(m.id, sum, new Date(clock.now()).toISOString());
          done.push(m.id);
        } else if (old !== sum) {
          throw new Error(`migration '${m.id}' was applied with different SQL; migrations are append-only, add a new one instead`);
        }
      }
      return done;
    })
    .immediate();
}

/** The prepared statement for an SQL text, prepared on first use (see {@link statementCache}). */
export type StatementCache = (text: string) => Statement;

/**
 * A prepared-statement cache keyed by SQL text, for components that build statements on first use
 * (preparing is far slower than running a statement, and some run on every Invoke).
 */
export function statementCache(db: Database): StatementCache {
  const statements = new Map<string, Statement>();
  return (text) => {
    let st = statements.get(text);
    if (!st) {
      st = db.prepare(text);
      statements.set(text, st);
    }
    return st;
  };
}

/** Ids of the migrations applied to `db`, in the order they were applied. */
export function appliedMigrations(db: Database): string[] {
  return (db.prepare('SELECT id FROM migrations ORDER BY rowid').all() as { id: string }[]).map((r) => r.id);
}

function checksum(sql: string): string {
  return createHash('sha256').update(sql).digest('hex');
}
