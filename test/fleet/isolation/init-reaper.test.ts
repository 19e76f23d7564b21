/**
 * The sandbox init at isolation `none`: no cgroup, so what a runtime leaves behind is found through
 * /proc (the init is a child subreaper) and killed when the sandbox stops. An attacker names its
 * daemon so that a naive parse of /proc/PID/stat would see another parent.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { leakFree } from '../../helpers/leaks.js';
import { ProcessDriver } from '../../../src/fleet/process-driver.js';
import { invocation, nodeSpec, processesWith, scratchRoot } from '../isolation-fixtures.js';

const root = scratchRoot('lambkin-reaper-');
after(() => root.remove());

const DAEMON = `const { spawn } = require('child_process');
exports.handler = async (event) => {
  // The name ends in ") R 1": a stat parser that stops at the first ')' reads ppid 1.
  spawn('sh', ['-c', 'printf "x) R 1 " > /proc/self/comm; while :; do sleep 1; done', event.marker], { detached: true, stdio: 'ignore' }).unref();
  const until = Date.now() + 5000;
  const fs = require('fs');
  for (;;) {
    const named = fs.readdirSync('/proc').filter((p) => /^\\d+$/.test(p)).some((p) => { try { return fs.readFileSync('/proc/' + p + '/comm', 'utf8').startsWith('x) R 1'); } catch { return false; } });
    if (named || Date.now() > until) return { named };
    await new Promise((r) => setTimeout(r, 10));
  }
};`;

test(
  'at isolation none, stopping a sandbox kills a setsid daemon however it names itself',
  leakFree(async (_t, defer) => {
    const driver = new ProcessDriver({ initTimeoutMs: 10_000, python: 'python3' });
    defer(() => driver.close());
    const marker = `lambkin-reaper-${process.pid}`;
    const sandbox = await driver.create(nodeSpec(root.dir, DAEMON, { memoryMb: 256 }));
    const out = await sandbox.invoke(invocation({ marker }));
    assert.deepEqual(JSON.parse(out.payload.toString()), { named: true });
    assert.ok(processesWith(marker).length > 0, 'the daemon runs');
    await sandbox.stop();
    assert.deepEqual(processesWith(marker), [], 'the daemon is gone with its sandbox');
  }),
);
