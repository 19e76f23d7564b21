/**
 * Only the clock module reads the time or sets timers: everything else in `src/` takes a Clock
 * (src/util/clock.ts), so that a server runs on one clock, real or virtual. Code in `src/runtimes/`
 * runs inside sandboxes, not in lambkin, and is exempt. The scan parses each file, so comments,
 * strings and methods of the same name (`socket.setTimeout`) do not count.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import ts from 'typescript';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const EXEMPT = ['src/util/clock.ts', 'src/runtimes/'];

const TIMER_GLOBALS = new Set(['setTimeout', 'setInterval']);
const TIMER_MODULES = new Set(['timers', 'node:timers', 'timers/promises', 'node:timers/promises']);
const PERF_MODULES = new Set(['perf_hooks', 'node:perf_hooks']);

interface Hit {
  readonly line: number;
  readonly what: string;
}

/** `name`, or `globalThis.name` / `global.name`. */
function isGlobal(e: ts.Expression, name: string): boolean {
  if (ts.isIdentifier(e)) return e.text === name;
  return ts.isPropertyAccessExpression(e) && e.name.text === name && ts.isIdentifier(e.expression) && ['globalThis', 'global'].includes(e.expression.text);
}

/** Whether an identifier named like a timer global is only a name here (a property, a member, a key). */
function isMereName(id: ts.Identifier): boolean {
  const p = id.parent;
  if (ts.isPropertyAccessExpression(p) && p.name === id) return !isGlobal(p.expression, 'globalThis') && !isGlobal(p.expression, 'global');
  return (
    ((ts.isPropertyAssignment(p) || ts.isMethodDeclaration(p) || ts.isPropertyDeclaration(p) || ts.isPropertySignature(p) || ts.isMethodSignature(p)) && p.name === id) ||
    ts.isImportSpecifier(p) // imports are judged by their module below
  );
}

/** Raw time sources in one file's source text. */
function rawTimeSources(fileName: string, text: string): Hit[] {
  const sf = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true);
  const hits: Hit[] = [];
  const hit = (node: ts.Node, what: string) => hits.push({ line: sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1, what });
  const visit = (node: ts.Node): void => {
    if (ts.isPropertyAccessExpression(node)) {
      const name = node.name.text;
      if (name === 'now' && isGlobal(node.expression, 'Date')) hit(node, 'Date.now');
      else if (name === 'now' && isGlobal(node.expression, 'performance')) hit(node, 'performance.now');
      else if (name === 'hrtime' && isGlobal(node.expression, 'process')) hit(node, 'process.hrtime');
      else if (name === 'timeout' && isGlobal(node.expression, 'AbortSignal')) hit(node, 'AbortSignal.timeout');
    } else if (ts.isNewExpression(node) && isGlobal(node.expression, 'Date') && (node.arguments?.length ?? 0) === 0) {
      hit(node, 'new Date()');
    } else if (ts.isCallExpression(node) && isGlobal(node.expression, 'Date')) {
      hit(node, 'Date()');
    } else if (ts.isIdentifier(node) && TIMER_GLOBALS.has(node.text) && !isMereName(node)) {
      hit(node, node.text);
    } else if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const from = node.moduleSpecifier.text;
      const clause = node.importClause;
      if ((TIMER_MODULES.has(from) || PERF_MODULES.has(from)) && clause && !clause.isTypeOnly) {
        const bindings = clause.namedBindings;
        // setImmediate is a turn of the event loop, not a time.
        const allowed = (n: string) => n === 'setImmediate' || (PERF_MODULES.has(from) && n !== 'performance');
        if (clause.name || (bindings && ts.isNamespaceImport(bindings))) hit(node, `import from '${from}'`);
        for (const s of bindings && ts.isNamedImports(bindings) ? bindings.elements : []) {
          const imported = (s.propertyName ?? s.name).text;
          if (!s.isTypeOnly && !allowed(imported)) hit(s, `${imported} from '${from}'`);
        }
      }
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const [arg] = node.arguments;
      if (arg && ts.isStringLiteral(arg) && (TIMER_MODULES.has(arg.text) || PERF_MODULES.has(arg.text))) hit(node, `import('${arg.text}')`);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return hits;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(path);
    return /\.(c|m)?[jt]s$/.test(e.name) && !e.name.endsWith('.d.ts') ? [path] : [];
  });
}

describe('raw time sources', () => {
  test('the scan finds each kind of raw time source, and nothing in comments, strings or same-named methods', () => {
    const found = rawTimeSources(
      'x.ts',
      [
        "import { setTimeout as delay, setImmediate } from 'node:timers/promises';",
        "import { performance } from 'node:perf_hooks';",
        'const a = Date.now();',
        'const b = new Date();',
        'const c = performance.now();',
        'setTimeout(() => {}, 1);',
        'const t = setInterval(() => {}, 1);',
        'const d = process.hrtime.bigint();',
        'const s = AbortSignal.timeout(10);',
        'const f = Date.now;',
        'globalThis.setTimeout(() => {}, 1);',
        "const g = await import('timers/promises');",
        'const h = Date();',
      ].join('\n'),
    );
    assert.deepEqual(
      found.map((h) => `${h.line}: ${h.what}`),
      [
        "1: setTimeout from 'node:timers/promises'",
        "2: performance from 'node:perf_hooks'",
        '3: Date.now',
        '4: new Date()',
        '5: performance.now',
        '6: setTimeout',
        '7: setInterval',
        '8: process.hrtime',
        '9: AbortSignal.timeout',
        '10: Date.now',
        '11: setTimeout',
        "12: import('timers/promises')",
        '13: Date()',
      ],
    );
    const clean = rawTimeSources(
      'y.ts',
      [
        '// Date.now() and setTimeout(fn) in a comment',
        "const msg = 'new Date() or performance.now() in a string';",
        'req.socket.setTimeout(0);',
        'const o = { setTimeout: 1, now: () => clock.now() };',
        'const when = new Date(clock.now());',
        'interface T { setInterval(): void }',
        "import { setImmediate as nextTurn } from 'node:timers/promises';",
      ].join('\n'),
    );
    assert.deepEqual(clean, []);
  });

  test('only src/util/clock.ts reads the time or sets timers in src/ (src/runtimes/ exempt)', () => {
    const files = sourceFiles(join(ROOT, 'src')).map((f) => relative(ROOT, f).split(sep).join('/'));
    assert.ok(files.includes('src/util/clock.ts') && files.length > 50, `scanned ${files.length} files under ${ROOT}src`);
    const hits = files
      .filter((f) => !EXEMPT.some((e) => f === e || (e.endsWith('/') && f.startsWith(e))))
      .flatMap((file) => rawTimeSources(file, readFileSync(join(ROOT, file), 'utf8')).map((h) => ({ file, ...h })));
    const offending = hits.map((h) => `${h.file}:${h.line}: ${h.what}`);
    assert.deepEqual(offending, [], `raw time sources outside the clock module (take the Clock from src/util/clock.ts instead):\n${offending.join('\n')}`);
  });
});
