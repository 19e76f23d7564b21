/**
 * The composition root's start-up: a start that fails half-way (here: the port is taken) closes
 * what it had opened already, so an embedding program is left with no socket open.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
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
