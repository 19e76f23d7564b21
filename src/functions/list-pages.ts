/**
 * Paging of the registry's List operations: the page size when none is asked for (the frontend
 * has checked MaxItems against AWS's 1–10000) and the opaque `Marker`s, each the keyset position
 * its page ended at. A marker of another listing, or a hand-made one, is refused.
 */
import { awsError } from '../errors/catalogue.js';
import { decodePageToken, encodePageToken } from '../store/page-token.js';

/** Lambda's page size when MaxItems is not given. */
export const DEFAULT_LIST_ITEMS = 50;

function badMarker() {
  return awsError('invalidParameter', { what: 'The Marker is not valid. Pass the NextMarker of the previous page unchanged.' });
}

/** Marker of ListFunctions / ListVersionsByFunction: the (name, version number) a page ended at. */
export function encodeVersionMarker(name: string, num: number): string {
  return encodePageToken([name, num]);
}

/** The position in a ListFunctions / ListVersionsByFunction marker (`name` when it must be that function's). */
export function decodeVersionMarker(marker: string, name?: string): { name: string; num: number } {
  const v = decodePageToken(marker);
  if (Array.isArray(v) && v.length === 2 && typeof v[0] === 'string' && Number.isInteger(v[1]) && (name === undefined || v[0] === name)) {
    return { name: v[0], num: v[1] as number };
  }
  throw badMarker();
}

/** Marker of ListAliases: the alias a page ended at. */
export function encodeAliasMarker(alias: string): string {
  return encodePageToken(['alias', alias]);
}

/** The alias in a ListAliases marker. */
export function decodeAliasMarker(marker: string): string {
  const v = decodePageToken(marker);
  if (Array.isArray(v) && v.length === 2 && v[0] === 'alias' && typeof v[1] === 'string') return v[1];
  throw badMarker();
}
