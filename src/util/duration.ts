/**
 * The parser of human-written durations (`10m`), shared by the CLI's options (src/cli/duration.ts,
 * keep-alive specs) and the simulator's workload files, so both read one grammar.
 */

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** Parses `250ms`, `30s`, `10m`, `2h`, `7d` or a bare number of milliseconds into milliseconds. */
export function parseDuration(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(text);
  if (!m) throw new Error(`"${text}" is not a duration; use e.g. 500ms, 30s, 10m, 2h or 7d`);
  return Number(m[1]) * UNIT_MS[(m[2] ?? 'ms') as keyof typeof UNIT_MS];
}
