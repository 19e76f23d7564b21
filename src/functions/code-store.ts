/**
 * Function code on disk, content-addressed by the zip's SHA-256:
 *
 *   <dataDir>/code/<hex>.zip   the zip as uploaded (GetFunction's Code.Location serves it)
 *   <dataDir>/code/<hex>/      its extracted tree (a sandbox's LAMBDA_TASK_ROOT)
 *
 * A distinct zip is validated and extracted once. Extraction goes to a temp dir that is renamed
 * into place only when complete, so a reader never sees half a tree and a failure leaves
 * nothing behind. The extracted dir is the commit marker: code "exists" once it is in place.
 *
 * Safety: entry names are checked by us (yauzl's own check is bypassed so that an escaping
 * entry is reported as such, not as a corrupt zip): no absolute paths, drive letters, NUL or
 * `..` segments (backslashes count as separators). Symlink entries are skipped, never created,
 * so no later entry can be written through one. The uncompressed total is counted from the
 * bytes actually inflated, not from headers, and every entry's CRC-32 is checked (yauzl does not).
 * A zip with no entries at all is refused.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, readdirSync, renameSync } from 'node:fs';
import { chmod, mkdir, rm, writeFile, rename } from 'node:fs/promises';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { crc32 } from 'node:zlib';
import yauzl from 'yauzl';
import { AwsError, awsError, limits } from '../errors/catalogue.js';

/** Largest zip accepted in a request (AWS: 50 MB). */
export const MAX_ZIP_BYTES = 52_428_800;
/** Largest total uncompressed size of a zip (AWS: 250 MB). */
export const MAX_UNZIPPED_BYTES = 262_144_000;

/** Code as {@link CodeStore.put} stored it. */
export interface StoredCode {
  /** SHA-256 of the zip, base64, as AWS's CodeSha256. */
  readonly sha256: string;
  /** The zip's size in bytes (AWS's CodeSize). */
  readonly size: number;
  /** The extracted tree. */
  readonly dir: string;
}

/** Limits of a {@link CodeStore} (AWS's by default). */
export interface CodeStoreOptions {
  /** Override of {@link MAX_UNZIPPED_BYTES} (tests use small limits). */
  readonly maxUnzippedBytes?: number;
  /** Override of {@link MAX_ZIP_BYTES}. */
  readonly maxZipBytes?: number;
}

const TMP_PREFIX = '.tmp-';
const TRASH_PREFIX = '.trash-';
const S_IFMT = 0o170000;
const S_IFLNK = 0o120000;
const S_IFDIR = 0o040000;
const MADE_BY_UNIX = 3;

/** Content-addressed code storage under `<dataDir>/code/`. */
export class CodeStore {
  readonly root: string;
  private readonly maxUnzipped: number;
  private readonly maxZip: number;
  /** Shas handed out by put() and not yet released: collect() must not remove them. */
  private readonly pins = new Map<string, number>();
  /** Temp names of extractions in progress, which collect() must leave alone. */
  private readonly inFlight = new Set<string>();

  constructor(dataDir: string, options: CodeStoreOptions = {}) {
    this.root = path.join(dataDir, 'code');
    mkdirSync(this.root, { recursive: true });
    this.maxUnzipped = options.maxUnzippedBytes ?? MAX_UNZIPPED_BYTES;
    this.maxZip = options.maxZipBytes ?? MAX_ZIP_BYTES;
  }

  /**
   * Stores `zip` (validating and extracting it unless this zip is stored already) and pins it
   * against {@link collect} until {@link release} is called with its sha.
   * `operation` names the API operation in the too-large error (`CreateFunction`, `UpdateFunctionCode`).
   */
  async put(zip: Buffer, operation = 'CreateFunction'): Promise<StoredCode> {
    if (zip.length > this.maxZip) {
      // AWS words this with the request-size limit (the base64 of a 50 MB zip).
      throw awsError('requestEntityTooLarge', { operation, limit: limits.createFunctionRequestBytes });
    }
    const digest = createHash('sha256').update(zip).digest();
    const sha256 = digest.toString('base64');
    const hex = digest.toString('hex');
    this.pin(sha256);
    try {
      if (!this.hasHex(hex)) await this.extractInto(zip, hex);
      return { sha256, size: zip.length, dir: this.dirForHex(hex) };
    } catch (e) {
      this.release(sha256);
      throw e;
    }
  }

  /** Drops one pin taken by {@link put} (call once the sha is referenced, or given up). */
  release(sha256: string): void {
    const n = this.pins.get(sha256) ?? 0;
    if (n <= 1) this.pins.delete(sha256);
    else this.pins.set(sha256, n - 1);
  }

  /** Path of the stored zip for `sha256` (base64). */
  zipPath(sha256: string): string {
    return path.join(this.root, `${toHex(sha256)}.zip`);
  }

  /** Path of the extracted tree for `sha256` (base64). */
  dirFor(sha256: string): string {
    return this.dirForHex(toHex(sha256));
  }

  /** True if code for `sha256` (base64) is stored (zip and extracted tree). */
  has(sha256: string): boolean {
    return this.hasHex(toHex(sha256));
  }

  /** The base64 shas of all stored code. */
  list(): string[] {
    return readdirSync(this.root)
      .filter((n) => /^[0-9a-f]{64}$/.test(n))
      .map((hex) => Buffer.from(hex, 'hex').toString('base64'));
  }

  /**
   * Removes stored code whose sha is neither in `inUse` nor pinned, and leftovers of crashed
   * extractions. Returns the removed shas (base64).
   */
  async collect(inUse: ReadonlySet<string>): Promise<string[]> {
    const removed: string[] = [];
    const trash: string[] = [];
    // The decision and the rename out of place are synchronous, so a concurrent put() either
    // sees the code gone (and extracts again) or pinned it first (and we skip it).
    for (const name of readdirSync(this.root)) {
      const hex = /^([0-9a-f]{64})(\.zip)?$/.exec(name)?.[1];
      if (hex !== undefined) {
        const sha = Buffer.from(hex, 'hex').toString('base64');
        if (inUse.has(sha) || this.pins.has(sha)) continue;
        const to = path.join(this.root, `${TRASH_PREFIX}${randomBytes(6).toString('hex')}`);
        renameSync(path.join(this.root, name), to);
        trash.push(to);
        if (!name.endsWith('.zip')) removed.push(sha);
      } else if ((name.startsWith(TMP_PREFIX) && !this.inFlight.has(name.replace(/\.zip$/, ''))) || name.startsWith(TRASH_PREFIX)) {
        trash.push(path.join(this.root, name));
      }
    }
    await Promise.all(trash.map((t) => rm(t, { recursive: true, force: true })));
    return removed;
  }

  /** Removes the code of `sha256` unless it is in `inUse` or pinned. */
  async remove(sha256: string, inUse: ReadonlySet<string> = new Set()): Promise<boolean> {
    if (inUse.has(sha256) || this.pins.has(sha256)) return false;
    const hex = toHex(sha256);
    const trash: string[] = [];
    for (const name of [hex, `${hex}.zip`]) {
      const from = path.join(this.root, name);
      if (!existsSync(from)) continue;
      const to = path.join(this.root, `${TRASH_PREFIX}${randomBytes(6).toString('hex')}`);
      renameSync(from, to);
      trash.push(to);
    }
    await Promise.all(trash.map((t) => rm(t, { recursive: true, force: true })));
    return trash.length > 0;
  }

  private pin(sha256: string): void {
    this.pins.set(sha256, (this.pins.get(sha256) ?? 0) + 1);
  }

  private dirForHex(hex: string): string {
    return path.join(this.root, hex);
  }

  private hasHex(hex: string): boolean {
    return existsSync(path.join(this.root, hex)) && existsSync(path.join(this.root, `${hex}.zip`));
  }

  private async extractInto(zip: Buffer, hex: string): Promise<void> {
    const tmpName = `${TMP_PREFIX}${randomBytes(8).toString('hex')}`;
    const tmp = path.join(this.root, tmpName);
    const tmpZip = `${tmp}.zip`;
    this.inFlight.add(tmpName);
    try {
      await mkdir(tmp, { mode: 0o755 });
      await extract(zip, tmp, this.maxUnzipped);
      await writeFile(tmpZip, zip, { mode: 0o644 });
      // The zip first, then the tree: the tree is the marker that the code is complete.
      await rename(tmpZip, path.join(this.root, `${hex}.zip`));
      try {
        await rename(tmp, this.dirForHex(hex));
      } catch (e) {
        // A concurrent put() of the same zip won the race; its tree is identical.
        if (!isCode(e, 'ENOTEMPTY') && !isCode(e, 'EEXIST')) throw e;
      }
    } finally {
      this.inFlight.delete(tmpName);
      await rm(tmp, { recursive: true, force: true });
      await rm(tmpZip, { force: true });
    }
  }
}

/** Base64 CodeSha256 -> the hex used on disk. Throws on anything that is not a SHA-256. */
function toHex(sha256: string): string {
  const buf = Buffer.from(sha256, 'base64');
  if (buf.length !== 32 || buf.toString('base64') !== sha256) throw new Error(`not a base64 SHA-256: '${sha256}'`);
  return buf.toString('hex');
}

function isCode(e: unknown, code: string): boolean {
  return typeof e === 'object' && e !== null && (e as { code?: unknown }).code === code;
}

function badZip(e: unknown): AwsError {
  if (e instanceof AwsError) return e;
  return awsError('badZip', { detail: e instanceof Error ? e.message : String(e) });
}

/**
 * The entry's path relative to the extraction root, or a thrown `zipEntryOutsideFolder`.
 * Returns null for names that are only the root itself (`./`).
 */
export function safeEntryPath(rawName: string): string | null {
  const name = rawName.replace(/\\/g, '/');
  if (name.includes('\0') || name.startsWith('/') || /^[a-zA-Z]:/.test(name)) {
    throw awsError('zipEntryOutsideFolder', { entry: rawName });
  }
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.some((p) => p === '..')) throw awsError('zipEntryOutsideFolder', { entry: rawName });
  return parts.length === 0 ? null : parts.join('/');
}

async function extract(zip: Buffer, dest: string, maxUnzipped: number): Promise<void> {
  let zipfile: yauzl.ZipFile;
  try {
    // decodeStrings: false so that yauzl does not reject '../x' as a generic error: we decode
    // and check names ourselves, to answer with the entry that escapes.
    zipfile = await yauzl.fromBufferPromise(zip, { lazyEntries: true, validateEntrySizes: true, decodeStrings: false });
  } catch (e) {
    throw badZip(e);
  }
  if (zipfile.entryCount === 0) {
    // Only an end-of-central-directory record: nothing to run (AWS refuses it the same way).
    zipfile.close();
    throw awsError('badZip', { detail: 'the zip holds no entries' });
  }
  let total = 0;
  let current: yauzl.Entry | undefined;
  const made = new Set<string>();
  const ensureDir = async (dir: string) => {
    if (made.has(dir)) return;
    await mkdir(dir, { recursive: true, mode: 0o755 });
    made.add(dir);
  };
  try {
    for await (const entry of zipfile.eachEntry()) {
      current = entry;
      // With decodeStrings false, fileName is the raw Buffer; decode like yauzl would (UTF-8 flag,
      // Info-ZIP unicode path), keeping backslashes so that our check sees the name as written.
      const rawName = entryName(entry);
      const rel = safeEntryPath(rawName);
      const mode = entry.versionMadeBy >> 8 === MADE_BY_UNIX ? (entry.externalFileAttributes >>> 16) & 0xffff : 0;
      if ((mode & S_IFMT) === S_IFLNK) continue; // never materialize symlinks (see file comment)
      if (rel === null) continue;
      const target = path.join(dest, rel);
      if (!target.startsWith(dest + path.sep)) throw awsError('zipEntryOutsideFolder', { entry: rawName });
      const isDir = /[/\\]$/.test(rawName) || (mode & S_IFMT) === S_IFDIR;
      if (isDir) {
        await ensureDir(target);
        continue;
      }
      if (entry.isEncrypted()) throw awsError('badZip', { detail: `entry '${rawName}' is encrypted` });
      // Headers are a hint only: reject early if they already say too much, then count real bytes.
      if (total + entry.uncompressedSize > maxUnzipped) throw awsError('unzippedTooLarge', { limit: maxUnzipped });
      await ensureDir(path.dirname(target));
      const stream = await zipfile.openReadStreamPromise(entry);
      // yauzl does not check CRC-32s: a damaged entry must not become code that runs.
      let crc = 0;
      const counter = new Transform({
        transform(chunk: Buffer, _enc, cb) {
          total += chunk.length;
          crc = crc32(chunk, crc);
          if (total > maxUnzipped) cb(awsError('unzippedTooLarge', { limit: maxUnzipped }));
          else cb(null, chunk);
        },
        flush(cb) {
          if (crc >>> 0 !== entry.crc32 >>> 0) cb(awsError('badZip', { detail: `CRC-32 mismatch in entry '${rawName}'` }));
          else cb();
        },
      });
      await pipeline(stream, counter, createWriteStream(target, { mode: 0o644 }));
      // Preserve the executable bit (a `bootstrap` must stay runnable); nothing else of the mode.
      await chmod(target, mode & 0o111 ? 0o755 : 0o644);
    }
  } catch (e) {
    zipfile.close();
    if (e instanceof AwsError) throw e;
    // Name the entry, not our temp path (fs errors carry it in their message).
    const code = typeof e === 'object' && e !== null && typeof (e as { code?: unknown }).code === 'string' ? (e as { code: string }).code : '';
    const what = code.startsWith('E') && current ? `${code} while extracting entry '${entryName(current)}'` : e instanceof Error ? e.message : String(e);
    throw awsError('badZip', { detail: what });
  }
}

function entryName(entry: yauzl.Entry): string {
  return yauzl.getFileNameLowLevel(entry.generalPurposeBitFlag, entry.fileNameRaw, entry.extraFields, true);
}
