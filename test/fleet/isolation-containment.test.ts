/**
 * What a sandbox cannot do at each isolated level: a fork bomb, an infinite loop and a daemon are
 * contained and cleaned up completely; with namespaces, a /tmp filler hits its EphemeralStorage, and a
 * sandbox cannot read another function's code, another sandbox's /tmp or lambkin's data directory, nor
 * reach another sandbox's Runtime API or the host's loopback (a network namespace of its own). After close: no lambkin cgroup,
 * mount or process is left.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { leakFree } from '../helpers/leaks.js';
import { Isolation } from '../../src/fleet/isolation/isolation.js';
import type { SandboxCgroup } from '../../src/fleet/isolation/cgroups.js';
import { ProcessDriver } from '../../src/fleet/process-driver.js';
import { sandboxRoot } from '../../src/fleet/isolation/sandbox-root.js';
import { ISOLATED_LEVELS, runInit, invocation, lambkinMounts, makeIsolatedDriver, nodeSpec, processesWith, scratchRoot } from './isolation-fixtures.js';

const root = scratchRoot('lambkin-isocon-');
after(() => root.remove());

const SPAWNER = `const { spawn } = require('child_process');
exports.handler = async (event) => {
  if (event.bomb) {
    // The classic: every process starts two more, forever.
    spawn('sh', ['-c', 'f() { f | f & }; f'], { detached: true, stdio: 'ignore' }).unref();
    // Until the sandbox's own forks are refused (the limit is hit), bounded; idle, it would be frozen.
    const until = Date.now() + 20000;
    while (Date.now() < until) {
      const r = require('child_process').spawnSync('true');
      if (r.error) return { ok: true, refused: r.error.code };
      await new Promise((r) => setTimeout(r, 20));
    }
    return { ok: true };
  }
  if (event.daemon) {
    spawn('setsid', ['nohup', 'sh', '-c', 'while :; do sleep 1; done', event.daemon], { detached: true, stdio: 'ignore' }).unref();
    return { ok: true };
  }
  if (event.spin) { for (;;) {} }
  return { pong: true };
};`;

function assertNoCgroupOf(isolationDirs: readonly string[]): void {
  for (const d of isolationDirs) assert.equal(existsSync(d), false, `cgroup ${d} is left behind`);
}

for (const level of ISOLATED_LEVELS) {
  describe(`isolation ${level.request}: containment`, { skip: level.skip }, () => {
    test(
      'a fork bomb stays under the process limit, the server keeps serving, and stop removes every process',
      leakFree(async (_t, defer) => {
        const isolation = Isolation.create({ request: level.request, pidsMax: 64 });
        const driver = new ProcessDriver({ initTimeoutMs: 10_000, python: 'python3', isolation });
        defer(() => driver.close());
        const other = await driver.create(nodeSpec(root.dir, SPAWNER, { memoryMb: 256 }));
        // Generous bounds: on a loaded 2-core machine the bomb and the handler share the sandbox's CPU.
        const bomb = await driver.create(nodeSpec(root.dir, SPAWNER, { memoryMb: 512, timeoutMs: 30_000 }));
        const out = await bomb.invoke(invocation({ bomb: true }, 30_000));
        assert.equal(out.kind, 'success', out.payload.toString());
        const cg = (bomb as unknown as { box: { cgroup: SandboxCgroup } }).box.cgroup;
        const tasks = cg.pidsCurrent();
        assert.ok(tasks > 5 && tasks <= 64, `the bomb's cgroup holds ${tasks} tasks (limit 64)`);
        assert.ok(cg.forksRefused() > 0, 'the process limit refused forks');
        // Everyone else is still served while the bomb runs.
        const pong = await other.invoke(invocation({}));
        assert.deepEqual(JSON.parse(pong.payload.toString()), { pong: true });
        await bomb.stop();
        assert.equal(bomb.state, 'stopped');
        for (const d of cg.dirs) assert.equal(existsSync(d), false, `sandbox cgroup ${d} removed`);
        assert.deepEqual(JSON.parse((await other.invoke(invocation({}))).payload.toString()), { pong: true });
      }),
    );

    test(
      'an infinite loop times out and is killed; a daemon (setsid, nohup) dies with its sandbox',
      leakFree(async (_t, defer) => {
        const driver = makeIsolatedDriver(level.request);
        defer(() => driver.close());
        const looping = await driver.create(nodeSpec(root.dir, SPAWNER, { memoryMb: 256, timeoutMs: 500 }));
        const out = await looping.invoke(invocation({ spin: true }, 500));
        assert.equal(out.kind, 'error');
        if (out.kind === 'error') assert.equal(out.errorType, 'Sandbox.Timedout');
        await looping.stop();

        const marker = `lambkin-daemon-${process.pid}-${level.request}`;
        const sandbox = await driver.create(nodeSpec(root.dir, SPAWNER, { memoryMb: 256 }));
        const res = await sandbox.invoke(invocation({ daemon: marker }));
        assert.equal(res.kind, 'success');
        const cg = (sandbox as unknown as { box: { cgroup: { pids(): number[] } } }).box.cgroup;
        // The daemon left the runtime's process group and session, not its cgroup.
        let daemons: number[] = [];
        for (let i = 0; i < 200 && daemons.length === 0; i++) {
          daemons = processesWith(marker);
          if (daemons.length === 0) await new Promise((r) => setImmediate(r));
        }
        assert.ok(daemons.length > 0, 'the daemon is running');
        // Read the cgroup first: a process still alive afterwards was alive (and listed) during the read;
        // the loop's short-lived `sleep` forks carry the marker too and may be gone by now.
        const members = cg.pids();
        const alive = daemons.filter((pid) => existsSync(`/proc/${pid}`));
        assert.ok(alive.length > 0, 'the daemon is still running');
        for (const pid of alive) assert.ok(members.includes(pid), `daemon ${pid} is in the sandbox's cgroup`);
        await sandbox.stop();
        assert.deepEqual(processesWith(marker), [], 'the daemon is gone');
      }),
    );

    test(
      'after closing the driver no lambkin cgroup, mount or process of it remains',
      leakFree(async (_t, defer) => {
        const isolation = Isolation.create({ request: level.request });
        const driver = new ProcessDriver({ initTimeoutMs: 10_000, python: 'python3', isolation });
        defer(() => driver.close());
        await driver.provisionWorker('w-1', 1024);
        const marker = `lambkin-close-${process.pid}-${level.request}`;
        const a = await driver.create({ ...nodeSpec(root.dir, SPAWNER, { memoryMb: 256 }), workerId: 'w-1' });
        await driver.create({ ...nodeSpec(root.dir, SPAWNER, { memoryMb: 128 }), workerId: 'w-1' });
        await a.invoke(invocation({ daemon: marker }));
        const dirs = [...isolation.cgroupDirs];
        assert.ok(dirs.length > 0 && dirs.every((d) => existsSync(join(d, 'w-1'))), 'the worker is a cgroup parent');
        await driver.close();
        assertNoCgroupOf(dirs);
        assert.deepEqual(lambkinMounts(), []);
        assert.deepEqual(processesWith(marker), []);
      }),
    );
  });
}

/** /proc/self/status of a process that is the sandbox uid in every id, with no groups, no capabilities and no_new_privs. */
function assertUnprivileged(status: string, uid: number): void {
  const field = (name: string) => new RegExp(`^${name}:[ \\t]*([^\\n]*)$`, 'm').exec(status)?.[1]?.trim().split(/\s+/);
  assert.deepEqual(field('Uid'), [uid, uid, uid, uid].map(String));
  assert.deepEqual(field('Gid'), [uid, uid, uid, uid].map(String));
  assert.deepEqual(field('Groups'), ['']);
  for (const cap of ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb']) assert.deepEqual(field(cap), ['0000000000000000'], cap);
  assert.deepEqual(field('NoNewPrivs'), ['1']);
}

const ns = ISOLATED_LEVELS.find((l) => l.request === 'namespaces');
describe('isolation namespaces: file system and network', { skip: ns?.skip }, () => {
  const PROBE = `const fs = require('fs'); const net = require('net'); const http = require('http');
const attempt = (f) => { try { return { ok: true, value: f() }; } catch (e) { return { ok: false, code: e.code }; } };
exports.handler = async (event) => {
  if (event.fill) {
    let written = 0; const chunk = Buffer.alloc(1 << 20, 1);
    try { for (;;) { fs.appendFileSync('/tmp/fill', chunk); written++; } } catch (e) { return { written, code: e.code }; }
  }
  const out = {
    uid: process.getuid(), status: fs.readFileSync('/proc/self/status', 'utf8'), taskRoot: process.env.LAMBDA_TASK_ROOT, cwd: process.cwd(),
    ownCode: attempt(() => fs.readFileSync('/var/task/index.js', 'utf8').length > 0),
    writeCode: attempt(() => fs.writeFileSync('/var/task/x', 'x')),
    otherCode: attempt(() => fs.readFileSync(event.otherCode, 'utf8')),
    dataDir: attempt(() => fs.readdirSync(event.dataDir)),
    tmp: attempt(() => fs.readdirSync('/tmp')),
    writeTmp: attempt(() => fs.writeFileSync('/tmp/mine-' + event.name, 'secret')),
  };
  if (event.port) out.outbound = await new Promise((r) => { const s = net.connect(event.port, '127.0.0.1', () => { s.end(); r('connected'); }); s.on('error', (e) => r(e.code)); });
  if (event.otherApi) out.otherApi = await new Promise((r) => {
    const path = '/2018-06-01/runtime/invocation/next';
    const target = event.otherApi.startsWith('unix:') ? { socketPath: event.otherApi.slice(5), path } : 'http://' + event.otherApi + path;
    const req = http.get(target, (res) => { res.resume(); r('status ' + res.statusCode); });
    req.on('error', (e) => r(e.code)); req.setTimeout(2000, () => { req.destroy(); r('timeout'); });
  });
  return out;
};`;

  test(
    'a sandbox sees its code read-only at /var/task and a private /tmp; other code, other /tmp, the data dir and other Runtime APIs are refused',
    leakFree(async (_t, defer) => {
      const dataDir = join(root.dir, 'data');
      mkdirSync(join(dataDir, 'code', 'a'), { recursive: true });
      mkdirSync(join(dataDir, 'code', 'b'), { recursive: true });
      writeFileSync(join(dataDir, 'code', 'b', 'secret.js'), 'module.exports = "b";');
      const driver = makeIsolatedDriver('namespaces', { protectedPaths: [dataDir] });
      defer(() => driver.close());
      const plain = createServer((s) => s.end());
      await new Promise<void>((r) => plain.listen(0, '127.0.0.1', r));
      defer(() => new Promise((r) => plain.close(r)));
      const port = (plain.address() as AddressInfo).port;

      const a = await driver.create(nodeSpec(root.dir, PROBE, { memoryMb: 256, codeDir: join(dataDir, 'code', 'a') }));
      const b = await driver.create(nodeSpec(root.dir, PROBE, { memoryMb: 256 }));
      const bApi = (b as unknown as { api: { address: string } }).api.address;
      const outA = await a.invoke(invocation({ name: 'a', otherCode: join(dataDir, 'code', 'b', 'secret.js'), dataDir, port, otherApi: bApi }));
      assert.equal(outA.kind, 'success', outA.payload.toString());
      const ra = JSON.parse(outA.payload.toString()) as Record<string, unknown>;
      assert.ok((ra['uid'] as number) >= 200_000, 'runs as an unprivileged sandbox uid');
      assertUnprivileged(ra['status'] as string, ra['uid'] as number);
      assert.equal(ra['taskRoot'], '/var/task');
      assert.equal(ra['cwd'], '/var/task');
      assert.deepEqual(ra['ownCode'], { ok: true, value: true });
      assert.deepEqual(ra['writeCode'], { ok: false, code: 'EROFS' });
      assert.equal((ra['otherCode'] as { ok: boolean }).ok, false, "another function's code is refused");
      assert.ok(['EACCES', 'ENOENT'].includes((ra['otherCode'] as { code: string }).code));
      assert.equal((ra['dataDir'] as { ok: boolean }).ok, false, 'the data dir is refused');
      assert.deepEqual(ra['tmp'], { ok: true, value: [] }, '/tmp starts empty');
      assert.deepEqual(ra['writeTmp'], { ok: true });
      assert.equal(ra['outbound'], 'ECONNREFUSED', "the host's loopback is not the sandbox's: a network of its own");
      assert.notEqual(ra['otherApi'], 'status 200');
      // B's Runtime API is a Unix socket in B's mount namespace only: A does not even see the path.
      assert.equal(ra['otherApi'], 'ENOENT', `other Runtime API: ${String(ra['otherApi'])}`);

      // B does not see A's /tmp file, and B's own Runtime API still works (it answers this invocation).
      const outB = await b.invoke(invocation({ name: 'b', otherCode: '/nonexistent', dataDir }));
      const rb = JSON.parse(outB.payload.toString()) as Record<string, unknown>;
      assert.deepEqual(rb['tmp'], { ok: true, value: [] });
      assert.notEqual(ra['uid'], rb['uid'], 'each sandbox has its own uid');
    }),
  );

  test(
    'the init builds the root its plan names: the runtime as the sandbox uid, the function\'s variables only at its exec, no other host path',
    leakFree(async () => {
      const code = join(root.dir, 'init-code');
      mkdirSync(code, { recursive: true });
      writeFileSync(join(code, 'index.js'), 'x');
      const mountPoint = join(root.dir, 'init-root');
      mkdirSync(mountPoint, { recursive: true });
      const script = 'cat /proc/self/status; ls /var/task; pwd; touch /var/task/y 2>/dev/null || echo read-only; ls /; echo "E=$EVIL"; ls ' + root.dir + ' 2>&1; exit 3';
      const r = await runInit({
        mode: 'full',
        uid: 299_999,
        rootMountPoint: mountPoint,
        network: true,
        layout: sandboxRoot({ codeDir: code, runtimeDir: code, uid: 299_999, tmp: { kind: 'tmp', source: 't', fsType: 'tmpfs', data: 'size=8m' } }),
        command: '/bin/sh',
        args: ['-c', script],
        env: { EVIL: 'x\ty', PATH: '/usr/bin:/bin' },
        cwd: '/var/task',
      });
      assert.equal(r.code, 3, r.stderr);
      assertUnprivileged(r.stdout, 299_999);
      assert.match(r.stdout, /^index\.js\n\/var\/task\nread-only$/m);
      const top = /read-only\n([\s\S]*?)E=/.exec(r.stdout)?.[1]?.trim().split('\n') ?? [];
      for (const name of ['usr', 'var', 'tmp', 'proc', 'dev', 'etc', 'opt']) assert.ok(top.includes(name), `/${name} is there: ${top.join(' ')}`);
      for (const name of ['root', 'home', 'work', 'srv', 'sys', 'mnt', 'media', 'run']) assert.ok(!top.includes(name), `/${name} is not there: ${top.join(' ')}`);
      assert.match(r.stdout, /^E=x\ty$/m);
      assert.match(r.stdout, /No such file or directory/, 'the test\'s own directory is not there');
      assert.equal(r.status, 'exit 3\n');
    }),
  );

  test(
    'a /tmp filler stops at EphemeralStorage; the files are gone with the sandbox',
    leakFree(async (_t, defer) => {
      const driver = makeIsolatedDriver('namespaces');
      defer(() => driver.close());
      const spec = nodeSpec(root.dir, PROBE, { memoryMb: 512, ephemeralStorageMb: 16 });
      const s = await driver.create(spec);
      const out = await s.invoke(invocation({ fill: true }));
      assert.equal(out.kind, 'success', out.payload.toString());
      const r = JSON.parse(out.payload.toString()) as { written: number; code: string };
      assert.equal(r.code, 'ENOSPC');
      // A scratch disk holds at least EphemeralStorage (a little more: ext4's own blocks are sized in).
      assert.ok(r.written >= 16 && r.written <= 20, `wrote ${r.written} MB into a 16 MB /tmp`);
      await s.stop();
      const fresh = await driver.create({ ...spec, sandboxId: `${spec.sandboxId}-again` });
      const again = JSON.parse((await fresh.invoke(invocation({ name: 'x', otherCode: '/none', dataDir: '/none' }))).payload.toString()) as { tmp: unknown };
      assert.deepEqual(again.tmp, { ok: true, value: [] }, 'a new sandbox starts with an empty /tmp');
      assert.equal(readdirSync('/tmp').includes('fill'), false, "the host's /tmp was never written");
    }),
  );
});
