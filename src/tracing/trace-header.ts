/**
 * X-Ray identifiers and the trace header.
 *
 * A trace id is `1-<8 hex: epoch seconds>-<24 hex random>`; a segment id is 16 hex digits. The
 * header is `Root=<trace id>;Parent=<segment id>;Sampled=<0|1|?>` with fields in any order and
 * possibly others (`Self=`, `Lineage=`) that are kept when passed on. HTTP calls carry it as
 * `X-Amzn-Trace-Id`; the Lambda runtime API as `Lambda-Runtime-Trace-Id` and the sandbox as
 * `_X_AMZN_TRACE_ID`, where Parent is the id of the `AWS::Lambda::Function` segment, so that the
 * function's own subsegments (X-Ray SDK) nest under it.
 */
import { randomBytes } from 'node:crypto';

/** Source of random bytes; injectable so tests get fixed ids. */
export type RandomSource = (size: number) => Uint8Array;

/** The default {@link RandomSource}: crypto-strong bytes. */
export const cryptoRandom: RandomSource = (size) => randomBytes(size);

const TRACE_ID = /^1-[0-9a-f]{8}-[0-9a-f]{24}$/;
const SEGMENT_ID = /^[0-9a-f]{16}$/;

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/** A new trace id whose time part is `nowMs` (epoch ms) in whole seconds. */
export function newTraceId(nowMs: number, random: RandomSource = cryptoRandom): string {
  const seconds = Math.floor(nowMs / 1000) >>> 0;
  return `1-${seconds.toString(16).padStart(8, '0')}-${hex(random(12)).slice(0, 24).padEnd(24, '0')}`;
}

/** A new 16-hex-digit segment id. */
export function newSegmentId(random: RandomSource = cryptoRandom): string {
  return hex(random(8)).slice(0, 16).padEnd(16, '0');
}

/** True for a well-formed trace id (`1-<8 hex>-<24 hex>`, lower case). */
export function isTraceId(s: unknown): s is string {
  return typeof s === 'string' && TRACE_ID.test(s);
}

/** True for a well-formed segment id (16 lower-case hex digits). */
export function isSegmentId(s: unknown): s is string {
  return typeof s === 'string' && SEGMENT_ID.test(s);
}

/** Epoch ms encoded in a trace id (whole seconds), or undefined for a malformed id. */
export function traceIdTime(traceId: string): number | undefined {
  return isTraceId(traceId) ? parseInt(traceId.slice(2, 10), 16) * 1000 : undefined;
}

/** The fields of a trace header. `sampled` is undefined for `Sampled=?` or no Sampled field (caller decides). */
export interface TraceHeader {
  readonly root?: string;
  readonly parent?: string;
  readonly sampled?: boolean;
  /** Fields other than Root, Parent and Sampled, in order (e.g. `Self`, `Lineage`), passed on unchanged. */
  readonly extra?: readonly (readonly [string, string])[];
}

/**
 * Parses a trace header. Malformed Root or Parent values are dropped (the caller then starts a new
 * trace), never thrown: a bad header from a client must not fail its request.
 */
export function parseTraceHeader(value: string | readonly string[] | undefined): TraceHeader {
  const raw = Array.isArray(value) ? value.join(';') : (value as string | undefined);
  if (!raw) return {};
  let root: string | undefined;
  let parent: string | undefined;
  let sampled: boolean | undefined;
  const extra: [string, string][] = [];
  for (const part of raw.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const key = part.slice(0, eq).trim();
    const val = part.slice(eq + 1).trim();
    switch (key.toLowerCase()) {
      case 'root':
        if (isTraceId(val.toLowerCase())) root = val.toLowerCase();
        break;
      case 'parent':
        if (isSegmentId(val.toLowerCase())) parent = val.toLowerCase();
        break;
      case 'sampled':
        sampled = val === '1' ? true : val === '0' ? false : undefined;
        break;
      default:
        if (key && extra.length < 8) extra.push([key, val]);
    }
  }
  const out: { root?: string; parent?: string; sampled?: boolean; extra?: [string, string][] } = {};
  if (root !== undefined) out.root = root;
  if (parent !== undefined) out.parent = parent;
  if (sampled !== undefined) out.sampled = sampled;
  if (extra.length > 0) out.extra = extra;
  return out;
}

/** Formats `Root=...;Parent=...;Sampled=1` (fields that are absent are left out; extras follow). */
export function formatTraceHeader(h: TraceHeader): string {
  const parts: string[] = [];
  if (h.root) parts.push(`Root=${h.root}`);
  if (h.parent) parts.push(`Parent=${h.parent}`);
  if (h.sampled !== undefined) parts.push(`Sampled=${h.sampled ? 1 : 0}`);
  for (const [k, v] of h.extra ?? []) parts.push(`${k}=${v}`);
  return parts.join(';');
}
