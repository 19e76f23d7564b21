import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CodeGc } from '../../src/functions/code-gc.js';
import { CodeStore } from '../../src/functions/code-store.js';
import { functionsMigrations } from '../../src/functions/function-schema.js';
import { openDatabase, statementCache, type Database } from '../../src/store/database.js';
import { buildZip } from '../helpers/zip.js';

const base = mkdtempSync(path.join(tmpdir(), 'lambkin-code-gc-'));
after(() => rmSync(base, { recursive: true, force: true }));
let n = 0;

const zipA = buildZip({ 'index.js': 'exports.handler = async () => "a";' });
const zipB = buildZip({ 'index.js': 'exports.handler = async () => "b";' });
const hex = (z: Buffer) => createHash('sha256').update(z).digest('hex');

function setup(): { db: Database; code: CodeStore; gc: CodeGc; errors: unknown[]; listing: () => string[] } {
  const dir = path.join(base, `d${++n}`);
  const db = openDatabase(path.join(dir, 'lambkin.db'), functionsMigrations);
  const code = new CodeStore(dir);
  const errors: unknown[] = [];
  const gc = new CodeGc({ db, sql: statementCache(db), code, onError: (e) => errors.push(e) });
  return { db, code, gc, errors, listing: () => readdirSync(code.root).sort() };
}

/** A `$LATEST` row referencing `sha` (and optionally previous code still running). */
function reference(db: Database, name: string, sha: string, previousSha?: string): void {
  db.prepare("INSERT INTO functions (account, region, name, created_at) VALUES ('a', 'r', ?, 'now')").run(name);
  db.prepare(
    `INSERT INTO function_versions (account, region, name, version, version_num, runtime, role, description, timeout, memory_size,
       ephemeral_storage, architectures, package_type, tracing_mode, code_sha256, code_size, last_modified, revision_id, config_id,
       state, last_update_status, previous_config)
     VALUES ('a', 'r', ?, '$LATEST', 0, 'nodejs20.x', 'role', '', 3, 128, 512, '[]', 'Zip', 'PassThrough', ?, 1, 'now', 'r', 'c',
       'Active', 'Successful', ?)`,
  ).run(name, sha, previousSha === undefined ? null : JSON.stringify({ code_sha256: previousSha }));
}

void describe('CodeGc', () => {
  void test('a write that fails after storing its code leaves no code behind', async (t) => {
    const { db, gc, errors, listing } = setup();
    t.after(() => db.close());
    await assert.rejects(
      gc.writeWithCode(zipA, 'CreateFunction', () => {
        throw new Error('transaction failed');
      }),
      /transaction failed/,
    );
    await gc.settle();
    assert.deepEqual(listing(), []);
    assert.deepEqual(errors, []);
  });

  void test('a committed write keeps its code; unreferenced code is removed, referenced code kept', async (t) => {
    const { db, gc, listing } = setup();
    t.after(() => db.close());
    const a = await gc.writeWithCode(zipA, 'CreateFunction', (stored) => {
      reference(db, 'f', stored.sha256);
      return stored;
    });
    const b = await gc.writeWithCode(zipB, 'CreateFunction', (stored) => {
      reference(db, 'g', stored.sha256, a.sha256);
      return stored;
    });
    assert.deepEqual(gc.referencedCode(), new Set([a.sha256, b.sha256]));
    db.prepare("DELETE FROM functions WHERE name = 'f'").run();
    gc.removeUnreferenced([a.sha256]);
    await gc.settle();
    assert.deepEqual(listing(), [hex(zipA), `${hex(zipA)}.zip`, hex(zipB), `${hex(zipB)}.zip`].sort(), "g's update in progress still runs zipA");
    db.prepare("DELETE FROM functions WHERE name = 'g'").run();
    assert.deepEqual((await gc.collect()).sort(), [a.sha256, b.sha256].sort());
    assert.deepEqual(listing(), []);
  });
});
