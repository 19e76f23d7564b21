/**
 * What this machine lets lambkin enforce: cgroup version and controllers, namespaces, the tools the
 * sandbox launcher needs, the user lambkin runs as, KVM. Read once at start-up (cheap: a few /proc
 * files), used to pick the isolation level, to say which guarantees are missing, and by `lambkin doctor`.
 */
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { delimiter, join } from 'node:path';
import { initSyscalls } from './launcher.js';

/** Isolation levels, weakest first. */
export type IsolationLevel = 'none' | 'cgroups' | 'cgroups+namespaces';
/** What an operator may ask for (`--isolation`); `auto` picks the strongest the machine supports. */
export type IsolationRequest = 'auto' | 'none' | 'cgroups' | 'namespaces';

/**
 * The controllers a sandbox cgroup needs. `freezer` (v1) is optional: it freezes idle sandboxes (without it they
 * are stopped with SIGSTOP) and makes kills race-free.
 */
export const REQUIRED_CONTROLLERS = ['memory', 'cpu', 'pids'] as const;

/** One mounted cgroup v1 hierarchy. */
export interface CgroupV1Mount {
  /** Where the hierarchy is mounted, e.g. /sys/fs/cgroup/memory. */
  readonly mountPoint: string;
  /** The cgroup path the mount shows as its root (not `/` inside a bind-mounted subtree). */
  readonly root: string;
  /** Controllers of this hierarchy (e.g. `cpu` and `cpuacct` when co-mounted). */
  readonly controllers: readonly string[];
}

/** The cgroup file system as lambkin's own process sees it. */
export interface CgroupInfo {
  /** 2 when /sys/fs/cgroup is the unified hierarchy; 1 when v1 controllers are mounted (hybrid counts as 1). */
  readonly version: 1 | 2 | undefined;
  /** Controllers available to lambkin (v2: cgroup.controllers of its own cgroup; v1: mounted hierarchies). */
  readonly controllers: readonly string[];
  /** v1 only: hierarchy per controller name. */
  readonly v1Mounts: Readonly<Record<string, CgroupV1Mount>>;
  /** v2 only: the unified mount point. */
  readonly v2MountPoint: string | undefined;
  /** Own cgroup path per controller name (v1) or under key `''` (v2), from /proc/self/cgroup. */
  readonly ownPaths: Readonly<Record<string, string>>;
}

/** Everything detectCapabilities() found out about this machine. */
export interface HostCapabilities {
  readonly platform: NodeJS.Platform;
  /** process.arch: the sandbox init makes syscalls by number. */
  readonly arch: string;
  readonly uid: number | undefined;
  readonly root: boolean;
  readonly cores: number;
  readonly cgroup: CgroupInfo;
  /** Namespace kinds the kernel offers (from /proc/self/ns). */
  readonly namespaces: { readonly pid: boolean; readonly mount: boolean; readonly net: boolean; readonly user: boolean };
  /** Absolute paths of the launcher's tools, when found on PATH. */
  readonly tools: { readonly sh?: string; readonly unshare?: string; readonly setpriv?: string; readonly mount?: string; readonly perl?: string; readonly ip?: string; readonly nft?: string };
  /** /dev/kvm exists (and whether lambkin could open it). */
  readonly kvm: { readonly present: boolean; readonly accessible: boolean };
}

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

function which(name: string, path = process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'): string | undefined {
  // sbin directories are often missing from a non-login PATH, but mount(8) lives there on some systems.
  for (const dir of [...path.split(delimiter), '/usr/sbin', '/sbin', '/usr/bin', '/bin']) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Parses /proc/self/mountinfo for cgroup (v1) and cgroup2 mounts. Exported for tests. */
export function parseCgroupMounts(mountinfo: string): { v1: Record<string, CgroupV1Mount>; v2: string | undefined } {
  const v1: Record<string, CgroupV1Mount> = {};
  let v2: string | undefined;
  for (const line of mountinfo.split('\n')) {
    // id parent major:minor root mountpoint options [optional fields...] - fstype source superoptions
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const left = line.slice(0, sep).split(' ');
    const right = line.slice(sep + 3).split(' ');
    const root = unescapeMount(left[3] ?? '/');
    const mountPoint = unescapeMount(left[4] ?? '');
    const fstype = right[0];
    if (fstype === 'cgroup2') {
      // The unified hierarchy counts only when it is THE cgroup mount (not hybrid's /sys/fs/cgroup/unified).
      if (mountPoint === '/sys/fs/cgroup') v2 = mountPoint;
      continue;
    }
    if (fstype !== 'cgroup') continue;
    const superOptions = (right[2] ?? '').split(',');
    const controllers = superOptions.filter((o) => !['rw', 'ro', 'relatime', 'noatime', 'nosuid', 'nodev', 'noexec', 'clone_children', 'noprefix', 'xattr'].includes(o) && !o.includes('='));
    for (const c of controllers) if (!v1[c]) v1[c] = { mountPoint, root, controllers };
  }
  return { v1, v2 };
}

function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** Parses /proc/self/cgroup: controller name → path (`''` for the v2 line). Exported for tests. */
export function parseProcCgroup(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^\d+:([^:]*):(.*)$/.exec(line);
    if (!m) continue;
    const names = m[1] ?? '';
    const path = m[2] ?? '/';
    if (names === '') out[''] = path;
    for (const n of names.split(',')) if (n) out[n] = path;
  }
  return out;
}

function detectCgroups(): CgroupInfo {
  const mountinfo = read('/proc/self/mountinfo') ?? '';
  const { v1, v2 } = parseCgroupMounts(mountinfo);
  const ownPaths = parseProcCgroup(read('/proc/self/cgroup') ?? '');
  if (v2 !== undefined) {
    const own = ownPaths[''] ?? '/';
    const controllers = (read(join(v2, own, 'cgroup.controllers')) ?? read(join(v2, 'cgroup.controllers')) ?? '').trim().split(/\s+/).filter(Boolean);
    return { version: 2, controllers, v1Mounts: {}, v2MountPoint: v2, ownPaths };
  }
  if (Object.keys(v1).length > 0) {
    const controllers = Object.keys(v1).filter((c) => !c.startsWith('name=')).sort();
    return { version: 1, controllers, v1Mounts: v1, v2MountPoint: undefined, ownPaths };
  }
  return { version: undefined, controllers: [], v1Mounts: {}, v2MountPoint: undefined, ownPaths };
}

/** Reads what this machine supports. Never throws. */
export function detectCapabilities(): HostCapabilities {
  const linux = process.platform === 'linux';
  const uid = typeof process.getuid === 'function' ? process.getuid() : undefined;
  let kvmAccessible = false;
  const kvmPresent = linux && existsSync('/dev/kvm');
  if (kvmPresent) {
    try {
      accessSync('/dev/kvm', constants.R_OK | constants.W_OK);
      kvmAccessible = true;
    } catch {
      kvmAccessible = false;
    }
  }
  const tools: { sh?: string; unshare?: string; setpriv?: string; mount?: string; perl?: string; ip?: string; nft?: string } = {};
  if (linux) {
    for (const t of ['sh', 'unshare', 'setpriv', 'mount', 'perl', 'ip', 'nft'] as const) {
      const p = which(t);
      if (p) tools[t] = p;
    }
  }
  return {
    platform: process.platform,
    arch: process.arch,
    uid,
    root: uid === 0,
    cores: availableParallelism(),
    cgroup: linux ? detectCgroups() : { version: undefined, controllers: [], v1Mounts: {}, v2MountPoint: undefined, ownPaths: {} },
    namespaces: {
      pid: linux && existsSync('/proc/self/ns/pid'),
      mount: linux && existsSync('/proc/self/ns/mnt'),
      net: linux && existsSync('/proc/self/ns/net'),
      user: linux && existsSync('/proc/self/ns/user'),
    },
    tools,
    kvm: { present: kvmPresent, accessible: kvmAccessible },
  };
}

/** Why the cgroups level is unavailable, or undefined when it is available. */
export function cgroupsUnavailable(caps: HostCapabilities): string | undefined {
  if (caps.platform !== 'linux') return `cgroups need Linux (this is ${caps.platform})`;
  if (!caps.root) return 'cgroups need root (lambkin runs as uid ' + String(caps.uid) + ')';
  if (caps.cgroup.version === undefined) return 'no cgroup filesystem is mounted';
  const missing = REQUIRED_CONTROLLERS.filter((c) => !caps.cgroup.controllers.includes(c));
  if (missing.length > 0) return `cgroup v${caps.cgroup.version} lacks the ${missing.join(', ')} controller${missing.length > 1 ? 's' : ''}`;
  if (!caps.tools.perl) return 'no perl on PATH (the sandbox init is a perl program; Debian: perl-base)';
  return undefined;
}

/** Why the namespaces level is unavailable, or undefined when it is available. */
export function namespacesUnavailable(caps: HostCapabilities): string | undefined {
  const cg = cgroupsUnavailable(caps);
  if (cg) return cg;
  if (!caps.namespaces.pid || !caps.namespaces.mount || !caps.namespaces.net || !caps.namespaces.user) return 'the kernel offers no PID, mount, network or user namespaces';
  if (!initSyscalls(caps.arch)) return `lambkin does not know the syscall numbers of ${caps.arch}`;
  return undefined;
}

/** The isolation level to run at, and why it is not the strongest. */
export interface ResolvedLevel {
  readonly level: IsolationLevel;
  /** Why the level is weaker than full isolation (undefined at cgroups+namespaces). */
  readonly reason: string | undefined;
}

/**
 * The level to run at. `auto` takes the strongest available; an explicit level that the machine cannot
 * provide is an error (the operator asked for a guarantee lambkin cannot give).
 */
export function resolveIsolationLevel(request: IsolationRequest, caps: HostCapabilities): ResolvedLevel {
  const ns = namespacesUnavailable(caps);
  const cg = cgroupsUnavailable(caps);
  switch (request) {
    case 'none':
      return { level: 'none', reason: 'isolation disabled (--isolation none)' };
    case 'cgroups':
      if (cg) throw new Error(`--isolation cgroups is not available: ${cg}`);
      return { level: 'cgroups', reason: 'namespaces disabled (--isolation cgroups)' };
    case 'namespaces':
      if (ns) throw new Error(`--isolation namespaces is not available: ${ns}`);
      return { level: 'cgroups+namespaces', reason: undefined };
    case 'auto':
      if (!ns) return { level: 'cgroups+namespaces', reason: undefined };
      if (!cg) return { level: 'cgroups', reason: ns };
      return { level: 'none', reason: cg };
  }
}

/** Whether a full sandbox can have a disk-backed /tmp (loop devices and mkfs.ext4 usable). */
export interface IsolationFeatures {
  readonly scratchDisks: boolean;
}

/** One promise of the sandbox's security contract (DESIGN.md), and whether a level keeps it. */
export interface Guarantee {
  readonly text: string;
  readonly enforced: boolean;
}

/**
 * Every guarantee of the sandbox's security contract and of Lambda's limits, with whether `level`
 * enforces it on this machine. The start-up message and `lambkin doctor` both print from this list.
 */
export function guarantees(level: IsolationLevel, features: IsolationFeatures = { scratchDisks: true }): Guarantee[] {
  const cg = level !== 'none';
  const full = level === 'cgroups+namespaces';
  return [
    { text: "lambkin's helpers run with a fixed environment; a function's variables apply only at its runtime's exec", enforced: true },
    { text: 'nothing a sandbox starts outlives it, and no sandbox outlives the server', enforced: cg },
    { text: 'MemorySize is a hard limit (swap off); out of memory is Runtime.OutOfMemory', enforced: cg },
    { text: 'CPU in proportion to MemorySize (1,769 MB = one vCPU)', enforced: cg },
    { text: 'a process limit per sandbox (a fork bomb stays inside)', enforced: cg },
    { text: 'frozen between invocations (background work gets no CPU while idle)', enforced: cg },
    { text: 'Max Memory Used covers the whole sandbox', enforced: cg },
    { text: 'an unprivileged uid per sandbox with no capabilities and no_new_privs', enforced: full },
    { text: "none of the host's files: a sandbox sees its runtime's files, /var/task and /opt read-only, its /tmp, its own /proc and a minimal /dev", enforced: full },
    { text: "a network of its own: its Runtime API, lambkin's sandbox endpoint and the X-Ray daemon; lambkin's API and the host's services are unreachable", enforced: full },
    { text: "no host processes and no other sandbox: a PID namespace of its own; other sandboxes' processes, files and Runtime APIs cannot be seen or reached", enforced: full },
    { text: '/tmp is disk, limited to EphemeralStorage and not charged to memory', enforced: full && features.scratchDisks },
  ];
}

/** The guarantees a level does NOT give, worded as what is missing. */
export function missingGuarantees(level: IsolationLevel, features?: IsolationFeatures): string[] {
  const out = guarantees(level, features)
    .filter((g) => !g.enforced)
    .map((g) => `not enforced: ${g.text}`);
  if (level === 'none') {
    out.push(
      "at isolation none, a sandbox can kill its own init, so a daemon it starts may then outlive it; functions run as lambkin's own user",
      "idle sandboxes are stopped with SIGSTOP, not frozen: a process that left the sandbox's process group (setsid) keeps running between invocations",
    );
  }
  return out;
}

/**
 * The one start-up message about isolation: undefined when everything is enforced, else which level
 * runs, why, and each missing guarantee.
 */
export function isolationStartupMessage(resolved: ResolvedLevel, features?: IsolationFeatures): string | undefined {
  const missing = missingGuarantees(resolved.level, features);
  if (missing.length === 0) return undefined;
  return [
    `lambkin: sandbox isolation is '${resolved.level}'${resolved.reason ? ` (${resolved.reason})` : ''}; missing guarantees:`,
    ...missing.map((m) => `  - ${m}`),
  ].join('\n');
}
