/**
 * Network namespaces made ahead for sealed sandboxes, and `--sandbox-network nat`: a sandbox reaches
 * an "outside" host (a network namespace of the test's, on a documentation address, standing in for
 * the internet) through NAT, and nothing else: not the host's services on any of its addresses, not
 * another sandbox, not link-local (cloud metadata) or private networks; nothing reaches in. Commands
 * run inside a sandbox's namespace with nsenter(1) as root, which is more than a function has (it
 * cannot change addresses or rules), so what they cannot reach a function cannot either.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { leakFree, type Defer } from '../../helpers/leaks.js';
import { hostService, outsideHost } from '../../helpers/outside-host.js';
import { caps } from '../isolation-fixtures.js';
import { namespacesUnavailable } from '../../../src/fleet/isolation/capabilities.js';
import { initSyscalls } from '../../../src/fleet/isolation/launcher.js';
import { natRules, natUnavailable, SandboxNetworks, type SandboxNetwork, type SandboxNetworkMode } from '../../../src/fleet/isolation/sandbox-networks.js';

const sys = initSyscalls();
const skip = namespacesUnavailable(caps) ?? natUnavailable(caps.tools, caps.root) ?? (spawnSync('nsenter', ['--version']).status === 0 ? undefined : 'no nsenter (util-linux)');
const ip = caps.tools.ip ?? 'ip';
const nft = caps.tools.nft ?? 'nft';

function networks(defer: Defer, mode: SandboxNetworkMode, pool = 2): SandboxNetworks {
  const claimsDir = mkdtempSync(join(tmpdir(), 'lambkin-net-claims-'));
  const n = new SandboxNetworks({ mode, perl: caps.tools.perl ?? 'perl', ip, nft, unshareSyscall: sys?.unshare ?? 0, prctlSyscall: sys?.prctl ?? 0, pool, claimsDir });
  defer(() => rmSync(claimsDir, { recursive: true, force: true }));
  defer(() => n.close());
  return n;
}

/** Runs `cmd` inside the namespace `net` (as root, via nsenter); exit code and output. */
function inside(net: SandboxNetwork, cmd: string[], timeoutMs = 5_000): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('nsenter', [`--net=/proc/${process.pid}/fd/${net.fd}`, ...cmd], { stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out }));
  });
}

/** An HTTP GET from inside `net` with a short timeout: the body, or the error's code. */
async function fetchFrom(net: SandboxNetwork, url: string): Promise<string> {
  const script = `fetch(process.argv[1], { signal: AbortSignal.timeout(1500) }).then(async (r) => console.log('ok ' + (await r.text())), (e) => console.log('error ' + (e.cause?.code ?? e.name)))`;
  const r = await inside(net, [process.execPath, '-e', script, url]);
  return r.out.trim();
}

void test('the NAT rules: one table per address block, sandboxes kept from the host and private networks, masquerade outward', () => {
  const rules = natRules(7);
  assert.match(rules, /^table ip lambkin_7 \{\}\ndelete table ip lambkin_7\n/, 'an existing table of the block is replaced');
  assert.match(rules, /chain input \{[^}]*iifname "lk7x\*" drop/);
  assert.match(rules, /iifname "lk7x\*" oifname "lk\*" drop/);
  assert.match(rules, /iifname "lk7x\*" ip daddr \{[^}]*169\.254\.0\.0\/16[^}]*\} drop/);
  assert.match(rules, /oifname "lk7x\*" drop/);
  assert.match(rules, /ip saddr 100\.64\.112\.0\/20 oifname != "lk\*" masquerade/);
});

void test('natUnavailable names what is missing', () => {
  assert.match(natUnavailable({ ip: '/sbin/ip', nft: '/sbin/nft' }, false) ?? '', /root/);
  assert.match(natUnavailable({ nft: '/sbin/nft' }, true) ?? '', /iproute2/);
  assert.match(natUnavailable({ ip: '/sbin/ip' }, true) ?? '', /nftables/);
  assert.equal(natUnavailable({ ip: '/sbin/ip', nft: '/sbin/nft' }, true), undefined);
});

void test(
  'mode none: ready namespaces with only lo up, one per claim, the pool refilled; an empty pool says so (the init makes one)',
  { skip },
  leakFree(async (_t, defer) => {
    const n = networks(defer, 'none', 2);
    await n.whenFilled();
    const a = await n.claim();
    const b = await n.claim();
    assert.ok(a && b, 'two ready namespaces');
    assert.notEqual(readlinkNs(a), readlinkNs(b), 'each claim is a namespace of its own');
    assert.notEqual(readlinkNs(a), readlinkNs(undefined), "not the host's");
    const links = await inside(a, [ip, '-o', 'link']);
    assert.equal(links.code, 0, links.out);
    assert.deepEqual(links.out.trim().split('\n').map((l) => l.split(': ')[1]), ['lo']);
    assert.match(links.out, /lo: <LOOPBACK,UP,LOWER_UP>/);
    assert.equal(a.address, undefined);
    await a.release();
    await b.release();
    await n.whenFilled();
  }),
);

function readlinkNs(net: SandboxNetwork | undefined): string {
  return execFileSync('readlink', [net ? `/proc/${process.pid}/fd/${net.fd}` : '/proc/self/ns/net']).toString().trim();
}

void test(
  'mode nat: the outside world through NAT, and nothing of the host, other sandboxes, metadata or private networks',
  { skip },
  leakFree(async (t, defer) => {
    const OUTSIDE = await outsideHost(defer, ip);
    const port = await hostService(defer);
    const n = networks(defer, 'nat', 2);
    await n.start();
    const a = await n.claim();
    const b = await n.claim();
    assert.ok(a?.address !== undefined && a.gateway !== undefined && b?.address !== undefined && b.gateway !== undefined && a.hostInterface !== undefined);
    const [address, gateway] = [a.address, a.gateway];
    const table = n.tableName as string;
    assert.match(execFileSync(nft, ['list', 'table', 'ip', table]).toString(), /masquerade/);

    await t.test('eth0 has the sandbox address and a default route to the host end', async () => {
      const r = await inside(a, [ip, '-4', '-o', 'addr']);
      assert.match(r.out, new RegExp(`eth0\\s+inet ${address.replaceAll('.', '\\.')}/30`));
      assert.match((await inside(a, [ip, 'route'])).out, new RegExp(`default via ${gateway.replaceAll('.', '\\.')} dev eth0`));
    });

    await t.test("the outside host answers, and sees the host's address (masqueraded), not the sandbox's", async () => {
      assert.equal(await fetchFrom(a, `http://${OUTSIDE.peer}:${OUTSIDE.port}/`), `ok outside saw ${OUTSIDE.host}`);
    });

    await t.test('attack: a service of the host on 0.0.0.0, by the gateway, by another host address, by loopback', async () => {
      for (const addr of [a.gateway as string, OUTSIDE.host, '127.0.0.1']) {
        assert.match(await fetchFrom(a, `http://${addr}:${port}/`), /^error /, `reached the host's service at ${addr}`);
      }
    });

    await t.test("attack: another sandbox's address and its host end", async () => {
      const listener = inside(b, [process.execPath, '-e', "require('net').createServer((c) => { console.log('connected'); c.end(); process.exit(0) }).listen(7000, () => setTimeout(() => process.exit(0), 2500))"]);
      assert.match(await fetchFrom(a, `http://${b.address}:7000/`), /^error /);
      assert.match(await fetchFrom(a, `http://${b.gateway}:${port}/`), /^error /);
      assert.doesNotMatch((await listener).out, /connected/);
    });

    await t.test('attack: cloud metadata (link-local) and private networks', async () => {
      assert.match(await fetchFrom(a, 'http://169.254.169.254/latest/meta-data/'), /^error /);
      assert.match(await fetchFrom(a, 'http://10.0.0.1/'), /^error /);
    });

    await t.test('nothing connects in: not the outside host, not the host itself', async () => {
      const listener = inside(a, [process.execPath, '-e', "require('net').createServer((c) => { console.log('connected'); c.end(); process.exit(0) }).listen(7001, () => { console.log('up'); setTimeout(() => process.exit(0), 2500) })"]);
      // The host has a route to the sandbox (its /30) but the forward and input rules hold; the
      // outside host has none: both time out or are refused.
      const probe = spawnSync(process.execPath, ['-e', `const s = require('net').connect(7001, '${a.address}'); s.setTimeout(1000, () => { console.log('timeout'); process.exit(0) }); s.on('connect', () => { console.log('connected'); process.exit(0) }); s.on('error', (e) => console.log(e.code))`], { encoding: 'utf8' });
      assert.doesNotMatch(probe.stdout, /connected/);
      assert.doesNotMatch((await listener).out, /connected/);
    });

    await t.test('release removes the host end; close removes the table and the claim', async () => {
      const hostIf = a.hostInterface as string;
      await a.release();
      await b.release();
      assert.notEqual(spawnSync(ip, ['link', 'show', hostIf]).status, 0, `${hostIf} is still there`);
    });
    await n.close();
    assert.notEqual(spawnSync(nft, ['list', 'table', 'ip', table]).status, 0, `table ${table} is still there`);
  }),
);

void test(
  'mode none: no route out (the outside host is unreachable)',
  { skip },
  leakFree(async (_t, defer) => {
    const OUTSIDE = await outsideHost(defer, ip);
    const n = networks(defer, 'none', 1);
    const a = await n.claim();
    // An empty pool at `none` returns undefined; wait for a ready one.
    const net = a ?? (await n.whenFilled(), await n.claim());
    assert.ok(net);
    assert.match(await fetchFrom(net, `http://${OUTSIDE.peer}:${OUTSIDE.port}/`), /^error /);
    await net.release();
  }),
);

void test(
  "start-up at mode none also removes a dead instance's claim, table and VPC namespace",
  { skip },
  leakFree(async (_t, defer) => {
    const claimsDir = mkdtempSync(join(tmpdir(), 'lambkin-net-claims-'));
    defer(() => rmSync(claimsDir, { recursive: true, force: true }));
    const dead = spawnSync('true').pid as number;
    const index = 1000 + Math.floor(Math.random() * 24);
    writeFileSync(join(claimsDir, `block-${index}`), `${dead}\n`);
    execFileSync(nft, ['-f', '-'], { input: natRules(index) });
    defer(() => spawnSync(nft, ['delete', 'table', 'ip', `lambkin_${index}`]));
    execFileSync(ip, ['netns', 'add', `lk${index}-vpc-dead`]);
    defer(() => spawnSync(ip, ['netns', 'del', `lk${index}-vpc-dead`]));
    const n = new SandboxNetworks({ mode: 'none', perl: caps.tools.perl ?? 'perl', ip, nft, unshareSyscall: sys?.unshare ?? 0, prctlSyscall: sys?.prctl ?? 0, pool: 0, claimsDir });
    defer(() => n.close());
    await n.start();
    assert.equal(existsSync(join(claimsDir, `block-${index}`)), false, 'the dead claim is gone');
    assert.notEqual(spawnSync(nft, ['list', 'table', 'ip', `lambkin_${index}`]).status, 0, "the dead instance's table is gone");
    assert.equal(existsSync(`/run/netns/lk${index}-vpc-dead`), false, "the dead instance's VPC namespace is gone");
  }),
);

void test(
  "start-up removes a dead instance's claim and its table",
  { skip },
  leakFree(async (_t, defer) => {
    const claimsDir = mkdtempSync(join(tmpdir(), 'lambkin-net-claims-'));
    defer(() => rmSync(claimsDir, { recursive: true, force: true }));
    // A claim of a process that has exited, with its table still installed.
    const dead = spawnSync('true').pid as number;
    const index = 1000 + Math.floor(Math.random() * 24);
    writeFileSync(join(claimsDir, `block-${index}`), `${dead}\n`);
    execFileSync(nft, ['-f', '-'], { input: natRules(index) });
    defer(() => spawnSync(nft, ['delete', 'table', 'ip', `lambkin_${index}`]));
    const n = new SandboxNetworks({ mode: 'nat', perl: caps.tools.perl ?? 'perl', ip, nft, unshareSyscall: sys?.unshare ?? 0, prctlSyscall: sys?.prctl ?? 0, pool: 0, claimsDir });
    defer(() => n.close());
    await n.start();
    if (n.tableName !== `lambkin_${index}`) {
      assert.equal(existsSync(join(claimsDir, `block-${index}`)), false, 'the dead claim is gone');
      assert.notEqual(spawnSync(nft, ['list', 'table', 'ip', `lambkin_${index}`]).status, 0, "the dead instance's table is gone");
    }
    assert.equal(readFileSync(join(claimsDir, `block-${(n.tableName as string).slice('lambkin_'.length)}`), 'utf8').trim(), String(process.pid));
  }),
);

void test(
  'the pool refills only when no cold start is in flight (its helpers take no CPU from one)',
  { skip },
  leakFree(async (_t, defer) => {
    let open = (): void => undefined;
    let gate: Promise<void> = Promise.resolve();
    const claimsDir = mkdtempSync(join(tmpdir(), 'lambkin-net-claims-'));
    defer(() => rmSync(claimsDir, { recursive: true, force: true }));
    const n = new SandboxNetworks({ mode: 'none', perl: caps.tools.perl ?? 'perl', ip, nft, unshareSyscall: sys?.unshare ?? 0, prctlSyscall: sys?.prctl ?? 0, pool: 1, claimsDir, quiet: () => gate });
    defer(() => n.close());
    await n.whenFilled();
    gate = new Promise((r) => (open = r));
    const first = await n.claim();
    assert.ok(first, 'the ready namespace');
    // The refill waits at the gate: the pool stays empty (an empty pool at `none` answers undefined).
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    assert.equal(await n.claim(), undefined, 'refilled while a cold start was in flight');
    open();
    await n.whenFilled();
    const again = await n.claim();
    assert.ok(again, 'refilled once quiet');
    await first.release();
    await again.release();
  }),
);
