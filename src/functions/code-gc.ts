/**
 * Garbage collection of the code store for the registry: code is stored BEFORE the transaction
 * that references it (extraction is slow and async); if that transaction fails, the code is
 * given up again, and code no version references any more is removed in the background.
 * {@link CodeGc.collect} also catches whatever a crash left behind.
 */
import type { Database, StatementCache } from '../store/database.js';
import type { CodeStore, StoredCode } from './code-store.js';

/** What a {@link CodeGc} works on. */
export interface CodeGcOptions {
  readonly db: Database;
  readonly sql: StatementCache;
  readonly code: CodeStore;
  /** Receives failures of background removals. */
  readonly onError: (e: unknown) => void;
}

/** Keeps the code store to what the registry's versions reference (see the file comment). */
export class CodeGc {
  private pending: Promise<unknown> = Promise.resolve();

  constructor(private readonly o: CodeGcOptions) {}

  /** The code shas any version references. */
  referencedCode(): Set<string> {
    // The previous configuration of an incomplete update still runs, so its code stays too.
    const rows = this.o
      .sql(
        `SELECT code_sha256 AS sha FROM function_versions
         UNION SELECT json_extract(previous_config, '$.code_sha256') FROM function_versions WHERE previous_config IS NOT NULL`,
      )
      .all() as { sha: string | null }[];
    return new Set(rows.flatMap((r) => (r.sha === null ? [] : [r.sha])));
  }

  /**
   * Stores `zip`, then runs `write` with it in one transaction. Extraction is slow and async, so it
   * happens first; if the transaction then fails, the code is given up again.
   */
  async writeWithCode<T>(zip: Buffer, operation: string, write: (stored: StoredCode) => T): Promise<T> {
    const { db, code } = this.o;
    const stored = await code.put(zip, operation);
    let out: T;
    try {
      out = db.transaction(() => write(stored))();
    } catch (e) {
      // Drop our pin and remove the code if nothing else references it.
      code.release(stored.sha256);
      this.removeUnreferenced([stored.sha256]);
      throw e;
    }
    // Committed: the version row references the code now, so the pin is no longer needed.
    code.release(stored.sha256);
    return out;
  }

  /** Removes, in the background, those of `shas` no version references (after a delete). */
  removeUnreferenced(shas: readonly string[]): void {
    if (shas.length === 0) return;
    const referenced = this.referencedCode();
    const unreferenced = [...new Set(shas)].filter((s) => !referenced.has(s));
    if (unreferenced.length === 0) return;
    this.pending = this.pending
      .then(() => {
        // Asked again when the removal runs: a later write may have referenced the code meanwhile.
        const inUse = this.referencedCode();
        return Promise.all(unreferenced.map((s) => this.o.code.remove(s, inUse)));
      })
      .catch((e: unknown) => this.o.onError(e));
  }

  /** Removes code no version references (and leftovers of interrupted uploads). Returns the removed shas. */
  async collect(): Promise<string[]> {
    await this.pending;
    const run = this.o.code.collect(this.referencedCode());
    this.pending = run.catch(() => undefined);
    return run;
  }

  /** Waits for background removals. */
  async settle(): Promise<void> {
    await this.pending;
  }
}
