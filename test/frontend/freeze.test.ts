/**
 * Through the API, as a user sees it: between invocations a sandbox is frozen, so the work its
 * handler left running (a CPU-burning timer and a child process) uses no CPU while idle, and the
 * next Invoke still finds the same warm sandbox. At isolation auto (as root: the cgroup freezer)
 * the sandbox's CPU usage is read from its cgroup; the wait for "frozen" polls the cgroup's own
 * file (the kernel sends no event), and the idle interval is a real wait.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { InvokeCommand } from '@aws-sdk/client-lambda';
import { cgroupsUnavailable, detectCapabilities } from '../../src/fleet/isolation/capabilities.js';
import { createFn, json, serverGroup } from '../helpers/lambda.js';
import { makeZip } from '../helpers/zip.js';

const caps = detectCapabilities();
const IDLE_MS = 300;

const LEFTOVERS = `const { readFileSync } = require('fs');
const { spawn } = require('child_process');
let invocations = 0;
exports.handler = async () => {
  if (invocations++ === 0) {
    setInterval(() => { const end = Date.now() + 2; while (Date.now() < end); }, 1);
    spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' });
  }
  return { invocations, cgroup: readFileSync('/proc/self/cgroup', 'utf8') };
};`;

/** The sandbox's CPU usage (µs) and frozen state, read from its cgroup as /proc/self/cgroup named it. */
function cgroupProbe(procSelfCgroup: string): { usageUs: () => number; frozen: () => boolean } {
  const paths = new Map<string, string>();
  for (const line of procSelfCgroup.split('\n')) {
    const m = /^\d+:([^:]*):(.*)$/.exec(line);
    if (m) for (const c of (m[1] ?? '').split(',')) paths.set(c, m[2] ?? '/');
  }
  const read = (file: string) => readFileSync(file, 'utf8');
  if (caps.cgroup.version === 2) {
    const dir = join(caps.cgroup.v2MountPoint ?? '/sys/fs/cgroup', paths.get('') ?? '/');
    return {
      usageUs: () => Number(/^usage_usec (\d+)$/m.exec(read(join(dir, 'cpu.stat')))?.[1]),
      frozen: () => /^frozen 1$/m.test(read(join(dir, 'cgroup.events'))),
    };
  }
  const dirOf = (controller: string) => {
    const mount = caps.cgroup.v1Mounts[controller];
    assert.ok(mount, `${controller} is mounted`);
    const own = paths.get(controller) ?? '/';
    return join(mount.mountPoint, mount.root !== '/' && own.startsWith(mount.root) ? own.slice(mount.root.length) : own);
  };
  const cpuacct = dirOf('cpuacct');
  const freezer = dirOf('freezer');
  return {
    usageUs: () => Math.floor(Number(read(join(cpuacct, 'cpuacct.usage'))) / 1000),
    frozen: () => read(join(freezer, 'freezer.state')).trim() === 'FROZEN',
  };
}

async function until(done: () => boolean, limitMs = 3000): Promise<boolean> {
  const start = performance.now();
  while (!done()) {
    if (performance.now() - start > limitMs) return false;
    await sleep(2);
  }
  return true;
}

const noFreezer = cgroupsUnavailable(caps) ?? (caps.cgroup.version === 1 && !caps.cgroup.v1Mounts['freezer'] ? 'no v1 freezer hierarchy' : undefined);

void test(
  'isolation auto: leftover work gets no CPU between invocations, and the next Invoke thaws the same sandbox',
  { skip: noFreezer },
  serverGroup({ isolation: 'auto' }, async (_t, { lambda }) => {
    await createFn(lambda, 'frozen', makeZip({ 'index.js': LEFTOVERS }), { MemorySize: 1769, Timeout: 10 });
    const first = json((await lambda.send(new InvokeCommand({ FunctionName: 'frozen' }))).Payload) as { invocations: number; cgroup: string };
    assert.equal(first.invocations, 1);
    const probe = cgroupProbe(first.cgroup);
    assert.ok(await until(probe.frozen), 'the sandbox is frozen once idle');
    const before = probe.usageUs();
    await sleep(IDLE_MS);
    assert.equal(probe.usageUs(), before, 'no CPU while frozen, though a timer and a child were spinning');

    const second = json((await lambda.send(new InvokeCommand({ FunctionName: 'frozen' }))).Payload) as { invocations: number; cgroup: string };
    assert.equal(second.invocations, 2, 'the same warm sandbox answered');
    assert.equal(second.cgroup, first.cgroup);
    assert.ok(probe.usageUs() > before, 'it ran once thawed');
  }),
);
