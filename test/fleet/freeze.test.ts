/**
 * Frozen between invocations, as on Lambda: once an invocation has finished (and right after init),
 * a sandbox's processes get no CPU, leftover background work included, until the next invocation
 * thaws them before the event is handed over. Isolated levels use the cgroup freezer; level none
 * stops the sandbox's process group with SIGSTOP.
 *
 * "No CPU" is checked as CPU time that stays exactly constant over an idle interval. That interval
 * is a real wait: nothing signals "no progress happened", so there is nothing to await instead.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Isolation } from '../../src/fleet/isolation/isolation.js';
import type { SandboxCgroup } from '../../src/fleet/isolation/cgroups.js';
import { ProcessDriver } from '../../src/fleet/process-driver.js';
import type { SandboxHandle } from '../../src/fleet/sandbox-driver.js';
import { leakFree } from '../helpers/leaks.js';
import { ISOLATED_LEVELS, invocation, nodeSpec, scratchRoot } from './isolation-fixtures.js';

const root = scratchRoot('lambkin-freeze-');
after(() => root.remove());

const IDLE_MS = 300;

/**
 * Leaves work behind on its first invocation: a timer that burns CPU in the runtime, a child in the
 * runtime's process group, and (when asked) a setsid daemon, all spinning. Returns their pids and how
 * often the timer has run.
 */
const LEFTOVERS = `const { spawn } = require('child_process');
let ticks = 0;
let child;
exports.handler = async (event) => {
  if (!child) {
    setInterval(() => { ticks++; const end = Date.now() + 2; while (Date.now() < end); }, 1);
    child = spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' });
    if (event.daemon) spawn('setsid', [process.execPath, '-e', 'for (;;) {}'], { detached: true, stdio: 'ignore' }).unref();
  }
  return { pids: [process.pid, child.pid], ticks };
};`;

type Sandbox = SandboxHandle & { whenFrozen(): Promise<boolean> };

function cgroupOf(sandbox: SandboxHandle): SandboxCgroup {
  return (sandbox as unknown as { box: { cgroup: SandboxCgroup } }).box.cgroup;
}

/** utime + stime of a process, in clock ticks, and its state letter. */
function procStat(pid: number): { cpu: number; state: string } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { state: fields[0] ?? '?', cpu: Number(fields[11]) + Number(fields[12]) };
}

/** Polls until every pid is stopped (state T): a SIGSTOP lands at the process's next kernel entry. */
async function allStopped(pids: readonly number[], limitMs = 2000): Promise<boolean> {
  const start = performance.now();
  while (!pids.every((p) => procStat(p).state === 'T')) {
    if (performance.now() - start > limitMs) return false;
    await sleep(2);
  }
  return true;
}

for (const level of ISOLATED_LEVELS) {
  describe(`isolation ${level.request}: frozen between invocations`, { skip: level.skip }, () => {
    test(
      'leftover work (a busy timer, a child, a setsid daemon) gets no CPU while idle, and runs again once invoked',
      leakFree(async (_t, defer) => {
        const isolation = Isolation.create({ request: level.request, log: () => {} });
        const driver = new ProcessDriver({ initTimeoutMs: 10_000, python: 'python3', isolation });
        defer(() => driver.close());
        // One vCPU, so that unfrozen leftovers would use plenty of CPU time.
        const sandbox = (await driver.create(nodeSpec(root.dir, LEFTOVERS, { memoryMb: 1769 }))) as Sandbox;
        const cg = cgroupOf(sandbox);
        assert.ok(cg.freezable, 'this cgroup has a freezer');
        assert.equal(await sandbox.whenFrozen(), true, 'frozen after init, before any invocation');
        assert.equal(cg.frozen(), true);

        const first = await sandbox.invoke(invocation({ daemon: true }));
        assert.equal(first.kind, 'success', first.payload.toString());
        assert.equal(await sandbox.whenFrozen(), true, 'frozen once the invocation finished');
        assert.equal(cg.frozen(), true, 'the kernel reports the cgroup frozen');
        assert.ok(cg.pids().length >= 3, `runtime, child and daemon are all in the cgroup: ${cg.pids().join(', ')}`);
        const before = cg.cpuUsageUs();
        assert.notEqual(before, undefined, 'the cgroup reports CPU usage');
        await sleep(IDLE_MS);
        assert.equal(cg.cpuUsageUs(), before, 'no CPU at all while frozen');

        // Thawed before the event is handed over: the invocation runs, and so do the leftovers.
        const second = await sandbox.invoke(invocation({}));
        assert.equal(second.kind, 'success', second.payload.toString());
        assert.ok((cg.cpuUsageUs() ?? 0) > (before ?? 0), 'it ran again once thawed');
        assert.equal(await sandbox.whenFrozen(), true);

        // Stopping a frozen sandbox kills every process in it (leakFree checks none is left).
        await sandbox.stop();
        assert.equal(sandbox.state, 'stopped');
      }),
    );
  });
}

describe('isolation none: frozen between invocations with SIGSTOP', () => {
  test(
    'the runtime and a child in its process group are stopped while idle, and continue once invoked',
    leakFree(async (_t, defer) => {
      const driver = new ProcessDriver({ initTimeoutMs: 10_000, python: 'python3', isolation: Isolation.create({ request: 'none' }) });
      defer(() => driver.close());
      const sandbox = (await driver.create(nodeSpec(root.dir, LEFTOVERS))) as Sandbox;
      assert.equal(await sandbox.whenFrozen(), true, 'stopped after init');
      const first = await sandbox.invoke(invocation({}));
      assert.equal(first.kind, 'success', first.payload.toString());
      const { pids, ticks } = JSON.parse(first.payload.toString()) as { pids: number[]; ticks: number };
      assert.equal(await sandbox.whenFrozen(), true);
      assert.ok(await allStopped(pids), `runtime and child are stopped: ${pids.map((p) => procStat(p).state).join(', ')}`);
      const before = pids.map((p) => procStat(p).cpu);
      await sleep(IDLE_MS);
      assert.deepEqual(
        pids.map((p) => procStat(p).cpu),
        before,
        'no CPU while stopped',
      );
      const second = await sandbox.invoke(invocation({}));
      assert.equal(second.kind, 'success', second.payload.toString());
      const again = JSON.parse(second.payload.toString()) as { pids: number[]; ticks: number };
      assert.deepEqual(again.pids, pids, 'the same warm sandbox');
      assert.ok(again.ticks >= ticks, 'module state survived the freeze');
      assert.notEqual(procStat(pids[0] ?? 0).state, 'T', 'the runtime runs again');
    }),
  );

  test(
    'freezeIdle: false leaves an idle sandbox running',
    leakFree(async (_t, defer) => {
      const driver = new ProcessDriver({ initTimeoutMs: 10_000, python: 'python3', freezeIdle: false });
      defer(() => driver.close());
      const sandbox = (await driver.create(nodeSpec(root.dir, 'exports.handler = async () => process.pid;'))) as Sandbox;
      const out = await sandbox.invoke(invocation({}));
      assert.equal(out.kind, 'success');
      assert.equal(await sandbox.whenFrozen(), false);
      assert.notEqual(procStat(Number(out.payload.toString())).state, 'T');
    }),
  );
});
