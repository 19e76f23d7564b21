/**
 * Host credentials: long-term access keys lambkin issues (`lambkin credentials create`) for
 * callers on the host. Each belongs to one account; a request signed with one is verified and
 * acts as that account. Kept in SQLite (the server reads each key on use, so a key created or
 * deleted while it runs takes effect at once). The secret is stored as is: SigV4 verification
 * needs it (an HMAC key, not a password), so the data dir must stay private.
 */
import { randomBytes } from 'node:crypto';
import { applyMigrations, statementCache, type Database, type Migration, type StatementCache } from '../store/database.js';
import { realClock, type Clock } from '../util/clock.js';

export const credentialMigrations: readonly Migration[] = [
  {
    id: 'credentials-001',
    sql: `CREATE TABLE host_credentials (
      access_key_id TEXT PRIMARY KEY,
      secret_access_key TEXT NOT NULL,
      account TEXT NOT NULL,
      created_at TEXT NOT NULL
    ) STRICT;
    CREATE INDEX host_credentials_by_account ON host_credentials (account, created_at);`,
  },
];

/** One issued host key. */
export interface HostCredential {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly account: string;
  /** ISO 8601. */
  readonly createdAt: string;
}

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** `prefix` + 16 characters of AWS's access key id alphabet (upper-case base32), e.g. `AKIA…`. */
export function newAccessKeyId(prefix: 'AKIA' | 'ASIA'): string {
  const bytes = randomBytes(16);
  let id = prefix;
  for (const b of bytes) id += BASE32[b & 31];
  return id;
}

/** 40 characters, as AWS secret keys are. */
export function newSecretAccessKey(): string {
  return randomBytes(30).toString('base64');
}

/** A 12-digit account id. */
export const ACCOUNT_RE = /^\d{12}$/;

interface Row {
  access_key_id: string;
  secret_access_key: string;
  account: string;
  created_at: string;
}

const toCredential = (r: Row): HostCredential => ({
  accessKeyId: r.access_key_id,
  secretAccessKey: r.secret_access_key,
  account: r.account,
  createdAt: r.created_at,
});

/** The `host_credentials` table. */
export class HostCredentials {
  private readonly sql: StatementCache;

  constructor(
    db: Database,
    /** For creation times; the server passes its own. */
    private readonly clock: Clock = realClock,
  ) {
    applyMigrations(db, credentialMigrations, clock);
    this.sql = statementCache(db);
  }

  /** Issues a new key for `account` (12 digits). */
  create(account: string): HostCredential {
    if (!ACCOUNT_RE.test(account)) throw new Error(`account must be 12 digits, not '${account}'`);
    const c: HostCredential = {
      accessKeyId: newAccessKeyId('AKIA'),
      secretAccessKey: newSecretAccessKey(),
      account,
      createdAt: new Date(this.clock.now()).toISOString(),
    };
    this.sql('INSERT INTO host_credentials (access_key_id, secret_access_key, account, created_at) VALUES (?, ?, ?, ?)').run(
      c.accessKeyId,
      c.secretAccessKey,
      c.account,
      c.createdAt,
    );
    return c;
  }

  /** The key with this id, if issued and not deleted. */
  get(accessKeyId: string): HostCredential | undefined {
    const r = this.sql('SELECT * FROM host_credentials WHERE access_key_id = ?').get(accessKeyId) as Row | undefined;
    return r ? toCredential(r) : undefined;
  }

  /** Every key, oldest first (optionally of one account). */
  list(account?: string): HostCredential[] {
    const rows = (
      account === undefined
        ? this.sql('SELECT * FROM host_credentials ORDER BY created_at, access_key_id').all()
        : this.sql('SELECT * FROM host_credentials WHERE account = ? ORDER BY created_at, access_key_id').all(account)
    ) as Row[];
    return rows.map(toCredential);
  }

  /** Deletes a key; false when there was none. */
  delete(accessKeyId: string): boolean {
    return this.sql('DELETE FROM host_credentials WHERE access_key_id = ?').run(accessKeyId).changes > 0;
  }
}
