import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { applyMigrations, appliedMigrations, openDatabase, statementCache, type Migration } from '../../src/store/database.js';

const dir = mkdtempSync(path.join(tmpdir(), 'lambkin-db-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const file = () => path.join(dir, `db-${++n}.sqlite`);

const m1: Migration = { id: 'things-001', sql: 'CREATE TABLE things (id INTEGER PRIMARY KEY, v TEXT NOT NULL);' };
const m2: Migration = { id: 'things-002', sql: "INSERT INTO things (v) VALUES ('seeded');" };

void describe('openDatabase', () => {
  void test('WAL, foreign keys and busy timeout are on', () => {
    const db = openDatabase(file());
    try {
      assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
      assert.equal(db.pragma('foreign_keys', { simple: true }), 1);
      assert.equal(db.pragma('busy_timeout', { simple: true }), 5000);
    } finally {
      db.close();
    }
  });

  void test(':memory: works', () => {
    const db = openDatabase(':memory:', [m1, m2]);
    try {
      assert.deepEqual(db.prepare('SELECT v FROM things').all(), [{ v: 'seeded' }]);
    } finally {
      db.close();
    }
  });

  void test('migrations are applied once each, in order, and survive a reopen', () => {
    const f = file();
    let db = openDatabase(f, [m1, m2]);
    assert.deepEqual(appliedMigrations(db), ['things-001', 'things-002']);
    db.close();
    db = openDatabase(f, [m1, m2]);
    try {
      // m2 inserts a row: applied twice it would leave two.
      assert.equal((db.prepare('SELECT count(*) AS c FROM things').get() as { c: number }).c, 1);
      assert.deepEqual(appliedMigrations(db), ['things-001', 'things-002']);
    } finally {
      db.close();
    }
  });

  void test('components register their own migrations on an open database', () => {
    const db = openDatabase(file(), [m1]);
    try {
      const other: Migration[] = [{ id: 'other-001', sql: 'CREATE TABLE other (x INTEGER);' }];
      assert.deepEqual(applyMigrations(db, other), ['other-001']);
      assert.deepEqual(applyMigrations(db, other), []);
      assert.deepEqual(applyMigrations(db, [m1, m2]), ['things-002']);
      assert.deepEqual(appliedMigrations(db), ['things-001', 'other-001', 'things-002']);
    } finally {
      db.close();
    }
  });

  void test('a failing migration applies none of the pending ones', () => {
    const db = openDatabase(file());
    try {
      const bad: Migration = { id: 'things-003', sql: 'CREATE TABLE broken (;' };
      assert.throws(() => applyMigrations(db, [m1, m2, bad]), /syntax error/);
      assert.deepEqual(appliedMigrations(db), []);
      assert.equal(db.prepare("SELECT name FROM sqlite_master WHERE name = 'things'").get(), undefined);
    } finally {
      db.close();
    }
  });

  void test('an applied migration whose SQL changed is refused', () => {
    const f = file();
    openDatabase(f, [m1]).close();
    assert.throws(() => openDatabase(f, [{ id: 'things-001', sql: m1.sql + ' -- edited' }]), /append-only/);
  });

  void test('a changed migration after a pending one applies none of them', () => {
    const db = openDatabase(file(), [m1]);
    try {
      const other: Migration = { id: 'other-001', sql: 'CREATE TABLE other (x INTEGER);' };
      assert.throws(() => applyMigrations(db, [other, { id: 'things-001', sql: m1.sql + ' -- edited' }]), /append-only/);
      assert.deepEqual(appliedMigrations(db), ['things-001']);
      assert.equal(db.prepare("SELECT name FROM sqlite_master WHERE name = 'other'").get(), undefined);
    } finally {
      db.close();
    }
  });

  void test('statementCache prepares each SQL text once', () => {
    const db = openDatabase(':memory:', [m1, m2]);
    try {
      const sql = statementCache(db);
      const count = sql('SELECT count(*) AS c FROM things');
      assert.equal(sql('SELECT count(*) AS c FROM things'), count);
      assert.notEqual(sql('SELECT v FROM things'), count);
      assert.deepEqual(count.get(), { c: 1 });
    } finally {
      db.close();
    }
  });

  void test('duplicate and malformed ids are refused', () => {
    assert.throws(() => openDatabase(':memory:', [m1, m1]), /appears twice/);
    assert.throws(() => openDatabase(':memory:', [{ id: 'nonumber', sql: 'SELECT 1' }]), /must look like/);
  });
});
