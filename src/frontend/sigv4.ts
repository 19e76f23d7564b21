/**
 * AWS Signature Version 4, verifying side: reads the signature a request carries (an
 * `Authorization: AWS4-HMAC-SHA256 ...` header, or a presigned URL's `X-Amz-*` query parameters)
 * and checks it against the secret key of the access key id it names.
 *
 * The canonical request is AWS's ("Create a canonical request for Signature Version 4"):
 *   METHOD \n canonical URI \n canonical query \n canonical headers \n signed headers \n payload hash
 * with the URI path normalised and each segment percent-encoded again (every service but S3),
 * query parameters decoded, re-encoded with RFC 3986's unreserved set and sorted, header values
 * trimmed with inner runs of spaces collapsed, and the payload hash either `x-amz-content-sha256`
 * (which must then match the body) or the SHA-256 of the body.
 *
 * Pure: no I/O, and time is an argument.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { awsError } from '../errors/catalogue.js';

/** A request as it arrived, before anything was decoded. */
export interface IncomingSignedRequest {
  readonly method: string;
  /** The request target as sent: path and query, still percent-encoded (`IncomingMessage.url`). */
  readonly target: string;
  /** Header names and values as sent, alternating (`IncomingMessage.rawHeaders`). */
  readonly rawHeaders: readonly string[];
  readonly body: Buffer;
}

/** What a request claims about its signature, read before the secret key is known. */
export interface SignatureClaim {
  /** `header` (Authorization) or `query` (presigned URL). */
  readonly form: 'header' | 'query';
  readonly accessKeyId: string;
  /** `YYYYMMDD` of the credential scope. */
  readonly scopeDate: string;
  readonly region: string;
  readonly service: string;
  /** Lower-case names, in the order the request lists them. */
  readonly signedHeaders: readonly string[];
  /** Hex. */
  readonly signature: string;
  /** `YYYYMMDDTHHMMSSZ`: X-Amz-Date (header or query). */
  readonly amzDate: string;
  /** X-Amz-Security-Token, when the request carries one (temporary credentials). */
  readonly sessionToken?: string;
  /** Presigned URLs: X-Amz-Expires, seconds. */
  readonly expiresSeconds?: number;
}

const ALGORITHM = 'AWS4-HMAC-SHA256';
/** AWS accepts a request signed at most 5 minutes before or after its own clock. */
export const MAX_SKEW_MS = 5 * 60_000;
/** The longest X-Amz-Expires AWS accepts for a presigned URL (7 days). */
const MAX_EXPIRES_SECONDS = 604_800;
const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';
const AMZ_DATE_RE = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;

/** All values of header `name` (lower case) in the order sent. */
function headerValues(rawHeaders: readonly string[], name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    if ((rawHeaders[i] as string).toLowerCase() === name) out.push(rawHeaders[i + 1] as string);
  }
  return out;
}

function header(rawHeaders: readonly string[], name: string): string | undefined {
  const v = headerValues(rawHeaders, name);
  return v.length === 0 ? undefined : v.join(',');
}

/** The raw query string of a target (without `?`), and its path. */
function splitTarget(target: string): { path: string; query: string } {
  // An absolute-form target (`http://host/path?q`) names the path after the authority.
  let t = target;
  const abs = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i.exec(t);
  if (abs) t = t.slice(abs[0].length) || '/';
  const hash = t.indexOf('#');
  if (hash >= 0) t = t.slice(0, hash);
  const q = t.indexOf('?');
  return q < 0 ? { path: t, query: '' } : { path: t.slice(0, q), query: t.slice(q + 1) };
}

function decode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** Query parameters decoded, in the order sent (`+` is a literal plus, as AWS reads it). */
function queryPairs(query: string): [string, string][] {
  if (query === '') return [];
  return query
    .split('&')
    .filter((p) => p !== '')
    .map((p) => {
      const eq = p.indexOf('=');
      return eq < 0 ? [decode(p), ''] : [decode(p.slice(0, eq)), decode(p.slice(eq + 1))];
    });
}

/** Percent-encodes everything but RFC 3986's unreserved characters (`A-Za-z0-9-._~`). */
export function uriEncode(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/**
 * The canonical URI: the path as sent, dot segments resolved, then encoded once more (so `%3A`
 * becomes `%253A`), slashes kept. `collapseEmpty` also drops empty segments (`a//b` → `a/b`), as the
 * JavaScript SDK does; botocore keeps them. Both are tried.
 */
export function canonicalUri(rawPath: string, collapseEmpty = true): string {
  const segments: string[] = [];
  for (const s of rawPath.split('/')) {
    if (s === '.' || (collapseEmpty && s === '')) continue;
    if (s === '..') segments.pop();
    else segments.push(s);
  }
  if (!collapseEmpty) {
    // split('/') of '/a/' gives ['', 'a', '']: the leading and trailing empties are the slashes below.
    if (segments[0] === '') segments.shift();
    if (segments.length > 0 && segments[segments.length - 1] === '') segments.pop();
  }
  const path = `${rawPath.startsWith('/') ? '/' : ''}${segments.join('/')}${segments.length > 0 && rawPath.endsWith('/') ? '/' : ''}`;
  return uriEncode(path || '/').replace(/%2F/g, '/');
}

/** The canonical query string: pairs re-encoded and sorted, the signature itself left out. */
export function canonicalQuery(rawQuery: string): string {
  return queryPairs(rawQuery)
    .filter(([k]) => k.toLowerCase() !== 'x-amz-signature')
    .map(([k, v]) => [uriEncode(k), uriEncode(v)] as const)
    .sort(([ak, av], [bk, bv]) => (ak < bk ? -1 : ak > bk ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
}

function canonicalHeaders(rawHeaders: readonly string[], names: readonly string[]): string {
  return names
    .map((n) => `${n}:${headerValues(rawHeaders, n).map((v) => v.trim().replace(/\s+/g, ' ')).join(',')}\n`)
    .join('');
}

function sha256Hex(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

function hmac(key: Buffer | string, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest();
}

/** The signing key: HMAC chain over the scope's date, region and service. */
export function signingKey(secretAccessKey: string, scopeDate: string, region: string, service: string): Buffer {
  return hmac(hmac(hmac(hmac(`AWS4${secretAccessKey}`, scopeDate), region), service), 'aws4_request');
}

/** Epoch ms of an `YYYYMMDDTHHMMSSZ` timestamp; NaN when malformed. */
export function parseAmzDate(s: string): number {
  const m = AMZ_DATE_RE.exec(s);
  if (!m) return NaN;
  const [, y, mo, d, h, mi, se] = m.map(Number) as [number, number, number, number, number, number, number];
  return Date.UTC(y, mo - 1, d, h, mi, se);
}

/** `YYYYMMDDTHHMMSSZ` of epoch ms. */
export function formatAmzDate(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}

function incomplete(what: string): never {
  throw awsError('incompleteSignature', { what });
}

/** `Credential=AKID/20240101/us-east-1/lambda/aws4_request` split into its parts. */
function parseCredential(credential: string): { accessKeyId: string; scopeDate: string; region: string; service: string } {
  const parts = credential.split('/');
  if (parts.length !== 5 || parts[4] !== 'aws4_request' || !/^\d{8}$/.test(parts[1] ?? '') || !parts[0] || !parts[2] || !parts[3]) {
    incomplete(`Credential should be scoped to a valid date, region and service: 'ACCESSKEYID/YYYYMMDD/REGION/SERVICE/aws4_request'. Credential=${credential}`);
  }
  const [accessKeyId, scopeDate, region, service] = parts as [string, string, string, string];
  return { accessKeyId, scopeDate, region, service };
}

/**
 * What the request claims: undefined when it carries no SigV4 signature at all (no Authorization
 * header, no X-Amz-Algorithm). Throws IncompleteSignatureException for a malformed one.
 */
export function readSignature(req: IncomingSignedRequest): SignatureClaim | undefined {
  const authorization = header(req.rawHeaders, 'authorization');
  const { query } = splitTarget(req.target);
  const params = new Map(queryPairs(query));
  const token = header(req.rawHeaders, 'x-amz-security-token') ?? params.get('X-Amz-Security-Token');
  if (authorization !== undefined) {
    const space = authorization.indexOf(' ');
    const algorithm = space < 0 ? authorization : authorization.slice(0, space);
    if (algorithm !== ALGORITHM) incomplete(`Unsupported AWS 'algorithm': '${algorithm}'. Use ${ALGORITHM}.`);
    const fields = new Map<string, string>();
    for (const part of authorization.slice(space + 1).split(',')) {
      const eq = part.indexOf('=');
      if (eq > 0) fields.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
    }
    const missing = ['Credential', 'SignedHeaders', 'Signature'].filter((k) => !fields.get(k));
    const amzDate = header(req.rawHeaders, 'x-amz-date');
    if (missing.length > 0 || amzDate === undefined) {
      incomplete(
        [
          ...missing.map((k) => `Authorization header requires '${k}' parameter.`),
          ...(amzDate === undefined ? ["Authorization header requires existence of an 'X-Amz-Date' header."] : []),
        ].join(' '),
      );
    }
    return {
      form: 'header',
      ...parseCredential(fields.get('Credential') as string),
      signedHeaders: (fields.get('SignedHeaders') as string).split(';').map((h) => h.trim().toLowerCase()),
      signature: (fields.get('Signature') as string).toLowerCase(),
      amzDate,
      ...(token !== undefined ? { sessionToken: token } : {}),
    };
  }
  const algorithm = params.get('X-Amz-Algorithm');
  if (algorithm === undefined) return undefined;
  if (algorithm !== ALGORITHM) incomplete(`Unsupported AWS 'algorithm': '${algorithm}'. Use ${ALGORITHM}.`);
  const missing = ['X-Amz-Credential', 'X-Amz-SignedHeaders', 'X-Amz-Signature', 'X-Amz-Date'].filter((k) => !params.get(k));
  if (missing.length > 0) incomplete(missing.map((k) => `AWS query-string parameters must include '${k}'.`).join(' '));
  const expires = params.get('X-Amz-Expires');
  const expiresSeconds = expires === undefined ? undefined : Number(expires);
  if (expiresSeconds !== undefined && !(Number.isInteger(expiresSeconds) && expiresSeconds >= 1 && expiresSeconds <= MAX_EXPIRES_SECONDS)) {
    incomplete(`X-Amz-Expires must be a whole number of seconds from 1 to ${MAX_EXPIRES_SECONDS}: ${expires}`);
  }
  return {
    form: 'query',
    ...parseCredential(params.get('X-Amz-Credential') as string),
    signedHeaders: (params.get('X-Amz-SignedHeaders') as string).split(';').map((h) => h.trim().toLowerCase()),
    signature: (params.get('X-Amz-Signature') as string).toLowerCase(),
    amzDate: params.get('X-Amz-Date') as string,
    ...(token !== undefined ? { sessionToken: token } : {}),
    ...(expiresSeconds !== undefined ? { expiresSeconds } : {}),
  };
}

/** The canonical requests a signature may have been computed over (one per accepted URI and payload form). */
export function canonicalRequests(req: IncomingSignedRequest, claim: SignatureClaim): string[] {
  const { path, query } = splitTarget(req.target);
  const uris = [...new Set([canonicalUri(path, true), canonicalUri(path, false)])];
  const declared = header(req.rawHeaders, 'x-amz-content-sha256');
  let hashes: string[];
  if (declared !== undefined) {
    // A declared hash is signed, so it must also be the body's (or the request says it signs none).
    if (declared !== UNSIGNED_PAYLOAD && declared.toLowerCase() !== sha256Hex(req.body)) return [];
    hashes = [declared];
  } else if (claim.form === 'query') {
    // A presigned URL is made before any body exists: the SDKs sign the empty body or UNSIGNED-PAYLOAD.
    hashes = req.body.length === 0 ? [EMPTY_SHA256, UNSIGNED_PAYLOAD] : [sha256Hex(req.body), UNSIGNED_PAYLOAD];
  } else {
    hashes = [sha256Hex(req.body)];
  }
  const rest = `${canonicalQuery(query)}\n${canonicalHeaders(req.rawHeaders, claim.signedHeaders)}\n${claim.signedHeaders.join(';')}\n`;
  return uris.flatMap((uri) => hashes.map((h) => `${req.method.toUpperCase()}\n${uri}\n${rest}${h}`));
}

/** The string to sign for one canonical request. */
export function stringToSign(claim: SignatureClaim, canonicalRequest: string): string {
  const scope = `${claim.scopeDate}/${claim.region}/${claim.service}/aws4_request`;
  return `${ALGORITHM}\n${claim.amzDate}\n${scope}\n${sha256Hex(canonicalRequest)}`;
}

/**
 * Checks `claim` (from {@link readSignature}) against the secret key at time `now` (epoch ms).
 * Throws InvalidSignatureException when the signature does not match, is expired or from the
 * future, and IncompleteSignatureException when required parts are not signed.
 */
export function verifySignature(req: IncomingSignedRequest, claim: SignatureClaim, secretAccessKey: string, now: number): void {
  const signedAt = parseAmzDate(claim.amzDate);
  if (Number.isNaN(signedAt)) incomplete(`X-Amz-Date must be in the ISO8601 basic format 'YYYYMMDD'T'HHMMSS'Z': ${claim.amzDate}`);
  if (!claim.amzDate.startsWith(claim.scopeDate)) {
    throw awsError('invalidSignature', {});
  }
  if (!claim.signedHeaders.includes('host')) incomplete("'Host' must be a signed header.");
  if (claim.form === 'header' && claim.sessionToken !== undefined && !claim.signedHeaders.includes('x-amz-security-token')) {
    // An unsigned token could be swapped; the SDKs always sign it.
    if (header(req.rawHeaders, 'x-amz-security-token') !== undefined) incomplete("'X-Amz-Security-Token' must be a signed header.");
  }
  // Header form: within 5 minutes of our clock either way. Presigned: until X-Amz-Expires has passed.
  const window = claim.form === 'query' ? (claim.expiresSeconds ?? MAX_EXPIRES_SECONDS) * 1000 : MAX_SKEW_MS;
  const windowText = claim.form === 'query' ? `${window / 1000} s` : '5 min.';
  if (signedAt < now - window) {
    throw awsError('signatureExpired', { signed: claim.amzDate, limit: formatAmzDate(now - window), now: formatAmzDate(now), window: windowText, future: false });
  }
  if (signedAt > now + MAX_SKEW_MS) {
    throw awsError('signatureExpired', { signed: claim.amzDate, limit: formatAmzDate(now + MAX_SKEW_MS), now: formatAmzDate(now), window: '5 min.', future: true });
  }
  const key = signingKey(secretAccessKey, claim.scopeDate, claim.region, claim.service);
  const given = Buffer.from(claim.signature, 'hex');
  for (const cr of canonicalRequests(req, claim)) {
    const expected = hmac(key, stringToSign(claim, cr));
    if (given.length === expected.length && timingSafeEqual(given, expected)) return;
  }
  throw awsError('invalidSignature', {});
}

/** Credentials to sign with. */
export interface SigningCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
}

/**
 * Signs a request (Authorization header form) for lambkin's own clients, e.g. `lambkin fleet`
 * against a `--auth strict` server. Returns the headers to send: host, x-amz-date, the session
 * token if any, and authorization.
 */
export function signRequest(
  r: { readonly method: string; readonly url: URL; readonly body?: Buffer },
  credentials: SigningCredentials,
  scope: { readonly region: string; readonly service: string },
  now: number,
): Record<string, string> {
  const amzDate = formatAmzDate(now);
  const headers: Record<string, string> = { host: r.url.host, 'x-amz-date': amzDate };
  if (credentials.sessionToken !== undefined) headers['x-amz-security-token'] = credentials.sessionToken;
  const signedHeaders = Object.keys(headers).sort();
  const claim: SignatureClaim = {
    form: 'header',
    accessKeyId: credentials.accessKeyId,
    scopeDate: amzDate.slice(0, 8),
    region: scope.region,
    service: scope.service,
    signedHeaders,
    signature: '',
    amzDate,
  };
  const wire: IncomingSignedRequest = {
    method: r.method,
    target: `${r.url.pathname}${r.url.search}`,
    rawHeaders: Object.entries(headers).flat(),
    body: r.body ?? Buffer.alloc(0),
  };
  const [canonical] = canonicalRequests(wire, claim);
  const key = signingKey(credentials.secretAccessKey, claim.scopeDate, scope.region, scope.service);
  const signature = hmac(key, stringToSign(claim, canonical as string)).toString('hex');
  headers.authorization = `${ALGORITHM} Credential=${credentials.accessKeyId}/${claim.scopeDate}/${scope.region}/${scope.service}/aws4_request, SignedHeaders=${signedHeaders.join(';')}, Signature=${signature}`;
  return headers;
}
