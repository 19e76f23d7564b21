/**
 * The host side of scratch disks: whether this machine can make them, which loop devices are
 * attached to what, and the removal of what a killed lambkin instance left (loop devices, backing
 * files). Used by scratch-disks.ts and `lambkin doctor`.
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, realpathSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pidAlive } from './cgroups.js';
import type { ScratchSupport } from './scratch-disks.js';

/** A fixed environment for the privileged helpers (the security contract: never the caller's). */
const HELPER_ENV = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' };

export function which(name: string): string | undefined {
  for (const dir of ['/usr/sbin', '/sbin', '/usr/bin', '/bin']) {
    const p = join(dir, name);
    if (existsSync(p)) return p;
  }
  return undefined;
}

export function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** Checks root, loop devices, ext4 and the helpers (mkfs.ext4, losetup). Never throws. */
export function detectScratchSupport(): ScratchSupport {
  const losetup = which('losetup');
  const mkfs = which('mkfs.ext4');
  const no = (reason: string): ScratchSupport => ({ usable: false, reason, losetup, mkfs });
  if (process.platform !== 'linux') return no(`loop devices need Linux (this is ${process.platform})`);
  if (process.getuid?.() !== 0) return no('loop devices need root');
  if (!existsSync('/dev/loop-control')) return no('no /dev/loop-control (loop module missing, or a container without it)');
  if (!losetup) return no('no losetup (util-linux)');
  if (!mkfs) return no('no mkfs.ext4 (e2fsprogs)');
  const registered = /\text4$/m.test(readText('/proc/filesystems') ?? '');
  const release = readText('/proc/sys/kernel/osrelease')?.trim() ?? '';
  if (!registered && !existsSync(join('/lib/modules', release, 'kernel/fs/ext4'))) return no('the kernel has no ext4');
  return { usable: true, reason: undefined, losetup, mkfs };
}

/**
 * Size of the backing file for `sizeMb` usable MB. Overheads with the options mkfs gets here: the
 * inode table (256 B per 16 KiB = 1/64), ~1 MB of bitmaps and root/lost+found, and the clusters
 * ext4 keeps back from statfs for itself (2% of the blocks, at most 16 MB).
 */
export function backingFileMb(sizeMb: number): number {
  let f = sizeMb;
  for (let i = 0; i < 4; i++) f = Math.ceil(((sizeMb + 2 + Math.min(f / 50, 16)) * 64) / 63);
  return f;
}

export function runHelper(file: string, args: readonly string[], signal?: AbortSignal): Promise<string> {
  return new Promise((res, rej) => {
    execFile(file, args, { env: HELPER_ENV, ...(signal ? { signal } : {}) }, (err, stdout, stderr) => {
      if (err) {
        const detail = String(stderr).trim() || err.message;
        rej(signal?.aborted ? (signal.reason as Error) : new Error(`${file} ${args.join(' ')}: ${detail}`));
      } else res(String(stdout));
    });
  });
}

/** The backing file of an attached loop device (`/dev/loopN`), from sysfs; undefined when detached. */
export function loopBackingFile(device: string): string | undefined {
  const name = device.replace(/^\/dev\//, '');
  const t = readText(`/sys/block/${name}/loop/backing_file`)?.replace(/\n$/, '');
  return t?.replace(/ \(deleted\)$/, '');
}

/** Every attached loop device and its backing file (what `losetup -a` shows), from sysfs. */
export function attachedLoops(): { device: string; file: string }[] {
  let names: string[];
  try {
    names = readdirSync('/sys/block').filter((n) => /^loop\d+$/.test(n));
  } catch {
    return [];
  }
  const out: { device: string; file: string }[] = [];
  for (const n of names) {
    const file = loopBackingFile(n);
    if (file !== undefined) out.push({ device: `/dev/${n}`, file });
  }
  return out;
}

/** The path as sysfs shows backing files (symlinks resolved), when it exists. */
export function realPath(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return resolve(path);
  }
}

export const INSTANCE = /^(\d+)-[0-9a-f]+$/;

/** True when `name` is an instance directory of a lambkin process that no longer exists. */
function deadInstance(name: string): boolean {
  const m = INSTANCE.exec(name);
  if (!m) return false;
  const pid = Number(m[1]);
  return pid !== process.pid && !pidAlive(pid);
}

/**
 * Start-up: detaches loop devices backed by files of dead instances under `dir` and deletes those
 * instances' directories. Instances whose process lives (this one, another lambkin) are left alone.
 */
export async function cleanupLeftovers(dir: string, losetup = which('losetup') ?? 'losetup'): Promise<{ detached: string[]; removed: string[] }> {
  const root = realPath(dir);
  const detached: string[] = [];
  const removed: string[] = [];
  for (const { device, file } of attachedLoops()) {
    if (!file.startsWith(`${root}/`)) continue;
    const instance = file.slice(root.length + 1).split('/')[0] ?? '';
    if (!deadInstance(instance)) continue;
    // Lazy if a leftover sandbox still has it mounted: the kernel detaches it when that goes.
    await runHelper(losetup, ['--detach', device]);
    detached.push(device);
  }
  let names: string[] = [];
  try {
    names = await readdir(root);
  } catch {
    // no scratch dir yet
  }
  for (const name of names) {
    if (!deadInstance(name)) continue;
    await rm(join(root, name), { recursive: true, force: true });
    removed.push(join(root, name));
  }
  return { detached, removed };
}

