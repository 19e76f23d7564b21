/**
 * Disk-backed /tmp for sandboxes: each sandbox gets a fresh ext4 file system on a loop device, sized
 * by EphemeralStorage, whose pages are page cache (reclaimable) instead of tmpfs pages (charged to
 * the sandbox's memory cgroup until deleted). Writing 300 MB to /tmp at MemorySize 128 therefore
 * completes instead of ending in Runtime.OutOfMemory, as on Lambda.
 *
 * A disk is a sparse file under `<dir>/<instance>/`, formatted ext4 without journal (it is scratch),
 * with prezeroed inode tables (no lazy-init writes after mount), no reserved blocks, and attached
 * to a loop device with direct I/O (no second copy in the page cache). Creating one costs ~150 ms of
 * helper processes (mkfs.ext4, losetup), so disks are made ahead: a pool per size, refilled in the
 * background, so acquire on the cold path takes a ready one. Each disk serves one sandbox and is
 * never reused: release detaches it and deletes the file.
 *
 * Mounting ext4 costs 2–10 ms (synchronous superblock reads and write, two kernel threads), so where
 * the kernel has the new mount API (5.2+) the pool also mounts each disk ahead, detached: a keeper
 * process holds an fsmount(2) fd (a mount in no namespace, nosuid,nodev), lambkin holds an O_PATH
 * copy (`mountFd`), and the sandbox's init attaches it at /tmp with move_mount(2) in ~0.1 ms. Where
 * not, the init mounts `device` itself. Either way the mount lives only in the sandbox's mount
 * namespace and disappears with it. Detaching a device that is still mounted somewhere makes the
 * kernel detach it when the last mount goes (autoclear), so release never waits for that.
 *
 * Instances are named `<pid>-<random>` as cgroups.ts names them: cleanupLeftovers() detaches the loop
 * devices and deletes the files of instances whose process is gone (a killed lambkin).
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { closeSync, mkdirSync, openSync, rmdirSync } from 'node:fs';
import { createInterface, type Interface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { open, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { instanceName } from './cgroups.js';
import { backingFileMb, cleanupLeftovers, detectScratchSupport, INSTANCE, loopBackingFile, realPath, runHelper as run, which } from './scratch-disk-host.js';

/** The file system a scratch disk carries. */
export const SCRATCH_FS_TYPE = 'ext4';
/** What the callers must say when they fall back to a tmpfs /tmp (scratch disks unusable here). */
export const MEMORY_BACKED_TMP = '/tmp is memory-backed (a tmpfs): its files count against MemorySize';
/** Default ready disks per size: three of Lambda's default EphemeralStorage (512 MB). */
export const DEFAULT_POOL: Readonly<Record<number, number>> = Object.freeze({ 512: 3 });
/** Sizes outside the configured pool keep this many ready disks once acquired, for so many sizes (least recently used dropped). */
const OTHER_SIZES_KEPT = 4;

/** A fixed environment for the privileged helpers (the security contract: never the caller's). */
const HELPER_ENV = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' };

/** Whether this machine can make scratch disks, and the helpers to use. */
export interface ScratchSupport {
  readonly usable: boolean;
  /** Why not, when not usable. */
  readonly reason: string | undefined;
  readonly losetup: string | undefined;
  readonly mkfs: string | undefined;
}

/** One sandbox's /tmp: a formatted, attached, never-mounted-yet loop device. */
export interface ScratchDisk {
  /**
   * The loop device, e.g. `/dev/loop3`. Mounting it (ext4, nosuid,nodev) is the path without
   * mountFd; then the init also removes `lost+found` and chmods /tmp 1777.
   */
  readonly device: string;
  readonly fsType: typeof SCRATCH_FS_TYPE;
  /** Usable space in MB (at least this much can be written). */
  readonly sizeMb: number;
  /** The backing file (for tests and doctor output). */
  readonly file: string;
  /** True when it came from the pool (the cold path paid nothing for it). */
  readonly pooled: boolean;
  /**
   * The file system already mounted, detached (nosuid,nodev): an O_PATH fd of lambkin's process
   * (close-on-exec), its root already empty and mode 1777. Pass it to the sandbox's init as an
   * inherited fd; the init attaches it with `move_mount(fd, "", AT_FDCWD, "/tmp",
   * MOVE_MOUNT_F_EMPTY_PATH)` and closes it before the runtime starts.
   * If move_mount fails (e.g. EINVAL: the keeper died and the mount dissolved), mount `device`.
   * Undefined where the kernel lacks the new mount API: mount `device` then. Never close it yourself
   * (its number could be reused by then): use closeMountFd().
   */
  readonly mountFd: number | undefined;
  /** Closes lambkin's copy of mountFd, e.g. once the sandbox's process inherited it. Idempotent; release() does it too. */
  closeMountFd(): void;
  /** Detaches the loop device (lazily if it is still mounted) and deletes the file. Idempotent. */
  release(): Promise<void>;
}

/** How to run the scratch disk service; only `dir` is required. */
export interface ScratchDisksOptions {
  /** Where instances keep their backing files, e.g. `<dataDir>/run/scratch` (not the OS temp dir). */
  readonly dir: string;
  /** This lambkin's instance name (`<pid>-<random>`). Default: a fresh one. */
  readonly instance?: string;
  /** Ready disks to keep per size in MB. Default DEFAULT_POOL; `{}` keeps none of a configured size. */
  readonly pool?: Readonly<Record<number, number>>;
  /** Ready disks kept of a size outside `pool` after it was acquired once (up to 4 such sizes). Default 1. */
  readonly poolOtherSizes?: number;
  /** Replaces detection (tests). */
  readonly support?: ScratchSupport;
  /** Attach with direct I/O (no second page-cache copy of the backing file). Default true. */
  readonly directIo?: boolean;
  /** Mount pooled disks ahead (detached, see ScratchDisk.mountFd) when the kernel can. Default true. */
  readonly premount?: boolean;
  /** Awaited before each background refill: resolves when no cold start is in flight. Default: at once. */
  readonly quiet?: () => Promise<void>;
  /** Skip removing dead instances' leftovers at start-up (tests that stage leftovers). Default false. */
  readonly skipCleanup?: boolean;
  /** Receives background failures (pool refills, start-up cleanup), once per distinct message. */
  readonly log?: (message: string) => void;
}

/** The ext4 options that make mkfs fast and the whole size usable (see backingFileMb). */
const MKFS_BASE = ['-q', '-F', '-b', '4096', '-i', '16384', '-I', '256', '-m', '0', '-O', '^has_journal,^resize_inode'];
/** The file is new and sparse, so it reads as zeros: no zeroing, no discard, no lazy init after mount (e2fsprogs ≥ 1.47). */
const MKFS_PREZEROED = ['-E', 'lazy_itable_init=1,assume_storage_prezeroed=1,nodiscard'];
/** Older e2fsprogs: discard of a file punches holes (cheap on a sparse file) and marks the tables zeroed. */
const MKFS_OLD = ['-E', 'lazy_itable_init=1'];

/** A disk made but not yet handed out or released. */
interface Made {
  readonly device: string;
  readonly file: string;
  readonly sizeMb: number;
  /** The keeper's fsmount fd and lambkin's O_PATH copy (undefined once closed), when mounted ahead. */
  readonly mount?: { readonly keeperFd: number; fd: number | undefined };
}

/** O_PATH on the architectures lambkin's init knows (it differs on alpha, parisc, sparc). */
const O_PATH = 0o10000000;
const O_CLOEXEC = 0o2000000;

/**
 * The keeper: one perl process per instance holding detached mounts. `mount DEV` → `ok FD` (fsopen,
 * fsconfig source + create, fsmount nosuid,nodev; syscall numbers are the same on every architecture
 * lambkin's init supports), then it makes the root what Lambda's /tmp is: empty (no lost+found) and
 * mode 1777, so the init has nothing left to do but move_mount. `close FD` → `ok`. It exits at EOF
 * on stdin, so it dies with lambkin and its mounts dissolve (a killed lambkin's disks can then be
 * detached by the next one's start-up).
 */
export const KEEPER_PERL = String.raw`
use POSIX ();
$| = 1;
my %held;
while (my $l = <STDIN>) {
  chomp $l; my ($cmd, $arg) = split(/ /, $l, 2);
  if ($cmd eq "mount") {
    my ($type, $key) = ("ext4", "source");
    my $fs = syscall(430, $type, 1);
    if ($fs < 0) { print "err fsopen: $!\n"; next }
    if (syscall(431, $fs, 1, $key, $arg, 0) != 0 || syscall(431, $fs, 6, 0, 0, 0) != 0) { my $e = "$!"; POSIX::close($fs); print "err fsconfig: $e\n"; next }
    my $m = syscall(432, $fs, 1, 2 | 4); my $e = "$!"; POSIX::close($fs);
    if ($m < 0) { print "err fsmount: $e\n"; next }
    my $h;
    if (!open($h, "<&=", $m) || !chdir($h) || !(rmdir("lost+found") || $!{ENOENT}) || !chmod(01777, ".")) {
      my $e = "$!"; chdir("/"); if ($h) { close($h) } else { POSIX::close($m) } print "err prepare: $e\n"; next;
    }
    chdir("/"); $held{$m} = $h;
    print "ok $m\n";
  } elsif ($cmd eq "close") { my $h = delete $held{0 + $arg}; close($h) if $h; print "ok\n" }
  else { print "err unknown command\n" }
}
`;

/** The keeper process, with one request in flight at a time. */
class MountKeeper {
  private readonly child: ChildProcessByStdio<Writable, Readable, null>;
  private readonly lines: Interface;
  private readonly waiting: ((line: string | undefined) => void)[] = [];
  private queue: Promise<unknown> = Promise.resolve();
  private readonly exited: Promise<void>;

  constructor(perl: string) {
    this.child = spawn(perl, ['-e', KEEPER_PERL], { stdio: ['pipe', 'pipe', 'ignore'], env: HELPER_ENV });
    this.exited = new Promise((res) => this.child.once('close', () => res()));
    this.child.once('error', () => undefined);
    this.child.stdin.on('error', () => undefined);
    this.lines = createInterface({ input: this.child.stdout });
    this.lines.on('line', (l) => this.waiting.shift()?.(l));
    void this.exited.then(() => {
      for (const w of this.waiting.splice(0)) w(undefined);
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  private request(line: string): Promise<string> {
    const p = this.queue.then(
      () =>
        new Promise<string>((res, rej) => {
          if (this.child.exitCode !== null || this.child.signalCode !== null || !this.child.stdin.writable) {
            rej(new Error('the mount keeper has exited'));
            return;
          }
          this.waiting.push((l) => (l === undefined ? rej(new Error('the mount keeper has exited')) : res(l)));
          this.child.stdin.write(`${line}\n`);
        }),
    );
    this.queue = p.catch(() => undefined);
    return p;
  }

  /** A detached mount of `device`: the keeper's fd number. */
  async mount(device: string): Promise<number> {
    const r = await this.request(`mount ${device}`);
    const m = /^ok (\d+)$/.exec(r);
    if (!m) throw new Error(`cannot mount ${device} ahead: ${r.replace(/^err /, '')}`);
    return Number(m[1]);
  }

  async close(fd: number): Promise<void> {
    await this.request(`close ${fd}`);
  }

  /** Ends the keeper (its remaining mounts dissolve) and waits for it to exit. */
  async end(): Promise<void> {
    this.child.stdin.end();
    await this.exited;
    this.lines.close();
  }
}

/** Makes, pools and releases this instance's scratch disks; `close()` releases every one of them. */
export class ScratchDisks {
  /** Whether disks can be made here; when false, callers mount a tmpfs and report MEMORY_BACKED_TMP. */
  readonly usable: boolean;
  /** Why not usable. */
  readonly reason: string | undefined;
  /** `<dir>/<instance>`: this instance's backing files (symlinks resolved, as sysfs shows them). */
  readonly instanceDir: string;
  private dir: string;
  private readonly losetup: string;
  private readonly mkfs: string;
  private readonly targets = new Map<number, number>();
  /** Sizes outside the configured pool, most recently acquired last. */
  private readonly otherSizes: number[] = [];
  private readonly ready = new Map<number, Made[]>();
  private readonly inUse = new Set<ScratchDisk>();
  /** Disks being made (pool refill or acquire), so close() can wait for them. */
  private readonly making = new Set<Promise<unknown>>();
  private readonly startup: Promise<void>;
  private filling: Promise<void> | undefined;
  private refillPaused = false;
  private mkfsExtra = MKFS_PREZEROED;
  /** Started at the first disk; undefined once premounting proved impossible here. */
  private keeper: MountKeeper | undefined;
  private premount: boolean;
  private seq = 0;
  private closing: Promise<void> | undefined;
  private readonly logged = new Set<string>();

  constructor(private readonly options: ScratchDisksOptions) {
    const support = options.support ?? detectScratchSupport();
    this.usable = support.usable;
    this.reason = support.reason;
    this.losetup = support.losetup ?? 'losetup';
    this.mkfs = support.mkfs ?? 'mkfs.ext4';
    this.dir = resolve(options.dir);
    this.premount = (options.premount ?? true) && ['x64', 'arm64', 'riscv64', 'loong64'].includes(process.arch) && which('perl') !== undefined;
    const instance = options.instance ?? instanceName();
    if (!INSTANCE.test(instance)) throw new Error(`invalid scratch instance name: ${JSON.stringify(instance)}`);
    this.instanceDir = join(this.dir, instance);
    for (const [size, n] of Object.entries(options.pool ?? DEFAULT_POOL)) this.targets.set(checkSize(Number(size)), n);
    if (!this.usable) {
      this.startup = Promise.resolve();
      return;
    }
    mkdirSync(this.instanceDir, { recursive: true, mode: 0o700 });
    // destroy() compares paths with sysfs's backing_file, which has symlinks resolved.
    this.dir = realPath(this.dir);
    this.instanceDir = join(this.dir, instance);
    this.startup = options.skipCleanup
      ? Promise.resolve()
      : cleanupLeftovers(this.dir, this.losetup).then(
          () => undefined,
          (err: unknown) => this.log(`scratch disks: start-up cleanup failed: ${(err as Error).message}`),
        );
    this.kick();
  }

  /** Ready disks per size. */
  readyCounts(): Record<number, number> {
    const out: Record<number, number> = {};
    for (const [size, list] of this.ready) if (list.length > 0) out[size] = list.length;
    return out;
  }

  /** Disks handed out and not yet released. */
  get inUseCount(): number {
    return this.inUse.size;
  }

  /** Resolves once start-up cleanup is done and the pool is full (or a refill failed; see the log). */
  async whenFilled(): Promise<void> {
    await this.startup;
    while (this.filling) await this.filling;
  }

  /**
   * A fresh disk with at least `sizeMb` MB usable: a ready one from the pool, else made now
   * (~70–150 ms). The caller's sandbox attaches `mountFd` (or mounts `device`) at /tmp, and the
   * caller calls release() once the sandbox's processes are gone.
   */
  async acquire(sizeMb: number, signal?: AbortSignal): Promise<ScratchDisk> {
    checkSize(sizeMb);
    if (!this.usable) throw new Error(`scratch disks are not usable here: ${this.reason ?? 'unknown'}`);
    if (this.closing) throw new Error('scratch disks are closed');
    signal?.throwIfAborted();
    this.noteSize(sizeMb);
    const pooled = this.ready.get(sizeMb)?.shift();
    this.refillPaused = false;
    this.kick();
    if (pooled) return this.handOut(pooled, true);
    // The check is inside the tracked promise, so close() waits for the disk to be destroyed.
    const made = await this.track(
      this.make(sizeMb, signal).then(async (m) => {
        if (!this.closing) return m;
        await this.destroy(m);
        throw new Error('scratch disks are closed');
      }),
    );
    return this.handOut(made, false);
  }

  /** Releases every disk (pooled and handed out) and removes this instance's directory. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.startup;
      while (this.filling) await this.filling;
      await Promise.allSettled([...this.making]);
      const pooled = [...this.ready.values()].flat();
      this.ready.clear();
      const results = await Promise.allSettled([...pooled.map((m) => this.destroy(m)), ...[...this.inUse].map((d) => d.release())]);
      await this.keeper?.end();
      await rm(this.instanceDir, { recursive: true, force: true });
      try {
        rmdirSync(this.dir);
      } catch {
        // other instances' files, or gone
      }
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
    })();
    return this.closing;
  }

  private handOut(made: Made, pooled: boolean): ScratchDisk {
    let released: Promise<void> | undefined;
    const disk: ScratchDisk = {
      device: made.device,
      fsType: SCRATCH_FS_TYPE,
      sizeMb: made.sizeMb,
      file: made.file,
      pooled,
      mountFd: made.mount?.fd,
      closeMountFd: () => closeMountFd(made),
      release: () =>
        (released ??= this.destroy(made).finally(() => {
          this.inUse.delete(disk);
        })),
    };
    this.inUse.add(disk);
    return disk;
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.making.add(p);
    void p.then(
      () => this.making.delete(p),
      () => this.making.delete(p),
    );
    return p;
  }

  /** Keeps `poolOtherSizes` ready disks of recently acquired sizes outside the configured pool. */
  private noteSize(sizeMb: number): void {
    const configured = (this.options.pool ?? DEFAULT_POOL)[sizeMb] !== undefined;
    const keep = this.options.poolOtherSizes ?? 1;
    if (configured || keep <= 0) return;
    const i = this.otherSizes.indexOf(sizeMb);
    if (i >= 0) this.otherSizes.splice(i, 1);
    this.otherSizes.push(sizeMb);
    this.targets.set(sizeMb, keep);
    while (this.otherSizes.length > OTHER_SIZES_KEPT) {
      const dropped = this.otherSizes.shift() as number;
      this.targets.delete(dropped);
      for (const m of this.ready.get(dropped) ?? []) void this.destroy(m).catch((err: unknown) => this.log(`scratch disks: ${(err as Error).message}`));
      this.ready.delete(dropped);
    }
  }

  /** The next size whose pool is short, if any. */
  private shortSize(): number | undefined {
    for (const [size, n] of this.targets) if ((this.ready.get(size)?.length ?? 0) < n) return size;
    return undefined;
  }

  /** Starts the background refill unless it runs; one disk at a time, so it takes little CPU from cold starts. */
  private kick(): void {
    if (this.filling || this.closing || this.refillPaused || !this.usable) return;
    this.filling = (async () => {
      await this.startup;
      for (let size = this.shortSize(); size !== undefined && !this.closing; size = this.shortSize()) {
        await this.options.quiet?.();
        if (this.closing) break;
        let made: Made;
        try {
          made = await this.track(this.make(size));
        } catch (err) {
          // Retried at the next acquire, not in a loop.
          this.refillPaused = true;
          this.log(`scratch disks: pool refill failed: ${(err as Error).message}`);
          return;
        }
        if (this.closing || !this.targets.has(size)) {
          await this.destroy(made);
          continue;
        }
        let list = this.ready.get(size);
        if (!list) this.ready.set(size, (list = []));
        list.push(made);
      }
    })().finally(() => {
      this.filling = undefined;
    });
  }

  /** Sparse file → mkfs.ext4 → losetup. Undoes what it did if a step fails or `signal` aborts. */
  private async make(sizeMb: number, signal?: AbortSignal): Promise<Made> {
    const file = join(this.instanceDir, `${++this.seq}-${sizeMb}m.img`);
    const fh = await open(file, 'wx', 0o600);
    try {
      await fh.truncate(backingFileMb(sizeMb) * 1024 * 1024);
    } finally {
      await fh.close();
    }
    let device: string | undefined;
    let mount: Made['mount'];
    try {
      signal?.throwIfAborted();
      try {
        await run(this.mkfs, [...MKFS_BASE, ...this.mkfsExtra, file], signal);
      } catch (err) {
        if (this.mkfsExtra !== MKFS_PREZEROED || signal?.aborted) throw err;
        // e2fsprogs before 1.47 does not know assume_storage_prezeroed.
        await run(this.mkfs, [...MKFS_BASE, ...MKFS_OLD, file], signal);
        this.mkfsExtra = MKFS_OLD;
      }
      signal?.throwIfAborted();
      const dio = this.options.directIo ?? true;
      // Not cancelled by the signal: an attach must finish so that its device can be detached.
      device = (await run(this.losetup, ['--find', '--show', ...(dio ? ['--direct-io=on'] : []), file])).trim();
      if (!/^\/dev\/loop\d+$/.test(device)) throw new Error(`losetup printed ${JSON.stringify(device)}`);
      signal?.throwIfAborted();
      mount = await this.mountAhead(device);
      signal?.throwIfAborted();
      return { device, file, sizeMb, ...(mount ? { mount } : {}) };
    } catch (err) {
      await this.destroy({ device: device ?? '', file, sizeMb, ...(mount ? { mount } : {}) }).catch(() => undefined);
      throw err;
    }
  }

  /** Detaches the device if it is still backed by this disk's file (never someone else's), deletes the file. */
  /**
   * Tests only: leaves everything as a killed lambkin would (files, attached devices), except that
   * the keeper ends as it does when lambkin dies, and lambkin's fds are closed. The object is unusable after.
   */
  async simulateKill(): Promise<void> {
    this.closing ??= Promise.resolve();
    await this.startup;
    while (this.filling) await this.filling;
    await Promise.allSettled([...this.making]);
    for (const m of [...[...this.ready.values()].flat()]) closeMountFd(m);
    for (const d of this.inUse) d.closeMountFd();
    this.ready.clear();
    this.inUse.clear();
    await this.keeper?.end();
  }

  private async destroy(made: Made): Promise<void> {
    if (made.mount) {
      closeMountFd(made);
      // Dissolves the detached mount, or just drops the reference once the sandbox attached it.
      await this.keeper?.close(made.mount.keeperFd).catch(() => undefined);
    }
    if (made.device && loopBackingFile(made.device) === made.file) await run(this.losetup, ['--detach', made.device]);
    await rm(made.file, { force: true });
  }

  /** Mounts `device` ahead in the keeper and opens lambkin's O_PATH copy; undefined when the kernel cannot. */
  private async mountAhead(device: string): Promise<Made['mount']> {
    if (!this.premount) return undefined;
    this.keeper ??= new MountKeeper(which('perl') ?? 'perl');
    let keeperFd: number;
    try {
      keeperFd = await this.keeper.mount(device);
    } catch (err) {
      // ENOSYS (kernel before 5.2) or a refused fsmount: the init mounts the device instead, from now on.
      this.premount = false;
      this.log(`scratch disks: mounting ahead is not possible here (the sandbox's init mounts the device): ${(err as Error).message}`);
      return undefined;
    }
    try {
      return { keeperFd, fd: openSync(`/proc/${String(this.keeper.pid)}/fd/${keeperFd}`, O_PATH | O_CLOEXEC) };
    } catch (err) {
      await this.keeper.close(keeperFd).catch(() => undefined);
      throw err;
    }
  }

  private log(message: string): void {
    if (this.logged.has(message)) return;
    this.logged.add(message);
    this.options.log?.(message);
  }
}

function closeMountFd(made: Made): void {
  const fd = made.mount?.fd;
  if (!made.mount || fd === undefined) return;
  made.mount.fd = undefined;
  closeSync(fd);
}

function checkSize(sizeMb: number): number {
  if (!Number.isInteger(sizeMb) || sizeMb < 1 || sizeMb > 1024 * 1024) throw new Error(`invalid scratch disk size: ${sizeMb} MB`);
  return sizeMb;
}
