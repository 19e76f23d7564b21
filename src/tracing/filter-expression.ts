/**
 * The subset of X-Ray filter expressions lambkin supports, parsed once and evaluated against trace
 * summaries. Anything outside it is an InvalidRequestException whose message lists what is
 * supported ({@link SUPPORTED_FILTERS}).
 *
 * Supported:
 * - `service("name")`, `service()` (any service), `service(id(name: "n", type: "AWS::Lambda", account.id: "123"))`
 *   (any of the three keys): the trace passed through a matching service.
 * - `duration OP N`, `responsetime OP N` (seconds), `http.status OP N` with OP one of
 *   `=`, `!=`, `<`, `<=`, `>`, `>=`.
 * - `annotation.KEY OP VALUE`: VALUE a "string" (`=`, `!=`, `CONTAINS`, `BEGINSWITH`, `ENDSWITH`),
 *   a number (any OP) or `true`/`false` (`=`, `!=`). True when the trace has the annotation with a
 *   matching value; `!=` is true when it has the annotation and no value equals VALUE.
 * - `resource.arn`, `http.url`, `http.method` with a "string" and the string operators.
 * - `ok`, `error`, `fault`, `throttle`, `partial`.
 * - `!`, `and`/`AND`/`&&`, `or`/`OR`/`||` (and binds tighter), parentheses.
 */
import { awsError } from '../errors/catalogue.js';
import type { AnnotationValue, TraceSummary } from './summary.js';

/** Appended to every refused expression, so a user learns what to write instead. */
export const SUPPORTED_FILTERS =
  'lambkin supports this subset of X-Ray filter expressions: service("name"), service(), service(id(name: "n", type: "t", account.id: "a")), ' +
  'duration OP N, responsetime OP N, http.status OP N, annotation.KEY OP VALUE (a "string", a number, true or false), ' +
  'resource.arn OP "s", http.url OP "s", http.method OP "s", ok, error, fault, throttle, partial, combined with !, and/AND/&&, or/OR/|| and parentheses. ' +
  'OP is =, !=, <, <=, >, >= for numbers; =, !=, CONTAINS, BEGINSWITH, ENDSWITH for strings; = and != for true/false.';

const MAX_LENGTH = 4000;
const MAX_DEPTH = 32;

type NumOp = '=' | '!=' | '<' | '<=' | '>' | '>=';
type StrOp = '=' | '!=' | 'CONTAINS' | 'BEGINSWITH' | 'ENDSWITH';

/** The parsed form of a filter expression. */
export type FilterNode =
  | { readonly t: 'and' | 'or'; readonly l: FilterNode; readonly r: FilterNode }
  | { readonly t: 'not'; readonly e: FilterNode }
  | { readonly t: 'flag'; readonly name: 'ok' | 'error' | 'fault' | 'throttle' | 'partial' }
  | { readonly t: 'num'; readonly field: 'duration' | 'responsetime' | 'http.status'; readonly op: NumOp; readonly value: number }
  | { readonly t: 'str'; readonly field: 'resource.arn' | 'http.url' | 'http.method'; readonly op: StrOp; readonly value: string }
  | { readonly t: 'annotation'; readonly key: string; readonly op: NumOp | StrOp; readonly value: string | number | boolean }
  | { readonly t: 'service'; readonly name?: string; readonly type?: string; readonly account?: string };

type Tok =
  | { k: 'punct'; v: '(' | ')' | ',' | ':' | '{' | '}' | '[' | ']'; at: number }
  | { k: 'op'; v: NumOp | '!' | '&&' | '||'; at: number }
  | { k: 'str'; v: string; at: number }
  | { k: 'num'; v: number; at: number }
  | { k: 'ident'; v: string; at: number }
  | { k: 'end'; at: number };

function fail(what: string): never {
  throw awsError('xrayInvalidRequest', { what: `Invalid FilterExpression: ${what}. ${SUPPORTED_FILTERS}` });
}

function tokenize(src: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i] as string;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    const two = src.slice(i, i + 2);
    if (two === '!=' || two === '>=' || two === '<=' || two === '&&' || two === '||') {
      out.push({ k: 'op', v: two, at: i });
      i += 2;
      continue;
    }
    if (c === '=' || c === '<' || c === '>' || c === '!') {
      out.push({ k: 'op', v: c, at: i });
      i++;
      continue;
    }
    if ('(),:{}[]'.includes(c)) {
      out.push({ k: 'punct', v: c as '(' | ')' | ',' | ':' | '{' | '}' | '[' | ']', at: i });
      i++;
      continue;
    }
    if (c === '"' || c === "'") {
      let s = '';
      let j = i + 1;
      for (; j < src.length && src[j] !== c; j++) {
        if (src[j] === '\\' && j + 1 < src.length) j++;
        s += src[j];
      }
      if (j >= src.length) fail(`unterminated string starting at position ${i}`);
      out.push({ k: 'str', v: s, at: i });
      i = j + 1;
      continue;
    }
    const num = /^-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?/.exec(src.slice(i));
    if (num) {
      const v = Number(num[0]);
      if (!Number.isFinite(v)) fail(`number out of range at position ${i}`);
      out.push({ k: 'num', v, at: i });
      i += num[0].length;
      continue;
    }
    const id = /^[A-Za-z_][A-Za-z0-9_.\-]*/.exec(src.slice(i));
    if (id) {
      out.push({ k: 'ident', v: id[0], at: i });
      i += id[0].length;
      continue;
    }
    fail(`unexpected character '${c}' at position ${i}`);
  }
  out.push({ k: 'end', at: src.length });
  return out;
}

const NUM_FIELDS = new Set(['duration', 'responsetime', 'http.status']);
const STR_FIELDS = new Set(['resource.arn', 'http.url', 'http.method']);
const FLAGS = new Set(['ok', 'error', 'fault', 'throttle', 'partial']);
const STR_OPS = new Set(['CONTAINS', 'BEGINSWITH', 'ENDSWITH']);

class Parser {
  private pos = 0;
  private depth = 0;
  constructor(private readonly toks: Tok[]) {}

  private peek(): Tok {
    return this.toks[this.pos] as Tok;
  }
  private next(): Tok {
    const t = this.peek();
    if (t.k !== 'end') this.pos++;
    return t;
  }
  private describe(t: Tok): string {
    return t.k === 'end' ? 'the end of the expression' : `'${String(t.v)}' at position ${t.at}`;
  }
  private expectPunct(v: string): void {
    const t = this.next();
    if (t.k !== 'punct' || t.v !== v) fail(`expected '${v}' but found ${this.describe(t)}`);
  }

  parse(): FilterNode {
    const n = this.or();
    const t = this.peek();
    if (t.k !== 'end') fail(`unexpected ${this.describe(t)}`);
    return n;
  }

  private isWord(t: Tok, ...words: string[]): boolean {
    return (t.k === 'ident' && words.includes(t.v)) || (t.k === 'op' && words.includes(t.v));
  }

  private or(): FilterNode {
    let l = this.and();
    while (this.isWord(this.peek(), 'or', 'OR', '||')) {
      this.next();
      l = { t: 'or', l, r: this.and() };
    }
    return l;
  }

  private and(): FilterNode {
    let l = this.unary();
    while (this.isWord(this.peek(), 'and', 'AND', '&&')) {
      this.next();
      l = { t: 'and', l, r: this.unary() };
    }
    return l;
  }

  private unary(): FilterNode {
    if (++this.depth > MAX_DEPTH) fail(`nesting deeper than ${MAX_DEPTH} levels`);
    try {
      const t = this.peek();
      if (t.k === 'op' && t.v === '!') {
        this.next();
        return { t: 'not', e: this.unary() };
      }
      if (t.k === 'punct' && t.v === '(') {
        this.next();
        const e = this.or();
        this.expectPunct(')');
        return e;
      }
      return this.primary();
    } finally {
      this.depth--;
    }
  }

  private primary(): FilterNode {
    const t = this.next();
    if (t.k !== 'ident') fail(`expected a keyword but found ${this.describe(t)}`);
    const word = t.v;
    const lower = word.toLowerCase();
    if (lower === 'service') return this.service();
    if (FLAGS.has(lower)) {
      const after = this.peek();
      if (after.k === 'op' && after.v !== '!' && after.v !== '&&' && after.v !== '||') fail(`'${word}' is not compared; write '${word}' or '!${word}'`);
      return { t: 'flag', name: lower as 'ok' | 'error' | 'fault' | 'throttle' | 'partial' };
    }
    if (NUM_FIELDS.has(lower)) {
      const op = this.operator();
      const v = this.next();
      if (v.k !== 'num') fail(`'${word}' compares with a number, found ${this.describe(v)}`);
      if (STR_OPS.has(op)) fail(`'${op}' compares strings, not '${word}'`);
      return { t: 'num', field: lower as 'duration' | 'responsetime' | 'http.status', op: op as NumOp, value: v.v };
    }
    if (STR_FIELDS.has(lower)) {
      const op = this.operator();
      const v = this.next();
      if (v.k !== 'str') fail(`'${word}' compares with a "string", found ${this.describe(v)}`);
      if (!(op === '=' || op === '!=' || STR_OPS.has(op))) fail(`'${op}' does not compare strings`);
      return { t: 'str', field: lower as 'resource.arn' | 'http.url' | 'http.method', op: op as StrOp, value: v.v };
    }
    if (lower.startsWith('annotation.') && word.length > 'annotation.'.length) {
      const key = word.slice('annotation.'.length);
      const op = this.operator();
      const v = this.next();
      let value: string | number | boolean;
      if (v.k === 'str') value = v.v;
      else if (v.k === 'num') value = v.v;
      else if (v.k === 'ident' && (v.v === 'true' || v.v === 'false')) value = v.v === 'true';
      else fail(`annotation.${key} compares with a "string", a number, true or false, found ${this.describe(v)}`);
      if (typeof value === 'string' && !(op === '=' || op === '!=' || STR_OPS.has(op))) fail(`'${op}' does not compare strings`);
      if (typeof value === 'boolean' && op !== '=' && op !== '!=') fail(`'${op}' does not compare true/false`);
      if (typeof value === 'number' && STR_OPS.has(op)) fail(`'${op}' compares strings, not numbers`);
      return { t: 'annotation', key, op: op as NumOp | StrOp, value };
    }
    return fail(`'${word}' at position ${t.at} is not a supported keyword`);
  }

  private operator(): NumOp | StrOp {
    const t = this.next();
    if (t.k === 'op' && t.v !== '!' && t.v !== '&&' && t.v !== '||') return t.v;
    if (t.k === 'ident' && STR_OPS.has(t.v.toUpperCase())) return t.v.toUpperCase() as StrOp;
    return fail(`expected a comparison operator but found ${this.describe(t)}`);
  }

  private service(): FilterNode {
    this.expectPunct('(');
    let node: { t: 'service'; name?: string; type?: string; account?: string } = { t: 'service' };
    const t = this.peek();
    if (t.k === 'str') {
      this.next();
      node = { t: 'service', name: t.v };
    } else if (t.k === 'ident' && t.v === 'id') {
      this.next();
      this.expectPunct('(');
      for (let first = true; ; first = false) {
        const k = this.peek();
        if (k.k === 'punct' && k.v === ')') break;
        if (!first) this.expectPunct(',');
        const key = this.next();
        if (key.k !== 'ident' || !['name', 'type', 'account.id'].includes(key.v)) fail(`id() takes name, type and account.id, found ${this.describe(key)}`);
        this.expectPunct(':');
        const v = this.next();
        if (v.k !== 'str') fail(`id(${key.v}: ...) takes a "string", found ${this.describe(v)}`);
        if (key.v === 'name') node.name = v.v;
        else if (key.v === 'type') node.type = v.v;
        else node.account = v.v;
      }
      this.expectPunct(')');
    }
    this.expectPunct(')');
    const after = this.peek();
    if (after.k === 'punct' && after.v === '{') fail(`service(...) { ... } filters are not supported`);
    return node;
  }
}

/** Parses a filter expression; throws InvalidRequestException (an AwsError) and nothing else. */
export function parseFilterExpression(expression: string): FilterNode {
  if (expression.length > MAX_LENGTH) fail(`longer than ${MAX_LENGTH} characters`);
  if (expression.trim() === '') fail('empty expression');
  return new Parser(tokenize(expression)).parse();
}

function cmpNum(a: number, op: NumOp, b: number): boolean {
  switch (op) {
    case '=':
      return a === b;
    case '!=':
      return a !== b;
    case '<':
      return a < b;
    case '<=':
      return a <= b;
    case '>':
      return a > b;
    case '>=':
      return a >= b;
  }
}

function cmpStr(a: string, op: Exclude<StrOp, '!='>, b: string): boolean {
  switch (op) {
    case '=':
      return a === b;
    case 'CONTAINS':
      return a.includes(b);
    case 'BEGINSWITH':
      return a.startsWith(b);
    case 'ENDSWITH':
      return a.endsWith(b);
  }
}

/** Any of `values` matches; `!=` means: there are values and none equals. */
function anyStr(values: readonly string[], op: StrOp, b: string): boolean {
  if (op === '!=') return values.length > 0 && !values.includes(b);
  return values.some((v) => cmpStr(v, op, b));
}

function annotationMatches(v: AnnotationValue, op: NumOp | StrOp, target: string | number | boolean): boolean {
  if (typeof target === 'boolean') return 'BooleanValue' in v && (op === '=' ? v.BooleanValue === target : v.BooleanValue !== target);
  if (typeof target === 'number') return 'NumberValue' in v && cmpNum(v.NumberValue, op as NumOp, target);
  return 'StringValue' in v && cmpStr(v.StringValue, op as Exclude<StrOp, '!='>, target);
}

/** Evaluates a parsed filter against one summary. */
export function evaluateFilter(n: FilterNode, s: TraceSummary): boolean {
  switch (n.t) {
    case 'and':
      return evaluateFilter(n.l, s) && evaluateFilter(n.r, s);
    case 'or':
      return evaluateFilter(n.l, s) || evaluateFilter(n.r, s);
    case 'not':
      return !evaluateFilter(n.e, s);
    case 'flag':
      switch (n.name) {
        case 'ok':
          return !s.HasError && !s.HasFault && !s.HasThrottle;
        case 'error':
          return s.HasError;
        case 'fault':
          return s.HasFault;
        case 'throttle':
          return s.HasThrottle;
        case 'partial':
          return s.IsPartial;
      }
      return false;
    case 'num': {
      const v = n.field === 'duration' ? s.Duration : n.field === 'responsetime' ? s.ResponseTime : s.Http?.HttpStatus;
      return v !== undefined && cmpNum(v, n.op, n.value);
    }
    case 'str': {
      const values =
        n.field === 'resource.arn'
          ? s.ResourceARNs.map((r) => r.ARN)
          : [n.field === 'http.url' ? s.Http?.HttpURL : s.Http?.HttpMethod].filter((x): x is string => x !== undefined);
      return anyStr(values, n.op, n.value);
    }
    case 'annotation': {
      const values = (s.Annotations[n.key] ?? []).map((a) => a.AnnotationValue);
      if (n.op === '!=') return values.length > 0 && !values.some((v) => annotationMatches(v, '=', n.value));
      return values.some((v) => annotationMatches(v, n.op, n.value));
    }
    case 'service':
      return s.ServiceIds.some(
        (id) =>
          (n.name === undefined || id.Name === n.name || (id.Names ?? []).includes(n.name)) &&
          (n.type === undefined || id.Type === n.type) &&
          (n.account === undefined || id.AccountId === n.account),
      );
  }
}

/** Parses `expression` (InvalidRequestException when unsupported) into a predicate over summaries. */
export function compileFilter(expression: string): (s: TraceSummary) => boolean {
  const node = parseFilterExpression(expression);
  return (s) => evaluateFilter(node, s);
}
