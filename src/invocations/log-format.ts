/** Lambda's platform log lines (START / END / REPORT), as CloudWatch shows them. */

/** `START RequestId: … Version: …`. */
export function startLine(requestId: string, version: string): string {
  return `START RequestId: ${requestId} Version: ${version}`;
}

/** `END RequestId: …`. */
export function endLine(requestId: string): string {
  return `END RequestId: ${requestId}`;
}

/** What the REPORT line says of one invocation. */
export interface ReportFields {
  readonly requestId: string;
  readonly durationMs: number;
  readonly memorySizeMb: number;
  readonly maxMemoryUsedMb: number;
  /** Present on cold starts only. */
  readonly initDurationMs?: number;
  /** `timeout` or `error` when the sandbox did not finish normally. */
  readonly status?: 'timeout' | 'error';
}

/** The `REPORT RequestId: …` line with durations and memory, tab-separated as on Lambda. */
export function reportLine(f: ReportFields): string {
  // Billing is per 1 ms, rounded up, since December 2020 (AWS What's New, 2020-12-01).
  const billed = Math.max(1, Math.ceil(f.durationMs));
  let line =
    `REPORT RequestId: ${f.requestId}\tDuration: ${f.durationMs.toFixed(2)} ms\tBilled Duration: ${billed} ms\t` +
    `Memory Size: ${f.memorySizeMb} MB\tMax Memory Used: ${Math.max(1, Math.round(f.maxMemoryUsedMb))} MB`;
  if (f.initDurationMs !== undefined) line += `\tInit Duration: ${f.initDurationMs.toFixed(2)} ms`;
  if (f.status) line += `\tStatus: ${f.status}`;
  return line;
}

/** LogType=Tail: the last 4 KB of the invocation's log, base64 (Lambda API reference, Invoke). */
export function tailBase64(lines: readonly string[], maxBytes = 4096): string {
  const all = Buffer.from(lines.map((l) => `${l}\n`).join(''));
  return all.subarray(Math.max(0, all.length - maxBytes)).toString('base64');
}

/** `2024/01/31/[$LATEST]0123...` as Lambda names a sandbox's log stream. */
export function logStreamName(now: Date, version: string, sandboxHex: string): string {
  const d = now.toISOString().slice(0, 10).replaceAll('-', '/');
  return `${d}/[${version}]${sandboxHex}`;
}
