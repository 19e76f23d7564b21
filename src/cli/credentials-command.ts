/**
 * `lambkin credentials create|list|delete`: host access keys, kept in the data dir's database so a
 * running server honours a new key (and forgets a deleted one) at once.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { openDatabase } from '../store/database.js';
import { ACCOUNT_RE, HostCredentials } from '../frontend/host-credentials.js';

/** Where the command works and writes. */
export interface CredentialsCommandOptions {
  readonly dataDir: string;
  readonly out: (s: string) => void;
  readonly err: (s: string) => void;
}

function withKeys<T>(dataDir: string, create: boolean, fn: (keys: HostCredentials) => T): T | undefined {
  const file = join(resolve(dataDir), 'lambkin.db');
  if (!create && !existsSync(file)) return undefined;
  const db = openDatabase(file);
  try {
    return fn(new HostCredentials(db));
  } finally {
    db.close();
  }
}

/** Issues a key for `account`; prints it (the secret is shown only here). Returns the exit code. */
export function createCredentials(o: CredentialsCommandOptions & { readonly account: string; readonly json: boolean }): number {
  if (!ACCOUNT_RE.test(o.account)) {
    o.err(`lambkin: --account must be a 12-digit account id, not '${o.account}'\n`);
    return 2;
  }
  const c = withKeys(o.dataDir, true, (keys) => keys.create(o.account));
  if (!c) return 1;
  if (o.json) {
    o.out(`${JSON.stringify({ AccessKey: { AccessKeyId: c.accessKeyId, SecretAccessKey: c.secretAccessKey, Account: c.account, Status: 'Active', CreateDate: c.createdAt } }, null, 2)}\n`);
  } else {
    o.out(`AccessKeyId: ${c.accessKeyId}\nSecretAccessKey: ${c.secretAccessKey}\nAccount: ${c.account}\n`);
  }
  return 0;
}

/** Lists keys (ids, accounts, dates; never secrets). */
export function listCredentials(o: CredentialsCommandOptions & { readonly account?: string }): number {
  const all = withKeys(o.dataDir, false, (keys) => keys.list(o.account)) ?? [];
  if (all.length === 0) {
    o.err(`lambkin: no credentials in ${resolve(o.dataDir)}\n`);
    return 0;
  }
  const rows = [['ACCESS KEY ID', 'ACCOUNT', 'CREATED'], ...all.map((c) => [c.accessKeyId, c.account, c.createdAt])];
  const width = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  for (const r of rows) o.out(`${r.map((cell, i) => cell.padEnd(width[i] ?? 0)).join('  ').trimEnd()}\n`);
  return 0;
}

/** Deletes a key; exit code 1 when there was none. */
export function deleteCredentials(o: CredentialsCommandOptions & { readonly accessKeyId: string }): number {
  const deleted = withKeys(o.dataDir, false, (keys) => keys.delete(o.accessKeyId)) ?? false;
  if (!deleted) {
    o.err(`lambkin: no access key ${o.accessKeyId} in ${resolve(o.dataDir)}\n`);
    return 1;
  }
  o.out(`deleted ${o.accessKeyId}\n`);
  return 0;
}
