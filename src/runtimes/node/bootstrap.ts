/**
 * Node.js runtime client: the process a Node.js sandbox runs (`node dist/src/runtimes/node/bootstrap.js`).
 * Talks to the Runtime API at AWS_LAMBDA_RUNTIME_API and behaves as AWS's Node.js runtime
 * (aws-lambda-nodejs-runtime-interface-client): same handler loading, context, callback semantics
 * (callbackWaitsForEmptyEventLoop), error documents, init errors, log format and exit on uncaught errors.
 *
 * Environment: AWS_LAMBDA_RUNTIME_API (required), LAMBDA_TASK_ROOT (code dir; also made the cwd), _HANDLER (or the
 * first argument), AWS_LAMBDA_FUNCTION_NAME, AWS_LAMBDA_FUNCTION_VERSION, AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
 * AWS_LAMBDA_LOG_GROUP_NAME, AWS_LAMBDA_LOG_STREAM_NAME; optional AWS_LAMBDA_LOG_FORMAT, AWS_LAMBDA_LOG_LEVEL.
 * Exit codes: 129 after an uncaught exception (init errors included), 128 after an unhandled rejection, 1 when the
 * Runtime API is unusable.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { RapidClient } from './rapid-client.js';
import { NodeJsExit, UnhandledPromiseRejection, toRapidResponse } from './errors.js';
import { logError, patchConsole, setCurrentRequestId } from './log-patch.js';
import { isAsyncFunction, loadHandler } from './user-function.js';
import type { UserHandler } from './user-function.js';

type Callback = (err?: unknown, result?: unknown) => void;

/** Where uncaught errors go: /init/error during init, the current invocation's /error after. */
interface ErrorCallbacks {
  uncaughtException: (e: unknown) => void;
  unhandledRejection: (e: unknown) => void;
}

interface CallbackContext {
  callbackWaitsForEmptyEventLoop: boolean;
  succeed: (result?: unknown) => void;
  fail: (err?: unknown) => void;
  done: (err?: unknown, result?: unknown) => void;
}

/** Exit codes as AWS's runtime uses them. */
const EXIT_UNCAUGHT_EXCEPTION = 129;
const EXIT_UNHANDLED_REJECTION = 128;
const EXIT_RUNTIME_API_FAILURE = 1;

let beforeExitListener: () => void = () => {};

function fatal(message: string, err: unknown): never {
  process.stderr.write(`lambkin node runtime: ${message}: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exit(EXIT_RUNTIME_API_FAILURE);
}

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function parseJsonHeader(value: string | undefined, name: string): unknown {
  if (value === undefined) return undefined;
  try {
    return JSON.parse(value);
  } catch (err) {
    throw new Error(`Cannot parse ${name} as json: ${String(err)}`);
  }
}

function isPromiseLike(v: unknown): v is PromiseLike<unknown> {
  return v !== null && (typeof v === 'object' || typeof v === 'function') && typeof (v as { then?: unknown }).then === 'function';
}

function serialiseResult(result: unknown): string {
  try {
    const s = JSON.stringify(result === undefined ? null : result);
    // JSON.stringify returns undefined for functions and symbols; AWS's native client then sends nothing useful.
    return s === undefined ? 'null' : s;
  } catch {
    throw new Error('Unable to stringify response body');
  }
}

class Runtime {
  readonly #client: RapidClient;
  readonly #handler: UserHandler;
  readonly #isAsync: boolean;
  readonly #errorCallbacks: ErrorCallbacks;

  constructor(client: RapidClient, handler: UserHandler, errorCallbacks: ErrorCallbacks) {
    this.#client = client;
    this.#handler = handler;
    this.#isAsync = isAsyncFunction(handler);
    this.#errorCallbacks = errorCallbacks;
  }

  scheduleIteration(): void {
    setImmediate(() => {
      this.#handleOnce().catch((err: unknown) => fatal('invocation loop failed', err));
    });
  }

  #postResponse(id: string, result: unknown, next: () => void): void {
    const body = serialiseResult(result);
    this.#client.postResponse(id, body).then(
      (answer) => {
        if (answer.status !== 202) process.stderr.write(`lambkin node runtime: response for ${id} refused (${answer.status}): ${answer.body}\n`);
        next();
      },
      (err: unknown) => fatal('posting the response failed', err),
    );
  }

  #postError(id: string, err: unknown, next: () => void): void {
    this.#client.postError(id, toRapidResponse(err)).then(
      () => next(),
      (e: unknown) => fatal('posting the error failed', e),
    );
  }

  /** Port of AWS's CallbackContext: callback + succeed/fail/done, only the first call counts. */
  #buildCallbackContext(id: string): { callback: Callback; context: CallbackContext; markCompleted: () => void } {
    const scheduleNext = (): void => this.scheduleIteration();
    let isCompleteInvoked = false;
    const postError = (err: unknown): void => {
      logError('Invoke Error', err);
      this.#postError(id, err, scheduleNext);
    };
    const complete = (result: unknown): void => {
      if (isCompleteInvoked) {
        console.error('Invocation has already been reported as done. Cannot call complete more than once per invocation.');
        return;
      }
      isCompleteInvoked = true;
      this.#postResponse(id, result, scheduleNext);
    };
    let waitForEmptyEventLoop = true;
    const callback: Callback = (err, result) => {
      beforeExitListener = () => {};
      if (err !== undefined && err !== null) {
        postError(err);
      } else if (!waitForEmptyEventLoop) {
        complete(result);
      } else {
        // Posted once everything else the handler started has finished: Node emits 'beforeExit' when the loop drains.
        beforeExitListener = () => setImmediate(() => complete(result));
      }
    };
    const done = (err?: unknown, result?: unknown): void => {
      beforeExitListener = () => {};
      if (err !== undefined && err !== null) postError(err);
      else complete(result);
    };
    let finished = false;
    const onlyFirst = <A extends unknown[]>(fn: (...args: A) => void) => (...args: A): void => {
      if (finished) return;
      fn(...args);
      finished = true;
    };
    const context: CallbackContext = {
      get callbackWaitsForEmptyEventLoop() {
        return waitForEmptyEventLoop;
      },
      set callbackWaitsForEmptyEventLoop(value: boolean) {
        waitForEmptyEventLoop = value;
      },
      succeed: onlyFirst((result?: unknown) => done(null, result)),
      fail: onlyFirst((err?: unknown) => (err === undefined || err === null ? done('handled') : done(err, null))),
      done: onlyFirst(done),
    };
    return { callback: onlyFirst(callback), context, markCompleted: () => (isCompleteInvoked = true) };
  }

  async #handleOnce(): Promise<void> {
    let next;
    try {
      next = await this.#client.next();
    } catch (err) {
      fatal('waiting for the next invocation failed', err);
    }
    const { body, headers } = next;
    const id = header(headers, 'lambda-runtime-aws-request-id');
    if (!id) fatal('invocation without Lambda-Runtime-Aws-Request-Id', new Error(JSON.stringify(headers)));
    setCurrentRequestId(id);
    const { callback, context, markCompleted } = this.#buildCallbackContext(id);
    try {
      this.#errorCallbacks.uncaughtException = (error) => {
        this.#client.postError(id, toRapidResponse(error)).then(
          () => process.exit(EXIT_UNCAUGHT_EXCEPTION),
          () => process.exit(EXIT_UNCAUGHT_EXCEPTION),
        );
      };
      this.#errorCallbacks.unhandledRejection = (error) => {
        this.#client.postError(id, toRapidResponse(error)).then(
          () => process.exit(EXIT_UNHANDLED_REJECTION),
          () => process.exit(EXIT_UNHANDLED_REJECTION),
        );
      };
      beforeExitListener = () => {
        // The handler neither returned a settled promise nor called back, and nothing else is pending.
        markCompleted();
        if (this.#isAsync) {
          const err = new NodeJsExit();
          logError('Invoke Error', err);
          this.#postError(id, err, () => this.scheduleIteration());
        } else {
          this.#postResponse(id, null, () => this.scheduleIteration());
        }
      };
      const trace = header(headers, 'lambda-runtime-trace-id');
      if (trace) process.env['_X_AMZN_TRACE_ID'] = trace;
      else delete process.env['_X_AMZN_TRACE_ID'];
      const deadline = Number(header(headers, 'lambda-runtime-deadline-ms'));
      const fullContext = Object.assign(context, {
        functionVersion: process.env['AWS_LAMBDA_FUNCTION_VERSION'],
        functionName: process.env['AWS_LAMBDA_FUNCTION_NAME'],
        memoryLimitInMB: process.env['AWS_LAMBDA_FUNCTION_MEMORY_SIZE'],
        logGroupName: process.env['AWS_LAMBDA_LOG_GROUP_NAME'],
        logStreamName: process.env['AWS_LAMBDA_LOG_STREAM_NAME'],
        clientContext: parseJsonHeader(header(headers, 'lambda-runtime-client-context'), 'ClientContext'),
        identity: parseJsonHeader(header(headers, 'lambda-runtime-cognito-identity'), 'CognitoIdentity'),
        invokedFunctionArn: header(headers, 'lambda-runtime-invoked-function-arn'),
        awsRequestId: id,
        tenantId: header(headers, 'lambda-runtime-aws-tenant-id'),
        getRemainingTimeInMillis: (): number => deadline - Date.now(),
      });
      const result = this.#handler(JSON.parse(body), fullContext, callback);
      if (isPromiseLike(result)) {
        Promise.resolve(result).then(context.succeed, context.fail).catch(context.fail);
      }
    } catch (err) {
      callback(err);
    }
  }
}

async function main(): Promise<void> {
  patchConsole();
  const api = process.env['AWS_LAMBDA_RUNTIME_API'];
  if (!api) fatal('startup', new Error('AWS_LAMBDA_RUNTIME_API is not set'));
  let client: RapidClient;
  try {
    client = new RapidClient(api);
  } catch (err) {
    fatal('startup', err);
  }
  const appRoot = process.env['LAMBDA_TASK_ROOT'] ?? process.cwd();
  try {
    // Lambda runs the function with the task root as working directory; relative paths in user code rely on it.
    process.chdir(appRoot);
  } catch {
    // Keep the inherited cwd if the task root cannot be entered; loading will then report the real problem.
  }
  const handlerString = process.argv[2] ?? process.env['_HANDLER'] ?? '';

  const postInitErrorAndExit = (error: unknown, code: number): void => {
    // Exit whether or not the post got through: the platform sees the exit either way.
    client.postInitError(toRapidResponse(error)).then(
      () => process.exit(code),
      () => process.exit(code),
    );
  };
  const errorCallbacks: ErrorCallbacks = {
    uncaughtException: (error: unknown) => postInitErrorAndExit(error, EXIT_UNCAUGHT_EXCEPTION),
    unhandledRejection: (error: unknown) => postInitErrorAndExit(error, EXIT_UNHANDLED_REJECTION),
  };
  process.on('uncaughtException', (error) => {
    logError('Uncaught Exception', error);
    errorCallbacks.uncaughtException(error);
  });
  process.on('unhandledRejection', (reason) => {
    const error = new UnhandledPromiseRejection(reason);
    logError('Unhandled Promise Rejection', error);
    errorCallbacks.unhandledRejection(error);
  });
  process.on('beforeExit', () => beforeExitListener());

  let handler: UserHandler;
  try {
    handler = await loadHandler(appRoot, handlerString);
  } catch (err) {
    // As AWS: a failed load surfaces as an uncaught exception, reported to /init/error.
    logError('Uncaught Exception', err);
    errorCallbacks.uncaughtException(err);
    return;
  }
  new Runtime(client, handler, errorCallbacks).scheduleIteration();
}

main().catch((err: unknown) => fatal('startup failed', err));
