/**
 * The decision of the skip gate (skip-gate-reporter.ts): which skipped tests a run accepts. A skip is
 * accepted when an entry of the allow-list (test/skip-allow-list.json) matches its message, each
 * entry naming a property of the machine; any other skip (a missing tool above all) fails a strict
 * run (CI=true) and is only reported in a local one.
 */

/** One skipped test, as the test runner reported it. */
export interface SkippedTest {
  readonly name: string;
  /** The test file, when the runner names it. */
  readonly file: string | undefined;
  /** The skip message; empty for a bare `skip: true` (which no entry can allow). */
  readonly message: string;
}

/** One allowed kind of skip. */
export interface AllowEntry {
  /** Must match the whole skip message (the file anchors it). */
  readonly skip: RegExp;
  /** When present, must match the test's name too. */
  readonly test: RegExp | undefined;
  /** Why the machine, not a missing install, keeps these tests from running. */
  readonly reason: string;
}

/** What the gate decided about a run's skips. */
export interface Verdict {
  readonly allowed: readonly { readonly skipped: SkippedTest; readonly entry: AllowEntry }[];
  readonly unlisted: readonly SkippedTest[];
  /** True when the run must fail: a strict run with an unlisted skip. */
  readonly fails: boolean;
}

function pattern(value: unknown, where: string): RegExp {
  if (typeof value !== 'string' || value === '') throw new Error(`${where} must be a non-empty regular expression`);
  const re = new RegExp(value);
  // An entry that matches anything (or nothing at all) would let every skip through.
  if (re.test('')) throw new Error(`${where} /${value}/ matches the empty message`);
  return re;
}

/** Validates the allow-list file's content (`{ allow: [{ skip, test?, reason }] }`); throws on any fault. */
export function parseAllowList(data: unknown): AllowEntry[] {
  const allow = (data as { allow?: unknown } | null)?.allow;
  if (!Array.isArray(allow)) throw new Error('the allow-list needs an "allow" array');
  return allow.map((raw: unknown, i) => {
    const e = (raw ?? {}) as Record<string, unknown>;
    const unknown = Object.keys(e).filter((k) => k !== 'skip' && k !== 'test' && k !== 'reason');
    if (unknown.length > 0) throw new Error(`allow[${i}] has unknown keys: ${unknown.join(', ')}`);
    if (typeof e.reason !== 'string' || e.reason.trim() === '') throw new Error(`allow[${i}].reason must say why the machine keeps these tests from running`);
    return { skip: pattern(e.skip, `allow[${i}].skip`), test: e.test === undefined ? undefined : pattern(e.test, `allow[${i}].test`), reason: e.reason };
  });
}

/** The first entry that allows this skip, or undefined. */
export function allowingEntry(skipped: SkippedTest, list: readonly AllowEntry[]): AllowEntry | undefined {
  if (skipped.message === '') return undefined;
  return list.find((e) => e.skip.test(skipped.message) && (e.test === undefined || e.test.test(skipped.name)));
}

/** Sorts a run's skips into allowed and unlisted; `strict` runs fail on an unlisted one. */
export function judgeSkips(skips: readonly SkippedTest[], list: readonly AllowEntry[], strict: boolean): Verdict {
  const allowed: { skipped: SkippedTest; entry: AllowEntry }[] = [];
  const unlisted: SkippedTest[] = [];
  for (const skipped of skips) {
    const entry = allowingEntry(skipped, list);
    if (entry) allowed.push({ skipped, entry });
    else unlisted.push(skipped);
  }
  return { allowed, unlisted, fails: strict && unlisted.length > 0 };
}

/** Strict (fail on an unlisted skip) when `CI` is set to anything but empty, `0` or `false`, as CI services set it. */
export function isStrict(env: Readonly<Record<string, string | undefined>>): boolean {
  const ci = env.CI?.trim().toLowerCase();
  return ci !== undefined && ci !== '' && ci !== '0' && ci !== 'false';
}

/** The skip message of a runner event's `skip` field (`true` = no message). */
export function skipMessage(skip: string | boolean): string {
  return typeof skip === 'string' ? skip : '';
}

/** The lines the reporter prints before node's summary (the `ℹ`/`✖` markers are the spec reporter's). */
export function describeVerdict(v: Verdict, strict: boolean, listName: string): string[] {
  const where = (s: SkippedTest) => (s.file ? ` (${s.file})` : '');
  const lines: string[] = [];
  if (v.allowed.length === 0 && v.unlisted.length === 0) return [`ℹ skip gate: no test was skipped`];
  if (v.allowed.length > 0) {
    lines.push(`ℹ skip gate: ${v.allowed.length} skipped for a property of this machine (allowed by ${listName}):`);
    for (const { skipped, entry } of v.allowed) {
      lines.push(`ℹ   ﹣ ${skipped.name}${where(skipped)}: ${skipped.message}`);
      lines.push(`ℹ       allowed because: ${entry.reason}`);
    }
  }
  if (v.unlisted.length > 0) {
    const consequence = strict ? 'this fails the run (CI)' : 'a CI run (CI=true) fails on these';
    lines.push(`✖ skip gate: ${v.unlisted.length} skipped for a reason not on ${listName}; ${consequence}:`);
    for (const s of v.unlisted) lines.push(`✖   ﹣ ${s.name}${where(s)}: ${s.message === '' ? '(no reason given)' : s.message}`);
  }
  return lines;
}
