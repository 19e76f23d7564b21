import { createReadStream, existsSync, statSync, watch } from 'node:fs';
import { dirname } from 'node:path';
import { LogStore, logsDir } from '../invocations/log-store.js';
import { realClock, type Clock } from '../util/clock.js';

/** Whose logs `lambkin logs` shows, from which data dir, and where to. */
export interface LogsCommandOptions {
  readonly dataDir: string;
  readonly region: string;
  readonly account: string;
  readonly functionName: string;
  /** Keep printing appended lines until `signal` aborts. */
  readonly follow: boolean;
  /** Default: process.stdout. */
  readonly out?: NodeJS.WritableStream;
  /** Ends following. */
  readonly signal?: AbortSignal;
  /** Paces the periodic re-read while following (default: the real clock). */
  readonly clock?: Clock;
}

/** Prints a function's log file, and with `follow` keeps printing what is appended. */
export async function showLogs(o: LogsCommandOptions): Promise<void> {
  const out = o.out ?? process.stdout;
  const file = new LogStore(logsDir(o.dataDir)).fileFor({ account: o.account, region: o.region, functionName: o.functionName });
  if (!existsSync(file) && !o.follow) {
    throw new Error(`no logs for ${o.functionName} in ${o.account}/${o.region} under ${o.dataDir} (has it been invoked?)`);
  }
  let offset = 0;
  const copy = async () => {
    if (!existsSync(file)) return;
    const size = statSync(file).size;
    if (size <= offset) return;
    const stream = createReadStream(file, { start: offset, end: size - 1 });
    for await (const chunk of stream) out.write(chunk as Buffer);
    offset = size;
  };
  await copy();
  if (!o.follow) return;
  if (o.signal?.aborted) return;
  const clock = o.clock ?? realClock;
  const stop = new AbortController();
  o.signal?.addEventListener('abort', () => stop.abort(), { once: true });
  let busy = Promise.resolve();
  // A failed read (the file replaced meanwhile) must not stop the chain: the next change or tick retries it.
  const onChange = () => (busy = busy.then(copy).catch(() => undefined));
  let watcher: ReturnType<typeof watch> | undefined;
  try {
    watcher = watch(dirname(file), onChange);
    watcher.on('error', () => watcher?.close()); // e.g. the directory removed; the ticks go on
  } catch {
    // created later; the ticks pick it up
  }
  // A read every second: the directory may not exist yet; also covers missed events. Without a
  // signal this follows until the process ends.
  for (;;) {
    try {
      await clock.sleep(1000, stop.signal);
    } catch {
      break; // aborted
    }
    void onChange();
  }
  watcher?.close();
  await busy;
}
