/**
 * Shared pieces of the integration tests that drive a real lambkin with the real AWS SDK:
 * AWS error assertions, function creation, awaiting log lines, and zips built for bad-input tests.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { deflateRawSync } from 'node:zlib';
import type { TestContext } from 'node:test';
import { CreateFunctionCommand, type CreateFunctionCommandInput, type FunctionConfiguration, type LambdaClient } from '@aws-sdk/client-lambda';
import type { Lambkin } from '../../src/cli/lambkin.js';
import { leakFree, type Defer } from './leaks.js';
import { startTestServer, type TestServer } from './server.js';
import type { StartOptions } from '../../src/cli/lambkin.js';

export const ROLE = 'arn:aws:iam::000000000000:role/lambda-role';

/** The SDK error fields the tests look at. */
export interface SdkError {
  name: string;
  message: string;
  $metadata: { httpStatusCode?: number };
}

/** Awaits `p`, which must reject with the AWS error `name` and HTTP `status`; returns the error. */
export async function rejectsAws(p: Promise<unknown>, name: string, status: number, message?: RegExp): Promise<SdkError> {
  let err: SdkError | undefined;
  try {
    await p;
  } catch (e) {
    err = e as SdkError;
  }
  assert.ok(err, `expected ${name} (${status}), but the call succeeded`);
  assert.equal(err.name, name, `expected ${name}, got ${err.name}: ${err.message}`);
  assert.equal(err.$metadata?.httpStatusCode, status, `expected HTTP ${status} for ${name}`);
  if (message) assert.match(err.message, message);
  return err;
}

/** Creates a function with sensible defaults (nodejs20.x, 128 MB, 3 s). */
export function createFn(
  lambda: LambdaClient,
  name: string,
  zip: Buffer,
  extra: Partial<CreateFunctionCommandInput> = {},
): Promise<FunctionConfiguration> {
  return lambda.send(
    new CreateFunctionCommand({
      FunctionName: name,
      Runtime: 'nodejs20.x',
      Handler: 'index.handler',
      Role: ROLE,
      Code: { ZipFile: zip },
      ...extra,
    }),
  );
}

/** Decodes an Invoke payload as JSON. */
export function json(payload: Uint8Array | undefined): unknown {
  return JSON.parse(Buffer.from(payload ?? []).toString('utf8'));
}

/** Decodes a LogResult (base64 tail). */
export function tail(logResult: string | undefined): string {
  return Buffer.from(logResult ?? '', 'base64').toString('utf8');
}

/**
 * Resolves with the lines of the first log append of function `name` that contains a line
 * matching `match` (LogStore writes one append per invocation, after it finished).
 */
export function nextLog(lambkin: Lambkin, name: string, match: RegExp = /^REPORT /): Promise<readonly string[]> {
  return new Promise((resolve) => {
    const off = lambkin.logs.subscribe((key, lines) => {
      if (key.functionName === name && lines.some((l) => match.test(l))) {
        off();
        resolve(lines);
      }
    });
  });
}

/**
 * One leak-checked server for a group of subtests that may share it: the group's body gets the
 * server and runs its cases with `t.test`; processes and servers are checked once at the end.
 */
export function serverGroup(
  options: StartOptions,
  body: (t: TestContext, s: TestServer, defer: Defer) => Promise<void>,
): (t: TestContext) => Promise<void> {
  return leakFree(async (t, defer) => {
    const s = await startTestServer(defer, options);
    await body(t, s, defer);
  });
}

/** True if `cmd args...` runs and exits 0. */
export function works(cmd: string, args: string[]): boolean {
  const r = spawnSync(cmd, args, { stdio: 'ignore', timeout: 20_000 });
  return r.status === 0;
}

// ---------------------------------------------------------------- zips built by hand

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(buf: Buffer): number {
  let c = 0xffffffff;
  for (const b of buf) c = (CRC_TABLE[(c ^ b) & 0xff] as number) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

interface RawEntry {
  name: string;
  /** Deflated (method 8) or stored (method 0) bytes. */
  data: Buffer;
  method: 0 | 8;
  crc: number;
  size: number;
}

/** Writes a zip from entries whose compressed data is given (so one compressed block can be reused). */
function rawZip(entries: readonly RawEntry[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = Buffer.from(e.name);
    const lh = Buffer.alloc(30);
    lh.writeUInt32LE(0x04034b50, 0);
    lh.writeUInt16LE(20, 4);
    lh.writeUInt16LE(0, 6);
    lh.writeUInt16LE(e.method, 8);
    lh.writeUInt32LE(0, 10); // time/date
    lh.writeUInt32LE(e.crc, 14);
    lh.writeUInt32LE(e.data.length, 18);
    lh.writeUInt32LE(e.size, 22);
    lh.writeUInt16LE(name.length, 26);
    lh.writeUInt16LE(0, 28);
    const ch = Buffer.alloc(46);
    ch.writeUInt32LE(0x02014b50, 0);
    ch.writeUInt16LE((3 << 8) | 20, 4);
    ch.writeUInt16LE(20, 6);
    ch.writeUInt16LE(0, 8);
    ch.writeUInt16LE(e.method, 10);
    ch.writeUInt32LE(0, 12);
    ch.writeUInt32LE(e.crc, 16);
    ch.writeUInt32LE(e.data.length, 20);
    ch.writeUInt32LE(e.size, 24);
    ch.writeUInt16LE(name.length, 28);
    ch.writeUInt32LE((0o100644 << 16) >>> 0, 38);
    ch.writeUInt32LE(offset, 42);
    locals.push(lh, name, e.data);
    centrals.push(ch, name);
    offset += lh.length + name.length + e.data.length;
  }
  const cd = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, end]);
}

/** A small zip (a few hundred KB) that inflates to `totalMb` MB of zeros in 1 MB files. */
export function zipBomb(totalMb: number): Buffer {
  const mb = Buffer.alloc(1 << 20);
  const data = deflateRawSync(mb, { level: 9 });
  const crc = crc32(mb);
  const entries: RawEntry[] = [{ name: 'index.js', data: Buffer.from('exports.handler = async () => 1;\n'), method: 0, crc: crc32(Buffer.from('exports.handler = async () => 1;\n')), size: 33 }];
  for (let i = 0; i < totalMb; i++) entries.push({ name: `pad/${i}.bin`, data, method: 8, crc, size: mb.length });
  return rawZip(entries);
}

/** A zip of one stored (uncompressed) entry of `bytes` random bytes: as large as its content. */
export function incompressibleZip(bytes: number, random: (n: number) => Buffer): Buffer {
  const data = random(bytes);
  return rawZip([{ name: 'blob.bin', data, method: 0, crc: crc32(data), size: data.length }]);
}

/** A zip with an entry whose name escapes the extraction folder. */
export function escapingZip(): Buffer {
  const ok = Buffer.from('exports.handler = async () => 1;\n');
  const evil = Buffer.from('pwned\n');
  return rawZip([
    { name: 'index.js', data: ok, method: 0, crc: crc32(ok), size: ok.length },
    { name: '../evil.js', data: evil, method: 0, crc: crc32(evil), size: evil.length },
  ]);
}
