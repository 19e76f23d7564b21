import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import type { TestContext } from 'node:test';

/** Pids of every live process descending from this one. */
export function descendantPids(root = process.pid): number[] {
  const parent = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // Fields after the command (which may contain spaces) start after the last ')'.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (fields[0] === 'Z') continue; // a zombie is already dead
      parent.set(Number(name), Number(fields[1]));
    } catch {
      // the process went away while we looked
    }
  }
  const out: number[] = [];
  const walk = (pid: number) => {
    for (const [child, ppid] of parent) {
      if (ppid === pid) {
        out.push(child);
        walk(child);
      }
    }
  };
  walk(root);
  return out.sort((a, b) => a - b);
}

function countResources(kind: string): number {
  return process.getActiveResourcesInfo().filter((r) => r === kind).length;
}

export type Defer = (close: () => unknown) => void;

/**
 * Wraps a test body: everything registered with `defer` is closed (in reverse order) when the
 * body ends, and then the test fails if a child process or a listening server is left behind.
 */
export function leakFree(body: (t: TestContext, defer: Defer) => Promise<void>): (t: TestContext) => Promise<void> {
  return async (t) => {
    const pidsBefore = new Set(descendantPids());
    const serversBefore = countResources('TCPServerWrap');
    const processesBefore = countResources('ProcessWrap');
    const closers: (() => unknown)[] = [];
    try {
      await body(t, (c) => closers.push(c));
    } finally {
      for (const c of closers.reverse()) await c();
    }
    // Closed handles leave the list in libuv's close phase, a few loop turns after close() resolved.
    for (let i = 0; i < 50 && (countResources('TCPServerWrap') > serversBefore || countResources('ProcessWrap') > processesBefore); i++) {
      await new Promise((r) => setImmediate(r));
    }
    const leakedPids = descendantPids().filter((p) => !pidsBefore.has(p));
    assert.deepEqual(leakedPids, [], `the test left processes running: ${leakedPids.join(', ')}`);
    assert.ok(countResources('TCPServerWrap') <= serversBefore, 'the test left a server listening');
    assert.ok(countResources('ProcessWrap') <= processesBefore, 'the test left a child process handle open');
  };
}
