/**
 * The reporter `npm test` runs node's test runner with: the spec reporter's output, unchanged, and the
 * skip gate (skip-gate.ts) printed just before node's closing summary, so the summary stays the last
 * thing a run prints. The gate lists the skips that test/skip-allow-list.json allows (properties of
 * the machine) and those it does not; with CI=true an unlisted skip sets the exit code to 1, and so
 * does an allow-list file that cannot be read.
 *
 *   node --test --test-reporter=./dist/test/helpers/skip-gate-reporter.js --test-reporter-destination=stdout dist/test/
 */
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spec, type TestEvent } from 'node:test/reporters';
import { describeVerdict, isStrict, judgeSkips, parseAllowList, skipMessage, type AllowEntry, type SkippedTest } from './skip-gate.js';

const ALLOW_LIST = fileURLToPath(new URL('../../../test/skip-allow-list.json', import.meta.url));

function loadAllowList(): AllowEntry[] | Error {
  try {
    return parseAllowList(JSON.parse(readFileSync(ALLOW_LIST, 'utf8')));
  } catch (err) {
    return err instanceof Error ? err : new Error(String(err));
  }
}

/** The root test's first summary line (`tests N`): the gate's lines go right before it. */
function startsSummary(event: TestEvent): boolean {
  return event.type === 'test:diagnostic' && event.data.nesting === 0 && /^tests \d+$/.test(event.data.message);
}

export default async function* skipGateReporter(source: AsyncIterable<TestEvent>): AsyncGenerator<string, void> {
  const strict = isStrict(process.env);
  const list = loadAllowList();
  const listName = relative(process.cwd(), ALLOW_LIST) || ALLOW_LIST;
  const skips: SkippedTest[] = [];

  const inner = new spec();
  inner.setEncoding('utf8');
  // The spec reporter transforms each event synchronously: reading right after a write keeps its
  // output and the gate's lines in order.
  const drain = (): string => {
    let out = '';
    for (let chunk: unknown = inner.read(); chunk !== null; chunk = inner.read()) out += String(chunk as string);
    return out;
  };

  let gated = false;
  const gate = (): string => {
    gated = true;
    if (list instanceof Error) {
      process.exitCode = 1;
      return `✖ skip gate: ${listName} is not a valid allow-list: ${list.message}\n`;
    }
    const verdict = judgeSkips(skips, list, strict);
    if (verdict.fails) process.exitCode = 1;
    return `${describeVerdict(verdict, strict, listName).join('\n')}\n`;
  };

  for await (const event of source) {
    if ((event.type === 'test:pass' || event.type === 'test:fail') && event.data.skip !== undefined && event.data.skip !== false) {
      const file = event.data.file;
      skips.push({ name: event.data.name, file: file === undefined ? undefined : relative(process.cwd(), file), message: skipMessage(event.data.skip) });
    }
    if (!gated && startsSummary(event)) yield drain() + gate();
    inner.write(event);
    const out = drain();
    if (out !== '') yield out;
  }
  inner.end();
  for await (const chunk of inner as AsyncIterable<unknown>) yield String(chunk as string);
  if (!gated) yield gate();
}
