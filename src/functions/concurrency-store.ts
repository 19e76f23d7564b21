/**
 * Reserved and provisioned concurrency settings, persisted next to the function registry's tables.
 *
 * Rows reference the registry's tables with ON DELETE CASCADE, so deleting a function removes its
 * reserved concurrency and provisioned-concurrency configs, deleting a published version removes the
 * configs on that version, and deleting an alias removes the config on that alias, all inside the
 * registry's own transaction. The registry's migrations must be applied first (the registry's
 * constructor does that).
 */
import { applyMigrations, statementCache, type Database, type Migration, type StatementCache } from '../store/database.js';
import type { Caller } from './names.js';

/** This store's tables. Append new migrations; never edit an applied one. */
export const concurrencyMigrations: readonly Migration[] = [
  {
    id: 'concurrency-001',
    sql: `
CREATE TABLE reserved_concurrency (
  account TEXT NOT NULL,
  region TEXT NOT NULL,
  name TEXT NOT NULL,
  reserved INTEGER NOT NULL,
  PRIMARY KEY (account, region, name),
  FOREIGN KEY (account, region, name) REFERENCES functions (account, region, name) ON DELETE CASCADE
) STRICT;

CREATE TABLE provisioned_concurrency (
  account TEXT NOT NULL,
  region TEXT NOT NULL,
  name TEXT NOT NULL,
  qualifier TEXT NOT NULL,
  -- exactly one of version / alias is set (= qualifier); each drives one cascade
  version TEXT,
  alias TEXT,
  requested INTEGER NOT NULL,
  last_modified TEXT NOT NULL,
  PRIMARY KEY (account, region, name, qualifier),
  FOREIGN KEY (account, region, name, version) REFERENCES function_versions (account, region, name, version) ON DELETE CASCADE,
  FOREIGN KEY (account, region, name, alias) REFERENCES aliases (account, region, name, alias) ON DELETE CASCADE
) STRICT;
`,
  },
];

/** One provisioned-concurrency configuration (a version's or an alias's). */
export interface ProvisionedConfig {
  readonly account: string;
  readonly region: string;
  readonly functionName: string;
  /** A published version number or an alias name. */
  readonly qualifier: string;
  readonly kind: 'version' | 'alias';
  readonly requested: number;
  /** AWS's LastModified format. */
  readonly lastModified: string;
}

interface ProvisionedRow {
  account: string;
  region: string;
  name: string;
  qualifier: string;
  version: string | null;
  alias: string | null;
  requested: number;
  last_modified: string;
}

const toConfig = (r: ProvisionedRow): ProvisionedConfig => ({
  account: r.account,
  region: r.region,
  functionName: r.name,
  qualifier: r.qualifier,
  kind: r.alias !== null ? 'alias' : 'version',
  requested: r.requested,
  lastModified: r.last_modified,
});

/** Reserved concurrency per function and provisioned-concurrency configs per version / alias. */
export class ConcurrencyStore {
  private readonly sql: StatementCache;

  constructor(db: Database) {
    applyMigrations(db, concurrencyMigrations);
    this.sql = statementCache(db);
  }

  /** The function's reserved concurrency, or undefined when it draws from the unreserved pool. */
  reserved(caller: Caller, name: string): number | undefined {
    const row = this.sql('SELECT reserved FROM reserved_concurrency WHERE account = ? AND region = ? AND name = ?').get(caller.account, caller.region, name) as
      | { reserved: number }
      | undefined;
    return row?.reserved;
  }

  /** Sum of the reservations in (account, region), optionally without one function's. */
  reservedSum(caller: Caller, except?: string): number {
    const row = this.sql('SELECT COALESCE(SUM(reserved), 0) AS n FROM reserved_concurrency WHERE account = ? AND region = ? AND name != ?').get(
      caller.account,
      caller.region,
      except ?? '',
    ) as { n: number };
    return row.n;
  }

  /** Every reservation (start-up). */
  allReserved(): { account: string; region: string; functionName: string; reserved: number }[] {
    return (this.sql('SELECT * FROM reserved_concurrency ORDER BY account, region, name').all() as { account: string; region: string; name: string; reserved: number }[]).map(
      (r) => ({ account: r.account, region: r.region, functionName: r.name, reserved: r.reserved }),
    );
  }

  /** Sets the reservation (the function must exist: the foreign key says so). */
  setReserved(caller: Caller, name: string, reserved: number): void {
    this.sql(
      `INSERT INTO reserved_concurrency (account, region, name, reserved) VALUES (?, ?, ?, ?)
       ON CONFLICT (account, region, name) DO UPDATE SET reserved = excluded.reserved`,
    ).run(caller.account, caller.region, name, reserved);
  }

  /** Removes the reservation (the function then draws from the unreserved pool again). */
  deleteReserved(caller: Caller, name: string): void {
    this.sql('DELETE FROM reserved_concurrency WHERE account = ? AND region = ? AND name = ?').run(caller.account, caller.region, name);
  }

  /** The provisioned-concurrency config of a version or alias, if one is set. */
  provisioned(caller: Caller, name: string, qualifier: string): ProvisionedConfig | undefined {
    const row = this.sql('SELECT * FROM provisioned_concurrency WHERE account = ? AND region = ? AND name = ? AND qualifier = ?').get(
      caller.account,
      caller.region,
      name,
      qualifier,
    ) as ProvisionedRow | undefined;
    return row ? toConfig(row) : undefined;
  }

  /** The function's configs ordered by qualifier. */
  listProvisioned(caller: Caller, name: string): ProvisionedConfig[] {
    return (this.sql('SELECT * FROM provisioned_concurrency WHERE account = ? AND region = ? AND name = ? ORDER BY qualifier').all(
      caller.account,
      caller.region,
      name,
    ) as ProvisionedRow[]).map(toConfig);
  }

  /** Every config (start-up and reconciliation). */
  allProvisioned(): ProvisionedConfig[] {
    return (this.sql('SELECT * FROM provisioned_concurrency ORDER BY account, region, name, qualifier').all() as ProvisionedRow[]).map(toConfig);
  }

  /** Creates or replaces the config of a version or alias (which must exist: the foreign keys say so). */
  putProvisioned(caller: Caller, name: string, qualifier: string, kind: 'version' | 'alias', requested: number, lastModified: string): ProvisionedConfig {
    this.sql(
      `INSERT INTO provisioned_concurrency (account, region, name, qualifier, version, alias, requested, last_modified)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (account, region, name, qualifier) DO UPDATE SET requested = excluded.requested, last_modified = excluded.last_modified`,
    ).run(caller.account, caller.region, name, qualifier, kind === 'version' ? qualifier : null, kind === 'alias' ? qualifier : null, requested, lastModified);
    return { account: caller.account, region: caller.region, functionName: name, qualifier, kind, requested, lastModified };
  }

  /** Returns whether a config was removed. */
  deleteProvisioned(caller: Caller, name: string, qualifier: string): boolean {
    return (
      this.sql('DELETE FROM provisioned_concurrency WHERE account = ? AND region = ? AND name = ? AND qualifier = ?').run(caller.account, caller.region, name, qualifier)
        .changes > 0
    );
  }
}
