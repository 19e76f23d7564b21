/**
 * The interpreters runtimes run on, resolved once per lambkin process: `python3` on PATH may be a
 * version manager's shim that costs ~300 ms per start, and a full sandbox must be shown the
 * interpreter's own directories (it sees no other host path).
 */
import { execFileSync } from 'node:child_process';

/** A resolved interpreter: the real executable and the host directories it needs. */
export interface Interpreter {
  readonly executable: string;
  /** Directories outside /usr the interpreter loads from (its prefixes). */
  readonly dirs: readonly string[];
}

const resolved = new Map<string, Interpreter>();

const PROBE = 'import os, sys\nprint(os.path.realpath(sys.executable))\nprint(os.path.realpath(sys.prefix))\nprint(os.path.realpath(sys.base_prefix))';

/** Asks `python` where it really is; falls back to the name as given when it cannot be run. */
export function resolveInterpreter(python: string): Interpreter {
  let hit = resolved.get(python);
  if (!hit) {
    try {
      const [executable = python, ...prefixes] = execFileSync(python, ['-c', PROBE], { encoding: 'utf8', timeout: 10_000 }).trim().split('\n');
      hit = { executable, dirs: [...new Set(prefixes.filter(Boolean))] };
    } catch {
      hit = { executable: python, dirs: [] };
    }
    resolved.set(python, hit);
  }
  return hit;
}
