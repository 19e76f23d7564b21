import { seedHelloZip } from '../../src/experiments/seed-cases.js';
import { zipSync, type Zippable } from 'fflate';

/** Builds a zip in memory; files given as text are stored with mode 0644, `exec` ones 0755. */
export function makeZip(files: Record<string, string | { text: string; exec?: boolean }>): Buffer {
  const entries: Zippable = {};
  for (const [name, f] of Object.entries(files)) {
    const text = typeof f === 'string' ? f : f.text;
    const mode = typeof f === 'object' && f.exec ? 0o100755 : 0o100644;
    // Unix mode lives in the high 16 bits of the external attributes, with "made by" = Unix (3).
    entries[name] = [Buffer.from(text), { os: 3, attrs: (mode << 16) >>> 0 }];
  }
  return Buffer.from(zipSync(entries));
}

/** The seed's hello.zip (its handler, verbatim). */
export const helloZip = seedHelloZip;
