/**
 * The composition root's start-up: a start that fails half-way (here: the port is taken) closes
 * what it had opened already, so an embedding program is left with no socket open.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { startLambkin } from '../../src/cli/lambkin.js';
import { leakFree } from '../helpers/leaks.js';
import { startTestServer } from '../helpers/server.js';

const udpSockets = () => process.getActiveResourcesInfo().filter((r) => r === 'UDPWrap').length;

void test(
  'a start-up that fails (port in use) closes the X-Ray daemon socket it had opened',
  leakFree(async (_t, defer) => {
    const { lambkin } = await startTestServer(defer);
    const dataDir = mkdtempSync(join(tmpdir(), 'lambkin-failed-start-'));
    defer(() => rmSync(dataDir, { recursive: true, force: true }));
    const before = udpSockets();
    await assert.rejects(startLambkin({ port: lambkin.port, dataDir, log: () => {} }), { code: 'EADDRINUSE' });
    // A closed handle leaves the list in libuv's close phase, a few loop turns after close() resolved.
    for (let i = 0; i < 50 && udpSockets() > before; i++) await new Promise((r) => setImmediate(r));
    assert.equal(udpSockets(), before, 'the X-Ray daemon socket is closed');
  }),
);

void test(
  "start-up removes code no function references (left by a server that was killed before its clean-up)",
  leakFree(async (_t, defer) => {
    const dataDir = mkdtempSync(join(tmpdir(), 'lambkin-gc-'));
    defer(() => rmSync(dataDir, { recursive: true, force: true }));
    const orphan = 'ab'.repeat(32);
    mkdirSync(join(dataDir, 'code', orphan), { recursive: true });
    writeFileSync(join(dataDir, 'code', orphan, 'index.js'), 'exports.handler = async () => 1;');
    writeFileSync(join(dataDir, 'code', `${orphan}.zip`), 'not really a zip');
    await startTestServer(defer, { dataDir });
    // The clean-up runs in the background right after start-up (close() would also collect: check before it).
    const left = () => readdirSync(join(dataDir, 'code')).filter((n) => n.startsWith(orphan));
    for (let i = 0; i < 200 && left().length > 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(left(), []);
  }),
);
