/**
 * Cost of a disk-backed /tmp (src/fleet/isolation/scratch-disks.ts) against today's tmpfs /tmp.
 *
 * - create: a 512 MB scratch disk made on demand (sparse file + mkfs.ext4 + losetup), without and
 *   with mounting it ahead (fsmount in the keeper): what an acquire pays when the pool is empty.
 * - acquire (pooled): taking a ready disk, the cold path's cost with the pool.
 * - release: losetup --detach + deleting the file (after the sandbox is gone, off the cold path).
 * - in a fresh mount namespace, timed inside the process that mounts (as the sandbox's init does):
 *   mount(2) of a tmpfs (the baseline, today's /tmp), move_mount(2) of a disk mounted ahead, mount(2)
 *   of ext4 on a loop device not mounted ahead; and their unmounts (what a namespace's teardown pays).
 * Rounds interleave the variants; medians and ratios to the tmpfs mount come from the same run.
 *
 * Run as root on Linux: `node dist/bench/scratch-disks.js` (after `npm run build`). `--quick`: fewer rounds.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { detectCapabilities } from '../src/fleet/isolation/capabilities.js';
import { initSyscalls } from '../src/fleet/isolation/launcher.js';
import { ScratchDisks } from '../src/fleet/isolation/scratch-disks.js';
import { detectScratchSupport } from '../src/fleet/isolation/scratch-disk-host.js';

const quick = process.argv.includes('--quick');
const ROUNDS = quick ? 5 : 20;
const SIZE_MB = 512;

/** umount2 by architecture (the init's table has no umount). */
const UMOUNT2: Record<string, number> = { x64: 166, arm64: 39, riscv64: 39, loong64: 39 };

/**
 * At `mnt`, in turn (rotated by `shift`): a tmpfs, ext4 on `dev`, and the detached mount on fd 3 (move_mount);
 * each mount and unmount timed around the syscall alone.
 */
const MOUNT_PERL = String.raw`
use Time::HiRes qw(time);
use POSIX ();
my ($nr, $unr, $dev, $mnt, $shift) = @ARGV;
my %r;
sub one {
  my ($name, $src, $type, $data) = @_;
  my $t0 = time;
  if ($name eq "moved") { my $e = ""; syscall(429, 3, $e, -100, $mnt, 4) == 0 or die "move_mount: $!\n"; POSIX::close(3) }
  else { syscall($nr, $src, $mnt, $type, 2|4, $data) == 0 or die "mount $name: $!\n" }
  my $t1 = time;
  # The moved mount is still referenced by lambkin's and the keeper's fds: detach it, as a namespace's teardown does.
  syscall($unr, $mnt, $name eq "moved" ? 2 : 0) == 0 or die "umount $name: $!\n"; my $t2 = time;
  $r{$name} = sprintf("%.4f %.4f", ($t1 - $t0) * 1000, ($t2 - $t1) * 1000);
}
my @order = (["ext4", $dev, "ext4", ""], ["tmpfs", "lambkin-tmp", "tmpfs", "size=512m,mode=1777"], ["moved"]);
push(@order, shift(@order)) for 1 .. $shift;
one(@$_) for @order;
print "$_ $r{$_}\n" for sort keys %r;
`;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

/** Runs `file args` with `fd` as its fd 3; resolves with stdout. */
function run(file: string, args: string[], fd: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe', fd] });
    let out = '';
    let err = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${file} exited ${String(code)}: ${err}`))));
  });
}

async function main(): Promise<void> {
  const support = detectScratchSupport();
  const caps = detectCapabilities();
  const nr = initSyscalls();
  const unr = UMOUNT2[process.arch];
  if (!support.usable) {
    console.log(`skipping: scratch disks are not usable here: ${support.reason ?? ''}`);
    return;
  }
  const root = mkdtempSync(join('/var/tmp', 'lambkin-bench-scratch-'));
  const mnt = join(root, 'mnt');
  mkdirSync(mnt);
  const pooled = new ScratchDisks({ dir: join(root, 'scratch'), pool: { [SIZE_MB]: 2 } });
  const onDemand = new ScratchDisks({ dir: join(root, 'scratch'), pool: {}, poolOtherSizes: 0, premount: false });
  const onDemandAhead = new ScratchDisks({ dir: join(root, 'scratch'), pool: {}, poolOtherSizes: 0 });
  const samples: Record<string, number[]> = {
    create: [],
    createAhead: [],
    acquirePooled: [],
    release: [],
    ext4Mount: [],
    ext4Umount: [],
    tmpfsMount: [],
    tmpfsUmount: [],
    movedMount: [],
    movedUmount: [],
  };
  const push = (k: string, v: number) => (samples[k] as number[]).push(v);
  try {
    for (let round = -2; round < ROUNDS; round++) {
      const keep = round >= 0;
      let t = performance.now();
      const made = await onDemand.acquire(SIZE_MB);
      if (keep) push('create', performance.now() - t);
      t = performance.now();
      const ahead = await onDemandAhead.acquire(SIZE_MB);
      if (keep) push('createAhead', performance.now() - t);
      await ahead.release();

      await pooled.whenFilled();
      t = performance.now();
      const disk = await pooled.acquire(SIZE_MB);
      if (keep) push('acquirePooled', performance.now() - t);
      if (!disk.pooled) throw new Error('the pool was empty after whenFilled()');
      if (disk.mountFd === undefined) throw new Error('the pooled disk was not mounted ahead');
      if (nr && unr !== undefined && caps.tools.unshare && caps.tools.perl) {
        const args = ['--mount', '--propagation', 'private', caps.tools.perl, '-e', MOUNT_PERL, '--', String(nr.mount), String(unr), made.device, mnt, String((round + 3) % 3)];
        const out = await run(caps.tools.unshare, args, disk.mountFd);
        for (const line of out.trim().split('\n')) {
          const [name, mount, umount] = line.split(' ');
          if (keep && name) {
            push(`${name}Mount`, Number(mount));
            push(`${name}Umount`, Number(umount));
          }
        }
      }
      await disk.release();
      t = performance.now();
      await made.release();
      if (keep) push('release', performance.now() - t);
    }
  } finally {
    await pooled.close();
    await onDemand.close();
    await onDemandAhead.close();
    rmSync(root, { recursive: true, force: true });
  }
  const base = median(samples['tmpfsMount'] ?? []);
  console.log(`scratch disks, ${SIZE_MB} MB, ${ROUNDS} rounds (medians; baseline: mount(2) of a tmpfs /tmp = ${base.toFixed(3)} ms)`);
  console.log('step                                     median ms   × tmpfs mount   where it is paid');
  const rows: [string, string, string][] = [
    ['tmpfsMount', 'mount tmpfs (baseline, today)', 'cold path (init)'],
    ['acquirePooled', 'acquire from the pool', 'cold path'],
    ['movedMount', 'move_mount of a disk mounted ahead', 'cold path (init)'],
    ['ext4Mount', 'mount ext4 (not mounted ahead)', 'cold path (init) without the new mount API'],
    ['create', 'create (sparse + mkfs.ext4 + losetup)', 'background; cold path if pool empty'],
    ['createAhead', 'create + mount ahead (fsmount)', 'background; cold path if pool empty'],
    ['release', 'release (losetup -d + unlink)', 'after the sandbox'],
    ['tmpfsUmount', 'umount tmpfs', 'namespace teardown'],
    ['movedUmount', 'umount of the moved mount', 'namespace teardown (sb lives until release)'],
    ['ext4Umount', 'umount ext4', 'namespace teardown'],
  ];
  for (const [key, label, where] of rows) {
    const xs = samples[key] ?? [];
    if (xs.length === 0) {
      console.log(`${label.padEnd(40)} (not measured)`);
      continue;
    }
    const m = median(xs);
    console.log(`${label.padEnd(40)} ${m.toFixed(3).padStart(9)}   ${base > 0 ? (m / base).toFixed(1).padStart(13) : '            -'}   ${where}`);
  }
  const pooledMs = median(samples['acquirePooled'] ?? []);
  const cold = pooledMs + median(samples['movedMount'] ?? []) - base;
  const coldClassic = pooledMs + median(samples['ext4Mount'] ?? []) - base;
  console.log(`added to a cold start with a ready disk: ${cold.toFixed(3)} ms mounted ahead, ${coldClassic.toFixed(3)} ms mounting the device (pooled acquire + mount - tmpfs mount)`);
}

await main();
