/**
 * Pieces of the escape suite (escape.test.ts): the interface the suite assumes of the sealed sandbox
 * (in ONE place, `CONTRACT`, so it is easy to adjust), the isolation levels it runs at and why one is
 * skipped here, the attacker's functions (a Node.js, a Python and a `provided` bash probe, and the
 * payloads an Environment can point root helpers at), and a lambkin server run as a child process so
 * that it can be killed with SIGKILL.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { detectCapabilities, namespacesUnavailable, resolveIsolationLevel, type IsolationRequest } from '../../src/fleet/isolation/capabilities.js';
import type { Defer } from '../helpers/leaks.js';
import { processesWith } from './isolation-fixtures.js';
import { TUTORIAL_BOOTSTRAP } from '../helpers/custom-runtime.js';
import { buildZip, type ZipFile } from '../helpers/zip.js';

// ------------------------------------------------------------------------------------------------
// The assumed interface of the sealed sandbox. Everything the defences may name differently is here.
// ------------------------------------------------------------------------------------------------

export const CONTRACT = {
  /** AWS_LAMBDA_RUNTIME_API inside a sandbox that has a network namespace of its own. */
  runtimeApiInSandbox: '127.0.0.1:9001',
  /** The sandbox-facing AWS endpoint: the first of these variables that is set (per-service first, as the SDKs read them). */
  endpointVariables: ['AWS_ENDPOINT_URL_LAMBDA', 'AWS_ENDPOINT_URL'],
  /** The sandbox's own credentials. */
  credentialVariables: ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN'],
  /** HTTP statuses of the sandbox-facing endpoint for a missing, forged or foreign signature. */
  refusedStatuses: [401, 403],
  /**
   * Variables AWS reserves (AWS docs, "Defined runtime environment variables"): CreateFunction with
   * any of them is refused with InvalidParameterValueException and this message.
   */
  reservedKeys: [
    '_HANDLER',
    '_X_AMZN_TRACE_ID',
    'AWS_DEFAULT_REGION',
    'AWS_REGION',
    'AWS_EXECUTION_ENV',
    'AWS_LAMBDA_FUNCTION_NAME',
    'AWS_LAMBDA_FUNCTION_MEMORY_SIZE',
    'AWS_LAMBDA_FUNCTION_VERSION',
    'AWS_LAMBDA_INITIALIZATION_TYPE',
    'AWS_LAMBDA_LOG_GROUP_NAME',
    'AWS_LAMBDA_LOG_STREAM_NAME',
    'AWS_ACCESS_KEY',
    'AWS_ACCESS_KEY_ID',
    'AWS_SECRET_ACCESS_KEY',
    'AWS_SESSION_TOKEN',
    'AWS_LAMBDA_RUNTIME_API',
    'LAMBDA_TASK_ROOT',
    'LAMBDA_RUNTIME_DIR',
  ],
  /** Keys outside AWS's key pattern `[a-zA-Z]([a-zA-Z0-9_])+` (`_HANDLER`, `_X_AMZN_TRACE_ID`) fail validation first, as on AWS. */
  reservedKeyError: (key: string): string => (/^[a-zA-Z]/.test(key) ? 'InvalidParameterValueException' : 'ValidationException'),
  reservedKeyMessage: (key: string): RegExp =>
    /^[a-zA-Z]/.test(key) ? new RegExp(`reserved keys.*Reserved keys used in this request: .*\\b${key}\\b`, 's') : /regular expression pattern/,
  /**
   * How the start-up log (and doctor) names a guarantee that is NOT enforced at the running level. At
   * isolation `none` a guarantee must either hold or be named by one of these; never pretended.
   */
  statedMissing: {
    network: /network/i,
    hostFiles: /host's files|host files|host file ?system|paths? of the host/i,
    hostProcesses: /host's processes|processes of the host|host processes|PID namespace/i,
    privileges: /lambkin's own user/i,
    privateTmp: /not enforced: .*\/tmp/i,
    otherRuntimeApis: /not enforced: .*other sandboxes' .*Runtime APIs/i,
    writableCode: /not enforced: .*\/var\/task .*read-only/i,
    frozen: /frozen|freez/i,
  },
  /** Guarantees that cannot hold without root and namespaces: `doctor` and the start-up log must name them at `none`. */
  unenforceableAtNone: ['network', 'hostFiles', 'hostProcesses', 'privileges', 'privateTmp', 'otherRuntimeApis', 'writableCode'],
  /**
   * Processes that run privileged on the sandbox's way to its runtime (launchers, init, namespace and
   * network setup). At isolation `none` there should be none; any of these running as uid 0 with the
   * function's environment is the hole of issue 9.
   */
  helperComms: ['unshare', 'perl', 'setpriv', 'sh', 'dash', 'nsenter', 'ip', 'mount', 'umount', 'iptables', 'nft', 'newuidmap', 'newgidmap', 'lambkin-init'],
  /** Entries a minimal /dev may hold (Lambda: null zero full random urandom tty ptmx pts shm fd std*). */
  minimalDev: ['null', 'zero', 'full', 'random', 'urandom', 'tty', 'ptmx', 'pts', 'shm', 'mqueue', 'fd', 'stdin', 'stdout', 'stderr', 'core', 'console'],
  /** Paths whose existence inside a sandbox would be an escape hatch in itself. */
  hostSockets: ['/var/run/docker.sock', '/run/docker.sock', '/run/containerd/containerd.sock', '/run/systemd/private', '/run/dbus/system_bus_socket'],
  /** How long after `kill -9` of the server its sandboxes may still be seen. */
  deathDeadlineMs: 5_000,
  /** How long a retired or stopped sandbox's daemon may still be seen. */
  retireDeadlineMs: 5_000,
  /** The bounded idleness window of the freezing check, and the CPU it may use (clock ticks, 10 ms each). */
  idleWindowMs: 300,
  idleTicksAllowed: 2,
} as const;

export type Guarantee = keyof typeof CONTRACT.statedMissing;

// ------------------------------------------------------------------------------------------------
// Levels.
// ------------------------------------------------------------------------------------------------

export const caps = detectCapabilities();

export interface Level {
  /** `none`, or `auto` (which must resolve to cgroups+namespaces with a network namespace here). */
  readonly request: IsolationRequest;
  /** True when every guarantee of the security contract must hold. */
  readonly sealed: boolean;
  /** The machine property that keeps this level from running here, or undefined. */
  readonly skip: string | undefined;
}

function sealedUnavailable(): string | undefined {
  const ns = namespacesUnavailable(caps);
  if (ns) return ns;
  if (resolveIsolationLevel('auto', caps).level !== 'cgroups+namespaces') return 'isolation auto does not resolve to cgroups+namespaces here';
  if (!caps.namespaces.net) return 'the kernel offers no network namespaces';
  return undefined;
}

export const LEVELS: readonly Level[] = [
  { request: 'none', sealed: false, skip: process.platform === 'linux' ? undefined : `the probes read Linux's /proc (this is ${process.platform})` },
  { request: 'auto', sealed: true, skip: sealedUnavailable() },
];

/** `/usr/bin/python3` when there is one: an interpreter among the runtime's files, not in a user's home. */
export const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

/** The checkout of the running lambkin (the test runs from <checkout>/dist/test/fleet). */
export const CHECKOUT = fileURLToPath(new URL('../../../', import.meta.url)).replace(/\/$/, '');

/** The host's own non-loopback IPv4 addresses. */
export function hostAddresses(): string[] {
  return Object.values(networkInterfaces())
    .flatMap((list) => list ?? [])
    .filter((a) => !a.internal && a.family === 'IPv4')
    .map((a) => a.address);
}

// ------------------------------------------------------------------------------------------------
// Payloads a function's Environment can point at.
// ------------------------------------------------------------------------------------------------

/** One line of a marker file: `VAR uid=N comm=NAME`, written by whichever process ran the payload. */
export interface Mark {
  readonly variable: string;
  readonly uid: number;
  readonly comm: string;
}

export function readMarks(markerDir: string): Mark[] {
  const out: Mark[] = [];
  for (const name of readdirSync(markerDir)) {
    for (const line of readFileSync(join(markerDir, name), 'utf8').split('\n')) {
      const m = /^(\S+) uid=(\d+) comm=(.*)$/.exec(line);
      if (m) out.push({ variable: m[1] ?? '', uid: Number(m[2]), comm: m[3] ?? '' });
    }
  }
  return out;
}

const EVIL_C = String.raw`
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
__attribute__((constructor)) static void lambkin_escape_mark(void) {
  char comm[64] = "?";
  int c = open("/proc/self/comm", O_RDONLY);
  if (c >= 0) { ssize_t n = read(c, comm, sizeof comm - 1); comm[n > 0 ? n - 1 : 0] = 0; close(c); }
  int fd = open(MARKER, O_WRONLY | O_CREAT | O_APPEND, 0666);
  if (fd < 0) return;
  char line[160];
  int len = snprintf(line, sizeof line, "%s uid=%d comm=%s\n", VAR, (int)geteuid(), comm);
  if (len > 0) (void)!write(fd, line, (size_t)len);
  close(fd);
}
/* LD_AUDIT: accept any interface version. */
unsigned int la_version(unsigned int v) { return v; }
/* GCONV_PATH: what glibc looks up in a module. */
int gconv(void) { return 0; }
int gconv_init(void) { return 0; }
`;

/** The real libcrypt.so.1 that perl links against (a filter library shadowing it keeps perl working). */
function realLibcrypt(): string | undefined {
  const perl = caps.tools.perl;
  if (!perl) return undefined;
  const r = spawnSync('ldd', [perl], { encoding: 'utf8' });
  return /libcrypt\.so\.1 => (\S+)/.exec(r.stdout ?? '')?.[1];
}

export interface Arsenal {
  /** Files shipped in the zip of every environment attack, by name. */
  readonly files: Record<string, ZipFile>;
  /** Why no arsenal could be built here (no C compiler), or undefined. */
  readonly skip: string | undefined;
}

/**
 * Compiles the shared objects (a C compiler is a machine property the suite may skip for) and writes
 * the scripts; each payload appends a `VAR uid=N comm=NAME` line to `<markerDir>/<VAR>`.
 */
export function buildArsenal(buildDir: string, markerDir: string): Arsenal {
  const cc = ['cc', 'gcc'].find((c) => spawnSync(c, ['--version'], { stdio: 'ignore' }).status === 0);
  if (!cc) return { files: {}, skip: 'no C compiler (cc) to build the LD_PRELOAD / LD_AUDIT payloads' };
  mkdirSync(buildDir, { recursive: true });
  const src = join(buildDir, 'evil.c');
  writeFileSync(src, EVIL_C);
  const compile = (out: string, variable: string, extra: string[] = []): Uint8Array => {
    const path = join(buildDir, out.replace(/\//g, '_'));
    const r = spawnSync(cc, ['-shared', '-fPIC', '-o', path, `-DMARKER="${join(markerDir, variable)}"`, `-DVAR="${variable}"`, src, ...extra], { encoding: 'utf8' });
    assert.equal(r.status, 0, `${cc} failed: ${r.stderr}`);
    return readFileSync(path);
  };
  const so = (content: Uint8Array): ZipFile => ({ content, mode: 0o755 });
  const sh = (variable: string) => `printf '%s uid=%s comm=%s\\n' ${variable} "$(id -u)" "$(cat /proc/$$/comm)" >> ${join(markerDir, variable)} 2>/dev/null || true\n`;
  const py = (variable: string) =>
    `import os\ntry:\n    with open(${JSON.stringify(join(markerDir, variable))}, 'a') as f:\n        f.write('${variable} uid=%d comm=%s\\n' % (os.geteuid(), open('/proc/self/comm').read().strip()))\nexcept OSError:\n    pass\n`;
  const pm = (variable: string) =>
    `open(my $f, '>>', '${join(markerDir, variable)}') and print $f "${variable} uid=$> comm=" . do { open(my $c, '<', '/proc/self/comm'); my $n = <$c> // '?'; chomp $n; $n } . "\\n";\n1;\n`;
  const files: Record<string, ZipFile> = {
    'evil-preload.so': so(compile('evil-preload.so', 'LD_PRELOAD')),
    'evil-audit.so': so(compile('evil-audit.so', 'LD_AUDIT')),
    'gconv/EVIL.so': so(compile('gconv/EVIL.so', 'GCONV_PATH')),
    'gconv/gconv-modules': { content: 'alias\tUTF-8//\tEVIL//\nmodule\tEVIL//\tINTERNAL\tEVIL\t1\nmodule\tINTERNAL\tEVIL//\tEVIL\t1\n', mode: 0o644 },
    // PERL5OPT runs this (as the issue's `system(q(id>/tmp/pwn))` does), reporting the perl that ran it.
    'mark.sh': { content: `printf '%s uid=%s comm=%s\\n' "$1" "$(id -u)" "$(cat /proc/$PPID/comm)" >> "${markerDir}/$1" 2>/dev/null || true\n`, mode: 0o755 },
    'evil-bash.sh': { content: sh('BASH_ENV'), mode: 0o644 },
    'evil-env.sh': { content: sh('ENV'), mode: 0o644 },
    'evil-startup.py': { content: py('PYTHONSTARTUP'), mode: 0o644 },
    'pylib/sitecustomize.py': { content: py('PYTHONPATH'), mode: 0o644 },
    'evil.js': { content: `try { require('fs').appendFileSync(${JSON.stringify(join(markerDir, 'NODE_OPTIONS'))}, 'NODE_OPTIONS uid=' + process.geteuid() + ' comm=' + require('fs').readFileSync('/proc/self/comm', 'utf8').trim() + '\\n'); } catch {}\n`, mode: 0o644 },
  };
  // Modules a perl helper would load (none does today: this is for the day one does).
  for (const [variable, dir] of [['PERL5LIB', 'perl5lib'], ['PERLLIB', 'perllib']] as const) {
    for (const module of ['strict', 'warnings', 'Errno', 'Config', 'POSIX', 'Socket', 'Fcntl']) files[`${dir}/${module}.pm`] = { content: pm(variable), mode: 0o644 };
    files[`${dir}/sitecustomize.pl`] = { content: pm(variable), mode: 0o644 };
  }
  // LD_LIBRARY_PATH: a libcrypt.so.1 that filters the real one (so perl keeps working) and marks when loaded.
  const libcrypt = realLibcrypt();
  if (libcrypt) files['libcrypt.so.1'] = so(compile('libcrypt.so.1', 'LD_LIBRARY_PATH', ['-Wl,-soname,libcrypt.so.1', `-Wl,--filter,${libcrypt}`]));
  return { files, skip: undefined };
}

/**
 * The environment attacks: each variable's value, given the function's code directory on the host
 * (`host`, which the helpers start in and see) — relative paths resolve in the task root for the runtime.
 */
export const ENV_ATTACKS: readonly { variable: string; value: (host: string) => string }[] = [
  { variable: 'PERL5OPT', value: (host) => `-Mstrict;system(q(sh),q(${host}/mark.sh),q(PERL5OPT))` },
  { variable: 'PERL5LIB', value: (host) => `./perl5lib:${host}/perl5lib` },
  { variable: 'PERLLIB', value: (host) => `./perllib:${host}/perllib` },
  { variable: 'LD_PRELOAD', value: (host) => `./evil-preload.so ${host}/evil-preload.so` },
  { variable: 'LD_LIBRARY_PATH', value: (host) => `.:${host}` },
  { variable: 'LD_AUDIT', value: (host) => `./evil-audit.so:${host}/evil-audit.so` },
  { variable: 'BASH_ENV', value: (host) => `${host}/evil-bash.sh` },
  { variable: 'ENV', value: (host) => `${host}/evil-env.sh` },
  { variable: 'PYTHONSTARTUP', value: (host) => `${host}/evil-startup.py` },
  { variable: 'PYTHONPATH', value: (host) => `./pylib:${host}/pylib` },
  { variable: 'NODE_OPTIONS', value: () => '--require ./evil.js' },
  { variable: 'GCONV_PATH', value: (host) => `./gconv:${host}/gconv` },
];

// ------------------------------------------------------------------------------------------------
// The attacker's functions.
// ------------------------------------------------------------------------------------------------

/** The Node.js probe: `{ attack, ...params }` in, what it observed out. Never throws. */
export const NODE_PROBE = String.raw`
const fs = require('fs'); const net = require('net'); const http = require('http'); const https = require('https');
const cp = require('child_process'); const crypto = require('crypto');
const daemon = (marker) => cp.spawn('sh', ['-c', 'while :; do sleep 1; done', marker], { detached: true, stdio: 'ignore' }).unref();
const attempt = (f) => { try { return { ok: true, value: f() }; } catch (e) { return { ok: false, code: e.code || e.message }; } };
const connect = (host, port, ms = 1500) => new Promise((r) => {
  const s = net.connect({ host, port }); const t = setTimeout(() => { s.destroy(); r('timeout'); }, ms);
  s.on('connect', () => { clearTimeout(t); s.destroy(); r('connected'); }); s.on('error', (e) => { clearTimeout(t); r(e.code); });
});
const request = (url, { method = 'GET', headers = {}, body = '' } = {}, ms = 3000) => new Promise((r) => {
  let u; try { u = new URL(url); } catch (e) { return r({ error: 'bad url ' + url }); }
  const req = (u.protocol === 'https:' ? https : http).request(u, { method, headers, rejectUnauthorized: false }, (res) => {
    let b = ''; res.on('data', (d) => (b += d)); res.on('end', () => r({ status: res.statusCode, body: b.slice(0, 4000) }));
  });
  req.on('error', (e) => r({ error: e.code || e.message })); req.setTimeout(ms, () => { req.destroy(); r({ error: 'timeout' }); }); req.end(body);
});
function listeners() {
  const out = [];
  for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let t = ''; try { t = fs.readFileSync(f, 'utf8'); } catch { continue; }
    for (const l of t.split('\n').slice(1)) { const c = l.trim().split(/\s+/); if (c[3] === '0A') out.push(parseInt(c[1].split(':').pop(), 16)); }
  }
  return out;
}
function sign(method, url, akid, secret, token, region, body = '') {
  const u = new URL(url); const amz = new Date().toISOString().replace(/[:-]|\.\d{3}/g, ''); const day = amz.slice(0, 8);
  const hash = (s) => crypto.createHash('sha256').update(s).digest('hex'); const hmac = (k, s) => crypto.createHmac('sha256', k).update(s).digest();
  const headers = { host: u.host, 'x-amz-date': amz, 'x-amz-content-sha256': hash(body) }; if (token) headers['x-amz-security-token'] = token;
  const names = Object.keys(headers).sort();
  // Lambda, like every service but S3, signs each path segment encoded once more (an ARN's %3A as %253A).
  const path = u.pathname.split('/').map((seg) => encodeURIComponent(seg)).join('/');
  const canonical = [method, path, u.searchParams.toString(), names.map((n) => n + ':' + headers[n] + '\n').join(''), names.join(';'), hash(body)].join('\n');
  const scope = day + '/' + region + '/lambda/aws4_request';
  let k = hmac('AWS4' + secret, day); for (const p of [region, 'lambda', 'aws4_request']) k = hmac(k, p);
  const signature = crypto.createHmac('sha256', k).update(['AWS4-HMAC-SHA256', amz, scope, hash(canonical)].join('\n')).digest('hex');
  headers.authorization = 'AWS4-HMAC-SHA256 Credential=' + akid + '/' + scope + ', SignedHeaders=' + names.join(';') + ', Signature=' + signature;
  return headers;
}
const read = (p) => attempt(() => { const st = fs.statSync(p); return st.isDirectory() ? fs.readdirSync(p) : fs.readFileSync(p).length; });
const status = () => fs.readFileSync('/proc/self/status', 'utf8');
const attacks = {
  hello: () => ({ uid: process.getuid() }),
  identity: () => ({ uid: process.getuid(), status: status(), runtimeApi: process.env.AWS_LAMBDA_RUNTIME_API, cwd: process.cwd() }),
  network: async (e) => ({
    runtimeApi: process.env.AWS_LAMBDA_RUNTIME_API,
    controlPlane: await request('http://127.0.0.1:' + e.lambkinPort + '/2015-03-31/functions/'),
    targets: await Promise.all(e.targets.map(([h, p]) => connect(h, p))),
    listeners: listeners(),
    otherRuntimeApi: e.otherRuntimeApi && e.otherRuntimeApi !== process.env.AWS_LAMBDA_RUNTIME_API
      ? await request('http://' + e.otherRuntimeApi + '/2018-06-01/runtime/invocation/next', {}, 1500) : 'own address',
  }),
  endpoint: async (e) => {
    const endpoint = e.endpointVariables.map((v) => process.env[v]).find(Boolean);
    const [akid, secret, token] = e.credentialVariables.map((v) => process.env[v]);
    if (!endpoint) return { endpoint: null };
    const region = process.env.AWS_REGION;
    const list = endpoint.replace(/\/$/, '') + '/2015-03-31/functions/';
    const foreign = endpoint.replace(/\/$/, '') + '/2015-03-31/functions/' + encodeURIComponent(e.foreignArn) + '/configuration';
    const sibling = endpoint.replace(/\/$/, '') + '/2015-03-31/functions/' + e.sibling + '/invocations';
    const event = JSON.stringify({ attack: 'hello' });
    return {
      endpoint, hasCredentials: Boolean(akid && secret && token),
      invokeSibling: await request(sibling, { method: 'POST', body: event, headers: sign('POST', sibling, akid, secret, token, region, event) }),
      own: await request(list, { headers: sign('GET', list, akid, secret, token, region) }),
      foreignWithOwn: await request(foreign, { headers: sign('GET', foreign, akid, secret, token, region) }),
      forgedAccount: await request(list, { headers: sign('GET', list, e.foreignAccount, 'forged', undefined, region) }),
      wrongSecret: await request(list, { headers: sign('GET', list, akid, secret + 'x', token, region) }),
      unsigned: await request(list),
    };
  },
  files: (e) => {
    const out = {};
    for (const p of e.paths) out[p] = read(p);
    const dev = attempt(() => fs.readdirSync('/dev').map((n) => { const st = fs.lstatSync('/dev/' + n); return { n, block: st.isBlockDevice(), char: st.isCharacterDevice() }; }));
    let cgroupWritable = [];
    for (const d of ['/sys/fs/cgroup', ...attempt(() => fs.readdirSync('/sys/fs/cgroup').map((n) => '/sys/fs/cgroup/' + n)).value || []]) {
      if (attempt(() => fs.accessSync(d, fs.constants.W_OK)).ok) cgroupWritable.push(d);
    }
    return { paths: out, dev, cgroupWritable, tmp: attempt(() => fs.readdirSync('/tmp')) };
  },
  writes: () => ({ task: attempt(() => fs.writeFileSync('/var/task/escape-x', 'x')), root: attempt(() => fs.writeFileSync('/escape-x', 'x')) }),
  processes: (e) => {
    const visible = [];
    for (const n of fs.readdirSync('/proc')) if (/^\d+$/.test(n)) { const c = attempt(() => fs.readFileSync('/proc/' + n + '/cmdline', 'utf8').replace(/\0/g, ' ')); if (c.ok) visible.push(c.value); }
    const kill = (pid, sig) => attempt(() => process.kill(pid, sig));
    return {
      visible,
      serverEnviron: read('/proc/' + e.serverPid + '/environ'),
      serverCmdline: attempt(() => fs.readFileSync('/proc/' + e.serverPid + '/cmdline', 'utf8').replace(/\0/g, ' ')),
      signalServer: kill(e.serverPid, 0),
      killVictim: e.victimPid ? kill(e.victimPid, 'SIGKILL') : null,
    };
  },
  privileges: () => {
    const run = (cmd, args) => { const r = cp.spawnSync(cmd, args, { encoding: 'utf8', timeout: 5000 }); return { status: r.status, error: r.error && r.error.code, out: (r.stdout || '') + (r.stderr || '') }; };
    try { fs.mkdirSync('/tmp/escape-mnt'); } catch {}
    return {
      uid: process.getuid(), status: status(),
      mount: run('mount', ['-t', 'tmpfs', 'escape', '/tmp/escape-mnt']),
      userns: run('unshare', ['--user', '--map-root-user', 'id', '-u']),
      netns: run('unshare', ['--net', 'true']),
    };
  },
  // detached = setsid in the child before its exec, and spawn returns once sh runs: a sandbox frozen
  // right after the handler returns holds a daemon that is already sh, not a setsid about to exec it.
  plant: (e) => {
    fs.writeFileSync('/tmp/' + e.secret, 'secret');
    daemon(e.marker);
    return { planted: true };
  },
  daemon: (e) => { daemon(e.marker); return { ok: true }; },
  // process.title names the runtime process on the host (found by marker, whoever its parent is).
  busy: (e) => { process.title = e.marker + '-runtime'; daemon(e.marker); setInterval(() => {}, 1000); return new Promise(() => {}); },
  burn: (e) => { process.title = e.marker; setInterval(() => { const end = Date.now() + 40; while (Date.now() < end); }, 50); return { burning: true }; },
  wait: (e) => new Promise((r) => setTimeout(() => r({ waited: e.ms }), e.ms)),
  fill: (e) => {
    const chunk = Buffer.alloc(1 << 20, 7); let written = 0; let code;
    const fd = fs.openSync('/tmp/fill', 'w');
    try { while (written < e.mb) { fs.writeSync(fd, chunk); written++; } } catch (err) { code = err.code; } finally { fs.closeSync(fd); fs.unlinkSync('/tmp/fill'); }
    return { written, code };
  },
};
exports.handler = async (e) => attacks[e.attack](e);
`;

/** The Python probe (network, files, identity, ptrace, unshare): `{ attack, ...params }` in. */
export const PYTHON_PROBE = String.raw`
import ctypes, json, os, socket, urllib.request, urllib.error

def attempt(f):
    try:
        return {'ok': True, 'value': f()}
    except OSError as e:
        return {'ok': False, 'code': e.errno and __import__('errno').errorcode.get(e.errno) or str(e)}

def connect(host, port):
    try:
        socket.create_connection((host, port), timeout=1.5).close()
        return 'connected'
    except socket.timeout:
        return 'timeout'
    except OSError as e:
        return __import__('errno').errorcode.get(e.errno, str(e))

def listeners():
    out = []
    for f in ('/proc/net/tcp', '/proc/net/tcp6'):
        try:
            lines = open(f).read().split('\n')[1:]
        except OSError:
            continue
        for l in lines:
            c = l.split()
            if len(c) > 3 and c[3] == '0A':
                out.append(int(c[1].split(':')[-1], 16))
    return out

def read(p):
    return attempt(lambda: os.listdir(p) if os.path.isdir(p) else len(open(p, 'rb').read()))

def control_plane(port):
    try:
        with urllib.request.urlopen('http://127.0.0.1:%d/2015-03-31/functions/' % port, timeout=3) as r:
            return {'status': r.status}
    except urllib.error.HTTPError as e:
        return {'status': e.code}
    except Exception as e:
        return {'error': str(getattr(e, 'reason', e))}

def handler(event, context):
    a = event['attack']
    if a == 'hello':
        return {'uid': os.getuid()}
    if a == 'identity':
        return {'uid': os.getuid(), 'status': open('/proc/self/status').read(), 'runtimeApi': os.environ.get('AWS_LAMBDA_RUNTIME_API')}
    if a == 'network':
        return {'runtimeApi': os.environ.get('AWS_LAMBDA_RUNTIME_API'), 'controlPlane': control_plane(event['lambkinPort']),
                'targets': [connect(h, p) for h, p in event['targets']], 'listeners': listeners()}
    if a == 'files':
        return {'paths': {p: read(p) for p in event['paths']}}
    if a == 'privileges':
        status = open('/proc/self/status').read()  # before the attempts: a new user namespace brings capabilities in it
        libc = ctypes.CDLL(None, use_errno=True)
        # PTRACE_ATTACH (16) to the sandbox's PID 1, detach (17) at once if it ever worked.
        traced = libc.ptrace(16, 1, None, None)
        if traced == 0:
            libc.ptrace(17, 1, None, None)
        userns = libc.unshare(0x10000000)  # CLONE_NEWUSER
        netns = libc.unshare(0x40000000)  # CLONE_NEWNET
        return {'uid': os.getuid(), 'status': status, 'ptrace': traced, 'userns': userns, 'netns': netns}
    raise Exception('unknown attack ' + a)
`;

/**
 * The `provided` probe: AWS's tutorial bootstrap (curl against the Runtime API) with a handler in bash
 * that tries the network and files named in its Environment (ESCAPE_PORT, ESCAPE_TARGETS, ESCAPE_PATHS).
 */
export const BASH_PROBE = String.raw`function handler () {
  if [ -z "$(printenv ESCAPE_PORT)" ]; then printf '{"uid":%s}' "$(id -u)"; return; fi
  local code targets="" files="" sep="" t h p r f laddr st rest hex
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$ESCAPE_PORT/2015-03-31/functions/" 2>/dev/null) || true
  for t in $ESCAPE_TARGETS; do
    IFS=: read -r h p <<< "$t"
    if timeout 1 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$h" "$p" 2>/dev/null; then r=connected; else r=refused; fi
    targets="$targets$sep\"$t\":\"$r\""; sep=,
  done
  sep=""
  for p in $ESCAPE_PATHS; do
    if [ -d "$p" ]; then if [ -n "$(ls -A "$p" 2>/dev/null)" ]; then r=listed; elif ls "$p" >/dev/null 2>&1; then r=empty; else r=refused; fi
    elif cat "$p" >/dev/null 2>&1; then r=readable; else r=refused; fi
    files="$files$sep\"$p\":\"$r\""; sep=,
  done
  local listeners="" lsep=""
  for f in /proc/net/tcp /proc/net/tcp6; do
    [ -r "$f" ] || continue
    while read -r _ laddr _ st rest; do
      [ "$st" = "0A" ] || continue
      hex=$(echo "$laddr" | cut -d: -f2)
      listeners="$listeners$lsep$((16#$hex))"; lsep=,
    done < <(tail -n +2 "$f")
  done
  local nnp; nnp=$(grep -E '^NoNewPrivs:' /proc/self/status | tr -dc 0-9)
  printf '{"uid":%s,"noNewPrivs":"%s","runtimeApi":"%s","controlPlane":"%s","targets":{%s},"paths":{%s},"listeners":[%s]}' \
    "$(id -u)" "$nnp" "$AWS_LAMBDA_RUNTIME_API" "$code" "$targets" "$files" "$listeners"
}
`;

export type ProbeRuntime = 'nodejs20.x' | 'python3.12' | 'provided.al2023';

/** CreateFunction arguments of each probe (the zip gets `extra` files too). */
export function probeFunction(runtime: ProbeRuntime, extra: Record<string, ZipFile> = {}): { zip: Buffer; handler: string } {
  switch (runtime) {
    case 'nodejs20.x':
      return { zip: buildZip({ ...extra, 'index.js': { content: NODE_PROBE, mode: 0o644 } }), handler: 'index.handler' };
    case 'python3.12':
      return { zip: buildZip({ ...extra, 'probe.py': { content: PYTHON_PROBE, mode: 0o644 } }), handler: 'probe.handler' };
    case 'provided.al2023':
      return {
        zip: buildZip({ ...extra, bootstrap: { content: TUTORIAL_BOOTSTRAP, mode: 0o755 }, 'function.sh': { content: BASH_PROBE, mode: 0o644 } }),
        handler: 'function.handler',
      };
  }
}

/** The comm of each probe's own runtime process (allowed to see its own environment). */
export const RUNTIME_COMMS: Readonly<Record<ProbeRuntime, RegExp>> = {
  'nodejs20.x': /^node$/,
  'python3.12': /^python/,
  'provided.al2023': /.*/,
};

// ------------------------------------------------------------------------------------------------
// Observing the host.
// ------------------------------------------------------------------------------------------------

/** Polls `check` until it returns true or `deadlineMs` passes; returns whether it did. */
export async function within(deadlineMs: number, check: () => boolean): Promise<boolean> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    if (check()) return true;
    if (Date.now() > end) return false;
    await delay(20);
  }
}

export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/**
 * Host pids of the long-lived daemon (`sh -c ... marker`) a probe started; not the short-lived
 * `setsid` that forks it, nor the `sleep`s it runs.
 */
export function daemonPids(marker: string): number[] {
  return processesWith(marker).filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('sh\0-c\0');
    } catch {
      return false;
    }
  });
}

/** user+system CPU time of `pids`, in clock ticks. */
export function cpuTicks(pids: readonly number[]): number {
  let sum = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      sum += Number(f[11]) + Number(f[12]);
    } catch {
      // gone
    }
  }
  return sum;
}

/** The lambkin cgroup directories (`.../lambkin/<instance>`) that process `pid` is in, on the host. */
export function lambkinCgroupsOf(pid: number): string[] {
  let text = '';
  try {
    text = readFileSync(`/proc/${pid}/cgroup`, 'utf8');
  } catch {
    return [];
  }
  const out = new Set<string>();
  for (const line of text.split('\n')) {
    const m = /^\d+:([^:]*):(.*\/lambkin\/[^/]+)/.exec(line);
    if (!m) continue;
    const controllers = m[1] ?? '';
    const path = m[2] ?? '';
    if (controllers === '') {
      if (caps.cgroup.v2MountPoint) out.add(join(caps.cgroup.v2MountPoint, path));
      continue;
    }
    for (const c of controllers.split(',')) {
      const mount = caps.cgroup.v1Mounts[c];
      if (mount) out.add(join(mount.mountPoint, path.startsWith(mount.root) && mount.root !== '/' ? path.slice(mount.root.length) : path));
    }
  }
  return [...out];
}

/** Loop devices whose backing file lies under one of `dirs`. */
export function loopDevicesUnder(dirs: readonly string[]): string[] {
  const out: string[] = [];
  let names: string[] = [];
  try {
    names = readdirSync('/sys/block').filter((n) => n.startsWith('loop'));
  } catch {
    return out;
  }
  for (const n of names) {
    try {
      const backing = readFileSync(`/sys/block/${n}/loop/backing_file`, 'utf8').trim();
      if (dirs.some((d) => backing.startsWith(d))) out.push(`/dev/${n} -> ${backing}`);
    } catch {
      // not attached
    }
  }
  return out;
}

// ------------------------------------------------------------------------------------------------
// A lambkin server in a child process (so it can be killed with SIGKILL).
// ------------------------------------------------------------------------------------------------

const BIN = fileURLToPath(new URL('../../../bin/lambkin.js', import.meta.url));

export interface ServerProcess {
  readonly child: ChildProcess;
  readonly url: string;
  readonly port: number;
  readonly lines: string[];
  readonly exited: Promise<void>;
}

/** `lambkin serve` on a free port, `tmpDir` as its OS temp dir; resolves once it listens. */
export async function spawnServer(defer: Defer, o: { dataDir: string; tmpDir: string; isolation: IsolationRequest }): Promise<ServerProcess> {
  mkdirSync(o.tmpDir, { recursive: true });
  chmodSync(o.tmpDir, 0o1777);
  const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--data-dir', o.dataDir, '--isolation', o.isolation], {
    env: { ...process.env, TMPDIR: o.tmpDir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  defer(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  });
  const lines: string[] = [];
  const url = await new Promise<string>((resolve, reject) => {
    for (const stream of [child.stdout, child.stderr]) {
      createInterface({ input: stream }).on('line', (l) => {
        lines.push(l);
        const m = /lambkin listening on (http:\/\/\S+)/.exec(l);
        if (m?.[1]) resolve(m[1]);
      });
    }
    void exited.then(() => reject(new Error(`lambkin exited before listening:\n${lines.join('\n')}`)));
  });
  return { child, url, port: Number(new URL(url).port), lines, exited };
}

/** A scratch root outside /tmp (which a sandbox sees as its own), traversable by sandbox uids. */
export function scratchDir(root: string, name: string, mode = 0o755): string {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, mode);
  return dir;
}

export { dirname };
