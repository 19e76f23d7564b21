/** Zip builders for tests (fflate). */
import { Zip, ZipDeflate, zipSync, type Zippable } from 'fflate';
import { seedHelloZip } from '../../src/experiments/seed-cases.js';

export interface ZipFile {
  readonly content: string | Uint8Array;
  /** Unix mode bits (e.g. 0o755); sets os = Unix. Include the type bits for symlinks (0o120777). */
  readonly mode?: number;
}

/** A zip of `files` (name -> content, or { content, mode }). Names are used exactly as given. */
export function buildZip(files: Record<string, string | Uint8Array | ZipFile>): Buffer {
  const z: Zippable = {};
  for (const [name, f] of Object.entries(files)) {
    const spec: ZipFile = typeof f === 'string' || f instanceof Uint8Array ? { content: f } : f;
    const data = typeof spec.content === 'string' ? new TextEncoder().encode(spec.content) : spec.content;
    if (spec.mode === undefined) {
      z[name] = data;
    } else {
      const type = spec.mode & 0o170000 ? 0 : 0o100000; // regular file unless a type was given
      z[name] = [data, { os: 3, attrs: ((type | spec.mode) << 16) >>> 0 }];
    }
  }
  return Buffer.from(zipSync(z, { level: 6 }));
}

/**
 * A zip with one entry of `bytes` zeros, built by streaming so the test never holds the
 * uncompressed data (300 MB of zeros compresses to ~300 KB).
 */
export async function makeZerosZip(name: string, bytes: number, chunk = 1 << 20): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  const done = new Promise<void>((resolve, reject) => {
    const zip = new Zip((err, data, final) => {
      if (err) return reject(err);
      parts.push(data);
      if (final) resolve();
    });
    const entry = new ZipDeflate(name, { level: 1 });
    zip.add(entry);
    const zeros = new Uint8Array(chunk);
    let left = bytes;
    while (left > chunk) {
      entry.push(zeros);
      left -= chunk;
    }
    entry.push(zeros.subarray(0, left), true);
    zip.end();
  });
  await done;
  return Buffer.concat(parts);
}

/** A zip of text files, mode 0644, or 0755 for `exec` ones (a custom runtime's `bootstrap`). */
export function makeZip(files: Record<string, string | { text: string; exec?: boolean }>): Buffer {
  return buildZip(
    Object.fromEntries(
      Object.entries(files).map(([name, f]) => [name, typeof f === 'string' ? { content: f, mode: 0o644 } : { content: f.text, mode: f.exec ? 0o755 : 0o644 }]),
    ),
  );
}

/** The seed's hello.zip (its handler, verbatim). */
export const helloZip = seedHelloZip;

/** A zip that is only an end-of-central-directory record: a valid, empty archive. */
export const EMPTY_ZIP = Buffer.concat([Buffer.from([0x50, 0x4b, 0x05, 0x06]), Buffer.alloc(18)]);

/**
 * `zip` with the CRC-32 of every entry wrong (in its local header and in the central directory),
 * the data itself intact: only a CRC check can tell.
 */
export function withWrongCrcs(zip: Buffer): Buffer {
  const out = Buffer.from(zip);
  for (const [signature, offset] of [
    [0x04034b50, 14],
    [0x02014b50, 16],
  ] as const) {
    for (let i = out.indexOf(le32(signature)); i >= 0; i = out.indexOf(le32(signature), i + 4)) {
      out.writeUInt32LE((out.readUInt32LE(i + offset) ^ 0xdeadbeef) >>> 0, i + offset);
    }
  }
  return out;
}

function le32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}
