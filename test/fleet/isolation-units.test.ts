/**
 * The pure parts of isolation: parsing /proc files, choosing the level, the start-up message, the
 * launcher's status line, CPU quotas; and the Runtime API's peer-uid check with real sockets.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { describe, test } from 'node:test';
import {
  isolationStartupMessage,
  missingGuarantees,
  parseCgroupMounts,
  parseProcCgroup,
  resolveIsolationLevel,
  type HostCapabilities,
} from '../../src/fleet/isolation/capabilities.js';
import { cpuQuotaUs, cpusFor } from '../../src/fleet/isolation/cgroups.js';
import { encodePlan, INIT_PERL, initSyscalls, parseInitStatus } from '../../src/fleet/isolation/launcher.js';
import { uidFromProcNetTcp } from '../../src/fleet/isolation/peer-uid.js';
import { RuntimeApiServer } from '../../src/fleet/runtime-api-server.js';
import { runDoctor } from '../../src/cli/doctor-command.js';
import { leakFree } from '../helpers/leaks.js';

const MOUNTINFO_V1 = `25 30 0:23 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
31 25 0:27 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,memory
32 25 0:28 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,cpu,cpuacct
33 25 0:29 /docker/abc /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,pids
34 25 0:30 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd
35 25 0:31 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw`;

function caps(over: Partial<HostCapabilities> = {}): HostCapabilities {
  return {
    platform: 'linux',
    arch: 'x64',
    uid: 0,
    root: true,
    cores: 4,
    cgroup: { version: 2, controllers: ['cpu', 'memory', 'pids', 'io'], v1Mounts: {}, v2MountPoint: '/sys/fs/cgroup', ownPaths: { '': '/' } },
    namespaces: { pid: true, mount: true, net: true, user: true },
    tools: { sh: '/bin/sh', unshare: '/usr/bin/unshare', setpriv: '/usr/bin/setpriv', mount: '/bin/mount', perl: '/usr/bin/perl' },
    kvm: { present: false, accessible: false },
    ...over,
  };
}

describe('capability detection', () => {
  test('parses v1 hierarchies (co-mounted controllers, subtree roots) and ignores hybrid cgroup2 and named hierarchies', () => {
    const { v1, v2 } = parseCgroupMounts(MOUNTINFO_V1);
    assert.equal(v2, undefined);
    assert.deepEqual(v1['memory'], { mountPoint: '/sys/fs/cgroup/memory', root: '/', controllers: ['memory'] });
    assert.equal(v1['cpu']?.mountPoint, '/sys/fs/cgroup/cpu,cpuacct');
    assert.deepEqual(v1['cpuacct']?.controllers, ['cpu', 'cpuacct']);
    assert.equal(v1['pids']?.root, '/docker/abc');
    assert.equal(v1['systemd'], undefined);
  });

  test('recognises a unified (v2) /sys/fs/cgroup', () => {
    const { v2 } = parseCgroupMounts('30 1 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate');
    assert.equal(v2, '/sys/fs/cgroup');
  });

  test('parses /proc/self/cgroup for v1 and v2 lines', () => {
    const own = parseProcCgroup('4:memory:/process_api/x\n2:cpu,cpuacct:/\n0::/user.slice\n');
    assert.equal(own['memory'], '/process_api/x');
    assert.equal(own['cpuacct'], '/');
    assert.equal(own[''], '/user.slice');
  });

  test('auto picks the strongest level and says why it is weaker', () => {
    assert.deepEqual(resolveIsolationLevel('auto', caps()), { level: 'cgroups+namespaces', reason: undefined });
    const noPerl = resolveIsolationLevel('auto', caps({ tools: { sh: '/bin/sh', unshare: '/u', setpriv: '/s', mount: '/m' } }));
    assert.equal(noPerl.level, 'none');
    assert.match(noPerl.reason ?? '', /perl/);
    const noNet = resolveIsolationLevel('auto', caps({ namespaces: { pid: true, mount: true, net: false, user: true } }));
    assert.equal(noNet.level, 'cgroups');
    assert.match(noNet.reason ?? '', /network or user namespaces/);
    const s390 = resolveIsolationLevel('auto', caps({ arch: 's390x' }));
    assert.equal(s390.level, 'cgroups');
    assert.match(s390.reason ?? '', /syscall numbers of s390x/);
    const user = resolveIsolationLevel('auto', caps({ uid: 1000, root: false }));
    assert.equal(user.level, 'none');
    assert.match(user.reason ?? '', /root/);
    const mac = resolveIsolationLevel('auto', caps({ platform: 'darwin' }));
    assert.equal(mac.level, 'none');
    assert.match(mac.reason ?? '', /Linux/);
    const noPids = resolveIsolationLevel('auto', caps({ cgroup: { version: 2, controllers: ['cpu', 'memory'], v1Mounts: {}, v2MountPoint: '/sys/fs/cgroup', ownPaths: {} } }));
    assert.equal(noPids.level, 'none');
    assert.match(noPids.reason ?? '', /pids/);
  });

  test('an explicit level the machine lacks is an error; none is always possible', () => {
    assert.throws(() => resolveIsolationLevel('namespaces', caps({ root: false, uid: 1000 })), /not available: cgroups need root/);
    assert.throws(() => resolveIsolationLevel('cgroups', caps({ platform: 'darwin' })), /Linux/);
    assert.equal(resolveIsolationLevel('none', caps()).level, 'none');
    assert.equal(resolveIsolationLevel('cgroups', caps()).level, 'cgroups');
  });

  test('the start-up message lists the missing guarantees once, and there is none at full isolation', () => {
    assert.equal(isolationStartupMessage({ level: 'cgroups+namespaces', reason: undefined }), undefined);
    const msg = isolationStartupMessage({ level: 'none', reason: 'cgroups need root (lambkin runs as uid 1000)' }) ?? '';
    assert.match(msg, /^lambkin: sandbox isolation is 'none' \(cgroups need root/);
    assert.match(msg, /not enforced: MemorySize is a hard limit/);
    assert.match(msg, /not enforced: a network of its own/);
    assert.match(msg, /not enforced: none of the host's files/);
    assert.equal(msg.split('\n').length, 1 + missingGuarantees('none').length);
    assert.ok(missingGuarantees('cgroups').length < missingGuarantees('none').length);
  });

  test('lambkin doctor prints cgroups, namespaces, user, KVM and what is enforced', () => {
    const lines: string[] = [];
    const level = runDoctor((l) => lines.push(l), caps({ kvm: { present: true, accessible: true } }));
    assert.equal(level, 'cgroups+namespaces');
    const text = lines.join('\n');
    assert.match(text, /cgroups: +v2, controllers: cpu memory pids io/);
    assert.match(text, /namespaces: +pid yes, mount yes/);
    assert.match(text, /user: +uid 0 \(root\)/);
    assert.match(text, /kvm: +\/dev\/kvm present/);
    assert.match(text, /isolation: +cgroups\+namespaces/);
    assert.match(text, /enforced: a network of its own/);
    assert.doesNotMatch(text, /MISSING/);
    const weak: string[] = [];
    assert.equal(runDoctor((l) => weak.push(l), caps({ uid: 501, root: false, platform: 'darwin' })), 'none');
    assert.match(weak.join('\n'), /MISSING: +MemorySize is a hard limit/);
    assert.match(weak.join('\n'), /MISSING: +a network of its own/);
    assert.match(weak.join('\n'), /enforced: lambkin's helpers run with a fixed environment/);
  });
});

describe('limits and launcher', () => {
  test('CPU is MemorySize/1769 of a vCPU, capped at the cores, with a quota of at least 1 ms', () => {
    assert.equal(cpusFor(1769, 4), 1);
    assert.ok(Math.abs(cpusFor(128, 4) - 0.0724) < 0.001);
    assert.equal(cpusFor(10240, 2), 2);
    assert.equal(cpuQuotaUs(1), 100_000);
    assert.equal(cpuQuotaUs(128 / 1769), 7236);
    assert.equal(cpuQuotaUs(0.001), 1000);
  });

  test("the init's status line gives the runtime's real exit", () => {
    assert.deepEqual(parseInitStatus('exit 129\n'), { code: 129, signal: null });
    assert.deepEqual(parseInitStatus('signal 9\n'), { code: null, signal: 'SIGKILL' });
    assert.deepEqual(parseInitStatus('signal 6\n'), { code: null, signal: 'SIGABRT' });
    assert.equal(parseInitStatus(''), undefined);
  });

  test('the plan carries every value as data, never as script text, and refuses what it cannot carry', () => {
    const plan = encodePlan({
      mode: 'full',
      uid: 200123,
      joinFiles: ['/cg/a/tasks'],
      rootMountPoint: '/run/root',
      layout: [{ kind: 'ro', source: '/data/code/it\'s "odd" $(x)', target: '/var/task' }],
      command: '/usr/bin/node',
      args: ['/var/runtime/node/bootstrap.js'],
      env: { A: 'line\nbreak\tand tab', PERL5OPT: '-Mstrict' },
      cwd: '/var/task',
      syscalls: initSyscalls('x64'),
    }).toString('utf8').split('\0');
    assert.deepEqual(plan.slice(0, 2), ['mode\tfull', 'sys\t272,157,165,155,166,116,117,119,3,429,308']);
    assert.ok(plan.includes('ro\t/data/code/it\'s "odd" $(x)\t/var/task'));
    assert.ok(plan.includes('env\tA=line\nbreak\tand tab'));
    assert.ok(plan.includes('env\tPERL5OPT=-Mstrict'));
    assert.deepEqual(plan.slice(-4, -2), ['cmd\t/usr/bin/node', 'cmd\t/var/runtime/node/bootstrap.js']);
    assert.throws(() => encodePlan({ mode: 'none', command: 'x', args: [], env: { 'A=B': '1' }, cwd: '/' }), /invalid environment variable name/);
    assert.throws(() => encodePlan({ mode: 'none', command: 'x', args: ['a\0b'], env: {}, cwd: '/' }), /NUL/);
    const joined = encodePlan({ mode: 'full', network: true, netnsFd: 6, command: 'x', args: [], env: {}, cwd: '/' }).toString('utf8').split('\0');
    assert.ok(joined.includes('net\t1') && joined.includes('netns\t6'), 'a namespace made ahead is joined by its fd');
    assert.equal(encodePlan({ mode: 'full', netnsFd: 6, command: 'x', args: [], env: {}, cwd: '/' }).includes('netns'), false, 'no netns without a network of its own');
    assert.equal(initSyscalls('arm64')?.mount, 40);
    assert.equal(initSyscalls('arm64')?.setns, 268);
    assert.equal(initSyscalls('s390x'), undefined);
    assert.equal(INIT_PERL.includes('${'), false, 'nothing is spliced into the script');
  });
});

describe('Runtime API peer uid', () => {
  const TCP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:A1B2 0100007F:1F90 01 00000000:00000000 00:00000000 00000000 200007        0 123 1 0
   1: 0100007F:1F90 0100007F:A1B2 01 00000000:00000000 00:00000000 00000000     0        0 124 1 0`;

  test('finds the uid of the client end of a loopback connection', () => {
    assert.equal(uidFromProcNetTcp(TCP, 0xa1b2, 0x1f90), 200007);
    assert.equal(uidFromProcNetTcp(TCP, 0x1f90, 0xa1b2), 0);
    assert.equal(uidFromProcNetTcp(TCP, 0x1234, 0x1f90), undefined);
  });

  const linux = process.platform === 'linux' && typeof process.getuid === 'function';
  const get = (address: string) =>
    new Promise<string>((resolve) => {
      const req = http.get(`http://${address}/2018-06-01/runtime/invocation/next`, { agent: false }, (res) => {
        res.resume();
        resolve(`status ${res.statusCode}`);
      });
      req.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
      req.setTimeout(2000, () => req.destroy());
    });

  test(
    'with allowedUid, a connection from another uid is closed; from that uid it is served',
    { skip: linux ? undefined : 'needs /proc/net/tcp' },
    leakFree(async (_t, defer) => {
      const me = process.getuid?.() ?? 0;
      const refused = await RuntimeApiServer.start({ allowedUid: me + 1 });
      defer(() => refused.close());
      assert.ok(['ECONNRESET', 'EPIPE'].includes(await get(refused.address)));
      const allowed = await RuntimeApiServer.start({ allowedUid: me });
      defer(() => allowed.close());
      const next = get(allowed.address);
      await allowed.waitForInit();
      assert.equal(allowed.initialized, true);
      await allowed.close();
      assert.equal(await next, 'ECONNRESET');
    }),
  );
});
