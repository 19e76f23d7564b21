/**
 * Opaque paging tokens (Lambda's `Marker`, X-Ray's `NextToken`): the keyset position a page ends
 * at, as base64url JSON. Clients must pass them back unchanged; each reader checks the shape it
 * expects, so a token of another listing or a hand-made one is refused rather than misread.
 */

/** Encodes a keyset position (any JSON value) as a token. */
export function encodePageToken(position: unknown): string {
  return Buffer.from(JSON.stringify(position)).toString('base64url');
}

/** The position in `token`, or undefined when it is not base64url JSON (the caller checks the shape). */
export function decodePageToken(token: string): unknown {
  try {
    return JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}
