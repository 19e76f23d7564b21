import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { limits } from '../../src/errors/catalogue.js';
import { CodeStore, MAX_UNZIPPED_BYTES, MAX_ZIP_BYTES, safeEntryPath } from '../../src/functions/code-store.js';
import { rejectsAwsError } from '../helpers/aws-error.js';
import { makeZerosZip, buildZip, EMPTY_ZIP, withWrongCrcs } from '../helpers/zip.js';

const base = mkdtempSync(path.join(tmpdir(), 'lambkin-code-'));
after(() => rmSync(base, { recursive: true, force: true }));
let n = 0;
function newStore(opts?: ConstructorParameters<typeof CodeStore>[1]): CodeStore {
  return new CodeStore(path.join(base, `d${++n}`), opts);
}

/** Everything under code/ (names only), to prove a failure left nothing behind. */
function listing(store: CodeStore): string[] {
  return readdirSync(store.root).sort();
}


void describe('CodeStore', () => {
  void test('stores, extracts and addresses code by its SHA-256 (base64, as CodeSha256)', async () => {
    const store = newStore();
    const zip = buildZip({ 'index.js': 'exports.handler = async () => 1;', 'lib/util.js': 'module.exports = 2;', 'empty/': '' });
    const got = await store.put(zip);
    assert.equal(got.sha256, createHash('sha256').update(zip).digest('base64'));
    assert.equal(got.size, zip.length);
    assert.equal(got.dir, store.dirFor(got.sha256));
    assert.equal(readFileSync(path.join(got.dir, 'index.js'), 'utf8'), 'exports.handler = async () => 1;');
    assert.equal(readFileSync(path.join(got.dir, 'lib/util.js'), 'utf8'), 'module.exports = 2;');
    assert.ok(statSync(path.join(got.dir, 'empty')).isDirectory());
    assert.deepEqual(readFileSync(store.zipPath(got.sha256)), zip);
    assert.equal(store.has(got.sha256), true);
    const hex = createHash('sha256').update(zip).digest('hex');
    assert.deepEqual(listing(store), [hex, `${hex}.zip`]);
    store.release(got.sha256);
  });

  void test('the same zip is extracted once', async () => {
    const store = newStore();
    const zip = buildZip({ 'a.txt': 'a' });
    const [a, b] = await Promise.all([store.put(zip), store.put(zip)]);
    assert.equal(a.sha256, b.sha256);
    const first = await store.put(zip);
    // A marker written into the tree survives a later put: nothing was re-extracted.
    const marker = path.join(first.dir, 'a.txt');
    const before = statSync(marker).mtimeMs;
    await store.put(zip);
    assert.equal(statSync(marker).mtimeMs, before);
    assert.equal(listing(store).length, 2);
  });

  void test('keeps the executable bit (bootstrap) and nothing more', async () => {
    const store = newStore();
    const zip = buildZip({
      bootstrap: { content: '#!/bin/sh\necho hi\n', mode: 0o755 },
      'data.txt': { content: 'x', mode: 0o600 },
      'setuid-tool': { content: 'y', mode: 0o4755 },
      'dos.txt': 'made on DOS',
    });
    const { dir } = await store.put(zip);
    assert.equal(statSync(path.join(dir, 'bootstrap')).mode & 0o777, 0o755);
    assert.equal(statSync(path.join(dir, 'data.txt')).mode & 0o777, 0o644);
    assert.equal(statSync(path.join(dir, 'setuid-tool')).mode & 0o7777, 0o755);
    assert.equal(statSync(path.join(dir, 'dos.txt')).mode & 0o777, 0o644);
  });

  void test('symlink entries are skipped, never created', async () => {
    const store = newStore();
    const zip = buildZip({ link: { content: '/etc/passwd', mode: 0o120777 }, 'ok.txt': 'ok' });
    const { dir } = await store.put(zip);
    assert.equal(existsSync(path.join(dir, 'link')), false);
    assert.equal(readFileSync(path.join(dir, 'ok.txt'), 'utf8'), 'ok');
    // A later entry "through" a skipped link becomes a plain directory inside the tree.
    const zip2 = buildZip({ ln: { content: '..', mode: 0o120777 }, 'ln/x.txt': 'inside' });
    const got = await store.put(zip2);
    assert.ok(lstatSync(path.join(got.dir, 'ln')).isDirectory());
    assert.equal(readFileSync(path.join(got.dir, 'ln/x.txt'), 'utf8'), 'inside');
  });

  const escaping: [string, string][] = [
    ['../evil.js', 'dot-dot'],
    ['/etc/evil', 'absolute path'],
    ['a/../../evil', 'nested dot-dot'],
    ['..\\evil.js', 'backslash dot-dot'],
    ['C:\\evil.js', 'drive letter'],
    ['C:/evil.js', 'drive letter with slash'],
  ];
  for (const [name, what] of escaping) {
    void test(`an entry escaping its folder is refused, naming it (${what})`, async () => {
      const store = newStore();
      const zip = buildZip({ 'index.js': 'fine', [name]: 'pwned' });
      await rejectsAwsError(
        store.put(zip),
        'zipEntryOutsideFolder',
        `Could not unzip uploaded file: the entry '${name}' would be extracted outside the function's folder (absolute path or '..'). Build the zip from inside the folder that holds your code, then upload it again.`,
      );
      assert.deepEqual(listing(store), []);
      assert.equal(existsSync(path.join(store.root, '..', 'evil.js')), false);
    });
  }

  void test('safeEntryPath normalises harmless names', () => {
    assert.equal(safeEntryPath('./a//b/./c.js'), 'a/b/c.js');
    assert.equal(safeEntryPath('a\\b.js'), 'a/b.js');
    assert.equal(safeEntryPath('./'), null);
    assert.equal(safeEntryPath('..foo/bar'), '..foo/bar');
  });

  void test('a corrupt zip is badZip, nothing written', async () => {
    const store = newStore();
    await rejectsAwsError(store.put(Buffer.from('this is not a zip file at all, not even close')), 'badZip', /^Could not unzip uploaded file/);
    const good = buildZip({ 'index.js': 'x'.repeat(1000) });
    await rejectsAwsError(store.put(good.subarray(0, good.length - 30)), 'badZip');
    // Damage the compressed data but keep the directory: the CRC / inflate check fails mid-extract.
    const damaged = Buffer.from(buildZip({ 'a.txt': 'hello '.repeat(500), 'b.txt': 'world '.repeat(500) }));
    damaged.fill(0xff, 40, 60);
    await rejectsAwsError(store.put(damaged), 'badZip');
    assert.deepEqual(listing(store), []);
  });

  void test('a zip whose CRC-32s are wrong, and an empty zip, are badZip with AWS\'s wording; nothing written', async () => {
    const store = newStore();
    const good = buildZip({ 'index.js': 'exports.handler = async () => 1;', 'lib/a.js': 'x'.repeat(5000) });
    await rejectsAwsError(store.put(withWrongCrcs(good)), 'badZip', /^Could not unzip uploaded file\. Please check your file, then try to upload again\. \(CRC-32 mismatch in entry 'index\.js'\)$/);
    assert.deepEqual(listing(store), []);
    await rejectsAwsError(store.put(EMPTY_ZIP), 'badZip', /^Could not unzip uploaded file\. Please check your file, then try to upload again\./);
    assert.deepEqual(listing(store), []);
    // The same zip with its CRCs intact is fine.
    const ok = await store.put(good);
    assert.equal(readFileSync(path.join(ok.dir, 'lib/a.js'), 'utf8'), 'x'.repeat(5000));
  });

  void test('an entry whose real size exceeds its header is refused before anything is kept', async () => {
    const store = newStore();
    const zip = Buffer.from(buildZip({ 'a.txt': 'A'.repeat(5000) }));
    // Lie in the central directory: claim 10 bytes uncompressed (offset 24 of the CD header).
    const cd = zip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]));
    zip.writeUInt32LE(10, cd + 24);
    await rejectsAwsError(store.put(zip), 'badZip', /too many bytes/);
    assert.deepEqual(listing(store), []);
  });

  void test('the running uncompressed total is capped, counted across entries', async () => {
    const store = newStore({ maxUnzippedBytes: 1000 });
    await rejectsAwsError(store.put(buildZip({ 'a.txt': 'a'.repeat(600), 'b.txt': 'b'.repeat(600) })), 'unzippedTooLarge', 'Unzipped size must be smaller than 1000 bytes');
    assert.deepEqual(listing(store), []);
    const fine = await store.put(buildZip({ 'a.txt': 'a'.repeat(500), 'b.txt': 'b'.repeat(500) }));
    assert.ok(store.has(fine.sha256));
  });

  void test('300 MB of zeros is refused as unzippedTooLarge without extracting it', async () => {
    const store = newStore();
    const zip = await makeZerosZip('zeros.bin', 300 * 1024 * 1024);
    assert.ok(zip.length < 2 * 1024 * 1024, `zip is ${zip.length} bytes`);
    await rejectsAwsError(store.put(zip), 'unzippedTooLarge', `Unzipped size must be smaller than ${MAX_UNZIPPED_BYTES} bytes`);
    assert.deepEqual(listing(store), []);
  });

  void test('a zip over 50 MB is RequestEntityTooLarge for the named operation', async () => {
    const store = newStore();
    const e = await rejectsAwsError(
      store.put(Buffer.alloc(MAX_ZIP_BYTES + 1), 'UpdateFunctionCode'),
      'requestEntityTooLarge',
      `Request must be smaller than ${limits.createFunctionRequestBytes} bytes for the UpdateFunctionCode operation`,
    );
    assert.equal(e.status, 413);
    assert.deepEqual(listing(store), []);
  });

  void test('collect removes unreferenced, unpinned code and crash leftovers', async () => {
    const store = newStore();
    const a = await store.put(buildZip({ 'a.txt': 'a' }));
    const b = await store.put(buildZip({ 'b.txt': 'b' }));
    const c = await store.put(buildZip({ 'c.txt': 'c' }));
    store.release(a.sha256);
    store.release(b.sha256);
    // c stays pinned, as if its registry transaction had not committed yet.
    const leftover = path.join(store.root, '.tmp-crashed');
    rmSync(leftover, { recursive: true, force: true });
    await import('node:fs/promises').then((fs) => fs.mkdir(leftover));
    const removed = await store.collect(new Set([a.sha256]));
    assert.deepEqual(removed, [b.sha256]);
    assert.equal(store.has(a.sha256), true);
    assert.equal(store.has(b.sha256), false);
    assert.equal(store.has(c.sha256), true);
    assert.equal(existsSync(leftover), false);
    store.release(c.sha256);
    assert.deepEqual((await store.collect(new Set())).sort(), [a.sha256, c.sha256].sort());
    assert.deepEqual(listing(store), []);
    // Collected code can be stored again.
    const again = await store.put(buildZip({ 'a.txt': 'a' }));
    assert.equal(again.sha256, a.sha256);
    assert.equal(readFileSync(path.join(again.dir, 'a.txt'), 'utf8'), 'a');
  });
});
