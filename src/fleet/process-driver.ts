import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import type { Writable } from 'node:stream';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { RuntimeApiServer } from './runtime-api-server.js';
import {
  SandboxInitError,
  errorDocument,
  type InvocationOutcome,
  type SandboxDriver,
  type SandboxHandle,
  type SandboxInvocation,
  type SandboxSpec,
  type SandboxState,
} from './sandbox-driver.js';
import { runtimeFamily } from '../functions/runtimes.js';
import { plainSandbox, type Isolation, type IsolatedSandbox } from './isolation/isolation.js';
import { encodePlan, initCommand, LAUNCHER_ENV, parseInitStatus } from './isolation/launcher.js';
import { resolveInterpreter } from './interpreters.js';
import { RUNTIME_API_SOCKET, sandboxNetworkEnv } from './isolation/relay.js';
import { join } from 'node:path';
import { realClock, type Clock } from '../util/clock.js';

const NODE_BOOTSTRAP = fileURLToPath(new URL('../runtimes/node/bootstrap.js', import.meta.url));
const PYTHON_BOOTSTRAP = fileURLToPath(new URL('../runtimes/python/bootstrap.py', import.meta.url));

/** How the process driver runs sandboxes; validated and frozen by the caller. */
export interface ProcessDriverOptions {
  /** Lambda fails an init that takes longer than 10 s (AWS docs, "Lambda execution environment lifecycle"). */
  readonly initTimeoutMs: number;
  /** The Python interpreter for python3.* runtimes. */
  readonly python: string;
  /** Extra environment for every sandbox (e.g. AWS_XRAY_DAEMON_ADDRESS). */
  readonly extraEnv?: Readonly<Record<string, string>>;
  /** Called once per runtime identifier that runs on a substitute (e.g. nodejs8.10 on the local Node.js). */
  readonly substituteNote?: (runtime: string) => string | undefined;
  /** Sandbox isolation (cgroups, namespaces); the driver closes it in close(). Default: plain processes. */
  readonly isolation?: Isolation;
  /** perl, which runs every sandbox's init (launcher.ts). Default: `perl` found on PATH. */
  readonly perl?: string;
  /**
   * Freeze a sandbox while it is idle, as Lambda does between invocations (default true): its
   * processes get no CPU until the next invocation thaws them. Off only for comparisons (bench/).
   */
  readonly freezeIdle?: boolean;
  /** Per-sandbox AWS credentials and endpoint: issued when a sandbox starts, revoked when it stops. */
  readonly sandboxIdentity?: SandboxIdentity;
  /**
   * Times init and invocations and enforces the init timeout and invocation deadlines (default: the
   * real clock). Deadlines come from the invoking side's clock, so this must be the same one. Waits for
   * the kernel (a process to die) are on the real clock whatever this is.
   */
  readonly clock?: Clock;
}

/**
 * A sandbox's identity towards AWS APIs (lambkin's sandbox-facing endpoint). `environment` issues
 * the sandbox's credentials and returns AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN
 * and the AWS_ENDPOINT_URL* variables (pointing at `endpointUrl` when given: a sandbox that reaches
 * the endpoint through a relay); `revoke` ends them.
 */
export interface SandboxIdentity {
  environment(spec: SandboxSpec, endpointUrl?: string): Readonly<Record<string, string>>;
  revoke(sandboxId: string): void;
}

/** Init overran its limit (the driver retries it once under the function's timeout, as Lambda does). */
class InitTimeoutError extends SandboxInitError {}

/** Runs each sandbox as a real runtime process with its own Runtime API server. */
export class ProcessDriver implements SandboxDriver {
  private readonly live = new Set<ProcessSandbox>();
  private readonly noted = new Set<string>();

  constructor(private readonly options: ProcessDriverOptions) {}

  async create(spec: SandboxSpec, signal?: AbortSignal): Promise<SandboxHandle> {
    try {
      return await this.createOnce(spec, this.options.initTimeoutMs, [], signal);
    } catch (err) {
      if (!(err instanceof InitTimeoutError)) throw err;
      // Lambda limits init to 10 s; past that it runs init again inside the first invocation, under the
      // function's own timeout (AWS docs, "Lambda execution environment lifecycle", Init phase).
      const report = `INIT_REPORT Init Duration: ${err.initDurationMs.toFixed(2)} ms\tPhase: init\tStatus: timeout`;
      try {
        return await this.createOnce(spec, spec.timeoutMs, [...err.logs, report], signal);
      } catch (again) {
        if (!(again instanceof InitTimeoutError)) throw again;
        const message = `Task timed out after ${(spec.timeoutMs / 1000).toFixed(2)} seconds`;
        throw new SandboxInitError('Sandbox.Timedout', errorDocument('Sandbox.Timedout', message), again.initDurationMs, again.logs);
      }
    }
  }

  /** Starts one sandbox whose init may take `initTimeoutMs`; `earlier` lines come first in its init log. */
  private async createOnce(spec: SandboxSpec, initTimeoutMs: number, earlier: readonly string[], signal?: AbortSignal): Promise<SandboxHandle> {
    const box = this.options.isolation?.allocate(spec) ?? plainSandbox(spec);
    let api: RuntimeApiServer;
    try {
      // A sandbox with a network of its own reaches its Runtime API through its relay and a Unix socket.
      api = await RuntimeApiServer.start(
        box.socketDir !== undefined
          ? { socketPath: join(box.socketDir, RUNTIME_API_SOCKET), ...(box.uid !== undefined ? { socketUid: box.uid } : {}) }
          : box.uid !== undefined
            ? { allowedUid: box.uid }
            : {},
      );
    } catch (err) {
      await box.release();
      throw err;
    }
    const sandbox = new ProcessSandbox(spec, api, { ...this.options, initTimeoutMs }, box);
    for (const line of earlier) sandbox.pushLog(line);
    this.live.add(sandbox);
    sandbox.onStopped = () => this.live.delete(sandbox);
    const note = this.noted.has(spec.runtime) ? undefined : this.options.substituteNote?.(spec.runtime);
    if (note) {
      this.noted.add(spec.runtime);
      sandbox.pushLog(note);
    }
    try {
      await sandbox.start(signal);
    } catch (err) {
      await sandbox.stop();
      throw err;
    } finally {
      box.initDone();
    }
    // Init is done and the runtime waits on /next: frozen until its first invocation.
    sandbox.freezeWhenIdle();
    return sandbox;
  }

  async close(): Promise<void> {
    await Promise.all([...this.live].map((s) => s.stop()));
    await this.options.isolation?.close();
  }

  async provisionWorker(workerId: string, capacityMb: number): Promise<void> {
    this.options.isolation?.provisionWorker(workerId, capacityMb);
    return Promise.resolve();
  }

  async retireWorker(workerId: string): Promise<void> {
    await this.options.isolation?.retireWorker(workerId);
  }

  async attachEni(eniId: string, vpcId: string): Promise<void> {
    await this.options.isolation?.attachEni(eniId, vpcId);
  }

  async deleteEni(eniId: string): Promise<void> {
    await this.options.isolation?.deleteEni(eniId);
  }
}

/** Where the code and the runtime clients are as the sandbox sees them (remapped with namespaces). */
interface SandboxPaths {
  readonly taskRoot: string;
  /** Holds `node/bootstrap.js` and `python/bootstrap.py`; undefined = lambkin's own copies. */
  readonly runtimeDir: string | undefined;
}

/** Node.js gets a heap limit below MemorySize, as AWS's runtime does; the only memory limit without cgroups. */
function nodeMemoryFlags(memoryMb: number): string[] {
  return [`--max-old-space-size=${Math.max(16, Math.floor(memoryMb * 0.9))}`];
}

function buildCommand(spec: SandboxSpec, python: string, paths?: SandboxPaths): { command: string; args: string[]; readOnly?: string[] } | SandboxInitError {
  const rt = paths?.runtimeDir;
  switch (runtimeFamily(spec.runtime)) {
    case 'nodejs':
      return { command: process.execPath, args: [...nodeMemoryFlags(spec.memoryMb), rt ? `${rt}/node/bootstrap.js` : NODE_BOOTSTRAP] };
    case 'python': {
      // Resolved once, never through a version manager's shim per start (and visible in a full sandbox).
      const interpreter = resolveInterpreter(python);
      return { command: interpreter.executable, args: ['-u', rt ? `${rt}/python/bootstrap.py` : PYTHON_BOOTSTRAP], readOnly: [...interpreter.dirs] };
    }
    case 'provided': {
      const bootstrap = `${spec.codeDir}/bootstrap`;
      try {
        accessSync(bootstrap, constants.X_OK);
      } catch {
        return new SandboxInitError(
          'Runtime.InvalidEntrypoint',
          errorDocument('Runtime.InvalidEntrypoint', `Couldn't find valid bootstrap(s): [${bootstrap}]`),
          0,
          [],
        );
      }
      return { command: paths ? `${paths.taskRoot}/bootstrap` : bootstrap, args: [] };
    }
  }
}

/** The Lambda-defined environment of a sandbox; the function's own variables cannot override it. */
export function sandboxEnvironment(
  spec: SandboxSpec,
  runtimeApi: string,
  extra: Readonly<Record<string, string>> = {},
  paths: SandboxPaths = { taskRoot: spec.codeDir, runtimeDir: undefined },
  /** The sandbox's credentials and endpoint ({@link SandboxIdentity}); they win over the function's variables. */
  identity: Readonly<Record<string, string>> = {},
): Record<string, string> {
  return {
    ...spec.environment,
    // Lambda's PATH in a sandbox of its own; the host's where the sandbox shares the host's files.
    PATH: paths.runtimeDir ? '/usr/local/bin:/usr/bin/:/bin:/opt/bin' : (process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin'),
    LANG: 'en_US.UTF-8',
    HOME: '/tmp',
    TZ: ':UTC',
    ...extra,
    ...identity,
    AWS_LAMBDA_FUNCTION_NAME: spec.functionName,
    AWS_LAMBDA_FUNCTION_VERSION: spec.functionVersion,
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(spec.memoryMb),
    AWS_LAMBDA_LOG_GROUP_NAME: spec.logGroupName,
    AWS_LAMBDA_LOG_STREAM_NAME: spec.logStreamName,
    AWS_LAMBDA_INITIALIZATION_TYPE: spec.initializationType,
    AWS_LAMBDA_RUNTIME_API: runtimeApi,
    AWS_REGION: spec.region,
    AWS_DEFAULT_REGION: spec.region,
    AWS_EXECUTION_ENV: `AWS_Lambda_${spec.runtime}`,
    LAMBDA_TASK_ROOT: paths.taskRoot,
    LAMBDA_RUNTIME_DIR: paths.runtimeDir ?? paths.taskRoot,
    _HANDLER: spec.handler,
    PYTHONUNBUFFERED: '1',
  };
}

function peakMemoryMb(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Math.ceil(Number(m[1]) / 1024) : 0;
  } catch {
    return 0;
  }
}

type ExitInfo = { code: number | null; signal: NodeJS.Signals | null };

function exitDescription(exit: ExitInfo): string {
  return exit.signal ? `signal: ${exit.signal === 'SIGKILL' ? 'killed' : exit.signal}` : `exit status ${exit.code ?? 0}`;
}

class ProcessSandbox implements SandboxHandle {
  state: SandboxState = 'starting';
  initDurationMs = 0;
  initLogs: string[] = [];
  onStopped: () => void = () => {};
  private child: ChildProcess | undefined;
  private exitInfo: ExitInfo | undefined;
  private readonly exited: Promise<ExitInfo>;
  private resolveExit!: (e: ExitInfo) => void;
  /**
   * The running invocation's exit handler. `exited` lives as long as the sandbox, so an invocation must
   * not attach a reaction to it (each would keep that invocation's result alive until the sandbox stops):
   * one reaction, attached once in the constructor, calls whatever invocation is current.
   */
  private onExit: ((e: ExitInfo) => void) | undefined;
  /** True from the freeze request until the thaw (freezing, frozen, or SIGSTOPped at level none). */
  private frozen = false;
  /** Aborts the wait for the runtime's next /next after an invocation (the freeze it would lead to). */
  private idleWait: AbortController | undefined;
  /** The latest freeze: true once the sandbox is frozen, false if it was not (thawed first, or freezing is off). */
  private freezing: Promise<boolean> = Promise.resolve(false);
  /** Lines printed since the last collection. */
  private pending: string[] = [];
  private maxMemoryMb = 0;
  private stopping: Promise<void> | undefined;
  private readonly clock: Clock;

  constructor(
    private readonly spec: SandboxSpec,
    private readonly api: RuntimeApiServer,
    private readonly options: ProcessDriverOptions,
    private readonly box: IsolatedSandbox,
  ) {
    this.clock = options.clock ?? realClock;
    this.exited = new Promise((r) => (this.resolveExit = r));
    void this.exited.then((e) => this.onExit?.(e));
  }

  get id(): string {
    return this.spec.sandboxId;
  }

  pushLog(line: string): void {
    this.pending.push(line);
  }

  async start(signal?: AbortSignal): Promise<void> {
    const started = this.clock.monotonic();
    const box = this.box;
    const paths = box.runtimeDir ? { taskRoot: box.taskRoot, runtimeDir: box.runtimeDir } : undefined;
    const cmd = buildCommand(this.spec, this.options.python, paths);
    if (cmd instanceof SandboxInitError) throw cmd;
    // In a network of its own, the relay's fixed loopback ports stand for lambkin's endpoints.
    const relayed = box.socketDir !== undefined ? sandboxNetworkEnv() : undefined;
    const env = sandboxEnvironment(
      this.spec,
      relayed?.['AWS_LAMBDA_RUNTIME_API'] ?? this.api.address,
      { ...this.options.extraEnv, ...relayed },
      paths,
      this.options.sandboxIdentity?.environment(this.spec, relayed?.['AWS_ENDPOINT_URL']),
    );
    // The init runs with a fixed environment; the runtime's (the function's variables included)
    // travels in the plan on fd 4 and applies only at the runtime's exec (launcher.ts).
    await box.prepare(signal);
    const plan = encodePlan(box.plan({ command: cmd.command, args: cmd.args, env, ...(cmd.readOnly ? { readOnly: cmd.readOnly } : {}) }));
    const init = initCommand(this.options.perl ?? 'perl');
    const child = spawn(init.command, init.args, {
      cwd: '/',
      env: LAUNCHER_ENV,
      // 3: status (read), 4: plan (written), 5…: what the init inherits (a /tmp mounted ahead).
      stdio: ['ignore', 'pipe', 'pipe', 'pipe', 'pipe', ...box.inheritFds()],
      // Its own process group, so stop() also kills whatever the handler spawned.
      detached: true,
    });
    this.child = child;
    box.spawned();
    const planStream = child.stdio[4] as Writable | null;
    planStream?.on('error', () => undefined);
    planStream?.end(plan);
    // The init reports the runtime's real exit status on fd 3.
    let status = '';
    const statusStream = child.stdio[3];
    const statusDone = statusStream
      ? new Promise<void>((resolve) => {
          statusStream.on('data', (d: Buffer) => (status += d.toString('utf8')));
          statusStream.once('close', resolve);
          statusStream.once('error', () => resolve());
        })
      : Promise.resolve();
    for (const stream of [child.stdout, child.stderr]) {
      if (stream) createInterface({ input: stream, crlfDelay: Infinity }).on('line', (l) => this.pending.push(l));
    }
    child.on('error', (err) => {
      this.pending.push(`lambkin: could not start the runtime: ${err.message}`);
      this.markExited({ code: 127, signal: null });
    });
    child.on('exit', (code, sig) => {
      void statusDone.then(() => this.markExited(parseInitStatus(status) ?? { code, signal: sig }));
    });

    const initTimer = new AbortController();
    const cancelInitTimer = this.clock.setTimer(this.clock.now() + this.options.initTimeoutMs, () =>
      initTimer.abort(new DOMException('The operation was aborted due to timeout', 'TimeoutError')),
    );
    const initTimeout = initTimer.signal;
    const waitSignal = signal ? AbortSignal.any([signal, initTimeout]) : initTimeout;
    const failed = (errorType: string, message: string) =>
      new SandboxInitError(errorType, errorDocument(errorType, message), this.clock.monotonic() - started, this.collect());
    try {
      const outcome = await Promise.race([
        this.api.waitForInit(waitSignal).then(() => 'ready' as const),
        this.exited,
      ]);
      if (outcome !== 'ready') {
        await nextTurn();
        throw failed(this.exitErrorType(), `Runtime exited with error: ${exitDescription(outcome)}`);
      }
    } catch (err) {
      if (err instanceof SandboxInitError) throw err;
      const e = err as { errorType?: unknown; payload?: unknown };
      if (typeof e.errorType === 'string' && Buffer.isBuffer(e.payload)) {
        await Promise.race([this.exited, nextTurn()]);
        await nextTurn();
        throw new SandboxInitError(e.errorType, e.payload, this.clock.monotonic() - started, this.collect());
      }
      if (initTimeout.aborted) {
        const secs = (this.options.initTimeoutMs / 1000).toFixed(2);
        const e = failed('Sandbox.Timedout', `Init timed out after ${secs} seconds`);
        throw new InitTimeoutError(e.errorType, e.payload, e.initDurationMs, e.logs);
      }
      throw err;
    } finally {
      cancelInitTimer();
    }
    this.initDurationMs = this.clock.monotonic() - started;
    this.initLogs = this.collect();
    this.state = 'idle';
  }

  /**
   * Resolves true once the idle sandbox is frozen (cgroup freezer; at level none, once SIGSTOP was
   * sent to its process group), false when it will not be (busy again, stopped, or freezing is off).
   */
  whenFrozen(): Promise<boolean> {
    return this.freezing;
  }

  /**
   * Freezes the sandbox as soon as the runtime is parked on GET /next again, i.e. idle as Lambda sees
   * it (Lambda freezes once the runtime asks for the next event). The next invoke() thaws it first.
   */
  freezeWhenIdle(): void {
    if (this.options.freezeIdle === false || this.state !== 'idle') return;
    const wait = new AbortController();
    this.idleWait = wait;
    this.freezing = this.api.waitForNext(wait.signal).then(
      () => (wait.signal.aborted || this.state !== 'idle' ? false : this.freezeNow()),
      () => false,
    );
  }

  private freezeNow(): Promise<boolean> {
    this.idleWait = undefined;
    this.frozen = true;
    if (this.box.freezable) return this.box.freeze();
    // Level none (or a cgroup without a freezer): stop the sandbox's process group. A process that
    // left the group (setsid, e.g. a daemon) is not covered here; only a cgroup freezer sees it.
    this.signalGroup('SIGSTOP');
    return Promise.resolve(true);
  }

  /** Thaws a frozen sandbox (synchronous) and calls off a freeze that is still to come. */
  private thaw(): void {
    this.idleWait?.abort();
    this.idleWait = undefined;
    if (!this.frozen) return;
    this.frozen = false;
    if (this.box.freezable) this.box.thaw();
    else this.signalGroup('SIGCONT');
  }

  private signalGroup(sig: NodeJS.Signals): void {
    const pid = this.child?.pid;
    if (pid === undefined || this.exitInfo) return;
    try {
      process.kill(-pid, sig);
    } catch {
      // the group is gone
    }
  }

  async invoke(inv: SandboxInvocation, signal?: AbortSignal): Promise<InvocationOutcome> {
    if (this.state !== 'idle') throw new Error(`sandbox ${this.id} is ${this.state}, not idle`);
    this.state = 'busy';
    try {
      // Before the event is handed over, as Lambda thaws the environment for the next invocation.
      this.thaw();
    } catch (err) {
      this.state = 'failed';
      throw err;
    }
    const clock = this.clock;
    const started = clock.monotonic();
    const timeout = new AbortController();
    const cancelTimer = clock.setTimer(inv.deadlineMs, () => timeout.abort(new Error('timeout')));
    const aborts = signal ? AbortSignal.any([signal, timeout.signal]) : timeout.signal;
    const common = () => ({
      durationMs: clock.monotonic() - started,
      maxMemoryUsedMb: this.readPeak(),
      logs: this.collect(),
    });
    try {
      // Per invocation and dropped with it (see onExit); the runtime may also be gone already.
      const exit = new Promise<{ kind: 'exit'; e: ExitInfo }>((resolve) => {
        if (this.exitInfo) resolve({ kind: 'exit', e: this.exitInfo });
        else this.onExit = (e) => resolve({ kind: 'exit', e });
      });
      const result = await Promise.race([this.api.invoke(inv, aborts), exit]);
      if (result.kind === 'exit') {
        await nextTurn();
        const msg = `RequestId: ${inv.requestId} Error: Runtime exited with error: ${exitDescription(result.e)}`;
        const errorType = this.exitErrorType();
        this.pending.push(msg, errorType);
        this.state = 'failed';
        return { kind: 'error', errorType, payload: errorDocument(errorType, msg), fatal: true, ...common() };
      }
      // Lines written just before the answer may still be in the pipe: give it one I/O turn.
      await nextTurn();
      this.state = 'idle';
      this.freezeWhenIdle();
      if (result.kind === 'response') return { kind: 'success', payload: result.payload, ...common() };
      return { kind: 'error', errorType: result.errorType, payload: result.payload, fatal: false, ...common() };
    } catch (err) {
      this.state = 'failed';
      if (timeout.signal.aborted) {
        const secs = (this.spec.timeoutMs / 1000).toFixed(2);
        this.readPeak();
        await this.kill();
        this.pending.push(`${new Date(clock.now()).toISOString()} ${inv.requestId} Task timed out after ${secs} seconds`);
        const msg = `RequestId: ${inv.requestId} Error: Task timed out after ${secs} seconds`;
        return { kind: 'error', errorType: 'Sandbox.Timedout', payload: errorDocument('Sandbox.Timedout', msg), fatal: true, ...common() };
      }
      throw err;
    } finally {
      this.onExit = undefined;
      cancelTimer();
    }
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      if (this.state !== 'failed') this.state = 'stopping';
      await this.kill();
      // Its credentials end with it (whatever it started is gone by now).
      this.options.sandboxIdentity?.revoke(this.spec.sandboxId);
      await this.api.close();
      // Every process of the sandbox (daemons included), its cgroup and its uid.
      await this.box.release();
      this.state = this.state === 'failed' ? 'failed' : 'stopped';
      this.onStopped();
    })();
    return this.stopping;
  }

  private readPeak(): number {
    // Isolated: the whole sandbox's peak as the cgroup charged it, as Lambda reports Max Memory Used.
    const peak = this.box.peakMb() ?? peakMemoryMb(this.child?.pid);
    this.maxMemoryMb = Math.max(this.maxMemoryMb, peak);
    return this.maxMemoryMb;
  }

  /** A runtime that died because its cgroup ran out of memory is Lambda's Runtime.OutOfMemory. */
  private exitErrorType(): string {
    return this.box.oomKilled() ? 'Runtime.OutOfMemory' : 'Runtime.ExitError';
  }

  private async kill(): Promise<void> {
    const child = this.child;
    if (!child || this.exitInfo) return;
    if (!this.box.cgroup && child.pid !== undefined) {
      // No cgroup: the init kills what the runtime left (setsid daemons are reparented to it). A
      // stopped (idle) group would hold the SIGTERM, so it is continued first.
      try {
        this.thaw();
        process.kill(child.pid, 'SIGTERM');
      } catch {
        // already gone
      }
      const bound = new AbortController();
      // Real time, whatever the driver's clock: the grace is for a real process to exit.
      await Promise.race([this.exited, realClock.sleep(2000, bound.signal).catch(() => undefined)]);
      bound.abort();
    }
    try {
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
    } catch {
      child.kill('SIGKILL');
    }
    // A frozen cgroup holds the SIGKILL until it is thawed (a SIGSTOPped group dies of it anyway).
    // Thawed after the kill, so nothing of the sandbox runs in between.
    try {
      this.thaw();
    } catch (err) {
      this.pending.push(`lambkin: ${String(err)}`);
    }
    // Processes that left the process group (setsid daemons) are still in the cgroup.
    await this.box.killAll();
    await this.exited;
  }

  private markExited(info: ExitInfo): void {
    if (this.exitInfo) return;
    this.exitInfo = info;
    // Daemons the handler left behind share the process group: take them down too.
    try {
      if (this.child?.pid !== undefined) process.kill(-this.child.pid, 'SIGKILL');
    } catch {
      // the group is already gone
    }
    this.box.killAll().catch((err: unknown) => this.pending.push(`lambkin: ${String(err)}`));
    this.resolveExit(info);
  }

  private collect(): string[] {
    const lines = this.pending;
    this.pending = [];
    return lines;
  }
}
