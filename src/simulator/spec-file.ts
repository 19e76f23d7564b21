/**
 * Reads a spec file in YAML (`.yaml`, `.yml`) or JSON (anything else), keeping enough of the source to
 * say on which line a value sits: validation errors then name file and line, not only a path.
 */
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';

export type SpecFormat = 'yaml' | 'json';

/** A parsed spec file. */
export interface SpecFile {
  readonly format: SpecFormat;
  /** The plain data (objects, arrays, strings, numbers, booleans, null). */
  readonly data: unknown;
  /** 1-based line of the value at `path`, or of its nearest ancestor present in the file; undefined when unknown. */
  locate(path: readonly PropertyKey[]): number | undefined;
}

/** A syntax error; `line`/`column` are 1-based when known. */
export class SpecSyntaxError extends Error {
  override readonly name = 'SpecSyntaxError';
  constructor(
    message: string,
    readonly format: SpecFormat,
    readonly line?: number,
    readonly column?: number,
  ) {
    super(message);
  }
}

/** The format a file name implies. */
export function specFormat(path: string): SpecFormat {
  return /\.ya?ml$/i.test(path) ? 'yaml' : 'json';
}

/** Line/column of a character offset. */
function lineColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let start = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      start = i + 1;
    }
  }
  return { line, column: offset - start + 1 };
}

/** Locator over a parsed YAML document. */
function locator(doc: Document.Parsed, lineCounter: LineCounter): SpecFile['locate'] {
  // A document the YAML parser rejects (e.g. JSON indented with tabs) gives no line numbers, nothing worse.
  if (doc.errors.length > 0) return () => undefined;
  const lineOf = (n: Node | null | undefined): number | undefined => (n?.range ? lineCounter.linePos(n.range[0]).line : undefined);
  return (path) => {
    let node: unknown = doc.contents;
    let line = lineOf(doc.contents);
    for (const seg of path) {
      if (isMap(node)) {
        // Keys are compared as text: `0:` in YAML is the number 0, but the data (and the path) say "0".
        const pair = node.items.find((p) => String(isScalar(p.key) ? p.key.value : p.key) === String(seg));
        if (!pair) break;
        line = lineOf(isScalar(pair.key) ? pair.key : (pair.value as Node | null)) ?? line;
        node = pair.value;
      } else if (isSeq(node) && typeof seg === 'number') {
        const item = node.items[seg] as Node | undefined;
        if (!item) break;
        line = lineOf(item) ?? line;
        node = item;
      } else {
        break;
      }
    }
    return line;
  };
}

/** Parses spec text. Throws SpecSyntaxError. */
export function parseSpecText(text: string, format: SpecFormat): SpecFile {
  if (format === 'json') {
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch (err) {
      const msg = (err as Error).message;
      // V8 names the offset for some errors ("... in JSON at position 42"); turn it into line and column.
      const pos = /at position (\d+)/.exec(msg);
      if (pos) {
        const { line, column } = lineColumn(text, Number(pos[1]));
        throw new SpecSyntaxError(`${msg} (line ${line}, column ${column})`, 'json', line, column);
      }
      throw new SpecSyntaxError(msg, 'json');
    }
    let locate: SpecFile['locate'] | undefined;
    // JSON text parses as YAML too (flow style), for line numbers only; built lazily, as only an
    // invalid spec needs them.
    const build = () => {
      const lc = new LineCounter();
      return locator(parseDocument(text, { lineCounter: lc }), lc);
    };
    return { format, data, locate: (p) => (locate ??= build())(p) };
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: true });
  const first = doc.errors[0];
  if (first) {
    const pos = first.linePos?.[0];
    // prettyErrors messages already say "at line L, column C:" followed by the offending source line.
    const more = doc.errors.length > 1 ? `\n(and ${doc.errors.length - 1} more error${doc.errors.length > 2 ? 's' : ''})` : '';
    throw new SpecSyntaxError(`${first.message.trimEnd()}${more}`, 'yaml', pos?.line, pos?.col);
  }
  let data: unknown;
  try {
    data = doc.toJS();
  } catch (err) {
    // e.g. an alias that exceeds maxAliasCount (a "billion laughs" document)
    throw new SpecSyntaxError((err as Error).message, 'yaml');
  }
  return { format, data, locate: locator(doc, lineCounter) };
}
