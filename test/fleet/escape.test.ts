/**
 * The escape suite (issue 9): ordinary, untrusted functions (Node.js, Python and a `provided` bash
 * bootstrap) attack a real lambkin server from inside their sandbox. At the sealed level (`auto` =
 * cgroups+namespaces with a network namespace, run as root) every attack must fail. At `none` each
 * guarantee must either hold or be named as missing in the start-up log: stated, never pretended.
 * The guarantees that hold at every level (helpers' environment, nothing outlives a sandbox or the
 * server, leftovers of a killed server) are asserted at `none` too.
 * Skips name a machine property only. The interface this suite assumes is `CONTRACT` (escape-fixtures.ts).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { join } from 'node:path';
import { after, describe, test, type TestContext } from 'node:test';
import { DeleteFunctionCommand, InvokeCommand, LambdaClient, ListFunctionsCommand, UpdateFunctionConfigurationCommand } from '@aws-sdk/client-lambda';
import { CodeStore } from '../../src/functions/code-store.js';
import { runDoctor } from '../../src/cli/doctor-command.js';
import { descendantPids, leakFree } from '../helpers/leaks.js';
import { createFn, json, rejectsAws, serverGroup, tail } from '../helpers/lambda.js';
import { startTestServer } from '../helpers/server.js';
import { scratchRoot, processesWith } from './isolation-fixtures.js';
import {
  alive,
  buildArsenal,
  caps,
  CHECKOUT,
  CONTRACT,
  cpuTicks,
  daemonPids,
  dirname,
  ENV_ATTACKS,
  hostAddresses,
  lambkinCgroupsOf,
  LEVELS,
  loopDevicesUnder,
  probeFunction,
  PYTHON,
  readMarks,
  scratchDir,
  spawnServer,
  within,
  type Guarantee,
  type Level,
  type ProbeRuntime,
} from './escape-fixtures.js';

const scratch = scratchRoot('lambkin-escape-');
after(() => scratch.remove());
scratchDir(scratch.dir, '.', 0o755);

const FOREIGN_ACCOUNT = '111111111111';
const OWN = { account: '000000000000', region: 'us-east-1' };

// ------------------------------------------------------------------------------------------------ helpers

/** What an attempt inside the sandbox gave: `ok` with a value, or the error code. */
interface Attempt {
  ok: boolean;
  value?: unknown;
  code?: string;
}

/** The attempt found nothing: refused, absent, or an empty directory. */
function hidden(a: Attempt | string | undefined): boolean {
  if (a === undefined) return true;
  if (typeof a === 'string') return a === 'refused' || a === 'empty';
  return !a.ok || (Array.isArray(a.value) && a.value.length === 0);
}

function stated(level: Level, log: readonly string[], g: Guarantee): boolean {
  return !level.sealed && CONTRACT.statedMissing[g].test(log.join('\n'));
}

/**
 * At the sealed level `check` must pass. At a weaker level it must pass unless the start-up log names
 * guarantee `g` as not enforced.
 */
function heldOrStated(t: TestContext, level: Level, log: readonly string[], g: Guarantee, check: () => void): void {
  if (stated(level, log, g)) {
    t.diagnostic(`${g}: not enforced at isolation ${level.request}, and the start-up log says so`);
    return;
  }
  try {
    check();
  } catch (err) {
    if (level.sealed) throw err;
    const why = err instanceof Error ? err.message : String(err);
    assert.fail(`${g} is neither enforced at isolation ${level.request} nor named as missing in the start-up log (${String(CONTRACT.statedMissing[g])}): ${why}\nstart-up log:\n${log.join('\n')}`);
  }
}

/** Invokes `name` with `event`; the function must succeed. */
async function probe<T>(lambda: LambdaClient, name: string, event: Record<string, unknown>): Promise<T> {
  const out = await lambda.send(new InvokeCommand({ FunctionName: name, Payload: JSON.stringify(event), LogType: 'Tail' }));
  const payload = Buffer.from(out.Payload ?? []).toString();
  assert.equal(out.FunctionError, undefined, `${name} failed: ${payload}\n${tail(out.LogResult)}`);
  return json(out.Payload) as T;
}

/** Creates a probe function (zip = the runtime's probe + `files`); returns its code directory on the host. */
async function createProbe(
  lambda: LambdaClient,
  dataDir: string,
  name: string,
  runtime: ProbeRuntime,
  o: { env?: (hostCodeDir: string) => Record<string, string>; files?: Parameters<typeof probeFunction>[1]; memory?: number; ephemeral?: number; timeout?: number } = {},
): Promise<string> {
  const { zip, handler } = probeFunction(runtime, o.files);
  const codeDir = new CodeStore(dataDir).dirFor(createHash('sha256').update(zip).digest('base64'));
  await createFn(lambda, name, zip, {
    Runtime: runtime,
    Handler: handler,
    MemorySize: o.memory ?? 128,
    Timeout: o.timeout ?? 30,
    ...(o.ephemeral ? { EphemeralStorage: { Size: o.ephemeral } } : {}),
    ...(o.env ? { Environment: { Variables: o.env(codeDir) } } : {}),
  });
  return codeDir;
}

async function listen(host: string): Promise<Server> {
  const server = createServer((s) => s.end());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, resolve);
  });
  return server;
}

const portOf = (s: Server): number => (s.address() as AddressInfo).port;

/** Kills, by pid, processes a test saw start and that should be gone (so a failing test leaves nothing). */
function killLeftovers(pids: () => readonly number[]): () => void {
  return () => {
    for (const pid of pids()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  };
}

const status = (text: string, field: string): string | undefined => new RegExp(`^${field}:\\s*(.*)$`, 'm').exec(text)?.[1]?.trim();

// ------------------------------------------------------------------------------------------------ the control plane

test(
  'reserved environment keys are refused at CreateFunction and UpdateFunctionConfiguration, as on Lambda',
  leakFree(async (t, defer) => {
    const { lambda } = await startTestServer(defer);
    const zip = probeFunction('nodejs20.x').zip;
    for (const key of CONTRACT.reservedKeys) {
      await t.test(key, async () => {
        const created = createFn(lambda, 'reserved', zip, { Environment: { Variables: { [key]: 'x' } } });
        await rejectsAws(created, CONTRACT.reservedKeyError(key), 400, CONTRACT.reservedKeyMessage(key));
      });
    }
    await createFn(lambda, 'plain', zip);
    await rejectsAws(
      lambda.send(new UpdateFunctionConfigurationCommand({ FunctionName: 'plain', Environment: { Variables: { AWS_LAMBDA_RUNTIME_API: '127.0.0.1:1' } } })),
      'InvalidParameterValueException',
      400,
      CONTRACT.reservedKeyMessage('AWS_LAMBDA_RUNTIME_API'),
    );
  }),
);

test('doctor names every guarantee that isolation none cannot enforce, and none that the sealed level enforces', () => {
  /** doctor's lines that name a guarantee as not enforced (and its notes). */
  const missing = (c: typeof caps): { level: string; lines: string[] } => {
    const out: string[] = [];
    const level = runDoctor((l) => out.push(l), c);
    return { level, lines: out.filter((l) => /^\s+(MISSING|note):/.test(l)).map((l) => l.replace(/^\s+MISSING:\s*/, '  not enforced: ')) };
  };
  const none = missing({ ...caps, uid: 1000, root: false });
  assert.equal(none.level, 'none');
  const unnamed = CONTRACT.unenforceableAtNone.filter((g) => !CONTRACT.statedMissing[g].test(none.lines.join('\n')));
  assert.deepEqual(unnamed, [], `doctor does not name these as missing without root:\n${none.lines.join('\n')}`);
  const sealed = LEVELS.find((l) => l.sealed);
  if (sealed && !sealed.skip) {
    const full = missing(caps);
    assert.equal(full.level, 'cgroups+namespaces');
    assert.deepEqual(full.lines, [], 'doctor lists missing guarantees at the sealed level');
  }
});

// ------------------------------------------------------------------------------------------------ per level

for (const level of LEVELS) {
  const at = `isolation ${level.request}`;
  const options = (log: string[]) => ({ isolation: level.request, python: PYTHON, log: (l: string) => log.push(l) });

  describe(`escape at ${at}${level.sealed ? ' (sealed)' : ''}`, { skip: level.skip }, () => {
    // ---------------------------------------------------------------- environment → privileged helpers
    const markerDir = scratchDir(scratch.dir, `markers-${level.request}`, 0o1777);
    const arsenal = buildArsenal(join(scratch.dir, `build-${level.request}`), markerDir);
    const envTable: { runtime: ProbeRuntime; variables: readonly string[] }[] = [
      { runtime: 'nodejs20.x', variables: ENV_ATTACKS.map((a) => a.variable) },
      { runtime: 'python3.12', variables: ['PERL5OPT', 'LD_PRELOAD', 'LD_LIBRARY_PATH', 'LD_AUDIT', 'BASH_ENV', 'PYTHONPATH', 'PYTHONSTARTUP'] },
      { runtime: 'provided.al2023', variables: ['PERL5OPT', 'LD_PRELOAD', 'LD_LIBRARY_PATH', 'LD_AUDIT', 'BASH_ENV', 'ENV'] },
    ];
    const log: string[] = [];

    test(
      "a function's Environment never reaches a process running as root; the function still runs",
      { skip: arsenal.skip },
      serverGroup(options(log), async (t, s) => {
        for (const { runtime, variables } of envTable) {
          for (const variable of variables) {
            const attack = ENV_ATTACKS.find((a) => a.variable === variable);
            assert.ok(attack);
            await t.test(`${variable} (${runtime})`, async () => {
              const name = `env-${variable.toLowerCase().replace(/_/g, '-')}-${runtime.replace(/\W/g, '')}`;
              // 1024 MB: a sandbox's CPU is in proportion to its memory, and only the cold start matters here.
              await createProbe(s.lambda, s.dataDir, name, runtime, { files: arsenal.files, memory: 1024, env: (host) => ({ [variable]: attack.value(host) }) });
              // The function still runs, whatever its own process did with the variable.
              const out = await probe<{ uid: number }>(s.lambda, name, { attack: 'hello' });
              if (level.sealed) assert.notEqual(out.uid, 0, 'the runtime runs as the sandbox uid');
              const marks = readMarks(markerDir).filter((m) => m.variable === variable);
              const root = marks.filter((m) => m.uid === 0);
              // A helper is root at every level; at the sealed level so is nothing else.
              const violations = level.sealed ? root : root.filter((m) => (CONTRACT.helperComms as readonly string[]).includes(m.comm));
              assert.deepEqual(violations, [], `${variable} ran a payload as uid 0 in: ${violations.map((m) => m.comm).join(', ')}`);
              const file = join(markerDir, variable);
              if (level.sealed && existsSync(file)) assert.notEqual(statSync(file).uid, 0, `the ${variable} marker was created by uid 0`);
              await s.lambda.send(new DeleteFunctionCommand({ FunctionName: name }));
            });
          }
        }
      }),
    );

    // ---------------------------------------------------------------- everything else through one server
    test(
      'network, AWS endpoint, files, processes and privileges',
      serverGroup(options(log), async (t, s, defer) => {
        const lambkinPort = s.lambkin.port;
        const loopback = await listen('127.0.0.1');
        const wildcard = await listen('0.0.0.0');
        defer(() => new Promise((r) => loopback.close(r)));
        defer(() => new Promise((r) => wildcard.close(r)));
        const hostPorts = [lambkinPort, portOf(loopback), portOf(wildcard)];
        const targets: [string, number][] = [
          ['127.0.0.1', lambkinPort],
          ['127.0.0.1', portOf(loopback)],
          ['127.0.0.1', portOf(wildcard)],
          ...hostAddresses().map((a): [string, number] => [a, portOf(wildcard)]),
        ];

        // The victims: another function of the same account, and one of another account with a secret.
        const foreign = s.client(FOREIGN_ACCOUNT);
        await createFn(foreign, 'secret-b', probeFunction('nodejs20.x').zip, { Environment: { Variables: { SECRET: 'hunter2' } } });
        const victimCode = await createProbe(s.lambda, s.dataDir, 'victim', 'nodejs20.x');
        const secret = `escape-secret-${process.pid}-${level.request}`;
        const marker = `lambkin-escape-victim-${process.pid}-${level.request}`;
        defer(killLeftovers(() => processesWith(marker)));
        defer(() => rmSync(join('/tmp', secret), { force: true })); // at isolation none the victim's /tmp is the host's
        const victimNet = await probe<{ runtimeApi: string }>(s.lambda, 'victim', { attack: 'identity' });
        await probe(s.lambda, 'victim', { attack: 'plant', secret, marker });
        assert.ok(await within(CONTRACT.retireDeadlineMs, () => daemonPids(marker).length > 0), 'the victim daemon started');
        const victimPid = daemonPids(marker)[0] as number;

        const paths = [
          join(CHECKOUT, 'package.json'),
          CHECKOUT,
          dirname(CHECKOUT),
          s.dataDir,
          join(victimCode, 'index.js'),
          '/root',
          '/home',
          '/etc/shadow',
          ...(existsSync('/work/shared') ? ['/work/shared'] : []),
          ...CONTRACT.hostSockets,
        ];
        const env = {
          ESCAPE_PORT: String(lambkinPort),
          ESCAPE_TARGETS: targets.map(([h, p]) => `${h}:${p}`).join(' '),
          ESCAPE_PATHS: [join(CHECKOUT, 'package.json'), s.dataDir, join(victimCode, 'index.js'), '/root', '/etc/shadow'].join(' '),
        };
        // 1024 MB: the probes do a lot (a sandbox's CPU is in proportion to its memory).
        await createProbe(s.lambda, s.dataDir, 'node-attacker', 'nodejs20.x', { memory: 1024 });
        await createProbe(s.lambda, s.dataDir, 'python-attacker', 'python3.12', { memory: 1024 });
        await createProbe(s.lambda, s.dataDir, 'bash-attacker', 'provided.al2023', { memory: 1024, env: () => env });

        interface Net {
          runtimeApi: string;
          controlPlane: { status?: number; error?: string } | string;
          targets: string[] | Record<string, string>;
          listeners: number[];
          otherRuntimeApi?: { status?: number; error?: string } | string;
        }
        const checkNetwork = (who: string, n: Net) => {
          heldOrStated(t, level, log, 'network', () => {
            const cp = n.controlPlane;
            const reached = typeof cp === 'string' ? cp !== '000' && cp !== '' : cp.status !== undefined;
            assert.equal(reached, false, `${who} reached the control plane: ${JSON.stringify(cp)}`);
            const results = Array.isArray(n.targets) ? n.targets : targets.map(([h, p]) => (n.targets as Record<string, string>)[`${h}:${p}`]);
            targets.forEach(([h, p], i) => assert.notEqual(results[i], 'connected', `${who} connected to the host's ${h}:${p}`));
            const seen = hostPorts.filter((p) => n.listeners.includes(p));
            assert.deepEqual(seen, [], `${who}'s /proc/net/tcp lists host listeners`);
            assert.equal(n.runtimeApi, CONTRACT.runtimeApiInSandbox, `${who}'s Runtime API address`);
          });
        };

        await t.test('network: no control plane, no host listener, nothing in /proc/net/tcp (Node.js)', async () => {
          const otherRuntimeApi = stated(level, log, 'otherRuntimeApis') ? undefined : victimNet.runtimeApi;
          const n = await probe<Net>(s.lambda, 'node-attacker', { attack: 'network', lambkinPort, targets, otherRuntimeApi });
          checkNetwork('a Node.js function', n);
          heldOrStated(t, level, log, 'otherRuntimeApis', () => {
            const o = n.otherRuntimeApi;
            assert.ok(o === 'own address' || (typeof o === 'object' && o.status !== 200), `another sandbox's Runtime API answered: ${JSON.stringify(o)}`);
          });
        });
        await t.test('network: the same from Python', async () => {
          checkNetwork('a Python function', await probe<Net>(s.lambda, 'python-attacker', { attack: 'network', lambkinPort, targets }));
        });
        await t.test('network: the same from a provided bash bootstrap with curl', async () => {
          checkNetwork('a provided function', await probe<Net>(s.lambda, 'bash-attacker', {}));
        });

        await t.test("AWS endpoint: the sandbox's own credentials, its own account only", async () => {
          const foreignArn = `arn:aws:lambda:${OWN.region}:${FOREIGN_ACCOUNT}:function:secret-b`;
          const r = await probe<Record<string, { status?: number; body?: string; error?: string } | string | boolean | null>>(s.lambda, 'node-attacker', {
            attack: 'endpoint',
            endpointVariables: CONTRACT.endpointVariables,
            credentialVariables: CONTRACT.credentialVariables,
            foreignArn,
            foreignAccount: FOREIGN_ACCOUNT,
            sibling: 'victim',
          });
          assert.ok(r['endpoint'], `no ${CONTRACT.endpointVariables.join(' / ')} in the sandbox's environment`);
          assert.equal(r['hasCredentials'], true, `the sandbox lacks ${CONTRACT.credentialVariables.join(', ')}`);
          const own = r['own'] as { status?: number; body?: string };
          assert.equal(own.status, 200, `ListFunctions with the sandbox's credentials: ${JSON.stringify(own)}`);
          assert.match(own.body ?? '', /node-attacker/);
          assert.doesNotMatch(own.body ?? '', /secret-b|hunter2/);
          const sibling = r['invokeSibling'] as { status?: number; body?: string };
          assert.equal(sibling.status, 200, `Invoke of a function of its own account through the endpoint: ${JSON.stringify(sibling)}`);
          assert.match(sibling.body ?? '', /"uid"/);
          const foreignWithOwn = r['foreignWithOwn'] as { status?: number; body?: string };
          assert.notEqual(foreignWithOwn.status, 200, `another account's function through the endpoint: ${JSON.stringify(foreignWithOwn)}`);
          assert.doesNotMatch(foreignWithOwn.body ?? '', /hunter2/);
          for (const k of ['forgedAccount', 'wrongSecret', 'unsigned']) {
            const x = r[k] as { status?: number };
            assert.ok((CONTRACT.refusedStatuses as readonly (number | undefined)[]).includes(x.status), `${k}: ${JSON.stringify(x)}`);
          }
        });

        interface Files {
          paths: Record<string, Attempt>;
          dev: Attempt;
          cgroupWritable: string[];
          tmp: Attempt;
        }
        await t.test("files: no host path beyond the runtime's; a minimal /dev; cgroups read-only (Node.js)", async () => {
          const f = await probe<Files>(s.lambda, 'node-attacker', { attack: 'files', paths });
          heldOrStated(t, level, log, 'hostFiles', () => {
            const seen = paths.filter((p) => !hidden(f.paths[p]));
            assert.deepEqual(seen, [], `host paths visible in the sandbox: ${seen.map((p) => `${p} ${JSON.stringify(f.paths[p])}`).join('; ')}`);
          });
          heldOrStated(t, level, log, 'privileges', () => {
            assert.equal(f.dev.ok, true, '/dev is listable');
            const devs = f.dev.value as { n: string; block: boolean }[];
            assert.deepEqual(devs.filter((d) => d.block).map((d) => d.n), [], 'block devices in /dev');
            const extra = devs.map((d) => d.n).filter((n) => !(CONTRACT.minimalDev as readonly string[]).includes(n));
            assert.deepEqual(extra, [], '/dev holds more than a minimal set');
            assert.deepEqual(f.cgroupWritable, [], 'writable cgroup directories');
          });
          heldOrStated(t, level, log, 'privateTmp', () => {
            assert.equal(((f.tmp.value as string[] | undefined) ?? []).includes(secret), false, "another sandbox's /tmp file is visible");
          });
        });
        await t.test('files: the same from Python and from a provided bash bootstrap', async () => {
          const few = [join(CHECKOUT, 'package.json'), s.dataDir, join(victimCode, 'index.js'), '/root', '/etc/shadow'];
          const py = await probe<{ paths: Record<string, Attempt> }>(s.lambda, 'python-attacker', { attack: 'files', paths: few });
          const sh = await probe<{ paths: Record<string, string> }>(s.lambda, 'bash-attacker', {});
          heldOrStated(t, level, log, 'hostFiles', () => {
            assert.deepEqual(few.filter((p) => !hidden(py.paths[p])), [], 'host paths visible to Python');
            assert.deepEqual(few.filter((p) => !hidden(sh.paths[p])), [], 'host paths visible to bash');
          });
        });
        await t.test('files: /var/task and / are read-only', async () => {
          if (stated(level, log, 'writableCode')) {
            t.diagnostic(`writableCode: not enforced at ${at}, and the start-up log says so`);
            return;
          }
          // Only where it is expected to be refused: at none, lambkin's own user would write the host's /.
          const w = await probe<{ task: Attempt; root: Attempt }>(s.lambda, 'node-attacker', { attack: 'writes' });
          heldOrStated(t, level, log, 'writableCode', () => {
            assert.equal(w.task.ok, false, '/var/task is writable');
            assert.ok(['EROFS', 'EACCES', 'ENOENT'].includes(w.task.code ?? ''), `/var/task: ${String(w.task.code)}`);
            assert.equal(w.root.ok, false, '/ is writable');
          });
        });

        await t.test('processes: no host process is visible or signalable; another sandbox cannot be killed', async () => {
          const ownCmdline = readFileSync('/proc/self/cmdline', 'utf8').replace(/\0/g, ' ');
          const p = await probe<{ visible: string[]; serverEnviron: Attempt; serverCmdline: Attempt; signalServer: Attempt; killVictim: Attempt | null }>(
            s.lambda,
            'node-attacker',
            { attack: 'processes', serverPid: process.pid, victimPid: stated(level, log, 'privileges') ? undefined : victimPid },
          );
          heldOrStated(t, level, log, 'hostProcesses', () => {
            assert.deepEqual(p.visible.filter((c) => c === ownCmdline || c.includes('escape.test')), [], "the server's process is visible");
            assert.equal(p.serverEnviron.ok, false, "the server's /proc/PID/environ is readable");
            assert.ok(!p.serverCmdline.ok || p.serverCmdline.value !== ownCmdline, "the server's /proc/PID/cmdline is readable");
            assert.equal(p.signalServer.ok, false, 'the server can be signalled');
          });
          heldOrStated(t, level, log, 'privileges', () => {
            assert.ok(p.killVictim && !p.killVictim.ok, `kill -9 of another sandbox's process: ${JSON.stringify(p.killVictim)}`);
            assert.ok(alive(victimPid), "another sandbox's process died");
          });
        });

        await t.test('privileges: unprivileged, no_new_privs, no mount, no new user or network namespace (Node.js, Python, bash)', async () => {
          if (stated(level, log, 'privileges')) {
            // Not attempted: at none these would run as lambkin's own user on the host.
            t.diagnostic(`privileges: not enforced at ${at}, and the start-up log says so`);
            return;
          }
          const n = await probe<{ uid: number; status: string; mount: { status: number | null }; userns: { status: number | null }; netns: { status: number | null } }>(
            s.lambda,
            'node-attacker',
            { attack: 'privileges' },
          );
          const py = await probe<{ uid: number; status: string; ptrace: number; userns: number; netns: number }>(s.lambda, 'python-attacker', { attack: 'privileges' });
          const sh = await probe<{ uid: number; noNewPrivs: string }>(s.lambda, 'bash-attacker', {});
          heldOrStated(t, level, log, 'privileges', () => {
            for (const [who, uid, st] of [['Node.js', n.uid, n.status], ['Python', py.uid, py.status]] as const) {
              assert.notEqual(uid, 0, `${who} runs as root`);
              assert.equal(status(st, 'NoNewPrivs'), '1', `${who}: no_new_privs`);
              assert.equal(status(st, 'CapEff'), '0000000000000000', `${who}: effective capabilities`);
            }
            assert.notEqual(sh.uid, 0, 'bash runs as root');
            assert.equal(sh.noNewPrivs, '1', 'bash: no_new_privs');
            assert.notEqual(n.mount.status, 0, 'mount(8) succeeded');
            assert.notEqual(n.userns.status, 0, 'unshare --user --map-root-user succeeded');
            assert.notEqual(n.netns.status, 0, 'unshare --net succeeded');
            assert.notEqual(py.ptrace, 0, 'ptrace(PTRACE_ATTACH, 1) succeeded');
            assert.notEqual(py.userns, 0, 'unshare(CLONE_NEWUSER) succeeded');
            assert.notEqual(py.netns, 0, 'unshare(CLONE_NEWNET) succeeded');
          });
        });
      }),
    );

    // ---------------------------------------------------------------- frozen between invocations
    test(
      'a handler that leaves a CPU burner behind gets no CPU between invocations',
      serverGroup(options(log), async (t, s) => {
        // 1769 MB: one full vCPU, so an unfrozen burner shows plainly.
        await createProbe(s.lambda, s.dataDir, 'burner', 'nodejs20.x', { memory: 1769 });
        const marker = `lambkin-escape-burner-${process.pid}-${level.request}`;
        await probe(s.lambda, 'burner', { attack: 'burn', marker });
        const pids = processesWith(marker);
        assert.ok(pids.length > 0, 'the runtime process is found by its title');
        // Validity: while an invocation waits, the burner runs (so these are the right processes).
        const busy0 = cpuTicks(pids);
        await probe(s.lambda, 'burner', { attack: 'wait', ms: CONTRACT.idleWindowMs });
        const busy = cpuTicks(pids) - busy0;
        assert.ok(busy >= 10, `the burner used ${busy} ticks during a ${CONTRACT.idleWindowMs} ms invocation`);
        // Lambda freezes once the runtime asks for its next event, just after the response: wait, bounded
        // (2 s), until the ticks stop moving. An unfrozen burner never stops, and the window below fails.
        let last = cpuTicks(pids);
        for (let i = 0; i < 40; i++) {
          await new Promise((r) => setTimeout(r, 50));
          const now = cpuTicks(pids);
          if (now === last) break;
          last = now;
        }
        // The bounded idleness window: measures idleness, so it is a wait by nature.
        const idle0 = cpuTicks(pids);
        await new Promise((r) => setTimeout(r, CONTRACT.idleWindowMs));
        const idle = cpuTicks(pids) - idle0;
        heldOrStated(t, level, log, 'frozen', () => {
          assert.ok(idle <= CONTRACT.idleTicksAllowed, `the idle sandbox used ${idle} ticks (10 ms each) in ${CONTRACT.idleWindowMs} ms`);
        });
      }),
    );

    // ---------------------------------------------------------------- /tmp is storage
    test(
      '/tmp is disk of EphemeralStorage, not memory: 300 MB fit at MemorySize 128, past 512 MB is ENOSPC',
      serverGroup(options(log), async (t, s) => {
        if (!level.sealed) {
          // Not attempted: at none /tmp is the host's.
          assert.ok(stated(level, log, 'privateTmp'), `EphemeralStorage is not enforced at ${at}, but the start-up log does not say so:\n${log.join('\n')}`);
          return;
        }
        await createProbe(s.lambda, s.dataDir, 'filler', 'nodejs20.x', { memory: 128, ephemeral: 512, timeout: 120 });
        await t.test('300 MB', async () => {
          const r = await probe<{ written: number; code?: string }>(s.lambda, 'filler', { attack: 'fill', mb: 300 });
          assert.deepEqual(r, { written: 300 });
        });
        await t.test('past 512 MB', async () => {
          const r = await probe<{ written: number; code?: string }>(s.lambda, 'filler', { attack: 'fill', mb: 600 });
          assert.equal(r.code, 'ENOSPC');
          assert.ok(r.written >= 480 && r.written <= 516, `wrote ${r.written} MB into a 512 MB /tmp`);
        });
      }),
    );

    // ---------------------------------------------------------------- lifetime
    test(
      'a setsid daemon dies when its sandbox is retired and when the server stops',
      leakFree(async (_t, defer) => {
        const s = await startTestServer(defer, options(log));
        const first = `lambkin-escape-retire-${process.pid}-${level.request}`;
        const second = `lambkin-escape-stop-${process.pid}-${level.request}`;
        defer(killLeftovers(() => [...processesWith(first), ...processesWith(second)]));
        await createProbe(s.lambda, s.dataDir, 'daemons', 'nodejs20.x');
        await probe(s.lambda, 'daemons', { attack: 'daemon', marker: first });
        assert.ok(await within(CONTRACT.retireDeadlineMs, () => processesWith(first).length > 0), 'the daemon started');
        // A configuration change retires the warm sandbox.
        await s.lambda.send(new UpdateFunctionConfigurationCommand({ FunctionName: 'daemons', Description: 'retire the sandbox' }));
        assert.ok(await within(CONTRACT.retireDeadlineMs, () => processesWith(first).length === 0), `the daemon outlived its retired sandbox: ${processesWith(first).join(', ')}`);

        await probe(s.lambda, 'daemons', { attack: 'daemon', marker: second });
        assert.ok(await within(CONTRACT.retireDeadlineMs, () => processesWith(second).length > 0), 'the second daemon started');
        await s.lambkin.close();
        assert.ok(await within(CONTRACT.retireDeadlineMs, () => processesWith(second).length === 0), `the daemon outlived the server: ${processesWith(second).join(', ')}`);
      }),
    );

    test(
      'kill -9 of the server: its sandboxes die within a bounded wait, and the next start leaves nothing of it',
      leakFree(async (t, defer) => {
        const dataDir = scratchDir(scratch.dir, `killed-data-${level.request}`);
        const tmpDir = join(scratch.dir, `killed-tmp-${level.request}`);
        const marker = `lambkin-escape-orphan-${process.pid}-${level.request}`;
        let seen: number[] = [];
        defer(killLeftovers(() => [...seen, ...processesWith(marker)]));
        const clients: LambdaClient[] = [];
        defer(() => clients.forEach((c) => c.destroy()));
        const clientOf = (url: string) => {
          const c = new LambdaClient({ endpoint: url, region: OWN.region, credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'x' }, maxAttempts: 1 });
          clients.push(c);
          return c;
        };

        const a = await spawnServer(defer, { dataDir, tmpDir, isolation: level.request });
        const lambdaA = clientOf(a.url);
        await createProbe(lambdaA, dataDir, 'busy', 'nodejs20.x', { timeout: 120 });
        const pending = lambdaA.send(new InvokeCommand({ FunctionName: 'busy', Payload: JSON.stringify({ attack: 'busy', marker }) })).catch(() => undefined);
        assert.ok(await within(10_000, () => daemonPids(marker).length > 0), `the busy handler's daemon started\n${a.lines.join('\n')}`);
        seen = [...new Set([...descendantPids(a.child.pid), ...processesWith(marker)])];
        const cgroups = [...new Set(seen.flatMap((pid) => lambkinCgroupsOf(pid)))];
        if (level.sealed) assert.ok(cgroups.length > 0, "the sandbox's cgroups were found");

        a.child.kill('SIGKILL');
        await a.exited;
        await pending;
        await t.test(`the busy handler and its setsid daemon are gone within ${CONTRACT.deathDeadlineMs} ms`, async () => {
          const dead = await within(CONTRACT.deathDeadlineMs, () => seen.every((pid) => !alive(pid)));
          assert.ok(dead, `processes of the killed server still run: ${seen.filter(alive).join(', ')}`);
        });

        await t.test('the next start removes what the killed server left (temp folders, cgroups, loop devices)', async () => {
          const b = await spawnServer(defer, { dataDir, tmpDir, isolation: level.request });
          const lambdaB = clientOf(b.url);
          assert.ok(((await lambdaB.send(new ListFunctionsCommand({}))).Functions ?? []).some((f) => f.FunctionName === 'busy'));
          await lambdaB.send(new DeleteFunctionCommand({ FunctionName: 'busy' }));
          b.child.kill('SIGTERM');
          await b.exited;
          const left = {
            runtimeFolders: readdirSync(tmpDir).filter((n) => n.startsWith('lambkin-runtime-')),
            cgroups: cgroups.filter((d) => existsSync(d)),
            loopDevices: loopDevicesUnder([dataDir, tmpDir]),
          };
          assert.deepEqual(left, { runtimeFolders: [], cgroups: [], loopDevices: [] }, 'what the killed server left');
        });
      }),
    );
  });
}
