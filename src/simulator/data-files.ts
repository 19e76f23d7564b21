/**
 * Locates the simulator's shipped data (src/simulator/data/**). The build copies it next to the compiled
 * module (dist/src/simulator/data); when running from dist inside a checkout before that copy exists,
 * the source tree's copy is used.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Absolute path of a file or directory under the simulator's data directory. */
export function dataPath(relative: string): string {
  const candidates = [new URL(`./data/${relative}`, import.meta.url), new URL(`../../../src/simulator/data/${relative}`, import.meta.url)];
  for (const u of candidates) {
    const p = fileURLToPath(u);
    if (existsSync(p)) return p;
  }
  return fileURLToPath(candidates[0]!);
}
