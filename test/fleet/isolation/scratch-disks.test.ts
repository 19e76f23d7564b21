import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { leakFree } from '../../helpers/leaks.js';
import { caps, scratchRoot } from '../isolation-fixtures.js';
import { cgroupsUnavailable } from '../../../src/fleet/isolation/capabilities.js';
import { createCgroupManager } from '../../../src/fleet/isolation/cgroups.js';
import { attachedLoops, backingFileMb, cleanupLeftovers, detectScratchSupport, loopBackingFile } from '../../../src/fleet/isolation/scratch-disk-host.js';
import { ScratchDisks } from '../../../src/fleet/isolation/scratch-disks.js';

const support = detectScratchSupport();
const unshare = caps.tools.unshare;
const skip = support.usable ? (unshare ? undefined : 'no unshare') : support.reason;
const skipCgroup = skip ?? cgroupsUnavailable(caps);

/** Loop devices whose backing file is under `dir` (what `losetup -a` would list of ours). */
function loopsUnder(dir: string): string[] {
  return attachedLoops()
    .filter((l) => l.file.startsWith(`${dir}/`))
    .map((l) => `${l.device} ${l.file}`);
}

/**
 * Runs `sh -c script sh args...` in a new private mount namespace, as a sandbox's init does: its
 * mounts vanish with it. `fd` becomes the child's fd 3. Resolves with the exit code and output.
 */
function inMountNamespace(script: string, args: readonly string[], fd?: number): Promise<{ code: number | null; signal: string | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(unshare as string, ['--mount', '--propagation', 'private', 'sh', '-c', script, 'sh', ...args], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', PYTHONDONTWRITEBYTECODE: '1' },
      stdio: ['ignore', 'pipe', 'pipe', ...(fd === undefined ? [] : [fd])],
    });
    let out = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal, out }));
  });
}

/** Attaches the detached mount on fd 3 at "$2" (what the sandbox's init does with ScratchDisk.mountFd). */
const MOVE_MOUNT = `perl -e 'my $e = ""; my $d = $ARGV[0]; syscall(429, 3, $e, -100, $d, 4) == 0 or die "move_mount: $!\\n"' "$2" && exec 3<&-`;

function assertNoLoops(dir: string): void {
  assert.deepEqual(loopsUnder(dir), [], 'a loop device under the scratch dir is still attached');
  // And as losetup itself lists them.
  const listed = spawnSync(support.losetup ?? 'losetup', ['--list', '--noheadings', '--output', 'BACK-FILE'], { encoding: 'utf8' });
  assert.equal(listed.status, 0, listed.stderr);
  assert.deepEqual(listed.stdout.split('\n').filter((l) => l.includes(dir)), [], 'losetup lists a device under the scratch dir');
}

/** Polls a kernel state that has no event (a loop device's deferred autoclear), up to 5 s. */
async function eventually(done: () => boolean): Promise<boolean> {
  for (let wait = 1, spent = 0; spent < 5000; spent += wait, wait = Math.min(50, wait * 2)) {
    if (done()) return true;
    await new Promise((r) => setTimeout(r, wait));
  }
  return done();
}

test('the backing file leaves at least the requested size usable, with little slack', () => {
  for (const s of [64, 512, 1024, 4096, 10240]) {
    const f = backingFileMb(s);
    // statfs available = F - F/64 (inode tables) - ~1 MB - min(F/50, 16 MB) (ext4's own reserve)
    const avail = f - f / 64 - 1 - Math.min(f / 50, 16);
    assert.ok(avail >= s, `${s} MB: ${f} MB file leaves ~${avail.toFixed(1)} MB`);
    assert.ok(avail < s + 2 + s / 100, `${s} MB: ${f} MB file leaves ~${avail.toFixed(1)} MB (too much slack)`);
  }
});

test(
  'acquire gives an ext4 loop device: EphemeralStorage fits, past it is ENOSPC; release detaches and deletes',
  { skip },
  leakFree(async (t, defer) => {
    const root = scratchRoot('lambkin-scratch-');
    defer(root.remove);
    const dir = join(root.dir, 'scratch');
    const disks = new ScratchDisks({ dir, pool: {} });
    defer(() => disks.close());
    const disk = await disks.acquire(512);
    assert.equal(disk.pooled, false);
    assert.equal(disk.fsType, 'ext4');
    assert.match(disk.device, /^\/dev\/loop\d+$/);
    assert.ok(disk.file.startsWith(`${disks.instanceDir}/`));
    assert.equal(loopBackingFile(disk.device), disk.file);
    const mnt = join(root.dir, 'mnt');
    mkdirSync(mnt);
    const premounted = disk.mountFd !== undefined;
    t.diagnostic(premounted ? 'attached with move_mount (mounted ahead)' : 'mounted by device (no new mount API here)');
    const child = inMountNamespace(
      [
        // Without mountFd the init prepares the root itself.
        premounted ? `${MOVE_MOUNT} || exit 2` : 'mount -t ext4 -o nosuid,nodev "$1" "$2" && rmdir "$2/lost+found" && chmod 1777 "$2" || exit 2',
        'grep -q " $2 .*nosuid,nodev.* ext4 " /proc/self/mountinfo || { cat /proc/self/mountinfo; exit 6; }',
        // As Lambda's /tmp: empty, world-writable, sticky.
        'stat -c "mode %a" "$2"; echo "entries $(ls -A "$2" | wc -l)"',
        'stat -f -c "avail %a %S" "$2"',
        'dd if=/dev/zero of="$2/a" bs=1M count="$3" conv=fsync 2>/dev/null || { echo "could not write $3 MB"; exit 3; }',
        'if dd if=/dev/zero of="$2/b" bs=1M count=16 conv=fsync 2>"$2/../err"; then echo "wrote past the limit"; exit 4; fi',
        'cat "$2/../err"',
      ].join('\n'),
      [disk.device, mnt, '512'],
      disk.mountFd,
    );
    // The sandbox's process has its copy: lambkin's can go.
    disk.closeMountFd();
    disk.closeMountFd();
    const r = await child;
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /No space left on device/);
    assert.match(r.out, /^mode 1777$/m);
    assert.match(r.out, /^entries 0$/m);
    const m = /avail (\d+) (\d+)/.exec(r.out);
    assert.ok(m, r.out);
    const availMb = (Number(m[1]) * Number(m[2])) / 1024 / 1024;
    assert.ok(availMb >= 512 && availMb < 512 + 8, `available ${availMb} MB`);
    // The namespace (and so the mount) is gone: release detaches at once.
    await disk.release();
    await disk.release();
    assert.equal(loopBackingFile(disk.device), undefined);
    assert.equal(existsSync(disk.file), false);
    assert.equal(disks.inUseCount, 0);
    await disks.close();
    assertNoLoops(dir);
    assert.equal(existsSync(disks.instanceDir), false);
  }),
);

test(
  'release while the sandbox still has /tmp mounted: the file goes at once, the device when the sandbox does',
  { skip },
  leakFree(async (_t, defer) => {
    const root = scratchRoot('lambkin-scratch-');
    defer(root.remove);
    const dir = join(root.dir, 'scratch');
    const disks = new ScratchDisks({ dir, pool: {} });
    defer(() => disks.close());
    const disk = await disks.acquire(64);
    const mnt = join(root.dir, 'mnt');
    mkdirSync(mnt);
    const attach = disk.mountFd !== undefined ? MOVE_MOUNT : 'mount -t ext4 "$1" "$2"';
    // The "sandbox" keeps its namespace until its stdin closes.
    const child = spawn(unshare as string, ['--mount', '--propagation', 'private', 'sh', '-c', `${attach} && echo up && { read x || true; }`, 'sh', disk.device, mnt], {
      stdio: ['pipe', 'pipe', 'inherit', ...(disk.mountFd === undefined ? [] : [disk.mountFd])],
    });
    const exited = new Promise<number | null>((r) => child.once('close', (code) => r(code)));
    await new Promise<void>((r, j) => {
      child.stdout?.once('data', () => r());
      child.once('close', () => j(new Error('the namespace did not come up')));
    });
    disk.closeMountFd();
    await disk.release();
    assert.equal(existsSync(disk.file), false);
    // Still mounted in the live namespace, so the kernel detaches it later (autoclear).
    assert.equal(loopBackingFile(disk.device), disk.file);
    child.stdin?.end();
    assert.equal(await exited, 0);
    assert.ok(await eventually(() => loopBackingFile(disk.device) === undefined), 'the device stays attached after the namespace ended');
    await disks.close();
    assertNoLoops(dir);
  }),
);

test(
  'the pool is filled ahead and refilled after each acquire; other sizes are made on demand and then pooled',
  { skip },
  leakFree(async (_t, defer) => {
    const root = scratchRoot('lambkin-scratch-');
    defer(root.remove);
    // Through a symlink: sysfs shows backing files by their real path.
    const dir = join(root.dir, 'real');
    mkdirSync(dir);
    symlinkSync(dir, join(root.dir, 'scratch'));
    const disks = new ScratchDisks({ dir: join(root.dir, 'scratch'), pool: { 64: 2 } });
    defer(() => disks.close());
    await disks.whenFilled();
    assert.deepEqual(disks.readyCounts(), { 64: 2 });
    assert.equal(loopsUnder(dir).length, 2);
    const a = await disks.acquire(64);
    assert.equal(a.pooled, true);
    await disks.whenFilled();
    assert.deepEqual(disks.readyCounts(), { 64: 2 });
    const b = await disks.acquire(80);
    assert.equal(b.pooled, false);
    await disks.whenFilled();
    assert.deepEqual(disks.readyCounts(), { 64: 2, 80: 1 });
    const c = await disks.acquire(80);
    assert.equal(c.pooled, true);
    assert.notEqual(c.device, b.device);
    assert.equal(disks.inUseCount, 3);
    const aborted = new AbortController();
    aborted.abort(new Error('gone'));
    await assert.rejects(disks.acquire(96, aborted.signal), /gone/);
    await a.release();
    // close() releases the pooled disks and the ones still handed out.
    await disks.close();
    assert.equal(disks.inUseCount, 0);
    assertNoLoops(dir);
    await assert.rejects(disks.acquire(64), /closed/);
  }),
);

test(
  "start-up removes a killed instance's loop devices and files, and leaves a live instance's alone",
  { skip },
  leakFree(async (_t, defer) => {
    const root = scratchRoot('lambkin-scratch-');
    defer(root.remove);
    const dir = join(root.dir, 'scratch');
    // A pid that surely belongs to no process any more: a child that has exited.
    const deadPid = spawnSync('true').pid;
    assert.ok(deadPid);
    const killed = new ScratchDisks({ dir, instance: `${deadPid}-abc123`, pool: { 64: 1 }, skipCleanup: true });
    await killed.whenFilled();
    const held = await killed.acquire(64);
    await killed.whenFilled();
    // Its process "dies" with two disks attached (its keeper ends as it does with lambkin).
    await killed.simulateKill();
    const live = new ScratchDisks({ dir, pool: {}, poolOtherSizes: 0, skipCleanup: true });
    defer(() => live.close());
    const liveDisk = await live.acquire(64);
    assert.equal(loopsUnder(dir).length, 3);

    const restarted = new ScratchDisks({ dir, pool: {}, poolOtherSizes: 0 });
    defer(() => restarted.close());
    await restarted.whenFilled();
    // (Its device numbers may be reused at once, so the files are what is checked.)
    assert.ok(!attachedLoops().some((l) => l.file.startsWith(`${killed.instanceDir}/`)));
    assert.equal(existsSync(held.file), false);
    assert.equal(existsSync(killed.instanceDir), false);
    assert.deepEqual(loopsUnder(dir), [`${liveDisk.device} ${liveDisk.file}`]);
    // Nothing left to do the second time.
    assert.deepEqual(await cleanupLeftovers(dir), { detached: [], removed: [] });
    await live.close();
    await restarted.close();
    assertNoLoops(dir);
  }),
);

test(
  'writing 300 MB to the disk from inside a 128 MB memory cgroup (no swap) completes: dd, Node.js and Python',
  { skip: skipCgroup },
  leakFree(async (_t, defer) => {
    const root = scratchRoot('lambkin-scratch-');
    defer(root.remove);
    const dir = join(root.dir, 'scratch');
    // dd attaches a disk mounted ahead; Node.js and Python mount the device themselves (premount off).
    const ahead = new ScratchDisks({ dir, pool: {} });
    defer(() => ahead.close());
    const disks = new ScratchDisks({ dir, pool: {}, premount: false });
    defer(() => disks.close());
    const cgroups = createCgroupManager(caps);
    defer(() => cgroups.close());
    const mnt = join(root.dir, 'mnt');
    mkdirSync(mnt);
    const node = `const fs = require('fs'); const b = Buffer.alloc(1 << 20, 7); const fd = fs.openSync(process.argv[1], 'w');
      for (let i = 0; i < 300; i++) fs.writeSync(fd, b); fs.closeSync(fd);`;
    const python = `import sys\nb = b'\\x07' * (1 << 20)\nwith open(sys.argv[1], 'wb') as f:\n    for i in range(300): f.write(b)`;
    const writers: { name: string; script: string; args: string[] }[] = [
      { name: 'dd', script: 'dd if=/dev/zero of="$2/x" bs=1M count=300 2>/dev/null', args: [] },
      { name: 'node', script: '"$3" -e "$4" "$2/x"', args: [process.execPath, node] },
      { name: 'python', script: 'python3 -c "$4" "$2/x"', args: ['-', python] },
    ];
    const run = async (name: string, mount: string, write: string, args: string[], device = '', fd?: number) => {
      const cg = cgroups.createSandbox('scratch', `w-${name}`, { memoryMb: 128, cpus: 1, pids: 64 });
      try {
        // Joins the cgroup first (as a sandbox's init does), so the mount and every write are charged to it.
        const join = cg.joinFiles.map((f) => `echo 0 > ${f}`).join(' && ');
        const r = await inMountNamespace(`${join} && ${mount} && ${write} && ls -l "$2/x"`, [device, mnt, ...args], fd);
        return { ...r, oomKills: cg.oomKills() ?? 0 };
      } finally {
        await cg.remove();
      }
    };
    for (const w of writers) {
      if (w.name === 'python' && spawnSync('python3', ['-c', '0']).status !== 0) continue;
      const disk = await (w.name === 'dd' ? ahead : disks).acquire(512);
      const mount = disk.mountFd === undefined ? 'mount -t ext4 -o nosuid,nodev "$1" "$2"' : MOVE_MOUNT;
      const r = await run(w.name, mount, w.script, w.args, disk.device, disk.mountFd);
      assert.equal(r.code, 0, `${w.name}: ${r.out} (signal ${String(r.signal)})`);
      assert.match(r.out, / 314572800 /, `${w.name} wrote 300 MB`);
      assert.equal(r.oomKills, 0, `${w.name}: OOM kills`);
      await disk.release();
    }
    // The control: the same write to a tmpfs /tmp (today's) is killed by the OOM killer.
    const tmpfs = await run('tmpfs', 'mount -t tmpfs -o size=512m,nosuid,nodev lambkin-tmp "$2"', writers[0]?.script ?? '', []);
    assert.notEqual(tmpfs.code, 0, `a tmpfs write of 300 MB at 128 MB should fail: ${tmpfs.out}`);
    await ahead.close();
    await disks.close();
    assertNoLoops(dir);
  }),
);
