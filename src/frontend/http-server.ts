import { createServer, STATUS_CODES, type IncomingMessage, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import { mkdirSync } from 'node:fs';
import { listenUnix } from '../util/unix-socket.js';
import { dirname } from 'node:path';
import type { AddressInfo, Socket } from 'node:net';
import { randomUUID } from 'node:crypto';
import { AwsError, awsError } from '../errors/catalogue.js';
import type { Caller } from '../functions/names.js';
import { callerFrom } from './identity.js';
import type { Authenticate } from './authenticator.js';
import { realClock, type Clock } from '../util/clock.js';

/** What a route handler sees of one request. */
export interface RequestContext {
  readonly requestId: string;
  /** When the request arrived (epoch ms). */
  readonly receivedAt: number;
  readonly method: string;
  readonly path: string;
  readonly params: Readonly<Record<string, string>>;
  readonly query: URLSearchParams;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
  readonly caller: Caller;
  /**
   * `http://host:port` of this server as configured (or listening), for URLs we hand back
   * (Code.Location). Never the request's Host header, which the caller controls.
   */
  readonly baseUrl: string;
  /** Aborted when the client goes away before we answer. */
  readonly signal: AbortSignal;
}

/** What a route handler answers. */
export interface Reply {
  readonly status: number;
  readonly headers?: Readonly<Record<string, string>>;
  /** A Buffer or string is sent as is; anything else as JSON. */
  readonly body?: unknown;
}

/** Answers one request; a thrown AwsError becomes AWS's error shape, anything else a ServiceException (500). */
export type Handler = (ctx: RequestContext) => Reply | Promise<Reply>;

/** One operation: method and path pattern, its handler and its body limit. */
export interface Route {
  readonly method: string;
  /** Path pattern with `:name` segments, e.g. `/2015-03-31/functions/:name/invocations`. */
  readonly pattern: string;
  readonly handler: Handler;
  /** Largest body accepted; larger bodies get `tooLarge`'s error. Default 1 MiB. */
  readonly maxBodyBytes?: number;
  /** The error for a body over `maxBodyBytes`. */
  readonly tooLarge?: () => AwsError;
  /** Answered without authentication, whatever the server's mode (the health check). */
  readonly open?: boolean;
}

interface CompiledRoute extends Route {
  readonly segments: readonly string[];
}

const DEFAULT_MAX_BODY = 1 << 20;
/** Past this we stop reading and drop the connection: nobody legitimately sends it. */
const HARD_BODY_CAP = 256 << 20;

/** The route for a method and decoded path, with its `:name` parameters; undefined when none matches. */
function matchRoute(
  routes: readonly CompiledRoute[],
  method: string,
  segments: readonly string[],
): { route: CompiledRoute; params: Record<string, string> } | undefined {
  for (const route of routes) {
    if (route.method !== method || route.segments.length !== segments.length) continue;
    const params: Record<string, string> = {};
    let ok = true;
    for (let i = 0; i < segments.length && ok; i++) {
      const want = route.segments[i] as string;
      const got = segments[i] as string;
      if (want.startsWith(':')) params[want.slice(1)] = got;
      else ok = want === got;
    }
    if (ok) return { route, params };
  }
  return undefined;
}

function splitPath(pathname: string): string[] | undefined {
  const parts = pathname.split('/').filter((s, i, all) => s !== '' || (i > 0 && i < all.length - 1));
  try {
    return parts.map((p) => decodeURIComponent(p));
  } catch {
    return undefined;
  }
}

/**
 * The request target as a URL. A path is always taken as a path: `new URL('//x', base)` would
 * read `//x` as a host (or throw), so it is parsed as `http://localhost//x`. Undefined when
 * the target cannot be parsed at all.
 */
function requestUrl(raw: string): URL | undefined {
  try {
    return raw.startsWith('/') ? new URL(`http://localhost${raw}`) : new URL(raw, 'http://localhost');
  } catch {
    return undefined;
  }
}

/** The JSON error shape the AWS SDKs parse for REST-JSON services. */
export function errorReply(err: AwsError, requestId: string): Reply {
  const headers: Record<string, string> = {
    'x-amzn-errortype': err.type,
    'x-amzn-requestid': requestId,
  };
  if (err.type === 'TooManyRequestsException') headers['retry-after'] = '1';
  return {
    status: err.status,
    headers,
    body: { Type: err.status >= 500 ? 'Service' : 'User', Message: err.message, message: err.message, ...err.fields },
  };
}

/** How {@link HttpServer.start} listens and routes. */
export interface HttpServerOptions {
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
  /** Listen on this Unix socket instead of `host`/`port` (a stale socket file is replaced). */
  readonly socketPath?: string;
  /** The caller's region when a request carries no SigV4 credential scope. */
  readonly defaultRegion: string;
  readonly routes: readonly Route[];
  /** The URL clients reach this server at, for URLs it hands back. Default: {@link HttpServer.url}. */
  readonly publicUrl?: string;
  /** Where unexpected handler failures are reported (they become ServiceException 500). */
  readonly onInternalError?: (err: unknown) => void;
  /**
   * Authenticates each request (after its body is read: SigV4 signs it) and names the caller;
   * throws the AwsError to answer with. Default: no verification (identity.ts's `callerFrom`).
   */
  readonly authenticate?: Authenticate;
  /** Stamps each request's arrival ({@link RequestContext.receivedAt}); default: the real clock. */
  readonly clock?: Clock;
}

/**
 * The frontend's HTTP server: routing by path, body limits, AWS error shapes, caller identity.
 * Knows nothing of functions or processes; handlers do.
 */
export class HttpServer {
  private readonly server: Server;
  private readonly routes: CompiledRoute[];
  private readonly sockets = new Set<Socket>();
  private closing: Promise<void> | undefined;

  private constructor(private readonly options: HttpServerOptions) {
    this.routes = options.routes.map((r) => ({ ...r, segments: splitPath(r.pattern) ?? [] }));
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        options.onInternalError?.(err);
        if (!res.headersSent) res.writeHead(500).end();
        else res.destroy();
      });
    });
    this.server.keepAliveTimeout = 65_000;
    this.server.requestTimeout = 0; // sync Invoke may legitimately take up to 900 s
    this.server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    // A CONNECT request never reaches the request handler: without this, node closes the socket unanswered.
    this.server.on('connect', (req: IncomingMessage, socket: Socket) => {
      const reply = errorReply(awsError('methodNotAllowed', { method: req.method ?? 'CONNECT' }), randomUUID());
      socket.on('error', () => socket.destroy());
      socket.end(rawResponse({ ...reply, headers: { ...reply.headers, allow: 'GET, POST, PUT, DELETE' } }));
    });
    this.server.on('clientError', (_err, socket) => {
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      else socket.destroy();
    });
  }

  /** Listens on `options.host` and `options.port`; resolves once it accepts connections. */
  static async start(options: HttpServerOptions): Promise<HttpServer> {
    const s = new HttpServer(options);
    if (options.socketPath !== undefined) {
      mkdirSync(dirname(options.socketPath), { recursive: true, mode: 0o700 });
      // Connectable by sandbox uids (0666); only a sandbox's own mount namespace shows the file, and
      // every request on it must be signed with that sandbox's credentials.
      await listenUnix(s.server, options.socketPath, undefined);
      return s;
    }
    await new Promise<void>((resolve, reject) => {
      s.server.once('error', reject);
      s.server.listen(options.port, options.host, () => {
        s.server.off('error', reject);
        resolve();
      });
    });
    return s;
  }

  /** The port it listens on (the chosen one when started with port 0); 0 on a Unix socket. */
  get port(): number {
    const a = this.server.address();
    return typeof a === 'object' && a !== null ? (a as AddressInfo).port : 0;
  }

  /** `http://host:port` to reach it (127.0.0.1 when it listens on every interface). */
  get url(): string {
    const host = this.options.host.includes(':') ? `[${this.options.host}]` : this.options.host;
    return `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${this.port}`;
  }

  /** Stops accepting, ends idle keep-alive connections, and waits for in-flight requests to finish. */
  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeIdleConnections();
    });
    return this.closing;
  }

  /** Drops every connection at once (for a crash-like stop in tests and on a second Ctrl-C). */
  destroyConnections(): void {
    for (const s of this.sockets) s.destroy();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const receivedAt = (this.options.clock ?? realClock).now();
    const requestId = randomUUID();
    const method = req.method ?? 'GET';
    const abort = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) abort.abort(new Error('client disconnected'));
    });
    let reply: Reply;
    try {
      const url = requestUrl(req.url ?? '/');
      if (!url) throw awsError('unknownOperation', { method, path: req.url ?? '' });
      const segments = splitPath(url.pathname);
      if (!segments) throw awsError('unknownOperation', { method, path: url.pathname });
      const match = matchRoute(this.routes, method, segments);
      if (!match) {
        if (declaredLength(req) > DEFAULT_MAX_BODY) res.shouldKeepAlive = false;
        else await drain(req);
        throw awsError('unknownOperation', { method, path: url.pathname });
      }
      const { route, params } = match;
      if (declaredLength(req) > HARD_BODY_CAP) {
        // Answered without reading a byte of it; the connection closes after the answer, since the
        // unread body would otherwise be taken for the next request.
        res.shouldKeepAlive = false;
        throw route.tooLarge?.() ?? awsError('requestEntityTooLarge', { operation: 'this', limit: route.maxBodyBytes ?? DEFAULT_MAX_BODY });
      }
      const body = await readBody(req, route.maxBodyBytes ?? DEFAULT_MAX_BODY, route.tooLarge);
      const authenticate = route.open ? undefined : this.options.authenticate;
      const caller = authenticate
        ? authenticate({ method, target: req.url ?? '/', rawHeaders: req.rawHeaders, body })
        : callerFrom(req.headers.authorization, url.searchParams.get('X-Amz-Credential'), this.options.defaultRegion);
      reply = await route.handler({
        requestId,
        receivedAt,
        method,
        path: url.pathname,
        params,
        query: url.searchParams,
        headers: req.headers,
        body,
        caller,
        baseUrl: this.options.publicUrl ?? this.url,
        signal: abort.signal,
      });
    } catch (err) {
      if (err instanceof AwsError) reply = errorReply(err, requestId);
      else if (abort.signal.aborted || (err as { code?: unknown } | null)?.code === 'ECONNRESET') {
        // The client hung up (e.g. mid-body): nobody to answer, and not our failure.
        res.destroy();
        return;
      } else {
        this.options.onInternalError?.(err);
        reply = errorReply(awsError('service', { detail: err instanceof Error ? err.message : String(err) }), requestId);
      }
    }
    send(res, reply, requestId);
    if (this.closing) res.once('finish', () => setImmediate(() => this.server.closeIdleConnections()));
  }
}

function send(res: ServerResponse, reply: Reply, requestId: string): void {
  if (res.destroyed) return;
  let body: Buffer;
  const headers: Record<string, string> = { 'x-amzn-requestid': requestId, ...reply.headers };
  if (reply.body === undefined) body = Buffer.alloc(0);
  else if (Buffer.isBuffer(reply.body)) body = reply.body;
  else if (typeof reply.body === 'string') body = Buffer.from(reply.body);
  else {
    body = Buffer.from(JSON.stringify(reply.body));
    headers['content-type'] ??= 'application/json';
  }
  headers['content-length'] = String(body.length);
  res.writeHead(reply.status, headers);
  res.end(body);
}

/** A reply as raw HTTP/1.1 bytes, for a socket node's response object does not own (CONNECT); closes the connection. */
function rawResponse(reply: Reply): string {
  const body = JSON.stringify(reply.body ?? {});
  const headers: Record<string, string> = {
    ...reply.headers,
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(body)),
    connection: 'close',
  };
  const lines = Object.entries(headers).map(([k, v]) => `${k}: ${v}`);
  return `HTTP/1.1 ${reply.status} ${STATUS_CODES[reply.status] ?? ''}\r\n${lines.join('\r\n')}\r\n\r\n${body}`;
}

/** The request's Content-Length (NaN when it has none, e.g. chunked). */
function declaredLength(req: IncomingMessage): number {
  return Number(req.headers['content-length'] ?? NaN);
}

/** Reads the whole body, refusing (after draining a bounded amount) when it exceeds `max`. */
async function readBody(req: IncomingMessage, max: number, tooLarge?: () => AwsError): Promise<Buffer> {
  const overflow = () => tooLarge?.() ?? awsError('requestEntityTooLarge', { operation: 'this', limit: max });
  const chunks: Buffer[] = [];
  let size = 0;
  let over = false;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > max) over = true;
    if (size > HARD_BODY_CAP) {
      req.destroy();
      break;
    }
    if (!over) chunks.push(chunk);
  }
  if (over) throw overflow();
  return Buffer.concat(chunks, size);
}

async function drain(req: IncomingMessage): Promise<void> {
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > DEFAULT_MAX_BODY) {
      req.destroy();
      return;
    }
  }
}
