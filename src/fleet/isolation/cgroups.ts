/**
 * cgroup v1 and v2 for lambkin: `lambkin/<instance>/<worker>/<sandbox>` under lambkin's own cgroup.
 * A worker cgroup carries its memory capacity; a sandbox cgroup carries MemorySize (swap off), a CPU
 * quota of MemorySize/1769 of a CPU and a process limit. Everything here is a few writes to kernel
 * pseudo-files, so it is synchronous except the waits for processes to die.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { realClock } from '../../util/clock.js';
import type { HostCapabilities } from './capabilities.js';

/** AWS: "at 1,769 MB, a function has the equivalent of one vCPU". */
export const MB_PER_VCPU = 1769;
/** CFS period for quotas: the kernel default, 100 ms. */
export const CPU_PERIOD_US = 100_000;
/** Default process limit of a sandbox (Lambda allows 1024 processes/threads). */
export const DEFAULT_PIDS_MAX = 1024;

/** CPUs a sandbox of `memoryMb` gets, capped at the host's cores. */
export function cpusFor(memoryMb: number, cores: number): number {
  return Math.min(memoryMb / MB_PER_VCPU, cores);
}

/** The CFS quota (µs per CPU_PERIOD_US) for a number of CPUs; at least 1 ms as the kernel requires. */
export function cpuQuotaUs(cpus: number): number {
  return Math.max(1000, Math.round(cpus * CPU_PERIOD_US));
}

/** What a sandbox cgroup enforces. */
export interface SandboxLimits {
  readonly memoryMb: number;
  readonly cpus: number;
  readonly pids: number;
}

/** One sandbox's cgroup (one directory per v1 hierarchy, one in v2). */
export interface SandboxCgroup {
  /**
   * Files the sandbox's first process writes `0` into to move itself into this cgroup (one per
   * hierarchy); it must be single-threaded. v1: `tasks`, which moves only the writing thread and so
   * skips the global lock a `cgroup.procs` write takes (and its RCU grace period, ~10 ms). v2:
   * `cgroup.procs` (a thread may not leave its domain there).
   */
  readonly joinFiles: readonly string[];
  /** Directories of this cgroup (for tests and doctor output). */
  readonly dirs: readonly string[];
  /** Processes the kernel's OOM killer killed in this cgroup; undefined on kernels that do not count them. */
  oomKills(): number | undefined;
  /** How often the memory limit was hit (v1 memory.failcnt, v2 memory.events `max`). */
  limitHits(): number;
  /** Peak memory charged to the cgroup in MB (v1 max_usage_in_bytes, v2 memory.peak); undefined if not offered. */
  peakMb(): number | undefined;
  /** Pids of every process in the cgroup. */
  pids(): number[];
  /** Tasks the pids controller counts (zombies not yet reaped included). */
  pidsCurrent(): number;
  /** Forks refused because the process limit was reached. */
  forksRefused(): number;
  /** SIGKILLs every process in the cgroup (frozen first where possible, so a fork bomb cannot outrun it) and waits until it is empty. */
  killAll(): Promise<void>;
  /**
   * Freezes every process of the cgroup (v1 `freezer.state` FROZEN, v2 `cgroup.freeze` 1): they get no
   * CPU until {@link thaw}. Resolves true once the kernel reports the cgroup frozen; false when there
   * is no freezer (v1 without the freezer hierarchy), when a thaw came first, or after `limitMs`.
   */
  freeze(limitMs?: number): Promise<boolean>;
  /** True when this cgroup has a freezer (v2 always, v1 with the freezer hierarchy mounted). */
  readonly freezable: boolean;
  /** Thaws the cgroup (synchronous: the kernel wakes the tasks during the write). A no-op when not frozen. */
  thaw(): void;
  /** True while the kernel reports the cgroup frozen (not while it is still freezing). */
  frozen(): boolean;
  /** CPU time the cgroup's processes used so far, in µs (v1 cpuacct.usage, v2 cpu.stat usage_usec); undefined if not offered. */
  cpuUsageUs(): number | undefined;
  /** killAll, then removes the directories. Idempotent. */
  remove(): Promise<void>;
}

/** This lambkin instance's cgroup tree: workers and their sandboxes, for one cgroup version. */
export interface CgroupManager {
  readonly version: 1 | 2;
  /** `lambkin/<instance>` directories, one per hierarchy. */
  readonly instanceDirs: readonly string[];
  /** Creates the worker cgroup (idempotent); `capacityMb` limits the memory of all its sandboxes together. */
  ensureWorker(workerId: string, capacityMb?: number): void;
  /** Removes a worker's cgroup; sandboxes still in it are killed. */
  removeWorker(workerId: string): Promise<void>;
  /** Creates a sandbox cgroup inside a worker (created without capacity if unknown). */
  createSandbox(workerId: string, sandboxId: string, limits: SandboxLimits): SandboxCgroup;
  /** Kills everything and removes the instance's cgroups (and `lambkin/` if no other instance uses it). */
  close(): Promise<void>;
}

const NAME = /^[A-Za-z0-9._-]+$/;
/** The always-frozen empty v1 cgroup of an instance (see V1Manager); no worker id starts with a dot. */
const FREEZE_ANCHOR = '.freeze-anchor';
function checkName(kind: string, name: string): void {
  if (!NAME.test(name) || name === '.' || name === '..') throw new Error(`invalid ${kind} id for a cgroup: ${JSON.stringify(name)}`);
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

function readNumber(path: string): number | undefined {
  const t = readText(path)?.trim();
  if (t === undefined || t === '' || t === 'max') return undefined;
  const n = Number(t);
  return Number.isFinite(n) ? n : undefined;
}

/** A `key value` line of a flat-keyed cgroup file (memory.events, memory.oom_control). */
function keyed(path: string, key: string): number | undefined {
  const t = readText(path);
  if (t === undefined) return undefined;
  const m = new RegExp(`^${key} (\\d+)$`, 'm').exec(t);
  return m ? Number(m[1]) : undefined;
}

function write(path: string, value: string): void {
  writeFileSync(path, value);
}

function tryWrite(path: string, value: string): boolean {
  try {
    writeFileSync(path, value);
    return true;
  } catch {
    return false;
  }
}

function pidsIn(procsFile: string): number[] {
  const t = readText(procsFile);
  if (!t) return [];
  return t.split('\n').filter(Boolean).map(Number);
}

function killPids(pids: readonly number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/**
 * Polls `done` with a growing interval (1 ms → 50 ms) until it is true or `limitMs` passed. Always on
 * the real clock, whichever one the server runs on: this waits for the kernel, which no virtual clock moves.
 */
async function until(done: () => boolean, limitMs: number, onRetry?: () => void): Promise<boolean> {
  const start = realClock.monotonic();
  let wait = 1;
  while (!done()) {
    if (realClock.monotonic() - start > limitMs) return false;
    onRetry?.();
    await realClock.sleep(wait);
    wait = Math.min(50, wait * 2);
  }
  return true;
}

/** How long freeze() waits for the kernel to report a cgroup frozen, unless told otherwise. */
const FREEZE_LIMIT_MS = 1000;

interface Freezer {
  freeze(limitMs?: number): Promise<boolean>;
  /** A thaw (or a kill) supersedes a freeze still waiting to complete: that freeze resolves false. */
  cancel(): void;
}

const noFreezer: Freezer = { freeze: () => Promise.resolve(false), cancel: () => {} };

/**
 * freeze() for a cgroup: `request` writes the freeze, `done` reads whether the kernel finished. The
 * kernel only says so in a file (v1 FREEZING → FROZEN, v2 `frozen 1` in cgroup.events, whose change
 * could be watched with inotify but is not worth a watcher per sandbox), so it is polled with a deadline.
 */
function freezeWith(request: () => void, done: () => boolean): Freezer {
  let generation = 0;
  return {
    freeze: async (limitMs = FREEZE_LIMIT_MS) => {
      const mine = ++generation;
      request();
      const settled = await until(() => generation !== mine || done(), limitMs);
      return settled && generation === mine;
    },
    cancel: () => {
      generation++;
    },
  };
}

/** SIGKILLs `pids()` until `empty()`; throws if processes survive 10 s of that. */
async function killUntilEmpty(pids: () => number[], empty: () => boolean, where: string): Promise<void> {
  if (!(await until(empty, 10_000, () => killPids(pids())))) throw new Error(`processes survive in cgroup ${where}: ${pids().join(', ')}`);
}

/** The memoized `remove` of a sandbox cgroup: killAll, rmdir its directories, then `forget` it. */
function remover(killAll: () => Promise<void>, dirs: readonly string[], forget: () => void): () => Promise<void> {
  let removed: Promise<void> | undefined;
  return () =>
    (removed ??= (async () => {
      await killAll();
      for (const d of dirs) await removeDir(d);
      forget();
    })());
}

/** rmdir that waits out EBUSY (the last process is still being reaped) and ignores a missing dir. */
async function removeDir(dir: string): Promise<void> {
  let last: unknown;
  const ok = await until(() => {
    try {
      rmdirSync(dir);
      return true;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return true;
      last = err;
      return false;
    }
  }, 5000);
  if (!ok) throw last instanceof Error ? last : new Error(`cannot remove cgroup ${dir}`);
}

/** Depth-first removal of a cgroup tree: kills its processes, then rmdirs children before parents. */
async function removeTree(dir: string, procsName = 'cgroup.procs'): Promise<void> {
  let entries: string[];
  try {
    entries = readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
  } catch {
    return;
  }
  for (const e of entries) await removeTree(join(dir, e), procsName);
  const procs = join(dir, procsName);
  await until(() => pidsIn(procs).length === 0, 5000, () => killPids(pidsIn(procs)));
  await removeDir(dir);
}

/** True while a process with this pid exists (instance names carry the pid of their lambkin). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes `lambkin/<pid>-<tag>` directories left behind by lambkin processes that no longer exist. */
async function removeStaleInstances(lambkinDir: string): Promise<void> {
  let names: string[];
  try {
    names = readdirSync(lambkinDir);
  } catch {
    return;
  }
  for (const name of names) {
    const m = /^(\d+)-[0-9a-f]+$/.exec(name);
    if (!m || Number(m[1]) === process.pid || pidAlive(Number(m[1]))) continue;
    await removeTree(join(lambkinDir, name)).catch(() => undefined);
  }
}

function relativeTo(own: string, root: string): string {
  if (root !== '/' && (own === root || own.startsWith(`${root}/`))) return own.slice(root.length) || '/';
  return own;
}

/** A fresh instance name: `<pid>-<random>`, so a later lambkin can recognise and remove leftovers of a dead one. */
export function instanceName(): string {
  return `${process.pid}-${Math.floor(Math.random() * 0xffffff).toString(16).padStart(6, '0')}`;
}

/** Creates the manager for the machine's cgroup version; throws if the hierarchy cannot be written. */
export function createCgroupManager(caps: HostCapabilities, opts: { instance?: string } = {}): CgroupManager {
  const instance = opts.instance ?? instanceName();
  checkName('instance', instance);
  if (caps.cgroup.version === 2) return new V2Manager(caps, instance);
  if (caps.cgroup.version === 1) return new V1Manager(caps, instance);
  throw new Error('no cgroup filesystem');
}

/** cgroup v1: a directory per hierarchy (memory, cpu, pids and, when mounted, freezer and cpuacct). */
class V1Manager implements CgroupManager {
  readonly version = 1 as const;
  /** controller → `…/lambkin/<instance>` in that controller's hierarchy. */
  private readonly base = new Map<string, string>();
  private readonly lambkinDirs: string[] = [];
  private readonly sandboxes = new Set<SandboxCgroup>();
  private readonly workers = new Set<string>();
  readonly instanceDirs: string[];

  constructor(caps: HostCapabilities, instance: string) {
    // freezer: whole-sandbox kill and the freeze between invocations; cpuacct: CPU usage (often co-mounted with cpu).
    const optional = ['freezer', 'cpuacct'].filter((c) => caps.cgroup.v1Mounts[c]);
    const controllers = ['memory', 'cpu', 'pids', ...optional];
    for (const c of controllers) {
      const m = caps.cgroup.v1Mounts[c];
      if (!m) throw new Error(`cgroup v1 controller ${c} is not mounted`);
      const own = relativeTo(caps.cgroup.ownPaths[c] ?? '/', m.root);
      const lambkin = join(m.mountPoint, own, 'lambkin');
      if (!this.lambkinDirs.includes(lambkin)) this.lambkinDirs.push(lambkin);
      this.base.set(c, join(lambkin, instance));
    }
    this.instanceDirs = [...new Set(this.base.values())];
    for (const d of this.instanceDirs) mkdirSync(d, { recursive: true });
    if (this.base.has('freezer')) {
      // The v1 freezer switches a kernel static key when the first cgroup freezes and the last one
      // thaws, which patches kernel text and costs 5–20 ms per thaw. An empty cgroup kept frozen for
      // the instance's lifetime keeps the key on, so thawing a sandbox is a plain write (~20 µs).
      const anchor = join(this.dir('freezer', ''), FREEZE_ANCHOR);
      mkdirSync(anchor, { recursive: true });
      tryWrite(join(anchor, 'freezer.state'), 'FROZEN');
    }
    // Hierarchical accounting, so a worker's limit covers its sandboxes (the default on current kernels).
    tryWrite(join(this.dir('memory', ''), 'memory.use_hierarchy'), '1');
    for (const l of this.lambkinDirs) void removeStaleInstances(l);
  }

  private dir(controller: string, rel: string): string {
    const b = this.base.get(controller);
    if (!b) throw new Error(`no ${controller} hierarchy`);
    return rel ? join(b, rel) : b;
  }

  private dirsFor(rel: string): string[] {
    return [...new Set([...this.base.keys()].map((c) => this.dir(c, rel)))];
  }

  ensureWorker(workerId: string, capacityMb?: number): void {
    checkName('worker', workerId);
    if (this.workers.has(workerId)) return;
    for (const d of this.dirsFor(workerId)) mkdirSync(d, { recursive: true });
    if (capacityMb !== undefined) {
      const mem = this.dir('memory', workerId);
      const bytes = String(capacityMb * 1024 * 1024);
      write(join(mem, 'memory.limit_in_bytes'), bytes);
      tryWrite(join(mem, 'memory.memsw.limit_in_bytes'), bytes);
    }
    // Last: a worker whose limit could not be written is retried, not taken as done.
    this.workers.add(workerId);
  }

  async removeWorker(workerId: string): Promise<void> {
    checkName('worker', workerId);
    this.workers.delete(workerId);
    for (const d of this.dirsFor(workerId)) await removeTree(d);
  }

  createSandbox(workerId: string, sandboxId: string, limits: SandboxLimits): SandboxCgroup {
    checkName('sandbox', sandboxId);
    this.ensureWorker(workerId);
    const rel = join(workerId, sandboxId);
    const dirs = this.dirsFor(rel);
    for (const d of dirs) mkdirSync(d);
    const mem = this.dir('memory', rel);
    const cpu = this.dir('cpu', rel);
    const pids = this.dir('pids', rel);
    const freezer = this.base.has('freezer') ? this.dir('freezer', rel) : undefined;
    const cpuacct = this.base.has('cpuacct') ? this.dir('cpuacct', rel) : undefined;
    try {
      const bytes = String(limits.memoryMb * 1024 * 1024);
      tryWrite(join(mem, 'memory.swappiness'), '0');
      write(join(mem, 'memory.limit_in_bytes'), bytes);
      // memory+swap = memory: no swap at all (the file exists only with swap accounting on).
      if (existsSync(join(mem, 'memory.memsw.limit_in_bytes'))) write(join(mem, 'memory.memsw.limit_in_bytes'), bytes);
      write(join(cpu, 'cpu.cfs_period_us'), String(CPU_PERIOD_US));
      write(join(cpu, 'cpu.cfs_quota_us'), String(cpuQuotaUs(limits.cpus)));
      write(join(pids, 'pids.max'), String(limits.pids));
    } catch (err) {
      for (const d of dirs) tryRmdir(d);
      throw err;
    }
    const procsFiles = dirs.map((d) => join(d, 'cgroup.procs'));
    const allPids = () => [...new Set(procsFiles.flatMap(pidsIn))];
    const freezerState = freezer ? join(freezer, 'freezer.state') : undefined;
    const freeze = freezerState ? freezeWith(() => write(freezerState, 'FROZEN'), () => readText(freezerState)?.trim() === 'FROZEN') : noFreezer;
    const killAll = async (): Promise<void> => {
      freeze.cancel();
      if (freezer && allPids().length > 0) {
        // Frozen processes cannot fork, so one pass kills a fork bomb; SIGKILL lands when thawed.
        if (tryWrite(join(freezer, 'freezer.state'), 'FROZEN')) {
          await until(() => readText(join(freezer, 'freezer.state'))?.trim() === 'FROZEN', 1000);
        }
        killPids(allPids());
        tryWrite(join(freezer, 'freezer.state'), 'THAWED');
      }
      await killUntilEmpty(allPids, () => allPids().length === 0, mem);
    };
    const sandbox: SandboxCgroup = {
      joinFiles: dirs.map((d) => join(d, 'tasks')),
      dirs,
      oomKills: () => keyed(join(mem, 'memory.oom_control'), 'oom_kill'),
      limitHits: () => readNumber(join(mem, 'memory.failcnt')) ?? 0,
      peakMb: () => {
        const b = readNumber(join(mem, 'memory.max_usage_in_bytes'));
        return b === undefined ? undefined : Math.ceil(b / 1024 / 1024);
      },
      pids: allPids,
      pidsCurrent: () => readNumber(join(pids, 'pids.current')) ?? 0,
      forksRefused: () => keyed(join(pids, 'pids.events'), 'max') ?? 0,
      killAll,
      freeze: freeze.freeze,
      freezable: freezerState !== undefined,
      thaw: () => {
        freeze.cancel();
        // v1 thaws synchronously: THAWED is what the file reads right after the write.
        if (freezerState) write(freezerState, 'THAWED');
      },
      frozen: () => (freezerState ? readText(freezerState)?.trim() === 'FROZEN' : false),
      cpuUsageUs: () => {
        const ns = cpuacct ? readNumber(join(cpuacct, 'cpuacct.usage')) : undefined;
        return ns === undefined ? undefined : Math.floor(ns / 1000);
      },
      remove: remover(killAll, dirs, () => this.sandboxes.delete(sandbox)),
    };
    this.sandboxes.add(sandbox);
    return sandbox;
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.sandboxes].map((s) => s.remove()));
    for (const d of this.instanceDirs) await removeTree(d);
    for (const l of this.lambkinDirs) tryRmdir(l);
  }
}

function tryRmdir(dir: string): void {
  try {
    rmdirSync(dir);
  } catch {
    // busy (another instance) or gone
  }
}

const V2_CONTROLLERS = '+memory +cpu +pids';

/** cgroup v2: one tree; controllers enabled down to the workers; sandboxes are leaves. */
class V2Manager implements CgroupManager {
  readonly version = 2 as const;
  private readonly base: string;
  private readonly lambkinDir: string;
  private readonly sandboxes = new Set<SandboxCgroup>();
  private readonly workers = new Set<string>();
  readonly instanceDirs: string[];

  constructor(caps: HostCapabilities, instance: string) {
    const mount = caps.cgroup.v2MountPoint ?? '/sys/fs/cgroup';
    const own = join(mount, caps.cgroup.ownPaths[''] ?? '/');
    this.lambkinDir = join(own, 'lambkin');
    this.base = join(this.lambkinDir, instance);
    this.instanceDirs = [this.base];
    enableControllers(own, true);
    mkdirSync(this.lambkinDir, { recursive: true });
    enableControllers(this.lambkinDir, false);
    mkdirSync(this.base, { recursive: true });
    enableControllers(this.base, false);
    void removeStaleInstances(this.lambkinDir);
  }

  ensureWorker(workerId: string, capacityMb?: number): void {
    checkName('worker', workerId);
    if (this.workers.has(workerId)) return;
    const dir = join(this.base, workerId);
    mkdirSync(dir, { recursive: true });
    enableControllers(dir, false);
    if (capacityMb !== undefined) {
      write(join(dir, 'memory.max'), String(capacityMb * 1024 * 1024));
      tryWrite(join(dir, 'memory.swap.max'), '0');
    }
    // Last: a worker whose limit could not be written is retried, not taken as done.
    this.workers.add(workerId);
  }

  async removeWorker(workerId: string): Promise<void> {
    checkName('worker', workerId);
    this.workers.delete(workerId);
    await removeTree(join(this.base, workerId));
  }

  createSandbox(workerId: string, sandboxId: string, limits: SandboxLimits): SandboxCgroup {
    checkName('sandbox', sandboxId);
    this.ensureWorker(workerId);
    const dir = join(this.base, workerId, sandboxId);
    mkdirSync(dir);
    try {
      write(join(dir, 'memory.max'), String(limits.memoryMb * 1024 * 1024));
      tryWrite(join(dir, 'memory.swap.max'), '0');
      // An OOM kills the whole sandbox, not just its largest process: the sandbox is gone either way on Lambda.
      tryWrite(join(dir, 'memory.oom.group'), '1');
      write(join(dir, 'cpu.max'), `${cpuQuotaUs(limits.cpus)} ${CPU_PERIOD_US}`);
      write(join(dir, 'pids.max'), String(limits.pids));
    } catch (err) {
      tryRmdir(dir);
      throw err;
    }
    const procs = join(dir, 'cgroup.procs');
    const populated = () => keyed(join(dir, 'cgroup.events'), 'populated') !== 0 && pidsIn(procs).length > 0;
    const isFrozen = () => keyed(join(dir, 'cgroup.events'), 'frozen') === 1;
    const freeze = freezeWith(() => write(join(dir, 'cgroup.freeze'), '1'), isFrozen);
    const killAll = async (): Promise<void> => {
      freeze.cancel();
      if (pidsIn(procs).length === 0) return;
      // cgroup.kill (Linux 5.14+) kills the whole subtree atomically; else freeze, kill, thaw.
      if (!tryWrite(join(dir, 'cgroup.kill'), '1')) {
        if (tryWrite(join(dir, 'cgroup.freeze'), '1')) {
          await until(() => keyed(join(dir, 'cgroup.events'), 'frozen') === 1, 1000);
        }
        killPids(pidsIn(procs));
        tryWrite(join(dir, 'cgroup.freeze'), '0');
      }
      await killUntilEmpty(() => pidsIn(procs), () => !populated(), dir);
    };
    const sandbox: SandboxCgroup = {
      joinFiles: [procs],
      dirs: [dir],
      oomKills: () => keyed(join(dir, 'memory.events'), 'oom_kill'),
      limitHits: () => keyed(join(dir, 'memory.events'), 'max') ?? 0,
      peakMb: () => {
        const b = readNumber(join(dir, 'memory.peak'));
        return b === undefined ? undefined : Math.ceil(b / 1024 / 1024);
      },
      pids: () => pidsIn(procs),
      pidsCurrent: () => readNumber(join(dir, 'pids.current')) ?? 0,
      forksRefused: () => keyed(join(dir, 'pids.events'), 'max') ?? 0,
      killAll,
      freeze: freeze.freeze,
      // cgroup.freeze came with Linux 5.2.
      freezable: existsSync(join(dir, 'cgroup.freeze')),
      thaw: () => {
        freeze.cancel();
        // The tasks are woken during the write; cgroup.events says `frozen 0` from then on.
        write(join(dir, 'cgroup.freeze'), '0');
      },
      frozen: isFrozen,
      cpuUsageUs: () => keyed(join(dir, 'cpu.stat'), 'usage_usec'),
      remove: remover(killAll, [dir], () => this.sandboxes.delete(sandbox)),
    };
    this.sandboxes.add(sandbox);
    return sandbox;
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.sandboxes].map((s) => s.remove()));
    await removeTree(this.base);
    tryRmdir(this.lambkinDir);
  }
}

/**
 * Enables memory, cpu and pids for the children of `dir`. A non-root cgroup with processes in it
 * cannot delegate controllers (v2's "no internal processes" rule): when it is lambkin's own cgroup,
 * lambkin moves itself into a `lambkin-supervisor` leaf first.
 */
function enableControllers(dir: string, isOwn: boolean): void {
  const file = join(dir, 'cgroup.subtree_control');
  const current = readText(file) ?? '';
  if (['memory', 'cpu', 'pids'].every((c) => current.split(/\s+/).includes(c))) return;
  try {
    write(file, V2_CONTROLLERS);
  } catch (err) {
    if (!isOwn || (err as NodeJS.ErrnoException).code !== 'EBUSY') throw err;
    const leaf = join(dir, 'lambkin-supervisor');
    mkdirSync(leaf, { recursive: true });
    write(join(leaf, 'cgroup.procs'), String(process.pid));
    write(file, V2_CONTROLLERS);
  }
}
