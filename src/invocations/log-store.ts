import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Every function's logs, kept under the data dir as one text file per function
 * (`logs/<account>/<region>/<name>.log`), each line prefixed by its log stream, so that
 * `lambkin logs` can show and follow them without a server.
 */
export class LogStore {
  private readonly listeners = new Set<(key: LogKey, lines: readonly string[]) => void>();
  /** Directories made already: append runs on every invocation, mkdir need not. */
  private readonly made = new Set<string>();

  constructor(private readonly dir: string) {}

  /** The log file of a function. */
  fileFor(key: LogKey): string {
    return join(this.accountDir(key), `${key.functionName}.log`);
  }

  /** Appends lines of one log stream (a line's own newlines become `\r`, so each stays one line). */
  append(key: LogKey, stream: string, lines: readonly string[]): void {
    if (lines.length === 0) return;
    const file = this.fileFor(key);
    const dir = this.accountDir(key);
    if (!this.made.has(dir)) {
      mkdirSync(dir, { recursive: true });
      this.made.add(dir);
    }
    appendFileSync(file, lines.map((l) => `${stream}\t${l.replaceAll('\n', '\r')}\n`).join(''));
    for (const l of this.listeners) l(key, lines);
  }

  /** Subscribes to appended lines (tests await log lines instead of sleeping). */
  subscribe(listener: (key: LogKey, lines: readonly string[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private accountDir(key: LogKey): string {
    return join(this.dir, key.account, key.region);
  }
}

/** Whose logs: one function of one account and region. */
export interface LogKey {
  readonly account: string;
  readonly region: string;
  readonly functionName: string;
}

/** Where `lambkin logs` and the server agree the log directory is. */
export function logsDir(dataDir: string): string {
  return join(dataDir, 'logs');
}
