/**
 * Error types and error serialisation of the Node.js runtime client, as AWS's
 * aws-lambda-nodejs-runtime-interface-client (Errors.js) does them, so callers see the same documents.
 */
import util from 'node:util';

/** The error document posted to /invocation/{id}/error and /init/error. */
export interface RapidErrorResponse {
  errorType: string;
  errorMessage: string;
  trace?: string[];
}

function named(name: string): new (message?: unknown) => Error {
  const cls = class extends Error {
    constructor(message?: unknown) {
      // AWS passes the underlying Error itself as the message, so the text becomes "Error: Cannot find module ...".
      super(message === undefined ? undefined : String(message));
    }
  };
  Object.defineProperty(cls.prototype, 'name', { value: `Runtime.${name}`, writable: true, configurable: true });
  Object.defineProperty(cls, 'name', { value: name });
  return cls;
}

export const ImportModuleError = named('ImportModuleError');
export const HandlerNotFound = named('HandlerNotFound');
export const MalformedHandlerName = named('MalformedHandlerName');
export const UserCodeSyntaxError = named('UserCodeSyntaxError');

/** An unhandled promise rejection, reported as Runtime.UnhandledPromiseRejection with the reason as text. */
export class UnhandledPromiseRejection extends Error {
  readonly reason: unknown;
  constructor(reason: unknown) {
    super(String(reason));
    this.reason = reason;
  }
}
Object.defineProperty(UnhandledPromiseRejection.prototype, 'name', { value: 'Runtime.UnhandledPromiseRejection', writable: true, configurable: true });

/** The handler's promise never settled and the event loop drained (AWS: Runtime.NodeJsExit). */
export class NodeJsExit extends Error {
  constructor() {
    super(
      'The Lambda runtime client detected an unexpected Node.js exit code. This is most commonly caused by a Promise that was never settled. For more information, see https://nodejs.org/docs/latest/api/process.html#exit-codes',
    );
  }
}
Object.defineProperty(NodeJsExit.prototype, 'name', { value: 'Runtime.NodeJsExit', writable: true, configurable: true });

interface ErrorLike {
  name: string;
  message: string;
  stack: string;
}

function isErrorLike(e: unknown): e is ErrorLike {
  if (e === null || typeof e !== 'object') return false;
  const o = e as Record<string, unknown>;
  return typeof o['name'] === 'string' && typeof o['message'] === 'string' && typeof o['stack'] === 'string' && o['name'] !== '' && o['message'] !== '' && o['stack'] !== '';
}

/** Anything thrown, as an Error (non-Errors become `new Error(value)` as AWS does). */
export function intoError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

/**
 * What AWS posts for a thrown/passed value: Errors as {errorType: name, errorMessage: message, trace: stack lines};
 * anything else as {errorType: typeof value, errorMessage: String(value), trace: []}.
 */
export function toRapidResponse(error: unknown): RapidErrorResponse {
  try {
    if (util.types.isNativeError(error) || isErrorLike(error)) {
      const e = error as Error;
      const stack = typeof e.stack === 'string' ? e.stack : `${e.name}: ${e.message}`;
      return {
        errorType: String(e.name).replaceAll('\x7F', '%7F'),
        errorMessage: String(e.message).replaceAll('\x7F', '%7F'),
        trace: stack.replaceAll('\x7F', '%7F').split('\n'),
      };
    }
    return { errorType: typeof error, errorMessage: String(error), trace: [] };
  } catch {
    return {
      errorType: 'handled',
      errorMessage: 'callback called with Error argument, but there was a problem while retrieving one or more of its message, name, and stack',
    };
  }
}

function withEnumerableProperties(value: unknown): unknown {
  if (value instanceof Error) {
    const ret: Record<string, unknown> = Object.assign(
      { errorType: value.name, errorMessage: value.message, code: (value as { code?: unknown }).code } as Record<string, unknown>,
      value,
    );
    if (typeof value.stack === 'string') ret['stack'] = value.stack.split('\n');
    return ret;
  }
  return value;
}

/** The error as AWS logs it after "Invoke Error"/"Uncaught Exception": a tab, then JSON. */
export function toFormatted(error: unknown): string {
  try {
    return '\t' + JSON.stringify(error, (_k, v: unknown) => withEnumerableProperties(v));
  } catch {
    return '\t' + JSON.stringify(toRapidResponse(error));
  }
}
