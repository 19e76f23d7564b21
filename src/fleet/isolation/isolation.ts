/**
 * Sandbox isolation for the process driver: picks the level the machine supports, owns the cgroup
 * tree of this lambkin instance, hands each sandbox its cgroup (and, with namespaces, its own uid,
 * read-only /var/task and /var/runtime, private /tmp), and builds the launcher command line.
 *
 * Levels: `none` (plain processes), `cgroups` (MemorySize is a hard limit, CPU in proportion to
 * memory, a process limit, whole-sandbox kill), `cgroups+namespaces` (plus PID + mount namespace,
 * an unprivileged uid per sandbox, Lambda's file system layout, Runtime API reachable only by the
 * sandbox's own uid).
 */
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  detectCapabilities,
  isolationStartupMessage,
  resolveIsolationLevel,
  type HostCapabilities,
  type IsolationLevel,
  type IsolationRequest,
  type ResolvedLevel,
} from './capabilities.js';
import { createCgroupManager, cpusFor, DEFAULT_PIDS_MAX, type CgroupManager, type SandboxCgroup } from './cgroups.js';
import { cgroupLaunch, namespaceLaunch, SANDBOX_RUNTIME_DIR, SANDBOX_TASK_ROOT } from './launcher.js';

/** The worker a sandbox goes into when its spec names none (e.g. a driver used without a fleet). */
export const DEFAULT_WORKER = 'default';
/** Lambda's default EphemeralStorage. */
export const DEFAULT_EPHEMERAL_MB = 512;

const RUNTIMES_DIR = fileURLToPath(new URL('../../runtimes/', import.meta.url));

/** How to isolate sandboxes; every field has a default. */
export interface IsolationOptions {
  /** Default `auto`: the strongest level this machine supports. */
  readonly request?: IsolationRequest;
  /** Replaces detection (tests). */
  readonly capabilities?: HostCapabilities;
  /**
   * Directories no sandbox may see, e.g. lambkin's data directory: with namespaces they are made
   * 0700 (root) and hidden under an empty read-only tmpfs inside every sandbox.
   */
  readonly protectedPaths?: readonly string[];
  /** First uid of the range sandboxes run as (namespaces level). Default 200000. */
  readonly uidBase?: number;
  /** Size of that range. Default 65536. */
  readonly uidCount?: number;
  /** Process limit per sandbox. Default 1024. */
  readonly pidsMax?: number;
  /** Where to stage the runtime clients for /var/runtime. Default: a fresh directory in the OS temp dir. */
  readonly stateDir?: string;
  /** Receives the start-up message once (missing guarantees), if any. */
  readonly log?: (message: string) => void;
}

/** What a sandbox needs from isolation, as the process driver uses it. */
export interface IsolatedSandbox {
  /** The uid the runtime runs as (namespaces level); its Runtime API accepts only this uid. */
  readonly uid: number | undefined;
  /** LAMBDA_TASK_ROOT inside the sandbox. */
  readonly taskRoot: string;
  /** Directory with `node/` and `python/` runtime clients inside the sandbox, when they are remapped. */
  readonly runtimeDir: string | undefined;
  /** True when the launcher reports the runtime's exit status on fd 3. */
  readonly statusFd: boolean;
  readonly cgroup: SandboxCgroup;
  /** The argv that starts `command args` inside the sandbox, and environment the launcher needs. */
  launch(command: string, args: readonly string[]): { command: string; args: string[]; env: Record<string, string> };
  /** True when the kernel's OOM killer has killed a process of this sandbox. */
  oomKilled(): boolean;
  /** Peak memory of the whole sandbox in MB, if the cgroup reports it. */
  peakMb(): number | undefined;
  /** Kills every process of the sandbox and waits until they are gone. */
  killAll(): Promise<void>;
  /**
   * Freezes every process of the sandbox (its cgroup's freezer), as Lambda does between invocations;
   * resolves true once frozen, false when this cgroup cannot be frozen (the caller falls back to signals).
   */
  freeze(): Promise<boolean>;
  /** True when {@link freeze} can work (the cgroup has a freezer). */
  readonly freezable: boolean;
  /** Thaws the sandbox; synchronous, a no-op when it is not frozen. */
  thaw(): void;
  /** killAll, removes the cgroup, frees the uid. Idempotent. */
  release(): Promise<void>;
}

/** Minimal view of a sandbox spec (avoids a cycle with sandbox-driver.ts). */
export interface IsolationSpec {
  readonly sandboxId: string;
  readonly workerId?: string;
  readonly codeDir: string;
  readonly memoryMb: number;
  readonly ephemeralStorageMb?: number;
}

/** Owns this lambkin instance's cgroups, uids and staged runtime; closed by the driver that uses it. */
export class Isolation {
  readonly level: IsolationLevel;
  /** The start-up message listing missing guarantees (undefined when everything is enforced). */
  readonly message: string | undefined;
  readonly capabilities: HostCapabilities;
  private readonly cgroups: CgroupManager | undefined;
  private readonly runtimeDir: string | undefined;
  private readonly ownsRuntimeDir: boolean;
  private readonly protectedPaths: string[];
  private readonly uidsInUse = new Set<number>();
  private nextUid: number;
  private closing: Promise<void> | undefined;

  private constructor(
    resolved: ResolvedLevel,
    caps: HostCapabilities,
    cgroups: CgroupManager | undefined,
    private readonly options: IsolationOptions,
  ) {
    this.level = resolved.level;
    this.message = isolationStartupMessage(resolved);
    this.capabilities = caps;
    this.cgroups = cgroups;
    this.protectedPaths = [];
    this.nextUid = Math.floor(Math.random() * this.uidCount);
    if (this.level === 'cgroups+namespaces') {
      for (const p of options.protectedPaths ?? []) {
        try {
          if (!statSync(p).isDirectory()) continue;
          chmodSync(p, 0o700);
          this.protectedPaths.push(p);
        } catch {
          // does not exist (yet): nothing to hide
        }
      }
      for (const mountPoint of [SANDBOX_TASK_ROOT, SANDBOX_RUNTIME_DIR]) mkdirSync(mountPoint, { recursive: true, mode: 0o755 });
      this.ownsRuntimeDir = options.stateDir === undefined;
      this.runtimeDir = options.stateDir ?? mkdtempSync(join(tmpdir(), 'lambkin-runtime-'));
      stageRuntimes(this.runtimeDir);
    } else {
      this.ownsRuntimeDir = false;
      this.runtimeDir = undefined;
    }
  }

  /**
   * Resolves the level (`auto` falls back to weaker levels, an explicit level that cannot be had throws),
   * creates the instance's cgroups and logs the start-up message once.
   */
  static create(options: IsolationOptions = {}): Isolation {
    const caps = options.capabilities ?? detectCapabilities();
    const request = options.request ?? 'auto';
    let resolved = resolveIsolationLevel(request, caps);
    let cgroups: CgroupManager | undefined;
    if (resolved.level !== 'none') {
      try {
        cgroups = createCgroupManager(caps);
      } catch (err) {
        if (request !== 'auto') throw new Error(`--isolation ${request}: cannot create cgroups: ${(err as Error).message}`);
        resolved = { level: 'none', reason: `cannot create cgroups: ${(err as Error).message}` };
      }
    }
    const isolation = new Isolation(resolved, caps, cgroups, options);
    if (isolation.message) options.log?.(isolation.message);
    return isolation;
  }

  private get uidBase(): number {
    return this.options.uidBase ?? 200_000;
  }

  private get uidCount(): number {
    return this.options.uidCount ?? 65_536;
  }

  /** `lambkin/<instance>` cgroup directories (empty at level none). */
  get cgroupDirs(): readonly string[] {
    return this.cgroups?.instanceDirs ?? [];
  }

  /** Makes a worker a cgroup parent with its memory capacity. */
  provisionWorker(workerId: string, capacityMb: number): void {
    this.cgroups?.ensureWorker(workerId, capacityMb);
  }

  /** Removes a worker's cgroup (its sandboxes are normally gone already). */
  async retireWorker(workerId: string): Promise<void> {
    await this.cgroups?.removeWorker(workerId);
  }

  /** Prepares a sandbox's cgroup (and uid); undefined at level none. */
  allocate(spec: IsolationSpec): IsolatedSandbox | undefined {
    if (this.closing) throw new Error('isolation is closed');
    const cgroups = this.cgroups;
    if (!cgroups || this.level === 'none') return undefined;
    const caps = this.capabilities;
    const namespaces = this.level === 'cgroups+namespaces';
    // Taken first: if no uid is free, no cgroup is left behind.
    const uid = namespaces ? this.takeUid() : undefined;
    let cgroup: SandboxCgroup;
    try {
      cgroup = cgroups.createSandbox(spec.workerId ?? DEFAULT_WORKER, spec.sandboxId, {
        memoryMb: spec.memoryMb,
        cpus: cpusFor(spec.memoryMb, caps.cores),
        pids: this.options.pidsMax ?? DEFAULT_PIDS_MAX,
      });
    } catch (err) {
      if (uid !== undefined) this.uidsInUse.delete(uid);
      throw err;
    }
    const common = {
      cgroup,
      oomKilled: () => {
        // The cgroup is new, so any OOM kill it counts is this sandbox's.
        const kills = cgroup.oomKills();
        // Kernels before 4.13 (v1) do not count OOM kills: a hit limit is the best evidence there is.
        return kills === undefined ? cgroup.limitHits() > 0 : kills > 0;
      },
      peakMb: () => cgroup.peakMb(),
      killAll: () => cgroup.killAll(),
      freeze: () => cgroup.freeze(),
      freezable: cgroup.freezable,
      thaw: () => cgroup.thaw(),
    };
    if (uid === undefined) {
      const sh = caps.tools.sh ?? '/bin/sh';
      return {
        ...common,
        uid: undefined,
        taskRoot: spec.codeDir,
        runtimeDir: undefined,
        statusFd: false,
        launch: (command, args) => ({ ...cgroupLaunch(sh, cgroup.joinFiles, command, args), env: {} }),
        release: () => cgroup.remove(),
      };
    }
    const runtimeDir = this.runtimeDir as string;
    let released: Promise<void> | undefined;
    return {
      ...common,
      uid,
      taskRoot: SANDBOX_TASK_ROOT,
      runtimeDir: SANDBOX_RUNTIME_DIR,
      statusFd: true,
      launch: (command, args) => ({
        ...namespaceLaunch({
          unshare: caps.tools.unshare ?? 'unshare',
          perl: caps.tools.perl ?? 'perl',
          setpriv: caps.tools.setpriv ?? 'setpriv',
          joinFiles: cgroup.joinFiles,
          codeDir: spec.codeDir,
          runtimeDir,
          tmpMb: spec.ephemeralStorageMb ?? DEFAULT_EPHEMERAL_MB,
          shmMb: 64,
          uid,
          hiddenPaths: this.protectedPaths,
          command,
          args,
        }),
        env: { PERL_BADLANG: '0' },
      }),
      // Memoized so a second call cannot free the uid again once another sandbox holds it.
      release: () =>
        (released ??= cgroup.remove().then(() => {
          // Only once no process of this uid is left (a failed removal keeps it taken), so the uid
          // cannot pass another sandbox's Runtime API check.
          this.uidsInUse.delete(uid);
        })),
    };
  }

  private takeUid(): number {
    for (let i = 0; i < this.uidCount; i++) {
      const uid = this.uidBase + ((this.nextUid + i) % this.uidCount);
      if (this.uidsInUse.has(uid)) continue;
      // Round-robin: a freed uid is reused last, after everything it owned is long gone.
      this.nextUid = (this.nextUid + i + 1) % this.uidCount;
      this.uidsInUse.add(uid);
      return uid;
    }
    throw new Error('no free sandbox uid');
  }

  /** Removes every cgroup of this instance and the staged runtime. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.cgroups?.close();
      if (this.ownsRuntimeDir && this.runtimeDir) rmSync(this.runtimeDir, { recursive: true, force: true });
    })();
    return this.closing;
  }
}

/**
 * Copies the runtime clients where /var/runtime is bound from: `node/*.js` with a package.json that
 * marks them as ES modules (lambkin's own package.json is not visible there), and `python/`.
 */
function stageRuntimes(dir: string): void {
  chmodSync(dir, 0o755);
  for (const family of ['node', 'python']) {
    const from = join(RUNTIMES_DIR, family);
    const to = join(dir, family);
    mkdirSync(to, { recursive: true, mode: 0o755 });
    if (!existsSync(from)) continue;
    for (const name of readdirSync(from)) {
      if (!(name.endsWith('.js') || name.endsWith('.py'))) continue;
      copyFileSync(join(from, name), join(to, name));
      chmodSync(join(to, name), 0o644);
    }
  }
  writeFileSync(join(dir, 'node', 'package.json'), '{"type":"module"}\n', { mode: 0o644 });
}
