import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
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
import type { Isolation, IsolatedSandbox } from './isolation/isolation.js';
import { parseInitStatus } from './isolation/launcher.js';

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
  /** Per-sandbox AWS credentials and endpoint: issued when a sandbox starts, revoked when it stops. */
  readonly sandboxIdentity?: SandboxIdentity;
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
    const box = this.options.isolation?.allocate(spec);
    let api: RuntimeApiServer;
    try {
      api = await RuntimeApiServer.start(box?.uid !== undefined ? { allowedUid: box.uid } : {});
    } catch (err) {
      await box?.release();
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
    }
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

function buildCommand(spec: SandboxSpec, python: string, paths?: SandboxPaths): { command: string; args: string[] } | SandboxInitError {
  const rt = paths?.runtimeDir;
  switch (runtimeFamily(spec.runtime)) {
    case 'nodejs':
      return { command: process.execPath, args: [...nodeMemoryFlags(spec.memoryMb), rt ? `${rt}/node/bootstrap.js` : NODE_BOOTSTRAP] };
    case 'python':
      return { command: python, args: ['-u', rt ? `${rt}/python/bootstrap.py` : PYTHON_BOOTSTRAP] };
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
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
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
  /** Lines printed since the last collection. */
  private pending: string[] = [];
  private maxMemoryMb = 0;
  private stopping: Promise<void> | undefined;

  constructor(
    private readonly spec: SandboxSpec,
    private readonly api: RuntimeApiServer,
    private readonly options: ProcessDriverOptions,
    private readonly box?: IsolatedSandbox,
  ) {
    this.exited = new Promise((r) => (this.resolveExit = r));
  }

  get id(): string {
    return this.spec.sandboxId;
  }

  pushLog(line: string): void {
    this.pending.push(line);
  }

  async start(signal?: AbortSignal): Promise<void> {
    const started = performance.now();
    const box = this.box;
    const paths = box ? { taskRoot: box.taskRoot, runtimeDir: box.runtimeDir } : undefined;
    const cmd = buildCommand(this.spec, this.options.python, paths);
    if (cmd instanceof SandboxInitError) throw cmd;
    // Isolated: a launcher puts the runtime into its cgroup (and namespaces) before it runs.
    const launch = box ? box.launch(cmd.command, cmd.args) : { ...cmd, env: {} };
    const child = spawn(launch.command, launch.args, {
      cwd: this.spec.codeDir,
      env: {
        ...sandboxEnvironment(this.spec, this.api.address, this.options.extraEnv, paths, this.options.sandboxIdentity?.environment(this.spec)),
        ...launch.env,
      },
      stdio: box?.statusFd ? ['ignore', 'pipe', 'pipe', 'pipe'] : ['ignore', 'pipe', 'pipe'],
      // Its own process group, so stop() also kills whatever the handler spawned.
      detached: true,
    });
    this.child = child;
    // With namespaces the sandbox's init reports the runtime's real exit status on fd 3.
    let status = '';
    const statusStream = box?.statusFd ? child.stdio[3] : undefined;
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

    const initTimeout = AbortSignal.timeout(this.options.initTimeoutMs);
    const waitSignal = signal ? AbortSignal.any([signal, initTimeout]) : initTimeout;
    const failed = (errorType: string, message: string) =>
      new SandboxInitError(errorType, errorDocument(errorType, message), performance.now() - started, this.collect());
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
        throw new SandboxInitError(e.errorType, e.payload, performance.now() - started, this.collect());
      }
      if (initTimeout.aborted) {
        const secs = (this.options.initTimeoutMs / 1000).toFixed(2);
        const e = failed('Sandbox.Timedout', `Init timed out after ${secs} seconds`);
        throw new InitTimeoutError(e.errorType, e.payload, e.initDurationMs, e.logs);
      }
      throw err;
    }
    this.initDurationMs = performance.now() - started;
    this.initLogs = this.collect();
    this.state = 'idle';
  }

  async invoke(inv: SandboxInvocation, signal?: AbortSignal): Promise<InvocationOutcome> {
    if (this.state !== 'idle') throw new Error(`sandbox ${this.id} is ${this.state}, not idle`);
    this.state = 'busy';
    const started = performance.now();
    const timeout = new AbortController();
    const timer = setTimeout(() => timeout.abort(new Error('timeout')), Math.max(0, inv.deadlineMs - Date.now()));
    const aborts = signal ? AbortSignal.any([signal, timeout.signal]) : timeout.signal;
    const common = () => ({
      durationMs: performance.now() - started,
      maxMemoryUsedMb: this.readPeak(),
      logs: this.collect(),
    });
    try {
      const result = await Promise.race([this.api.invoke(inv, aborts), this.exited.then((e) => ({ kind: 'exit' as const, e }))]);
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
      if (result.kind === 'response') return { kind: 'success', payload: result.payload, ...common() };
      return { kind: 'error', errorType: result.errorType, payload: result.payload, fatal: false, ...common() };
    } catch (err) {
      this.state = 'failed';
      if (timeout.signal.aborted) {
        const secs = (this.spec.timeoutMs / 1000).toFixed(2);
        this.readPeak();
        await this.kill();
        this.pending.push(`${new Date().toISOString()} ${inv.requestId} Task timed out after ${secs} seconds`);
        const msg = `RequestId: ${inv.requestId} Error: Task timed out after ${secs} seconds`;
        return { kind: 'error', errorType: 'Sandbox.Timedout', payload: errorDocument('Sandbox.Timedout', msg), fatal: true, ...common() };
      }
      throw err;
    } finally {
      clearTimeout(timer);
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
      await this.box?.release();
      this.state = this.state === 'failed' ? 'failed' : 'stopped';
      this.onStopped();
    })();
    return this.stopping;
  }

  private readPeak(): number {
    // Isolated: the whole sandbox's peak as the cgroup charged it, as Lambda reports Max Memory Used.
    const peak = this.box?.peakMb() ?? peakMemoryMb(this.child?.pid);
    this.maxMemoryMb = Math.max(this.maxMemoryMb, peak);
    return this.maxMemoryMb;
  }

  /** A runtime that died because its cgroup ran out of memory is Lambda's Runtime.OutOfMemory. */
  private exitErrorType(): string {
    return this.box?.oomKilled() ? 'Runtime.OutOfMemory' : 'Runtime.ExitError';
  }

  private async kill(): Promise<void> {
    const child = this.child;
    if (!child || this.exitInfo) return;
    try {
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
    } catch {
      child.kill('SIGKILL');
    }
    // Processes that left the process group (setsid daemons) are still in the cgroup.
    await this.box?.killAll();
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
    this.box?.killAll().catch((err: unknown) => this.pending.push(`lambkin: ${String(err)}`));
    this.resolveExit(info);
  }

  private collect(): string[] {
    const lines = this.pending;
    this.pending = [];
    return lines;
  }
}
