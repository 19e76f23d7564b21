/**
 * Test harness for runtime clients: a RuntimeApiServer plus a real child process pointed at it, with its stdout and
 * stderr collected, everything torn down in t.after. Not a test file itself.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestContext } from 'node:test';
import { RuntimeApiServer } from '../../src/fleet/runtime-api-server.js';
import type { RuntimeInvocation, RuntimeResult } from '../../src/fleet/runtime-api-server.js';

const here = path.dirname(fileURLToPath(import.meta.url));
/** dist/src/runtimes, found from dist/test/runtimes. */
export const RUNTIMES_DIR = path.resolve(here, '../../src/runtimes');
export const NODE_BOOTSTRAP = path.join(RUNTIMES_DIR, 'node', 'bootstrap.js');
export const PYTHON_BOOTSTRAP = path.join(RUNTIMES_DIR, 'python', 'bootstrap.py');

/** Writes files (relative path -> content) into a fresh temp dir, removed after the test. */
export function writeTaskRoot(t: TestContext, files: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lambkin-rt-'));
  for (const [rel, content] of Object.entries(files)) {
    const p = path.join(dir, rel);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, content);
  }
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface Sandbox {
  api: RuntimeApiServer;
  child: ChildProcess;
  /** Resolves when the child exits. */
  exited: Promise<Exit>;
  stdout(): string;
  stderr(): string;
  /** Resolves with the first stdout line matching re; rejects if the child exits first. */
  waitForStdoutLine(re: RegExp): Promise<string>;
  /** invoke() with defaults: request id, JSON event, deadline in 60 s, an ARN. */
  invoke(event: unknown, extra?: Partial<RuntimeInvocation>): Promise<RuntimeResult>;
}

let counter = 0;

/** Lambda-like environment for a function named "fn". */
export function lambdaEnv(taskRoot: string, handler: string, api: RuntimeApiServer): Record<string, string> {
  return {
    PATH: process.env['PATH'] ?? '/usr/bin:/bin',
    AWS_LAMBDA_RUNTIME_API: api.address,
    LAMBDA_TASK_ROOT: taskRoot,
    _HANDLER: handler,
    AWS_LAMBDA_FUNCTION_NAME: 'fn',
    AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '256',
    AWS_LAMBDA_LOG_GROUP_NAME: '/aws/lambda/fn',
    AWS_LAMBDA_LOG_STREAM_NAME: '2024/01/01/[$LATEST]abcdef',
    AWS_REGION: 'us-east-1',
    TZ: ':UTC',
  };
}

/** Starts a RuntimeApiServer and spawns command with the Lambda environment pointing at it. */
export async function startSandbox(
  t: TestContext,
  opts: { command: string; args: string[]; taskRoot: string; handler: string; env?: Record<string, string> },
): Promise<Sandbox> {
  const api = await RuntimeApiServer.start();
  const child = spawn(opts.command, opts.args, {
    cwd: opts.taskRoot,
    env: { ...lambdaEnv(opts.taskRoot, opts.handler, api), ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  const lineWaiters: Array<() => void> = [];
  child.stdout?.setEncoding('utf8').on('data', (d: string) => {
    out += d;
    for (const w of lineWaiters.splice(0)) w();
  });
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<Exit>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  let hasExited = false;
  void exited.then(() => {
    hasExited = true;
    for (const w of lineWaiters.splice(0)) w();
  });
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
    await api.close();
  });
  const findLine = (re: RegExp): string | undefined => out.split('\n').find((l) => re.test(l));
  return {
    api,
    child,
    exited,
    stdout: () => out,
    stderr: () => err,
    waitForStdoutLine: (re) =>
      new Promise<string>((resolve, reject) => {
        const check = (): void => {
          const line = findLine(re);
          if (line !== undefined) resolve(line);
          else if (hasExited) reject(new Error(`child exited without printing ${re}; stdout:\n${out}\nstderr:\n${err}`));
          else lineWaiters.push(check);
        };
        check();
      }),
    invoke: (event, extra = {}) =>
      api.invoke({
        requestId: `req-${++counter}-${process.pid}`,
        payload: Buffer.from(JSON.stringify(event)),
        deadlineMs: Date.now() + 60_000,
        invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:fn',
        ...extra,
      }),
  };
}

/** Parses a result payload as JSON. */
export function payloadJson(r: RuntimeResult): unknown {
  return JSON.parse(r.payload.toString('utf8'));
}
