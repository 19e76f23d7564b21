/**
 * Rewrites console.* into Lambda's log line format, as AWS's Node.js runtime does:
 * `<ISO time>\t<request id>\t<LEVEL>\t<util.format(...)>` with newlines turned into '\r' so one call is one line,
 * all on stdout. AWS_LAMBDA_LOG_FORMAT=JSON and AWS_LAMBDA_LOG_LEVEL are honoured as on Lambda.
 */
import util from 'node:util';
import { intoError, toFormatted } from './errors.js';

interface Level {
  name: string;
  priority: number;
}

const LEVELS = {
  TRACE: { name: 'TRACE', priority: 1 },
  DEBUG: { name: 'DEBUG', priority: 2 },
  INFO: { name: 'INFO', priority: 3 },
  WARN: { name: 'WARN', priority: 4 },
  ERROR: { name: 'ERROR', priority: 5 },
  FATAL: { name: 'FATAL', priority: 6 },
} as const satisfies Record<string, Level>;

// Same global slot as AWS's runtime, so libraries that read it (e.g. Powertools) find the id.
const REQUEST_ID_SYMBOL = Symbol.for('aws.lambda.runtime.requestId');
const globals = globalThis as unknown as Record<symbol, string | undefined>;

/** Sets the request id printed in each log line (undefined outside any invocation, as AWS prints it). */
export function setCurrentRequestId(id: string | undefined): void {
  globals[REQUEST_ID_SYMBOL] = id;
}

function currentRequestId(): string | undefined {
  return globals[REQUEST_ID_SYMBOL];
}

// stdout is a pipe or a file in a sandbox; both are written synchronously by Node on Linux, so a line is in the
// pipe before the runtime posts the response that follows it.
function writeLine(line: string): void {
  process.stdout.write(line.replace(/\n/g, '\r') + '\n');
}

function textLine(level: Level, params: unknown[]): string {
  return `${new Date().toISOString()}\t${currentRequestId()}\t${level.name}\t${util.format(...params)}`;
}

function jsonErrorReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) {
    return Object.assign(
      {
        errorType: value.constructor?.name ?? 'UnknownError',
        errorMessage: value.message,
        stackTrace: typeof value.stack === 'string' ? value.stack.split('\n') : value.stack,
      },
      value,
    );
  }
  return value;
}

function jsonLine(level: Level, params: unknown[]): string {
  const result: Record<string, unknown> = { timestamp: new Date().toISOString(), level: level.name, requestId: currentRequestId() };
  if (params.length === 1) {
    result['message'] = params[0];
    try {
      return JSON.stringify(result, jsonErrorReplacer);
    } catch {
      result['message'] = util.format(result['message']);
      return JSON.stringify(result);
    }
  }
  result['message'] = util.format(...params);
  for (const p of params) {
    if (p instanceof Error) {
      result['errorType'] = p.constructor?.name ?? 'UnknownError';
      result['errorMessage'] = p.message;
      result['stackTrace'] = typeof p.stack === 'string' ? p.stack.split('\n') : [];
      break;
    }
  }
  return JSON.stringify(result);
}

let jsonFormat = false;

/** Replaces console.trace/debug/info/log/warn/error (and adds console.fatal) with Lambda-format writers. */
export function patchConsole(): void {
  jsonFormat = process.env['AWS_LAMBDA_LOG_FORMAT']?.toUpperCase() === 'JSON';
  const format = jsonFormat ? jsonLine : textLine;
  const wanted = LEVELS[(process.env['AWS_LAMBDA_LOG_LEVEL']?.toUpperCase() ?? '') as keyof typeof LEVELS] ?? LEVELS.TRACE;
  const make = (level: Level) =>
    level.priority >= wanted.priority ? (...params: unknown[]): void => writeLine(format(level, params)) : (): void => {};
  const c = console as unknown as Record<string, (...params: unknown[]) => void>;
  c['trace'] = make(LEVELS.TRACE);
  c['debug'] = make(LEVELS.DEBUG);
  c['info'] = make(LEVELS.INFO);
  c['log'] = c['info'];
  c['warn'] = make(LEVELS.WARN);
  c['error'] = make(LEVELS.ERROR);
  c['fatal'] = (...params: unknown[]): void => writeLine(format(LEVELS.FATAL, params));
}

/** Logs an error the way AWS's runtime does before reporting it ("Invoke Error", "Uncaught Exception", ...). */
export function logError(message: string, err: unknown): void {
  if (jsonFormat) console.error(intoError(err));
  else console.error(message, toFormatted(intoError(err)));
}
