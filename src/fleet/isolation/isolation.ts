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
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
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
import { createCgroupManager, cpusFor, DEFAULT_PIDS_MAX, instanceName, pidAlive, type CgroupManager, type SandboxCgroup } from './cgroups.js';
import { initSyscalls, SANDBOX_RUNTIME_DIR, SANDBOX_SOCKET_DIR, SANDBOX_TASK_ROOT, type LaunchPlan, type RootEntry } from './launcher.js';
import { AWS_ENDPOINT_SOCKET, sandboxRelay, XRAY_SOCKET } from './relay.js';
import { sandboxRoot } from './sandbox-root.js';
import { ScratchDisks, type ScratchDisk } from './scratch-disks.js';
import { SandboxNetworks, type SandboxNetwork, type SandboxNetworkMode } from './sandbox-networks.js';

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
   * Directories no sandbox may see, e.g. lambkin's data directory: made 0700 (root). A full
   * sandbox sees no host path outside its runtime's anyway; this protects them at weaker levels too.
   */
  readonly protectedPaths?: readonly string[];
  /** First uid of the range sandboxes run as (namespaces level). Default 200000. */
  readonly uidBase?: number;
  /** Size of that range. Default 65536. */
  readonly uidCount?: number;
  /** Process limit per sandbox. Default 1024. */
  readonly pidsMax?: number;
  /**
   * Where this instance keeps its run-time state (`<runDir>/<pid>-<tag>/`: staged runtime clients,
   * sockets, the mount point of sandbox roots); start-up removes what dead instances left there.
   * Default `<OS temp dir>/lambkin-run`; `lambkin serve` uses `<data dir>/run`.
   */
  readonly runDir?: string;
  /**
   * A network namespace per full sandbox (default true where the level is full): only `lo`, where
   * the relay (relay.ts) carries 127.0.0.1:9001 / 9002 / 2000 to the sandbox's Runtime API socket and
   * to these shared sockets of lambkin's. false = full sandboxes share the host's network (tests).
   */
  readonly network?: boolean;
  /**
   * What a full sandbox's network reaches besides lambkin's relayed endpoints (sandbox-networks.ts):
   * `none` (default) nothing; `nat` the internet, through NAT.
   */
  readonly sandboxNetwork?: SandboxNetworkMode;
  /** Network namespaces kept ready (sandbox-networks.ts DEFAULT_NETWORK_POOL: 4). */
  readonly networkPool?: number;
  /** Where address blocks are claimed host-wide (`nat`; default /run/lambkin/net). */
  readonly networkClaimsDir?: string;
  /** Ready /tmp disks kept per EphemeralStorage size (scratch-disks.ts DEFAULT_POOL: three of 512 MB). */
  readonly scratchPool?: Readonly<Record<number, number>>;
  /** lambkin's sandbox-facing AWS endpoint (a Unix socket), shown to each sandbox as /var/lambkin/aws.sock. */
  readonly awsEndpointSocket?: string;
  /** The X-Ray daemon's stream socket (framed datagrams), shown to each sandbox as /var/lambkin/xray.sock. */
  readonly xraySocket?: string;
  /** Receives the start-up message once (missing guarantees), if any. */
  readonly log?: (message: string) => void;
}

/** What the runtime of a sandbox is, to be started by the sandbox's init. */
export interface RuntimeCommand {
  readonly command: string;
  readonly args: readonly string[];
  /** The runtime's whole environment: Lambda's variables and the function's. */
  readonly env: Readonly<Record<string, string>>;
  /** Host directories the runtime lives in outside /usr (shown read-only in a full sandbox). */
  readonly readOnly?: readonly string[];
}

/** What a sandbox needs from isolation, as the process driver uses it. */
export interface IsolatedSandbox {
  /** The uid the runtime runs as (namespaces level); undefined = lambkin's own. */
  readonly uid: number | undefined;
  /** LAMBDA_TASK_ROOT inside the sandbox. */
  readonly taskRoot: string;
  /** Directory with `node/` and `python/` runtime clients inside the sandbox, when they are remapped. */
  readonly runtimeDir: string | undefined;
  /**
   * Host directory for this sandbox's Unix sockets (its Runtime API listens on `runtime.sock` there),
   * when the sandbox has a network of its own; undefined = the Runtime API is on TCP loopback.
   */
  readonly socketDir: string | undefined;
  readonly cgroup: SandboxCgroup | undefined;
  /** Gets what the sandbox needs before its init starts (its /tmp disk). */
  prepare(signal?: AbortSignal): Promise<void>;
  /** fds of lambkin's the init inherits, in order from fd 5 on (its /tmp mounted ahead). */
  inheritFds(): readonly number[];
  /** Called once the init is spawned: lambkin's copies of inherited fds can go. */
  spawned(): void;
  /**
   * Called once the sandbox's init has finished (or failed): background refills of the ready pools
   * wait for cold starts in flight, so their helpers take no CPU from one. Idempotent.
   */
  initDone(): void;
  /** The init's plan for this sandbox (launcher.ts). */
  plan(runtime: RuntimeCommand): LaunchPlan;
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

/** A sandbox at isolation `none`: plain processes; the init still reaps what the runtime leaves. */
export function plainSandbox(spec: Pick<IsolationSpec, 'codeDir'>): IsolatedSandbox {
  return {
    uid: undefined,
    taskRoot: spec.codeDir,
    runtimeDir: undefined,
    socketDir: undefined,
    cgroup: undefined,
    prepare: () => Promise.resolve(),
    inheritFds: () => [],
    spawned: () => undefined,
    initDone: () => undefined,
    plan: (rt) => ({ mode: 'none', command: rt.command, args: rt.args, env: rt.env, cwd: spec.codeDir }),
    oomKilled: () => false,
    peakMb: () => undefined,
    killAll: () => Promise.resolve(),
    // No cgroup: the driver stops the process group instead (SIGSTOP / SIGCONT).
    freeze: () => Promise.resolve(false),
    freezable: false,
    thaw: () => undefined,
    release: () => Promise.resolve(),
  };
}

/** Minimal view of a sandbox spec (avoids a cycle with sandbox-driver.ts). */
export interface IsolationSpec {
  readonly sandboxId: string;
  readonly workerId?: string;
  readonly codeDir: string;
  readonly memoryMb: number;
  readonly ephemeralStorageMb?: number;
  /** The ENI a VPC function's sandbox reaches its VPC through (sandbox-networks.ts). */
  readonly eniId?: string;
}

/** Owns this lambkin instance's cgroups, uids, run directory and staged runtime; closed by the driver that uses it. */
export class Isolation {
  readonly level: IsolationLevel;
  /** The start-up message listing missing guarantees (undefined when everything is enforced). */
  readonly message: string | undefined;
  readonly capabilities: HostCapabilities;
  /** `<runDir>/<instance>`: this instance's state, removed by close(). */
  readonly stateDir: string;
  private readonly cgroups: CgroupManager | undefined;
  private readonly runtimeDir: string;
  private readonly rootMountPoint: string;
  /** Disk-backed /tmp for full sandboxes (undefined below that level). */
  private readonly scratch: ScratchDisks | undefined;
  /** Network namespaces made ahead for full sandboxes (undefined below that level or without a network of their own). */
  readonly networks: SandboxNetworks | undefined;
  private readonly uidsInUse = new Set<number>();
  private nextUid: number;
  private nextSocketDir = 0;
  private closing: Promise<void> | undefined;
  /** Cold starts of full sandboxes whose init has not finished, and who waits for there to be none. */
  private coldStarts = 0;
  private quietWaiters: (() => void)[] = [];

  private constructor(
    resolved: ResolvedLevel,
    caps: HostCapabilities,
    cgroups: CgroupManager | undefined,
    private readonly options: IsolationOptions,
  ) {
    this.level = resolved.level;
    this.capabilities = caps;
    this.cgroups = cgroups;
    this.nextUid = Math.floor(Math.random() * this.uidCount);
    const runDir = options.runDir ?? join(tmpdir(), 'lambkin-run');
    mkdirSync(runDir, { recursive: true, mode: 0o711 });
    removeDeadInstances(runDir);
    this.stateDir = join(runDir, instanceName());
    mkdirSync(this.stateDir, { mode: 0o711 });
    this.runtimeDir = join(this.stateDir, 'runtime');
    this.rootMountPoint = join(this.stateDir, 'root');
    mkdirSync(this.rootMountPoint, { mode: 0o700 });
    mkdirSync(join(this.stateDir, 'sandboxes'), { mode: 0o711 });
    if (this.level === 'cgroups+namespaces') {
      for (const p of options.protectedPaths ?? []) {
        try {
          if (statSync(p).isDirectory()) chmodSync(p, 0o700);
        } catch {
          // does not exist (yet): nothing to protect
        }
      }
      mkdirSync(this.runtimeDir, { mode: 0o755 });
      stageRuntimes(this.runtimeDir);
      const quiet = (): Promise<void> => this.whenQuiet();
      this.scratch = new ScratchDisks({ dir: join(runDir, 'scratch'), quiet, ...(options.scratchPool ? { pool: options.scratchPool } : {}), ...(options.log ? { log: options.log } : {}) });
      const sys = initSyscalls(caps.arch);
      this.networks =
        options.network === false || !sys
          ? undefined
          : new SandboxNetworks({
              mode: options.sandboxNetwork ?? 'none',
              perl: caps.tools.perl ?? 'perl',
              ...(caps.tools.ip ? { ip: caps.tools.ip } : {}),
              ...(caps.tools.nft ? { nft: caps.tools.nft } : {}),
              quiet,
              unshareSyscall: sys.unshare,
              prctlSyscall: sys.prctl,
              ...(options.networkPool !== undefined ? { pool: options.networkPool } : {}),
              ...(options.networkClaimsDir !== undefined ? { claimsDir: options.networkClaimsDir } : {}),
              ...(options.log ? { log: options.log } : {}),
            });
    } else {
      if (options.sandboxNetwork === 'nat') throw new Error(`--sandbox-network nat needs full isolation (this instance runs at '${resolved.level}')`);
      this.scratch = undefined;
      this.networks = undefined;
    }
    this.message = isolationStartupMessage(resolved, { scratchDisks: this.scratch?.usable ?? false });
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

  /** Resolves once the pool of ready /tmp disks is full (benchmarks measure the cold path with it full). */
  scratchReady(): Promise<void> {
    return this.scratch?.whenFilled() ?? Promise.resolve();
  }

  /**
   * Claims the address block and installs the NAT rules (`--sandbox-network nat`); rejects when that
   * cannot be done. `filled`: also waits until the pool of network namespaces is full (benchmarks).
   */
  async networkReady(filled = false): Promise<void> {
    await (filled ? this.networks?.whenFilled() : this.networks?.start());
  }

  /**
   * Makes an ENI a real interface into its VPC where this machine allows (full isolation with ip and
   * nft as root); elsewhere an ENI stays what the placement core counts, and VPC sandboxes get the
   * network every sandbox gets.
   */
  async attachEni(eniId: string, vpcId: string): Promise<void> {
    if (this.networks?.enisUsable) await this.networks.attachEni(eniId, vpcId);
  }

  async deleteEni(eniId: string): Promise<void> {
    await this.networks?.deleteEni(eniId);
  }

  /** Resolves when no full sandbox's init is running (at once when none is). */
  private whenQuiet(): Promise<void> {
    if (this.coldStarts === 0 || this.closing) return Promise.resolve();
    return new Promise((resolve) => this.quietWaiters.push(resolve));
  }

  private coldStartEnded(): void {
    this.coldStarts--;
    if (this.coldStarts > 0) return;
    for (const w of this.quietWaiters.splice(0)) w();
  }

  /** Makes a worker a cgroup parent with its memory capacity. */
  provisionWorker(workerId: string, capacityMb: number): void {
    this.cgroups?.ensureWorker(workerId, capacityMb);
  }

  /** Removes a worker's cgroup (its sandboxes are normally gone already). */
  async retireWorker(workerId: string): Promise<void> {
    await this.cgroups?.removeWorker(workerId);
  }

  /** Prepares a sandbox's cgroup, uid and socket directory, as its level asks. */
  allocate(spec: IsolationSpec): IsolatedSandbox {
    if (this.closing) throw new Error('isolation is closed');
    const cgroups = this.cgroups;
    if (!cgroups || this.level === 'none') return plainSandbox(spec);
    const caps = this.capabilities;
    const full = this.level === 'cgroups+namespaces';
    // Taken first: if no uid is free, no cgroup is left behind.
    const uid = full ? this.takeUid() : undefined;
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
      return {
        ...common,
        uid: undefined,
        taskRoot: spec.codeDir,
        runtimeDir: undefined,
        socketDir: undefined,
        prepare: () => Promise.resolve(),
        inheritFds: () => [],
        spawned: () => undefined,
        initDone: () => undefined,
        plan: (rt) => ({ mode: 'cgroups', joinFiles: cgroup.joinFiles, command: rt.command, args: rt.args, env: rt.env, cwd: spec.codeDir }),
        release: () => cgroup.remove(),
      };
    }
    // Short names: a Unix socket's path holds at most 107 bytes.
    const socketDir = this.options.network === false ? undefined : join(this.stateDir, 's', (this.nextSocketDir++).toString(36));
    const shared: RootEntry[] = [];
    if (socketDir) {
      mkdirSync(socketDir, { recursive: true, mode: 0o700 });
      chownSync(socketDir, uid, uid);
      // Mount points for lambkin's shared sockets (bind-mounted over them inside the sandbox).
      for (const [name, source] of [[AWS_ENDPOINT_SOCKET, this.options.awsEndpointSocket], [XRAY_SOCKET, this.options.xraySocket]] as const) {
        if (source === undefined || !existsSync(source)) continue;
        writeFileSync(join(socketDir, name), '', { mode: 0o600 });
        shared.push({ kind: 'ro', source, target: `${SANDBOX_SOCKET_DIR}/${name}` });
      }
    }
    const relay = socketDir ? sandboxRelay(caps.tools.perl ?? 'perl', SANDBOX_SOCKET_DIR) : undefined;
    const scratch = this.scratch;
    const tmpMb = spec.ephemeralStorageMb ?? DEFAULT_EPHEMERAL_MB;
    const networks = socketDir ? this.networks : undefined;
    this.coldStarts++;
    let coldStartOver = false;
    const initDone = (): void => {
      if (coldStartOver) return;
      coldStartOver = true;
      this.coldStartEnded();
    };
    let disk: ScratchDisk | undefined;
    let net: SandboxNetwork | undefined;
    let released: Promise<void> | undefined;
    // The init's inherited fds, from fd 5 on: the /tmp mounted ahead, then the network namespace.
    const inherited = (): { fd: number; kind: 'disk' | 'net' }[] => [
      ...(disk?.mountFd !== undefined ? [{ fd: disk.mountFd, kind: 'disk' as const }] : []),
      ...(net ? [{ fd: net.fd, kind: 'net' as const }] : []),
    ];
    const childFd = (kind: 'disk' | 'net'): number | undefined => {
      const i = inherited().findIndex((f) => f.kind === kind);
      return i < 0 ? undefined : 5 + i;
    };
    return {
      ...common,
      uid,
      taskRoot: SANDBOX_TASK_ROOT,
      runtimeDir: SANDBOX_RUNTIME_DIR,
      socketDir,
      prepare: async (signal) => {
        if (scratch?.usable) disk = await scratch.acquire(tmpMb, signal);
        const eniId = spec.eniId !== undefined && networks?.enisUsable ? spec.eniId : undefined;
        if (networks) net = await networks.claim(signal, eniId);
      },
      inheritFds: () => inherited().map((f) => f.fd),
      spawned: () => {
        disk?.closeMountFd();
        net?.closeFd();
      },
      initDone,
      plan: (rt) => ({
        mode: 'full',
        uid,
        joinFiles: cgroup.joinFiles,
        rootMountPoint: this.rootMountPoint,
        network: socketDir !== undefined,
        ...(net ? { netnsFd: childFd('net') } : {}),
        layout: sandboxRoot({
          codeDir: spec.codeDir,
          runtimeDir: this.runtimeDir,
          uid,
          ...(socketDir ? { socketDir } : {}),
          ...(rt.readOnly ? { extraReadOnly: rt.readOnly } : {}),
          // A scratch disk (its fd is the init's fd 5 when mounted ahead); a tmpfs where none can be had.
          tmp: disk
            ? { kind: 'disk', fd: childFd('disk'), device: disk.device }
            : { kind: 'tmp', source: 'lambkin-tmp', fsType: 'tmpfs', data: `size=${tmpMb}m,mode=1777` },
        }).concat(shared),
        ...(relay ? { relay: relay.argv, listen: relay.listen } : {}),
        command: rt.command,
        args: rt.args,
        env: rt.env,
        cwd: SANDBOX_TASK_ROOT,
      }),
      // Memoized so a second call cannot free the uid again once another sandbox holds it.
      release: () =>
        (released ??= (initDone(), cgroup.remove()).then(async () => {
          if (socketDir) rmSync(socketDir, { recursive: true, force: true });
          await disk?.release();
          await net?.release();
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

  /** Removes every cgroup of this instance and its state directory. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      for (const w of this.quietWaiters.splice(0)) w();
      await this.cgroups?.close();
      await this.scratch?.close();
      await this.networks?.close();
      rmSync(this.stateDir, { recursive: true, force: true });
    })();
    return this.closing;
  }
}

/** Removes `<runDir>/<pid>-<tag>` directories of lambkin instances that no longer run. */
function removeDeadInstances(runDir: string): void {
  for (const name of readdirSync(runDir)) {
    const m = /^(\d+)-[0-9a-f]+$/.exec(name);
    if (!m || Number(m[1]) === process.pid || pidAlive(Number(m[1]))) continue;
    rmSync(join(runDir, name), { recursive: true, force: true });
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
