/**
 * Shared pieces of the isolation tests: which levels this machine can run (with the reason when
 * not), a driver per level, and specs for Node.js handlers written to a code directory.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import type { Writable } from 'node:stream';
import { ProcessDriver } from '../../src/fleet/process-driver.js';
import { encodePlan, initCommand, LAUNCHER_ENV, type LaunchPlan } from '../../src/fleet/isolation/launcher.js';
import type { SandboxSpec } from '../../src/fleet/sandbox-driver.js';
import { baseSpec } from './sandbox-driver-conformance.js';
import { Isolation } from '../../src/fleet/isolation/isolation.js';
import {
  cgroupsUnavailable,
  detectCapabilities,
  namespacesUnavailable,
  type IsolationRequest,
} from '../../src/fleet/isolation/capabilities.js';

export const caps = detectCapabilities();

/** The isolated levels, each with why it is skipped here (undefined = runs). */
export const ISOLATED_LEVELS: readonly { request: Exclude<IsolationRequest, 'auto' | 'none'>; skip: string | undefined }[] = [
  { request: 'cgroups', skip: cgroupsUnavailable(caps) },
  { request: 'namespaces', skip: namespacesUnavailable(caps) },
];

/** A root for code and data dirs outside /tmp (which a namespaced sandbox sees as its own empty /tmp). */
export function scratchRoot(prefix: string): { dir: string; remove: () => void } {
  const base = process.platform === 'linux' ? '/var/tmp' : tmpdir();
  const dir = mkdtempSync(join(base, prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export function makeIsolatedDriver(request: IsolationRequest, opts: { protectedPaths?: string[]; log?: (m: string) => void } = {}): ProcessDriver {
  const isolation = Isolation.create({ request, ...(opts.protectedPaths ? { protectedPaths: opts.protectedPaths } : {}), log: opts.log ?? (() => {}) });
  return new ProcessDriver({ initTimeoutMs: 10_000, python: 'python3', isolation });
}

let n = 0;
/** Writes `source` as index.js into a fresh directory under `root` and returns a nodejs20.x spec for it. */
export function nodeSpec(root: string, source: string, overrides: Partial<SandboxSpec> = {}): SandboxSpec {
  const id = `iso-${process.pid}-${++n}`;
  const dir = overrides.codeDir ?? join(root, id);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'index.js'), source);
  return baseSpec({ sandboxId: id, codeDir: dir, timeoutMs: 10_000, ...overrides });
}

let seq = 0;
export function invocation(payload: unknown, timeoutMs = 10_000) {
  return {
    requestId: `req-${process.pid}-${++seq}`,
    payload: Buffer.from(JSON.stringify(payload)),
    invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:f',
    deadlineMs: Date.now() + timeoutMs,
  };
}

/** Mount points of this (the host's) mount namespace that lambkin could have left: sandbox tmpfs and /var/task binds. */
export function lambkinMounts(): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => /lambkin-(tmp|shm|hidden)| \/var\/(task|runtime) /.test(l));
}

/** Pids of processes whose command line contains `marker` (anywhere on the host). */
export function processesWith(marker: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmd = readFileSync(`/proc/${name}/cmdline`, 'utf8');
      if (cmd.includes(marker) && Number(name) !== process.pid) out.push(Number(name));
    } catch {
      // gone
    }
  }
  return out;
}

/** Runs the sandbox init (launcher.ts) directly with a plan; resolves with its output and status line. */
export function runInit(plan: LaunchPlan): Promise<{ code: number | null; stdout: string; stderr: string; status: string }> {
  const init = initCommand(caps.tools.perl ?? 'perl');
  const child = spawn(init.command, init.args, { env: LAUNCHER_ENV, stdio: ['ignore', 'pipe', 'pipe', 'pipe', 'pipe'] });
  const read = (i: number) => {
    const chunks: Buffer[] = [];
    child.stdio[i]?.on('data', (d: Buffer) => chunks.push(d));
    return () => Buffer.concat(chunks).toString('utf8');
  };
  const [out, err, st] = [read(1), read(2), read(3)];
  (child.stdio[4] as Writable).end(encodePlan(plan));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout: out(), stderr: err(), status: st() }));
  });
}
