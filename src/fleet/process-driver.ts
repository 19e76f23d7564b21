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

const NODE_BOOTSTRAP = fileURLToPath(new URL('../runtimes/node/bootstrap.js', import.meta.url));
const PYTHON_BOOTSTRAP = fileURLToPath(new URL('../runtimes/python/bootstrap.py', import.meta.url));

export interface ProcessDriverOptions {
  /** Lambda fails an init that takes longer than 10 s (AWS docs, "Lambda execution environment lifecycle"). */
  readonly initTimeoutMs: number;
  /** The Python interpreter for python3.* runtimes. */
  readonly python: string;
  /** Extra environment for every sandbox (e.g. AWS_XRAY_DAEMON_ADDRESS). */
  readonly extraEnv?: Readonly<Record<string, string>>;
  /** Called once per runtime identifier that runs on a substitute (e.g. nodejs8.10 on the local Node.js). */
  readonly substituteNote?: (runtime: string) => string | undefined;
}

/** Runs each sandbox as a real runtime process with its own Runtime API server. */
export class ProcessDriver implements SandboxDriver {
  private readonly live = new Set<ProcessSandbox>();
  private readonly noted = new Set<string>();

  constructor(private readonly options: ProcessDriverOptions) {}

  async create(spec: SandboxSpec, signal?: AbortSignal): Promise<SandboxHandle> {
    const api = await RuntimeApiServer.start();
    const sandbox = new ProcessSandbox(spec, api, this.options);
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
  }
}

function buildCommand(spec: SandboxSpec, python: string): { command: string; args: string[] } | SandboxInitError {
  switch (runtimeFamily(spec.runtime)) {
    case 'nodejs':
      return { command: process.execPath, args: [NODE_BOOTSTRAP] };
    case 'python':
      return { command: python, args: ['-u', PYTHON_BOOTSTRAP] };
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
      return { command: bootstrap, args: [] };
    }
  }
}

/** The Lambda-defined environment of a sandbox; the function's own variables cannot override it. */
export function sandboxEnvironment(spec: SandboxSpec, runtimeApi: string, extra: Readonly<Record<string, string>> = {}): Record<string, string> {
  return {
    ...spec.environment,
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    LANG: 'en_US.UTF-8',
    HOME: '/tmp',
    TZ: ':UTC',
    ...extra,
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
    LAMBDA_TASK_ROOT: spec.codeDir,
    LAMBDA_RUNTIME_DIR: spec.codeDir,
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
    const cmd = buildCommand(this.spec, this.options.python);
    if (cmd instanceof SandboxInitError) throw cmd;
    const child = spawn(cmd.command, cmd.args, {
      cwd: this.spec.codeDir,
      env: sandboxEnvironment(this.spec, this.api.address, this.options.extraEnv),
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group, so stop() also kills whatever the handler spawned.
      detached: true,
    });
    this.child = child;
    for (const stream of [child.stdout, child.stderr]) {
      if (stream) createInterface({ input: stream, crlfDelay: Infinity }).on('line', (l) => this.pending.push(l));
    }
    child.on('error', (err) => {
      this.pending.push(`lambkin: could not start the runtime: ${err.message}`);
      this.markExited({ code: 127, signal: null });
    });
    child.on('exit', (code, sig) => this.markExited({ code, signal: sig }));

    const initTimeout = AbortSignal.timeout(this.options.initTimeoutMs);
    const waitSignal = signal ? AbortSignal.any([signal, initTimeout]) : initTimeout;
    const failed = (errorType: string, message: string) =>
      new SandboxInitError(errorType, errorDocument(errorType, message), performance.now() - started, this.collect());
    try {
      const outcome = await Promise.race([
        this.api.waitForInit(waitSignal).then(() => 'ready' as const),
        this.exited.then((e) => e),
      ]);
      if (outcome !== 'ready') {
        await nextTurn();
        throw failed('Runtime.ExitError', `Runtime exited with error: ${exitDescription(outcome)}`);
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
        throw failed('Sandbox.Timedout', `Init timed out after ${secs} seconds`);
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
        this.pending.push(msg, 'Runtime.ExitError');
        this.state = 'failed';
        return { kind: 'error', errorType: 'Runtime.ExitError', payload: errorDocument('Runtime.ExitError', msg), fatal: true, ...common() };
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
      await this.api.close();
      this.state = this.state === 'failed' ? 'failed' : 'stopped';
      this.onStopped();
    })();
    return this.stopping;
  }

  private readPeak(): number {
    this.maxMemoryMb = Math.max(this.maxMemoryMb, peakMemoryMb(this.child?.pid));
    return this.maxMemoryMb;
  }

  private async kill(): Promise<void> {
    const child = this.child;
    if (!child || this.exitInfo) return;
    try {
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
    } catch {
      child.kill('SIGKILL');
    }
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
    this.resolveExit(info);
  }

  private collect(): string[] {
    const lines = this.pending;
    this.pending = [];
    return lines;
  }
}
