/**
 * The Lambda Runtime API (version 2018-06-01) as one sandbox sees it: a real HTTP server on loopback
 * whose address goes into the sandbox's AWS_LAMBDA_RUNTIME_API. Paths, headers, status codes and error
 * bodies follow Lambda's RAPID (as published in aws-lambda-runtime-interface-emulator) so that any
 * runtime client written against AWS's documentation works unmodified.
 */
import http from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { peerUid } from './isolation/peer-uid.js';
import { listenUnix } from '../util/unix-socket.js';

/** Largest response (or error) body a runtime may post: 6 MiB + 100 bytes, as Lambda's RAPID. */
export const MAX_RUNTIME_RESPONSE_BYTES = 6 * 1024 * 1024 + 100;

const API_PREFIX = '/2018-06-01/runtime';
const ERROR_TYPE_HEADER = 'lambda-runtime-function-error-type';
const ERROR_WITH_CAUSE_CONTENT_TYPE = 'application/vnd.aws.lambda.error.cause+json';
// Lambda's wording for a runtime calling an endpoint its state does not allow (rendered as 403).
const STATE_TRANSITION_NOT_ALLOWED = 'State transition is not allowed';

/** One invocation to hand to the runtime through GET /runtime/invocation/next. */
export interface RuntimeInvocation {
  requestId: string;
  /** Event bytes, sent as the body of /next as-is. */
  payload: Buffer;
  /** Absolute deadline, epoch milliseconds (Lambda-Runtime-Deadline-Ms). */
  deadlineMs: number;
  invokedFunctionArn: string;
  /** X-Ray trace header value (Lambda-Runtime-Trace-Id); omitted when undefined. */
  traceId?: string;
  /** Client context JSON, as a string (Lambda-Runtime-Client-Context); omitted when undefined. */
  clientContext?: string;
  /** Cognito identity JSON, as a string (Lambda-Runtime-Cognito-Identity); omitted when undefined. */
  cognitoIdentity?: string;
}

/** What the runtime answered for one invocation. */
export type RuntimeResult =
  /** The runtime posted /response: payload is the body it posted (any bytes). */
  | { kind: 'response'; payload: Buffer }
  /**
   * The runtime posted /error (or its response was too large): payload is the JSON error document to return
   * to the caller; errorType is the Lambda-Runtime-Function-Error-Type header, else the body's errorType,
   * else "Runtime.Unknown".
   */
  | { kind: 'error'; payload: Buffer; errorType: string };

/** The runtime reported a failed initialisation through POST /runtime/init/error. */
export class RuntimeInitError extends Error {
  override readonly name = 'RuntimeInitError';
  /** Error type from the Lambda-Runtime-Function-Error-Type header, else the body's errorType, else "Runtime.Unknown". */
  readonly errorType: string;
  /** Error JSON as the runtime posted it (wrapped as {errorMessage, errorType} if it was not JSON). */
  readonly payload: Buffer;
  constructor(errorType: string, payload: Buffer) {
    super(`Runtime init error: ${errorType}`);
    this.errorType = errorType;
    this.payload = payload;
  }
}

/** Thrown/rejected when the server is used after close(). */
export class RuntimeApiClosedError extends Error {
  override readonly name = 'RuntimeApiClosedError';
  constructor() {
    super('Runtime API server is closed');
  }
}

interface Pending {
  inv: RuntimeInvocation;
  headers: Record<string, string>;
  delivered: boolean;
  /** A /response or /error post for this id is being read; a second one is refused. */
  answering: boolean;
  resolve: (r: RuntimeResult) => void;
  reject: (e: unknown) => void;
}

interface Deferred<T> {
  promise: Promise<T>;
  resolve: (v: T) => void;
  reject: (e: unknown) => void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

type InitState = 'initializing' | 'ready' | 'failed';

/**
 * One Runtime API endpoint for one sandbox. Usage:
 * `const api = await RuntimeApiServer.start()`, spawn the runtime with `AWS_LAMBDA_RUNTIME_API=api.address`,
 * `await api.waitForInit()`, then `await api.invoke(...)` once per invocation, and `await api.close()`.
 */
export class RuntimeApiServer {
  /** "127.0.0.1:PORT": the value of AWS_LAMBDA_RUNTIME_API; `unix:PATH` when listening on a Unix socket. */
  readonly address: string;
  /** The Unix socket listened on (start's `socketPath`), else undefined. */
  readonly socketPath: string | undefined;
  readonly #server: http.Server;
  #initState: InitState = 'initializing';
  #initError: RuntimeInitError | undefined;
  readonly #init = deferred<void>();
  /** The runtime's parked GET /next, if any. */
  #parked: ServerResponse | null = null;
  /** The invocation queued or in flight. */
  #current: Pending | null = null;
  /** Id of the invocation whose answer was last received: a second answer for it is an invalid state transition. */
  #answeredId: string | null = null;
  #closing: Promise<void> | null = null;
  /** Callers of waitForNext(), released when the runtime next polls /next. */
  #nextWaiters = new Set<Deferred<void>>();

  private constructor(server: http.Server, address: string, socketPath: string | undefined) {
    this.#server = server;
    this.address = address;
    this.socketPath = socketPath;
    // Nobody may be waiting for init when it fails; the rejection is still observed through waitForInit().
    this.#init.promise.catch(() => {});
  }

  /**
   * Starts a server on host (default 127.0.0.1), port 0. With `allowedUid`, a connection is accepted only
   * from a socket owned by that uid (looked up in /proc/net/tcp), so sandboxes running as distinct users
   * cannot reach each other's Runtime API; a connection that fails the check is closed at once.
   *
   * With `socketPath` it listens on that Unix socket instead (a namespaced sandbox reaches it through its
   * relay, see isolation/relay.ts; `address` is then `unix:PATH`). There is no peer-uid check: the socket
   * file is bind-mounted into that one sandbox's mount namespace only. The file is made connectable by
   * `socketUid` alone (owner, mode 0600) when given, else by anyone (0666: the directory guards it); a stale
   * socket left at the path is replaced, and close() removes the file.
   */
  static async start(opts: { host?: string; allowedUid?: number; socketPath?: string; socketUid?: number } = {}): Promise<RuntimeApiServer> {
    const host = opts.host ?? '127.0.0.1';
    // keepAliveTimeout 0: an idle keep-alive socket (a runtime busy in its handler for minutes) must not be
    // closed under the runtime, or its next post could race the close. close() ends every socket.
    const server = http.createServer({ keepAliveTimeout: 0, requestTimeout: 0 });
    server.keepAliveTimeout = 0;
    const socketPath = opts.socketPath;
    if (socketPath !== undefined) {
      await listenUnix(server, socketPath, opts.socketUid);
      const api = new RuntimeApiServer(server, `unix:${socketPath}`, socketPath);
      api.#wire();
      return api;
    }
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const { port } = server.address() as AddressInfo;
    const allowedUid = opts.allowedUid;
    if (allowedUid !== undefined) {
      server.on('connection', (socket) => {
        const from = socket.remotePort;
        if (from === undefined || peerUid(from, port) !== allowedUid) socket.destroy();
      });
    }
    const api = new RuntimeApiServer(server, `${host.includes(':') ? `[${host}]` : host}:${port}`, undefined);
    api.#wire();
    return api;
  }

  #wire(): void {
    this.#server.on('request', (req, res) => this.#onRequest(req, res));
    // A malformed request gets a 400 and its socket is closed; never an exception.
    this.#server.on('clientError', (_err, socket) => {
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
      else socket.destroy();
    });
  }

  /** True once the runtime has parked on /next at least once. */
  get initialized(): boolean {
    return this.#initState === 'ready';
  }

  /**
   * Resolves when the runtime first parks on /next (= init finished); rejects with RuntimeInitError if it
   * posts /init/error, with RuntimeApiClosedError on close(), and with signal.reason on abort.
   */
  waitForInit(signal?: AbortSignal): Promise<void> {
    if (!signal) return this.#init.promise;
    if (signal.aborted) return Promise.reject(signal.reason);
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => reject(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
      this.#init.promise.then(
        () => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        },
        (e: unknown) => {
          signal.removeEventListener('abort', onAbort);
          reject(e);
        },
      );
    });
  }

  /** True while the runtime is parked on GET /next (idle, ready for an invocation). */
  get parked(): boolean {
    return this.#parked !== null;
  }

  /**
   * Resolves when the runtime calls GET /next (at once if it is parked now): e.g. after an answer, when the runtime
   * has finished its own post-invocation work. Rejects with RuntimeApiClosedError on close(), signal.reason on abort.
   */
  waitForNext(signal?: AbortSignal): Promise<void> {
    if (this.#closing) return Promise.reject(new RuntimeApiClosedError());
    if (this.#parked) return Promise.resolve();
    if (signal?.aborted) return Promise.reject(signal.reason);
    const d = deferred<void>();
    this.#nextWaiters.add(d);
    const onAbort = (): void => {
      this.#nextWaiters.delete(d);
      d.reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    return d.promise.finally(() => signal?.removeEventListener('abort', onAbort));
  }

  /**
   * Delivers one invocation to the parked (or the next) /next call and resolves when the runtime posts its
   * response or error. One invocation at a time: rejects at once if one is queued or in flight, if init
   * failed (with the RuntimeInitError) or if closed. Rejects with signal.reason on abort (the sandbox timed
   * out or exited); a late answer for that id then gets 400 InvalidRequestID.
   */
  invoke(inv: RuntimeInvocation, signal?: AbortSignal): Promise<RuntimeResult> {
    if (this.#closing) return Promise.reject(new RuntimeApiClosedError());
    if (this.#initState === 'failed') return Promise.reject(this.#initError);
    if (this.#current) return Promise.reject(new Error(`Runtime API busy with invocation ${this.#current.inv.requestId}`));
    if (signal?.aborted) return Promise.reject(signal.reason);
    let headers: Record<string, string>;
    try {
      headers = invocationHeaders(inv);
    } catch (e) {
      return Promise.reject(e);
    }
    return new Promise<RuntimeResult>((resolve, reject) => {
      const onAbort = (): void => {
        if (this.#current === pending) this.#current = null;
        reject(signal?.reason);
      };
      const pending: Pending = {
        inv,
        headers,
        delivered: false,
        answering: false,
        resolve: (r) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(r);
        },
        reject: (e) => {
          signal?.removeEventListener('abort', onAbort);
          reject(e);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#current = pending;
      this.#answeredId = null;
      this.#deliverIfParked();
    });
  }

  /** Closes the server and every socket (parked long-polls included); rejects what is pending. Idempotent. */
  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    const closed = new RuntimeApiClosedError();
    if (this.#initState === 'initializing') this.#init.reject(closed);
    const current = this.#current;
    this.#current = null;
    current?.reject(closed);
    for (const w of this.#nextWaiters) w.reject(closed);
    this.#nextWaiters.clear();
    this.#parked = null;
    this.#closing = new Promise<void>((resolve) => {
      // node removes a Unix socket's file when its server closes.
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
    return this.#closing;
  }

  #onRequest(req: IncomingMessage, res: ServerResponse): void {
    try {
      this.#route(req, res);
    } catch {
      // Defensive: a bug here must cost one request, not the sandbox's API.
      if (!res.headersSent) sendJson(res, 500, { errorMessage: 'Internal Server Error', errorType: 'InternalServerError' });
      else res.destroy();
    }
  }

  #route(req: IncomingMessage, res: ServerResponse): void {
    const rawPath = (req.url ?? '').split('?')[0] ?? '';
    const method = req.method ?? '';
    if (this.#closing) {
      drainThen(req, () => sendJson(res, 503, { errorMessage: 'Runtime API is shutting down', errorType: 'ServiceUnavailable' }));
      return;
    }
    if (rawPath === `${API_PREFIX}/invocation/next` && method === 'GET') {
      drainThen(req, () => this.#onNext(req, res));
      return;
    }
    if (rawPath === `${API_PREFIX}/init/error` && method === 'POST') {
      this.#onInitError(req, res);
      return;
    }
    const m = /^\/2018-06-01\/runtime\/invocation\/([^/]+)\/(response|error)$/.exec(rawPath);
    if (m && method === 'POST') {
      let id: string;
      try {
        id = decodeURIComponent(m[1] ?? '');
      } catch {
        id = m[1] ?? '';
      }
      this.#onAnswer(req, res, id, m[2] === 'response' ? 'response' : 'error');
      return;
    }
    drainThen(req, () => sendJson(res, 404, { errorMessage: `No route for ${method} ${rawPath}`, errorType: 'NotFound' }));
  }

  #onNext(req: IncomingMessage, res: ServerResponse): void {
    if (this.#initState === 'failed') {
      sendStateTransitionError(res, 'InitError', 'Ready');
      return;
    }
    if (this.#current?.delivered) {
      // Lambda refuses /next while the runtime still owes an answer for the invocation it was given.
      sendStateTransitionError(res, 'Running', 'Ready');
      return;
    }
    if (this.#parked) {
      // A runtime should poll once; if it polls again, the newer poll wins and the older one is refused.
      sendStateTransitionError(this.#parked, 'Ready', 'Ready');
    }
    this.#parked = res;
    const unpark = (): void => {
      if (this.#parked === res) this.#parked = null;
    };
    res.once('close', unpark);
    req.socket.setTimeout(0);
    if (this.#initState === 'initializing') {
      this.#initState = 'ready';
      this.#init.resolve();
    }
    for (const w of this.#nextWaiters) w.resolve();
    this.#nextWaiters.clear();
    this.#deliverIfParked();
  }

  #deliverIfParked(): void {
    const res = this.#parked;
    const pending = this.#current;
    if (!res || !pending || pending.delivered) return;
    if (res.destroyed || res.writableEnded) {
      this.#parked = null;
      return;
    }
    this.#parked = null;
    pending.delivered = true;
    res.writeHead(200, { ...pending.headers, 'Content-Length': String(pending.inv.payload.length) });
    res.end(pending.inv.payload);
  }

  #onInitError(req: IncomingMessage, res: ServerResponse): void {
    readBody(req, MAX_RUNTIME_RESPONSE_BYTES, (body) => {
      if (this.#closing) {
        sendJson(res, 503, { errorMessage: 'Runtime API is shutting down', errorType: 'ServiceUnavailable' });
        return;
      }
      if (this.#initState !== 'initializing') {
        sendStateTransitionError(res, this.#initState === 'failed' ? 'InitError' : 'Ready', 'InitError');
        return;
      }
      const { payload, errorType } = normaliseError(body ?? Buffer.from('Init error body too large'), req);
      const err = new RuntimeInitError(errorType, payload);
      this.#initState = 'failed';
      this.#initError = err;
      this.#init.reject(err);
      const current = this.#current;
      this.#current = null;
      current?.reject(err);
      sendAccepted(res);
    });
  }

  #onAnswer(req: IncomingMessage, res: ServerResponse, id: string, kind: 'response' | 'error'): void {
    const pending = this.#current;
    if (!pending || !pending.delivered || pending.inv.requestId !== id) {
      const answered = id !== '' && id === this.#answeredId;
      drainThen(req, () => {
        if (answered) sendStateTransitionError(res, this.#parked ? 'Ready' : 'RuntimeResponseSentState', kind === 'response' ? 'InvocationResponse' : 'InvocationErrorResponse');
        else sendInvalidRequestId(res);
      });
      return;
    }
    if (pending.answering) {
      drainThen(req, () => sendStateTransitionError(res, 'RuntimeResponseSentState', kind === 'response' ? 'InvocationResponse' : 'InvocationErrorResponse'));
      return;
    }
    pending.answering = true;
    readBody(req, MAX_RUNTIME_RESPONSE_BYTES, (body) => {
      if (this.#current !== pending) {
        // Aborted (or closed) while the body was arriving: the answer is for an invocation no longer wanted.
        sendInvalidRequestId(res);
        return;
      }
      this.#current = null;
      this.#answeredId = id;
      if (body === null) {
        const errorPayload = Buffer.from(
          JSON.stringify({
            errorMessage: `Response payload size exceeded maximum allowed payload size (${MAX_RUNTIME_RESPONSE_BYTES} bytes).`,
            errorType: 'Function.ResponseSizeTooLarge',
          }),
        );
        pending.resolve({ kind: 'error', payload: errorPayload, errorType: 'Function.ResponseSizeTooLarge' });
        sendJson(res, 413, {
          errorMessage: `Exceeded maximum allowed payload size (${MAX_RUNTIME_RESPONSE_BYTES} bytes).`,
          errorType: 'RequestEntityTooLarge',
        });
        return;
      }
      if (kind === 'response') {
        pending.resolve({ kind: 'response', payload: body });
      } else {
        const { payload, errorType } = normaliseError(body, req);
        pending.resolve({ kind: 'error', payload, errorType });
      }
      sendAccepted(res);
    }, () => {
      // The runtime's connection died mid-body: nothing was answered, so it may answer again.
      pending.answering = false;
    });
  }
}

/** Builds the /next response headers; throws TypeError on a value that cannot be a header. */
function invocationHeaders(inv: RuntimeInvocation): Record<string, string> {
  const headers: Record<string, string> = {
    'Content-Type': 'application/json',
    'Lambda-Runtime-Aws-Request-Id': inv.requestId,
    'Lambda-Runtime-Deadline-Ms': String(Math.trunc(inv.deadlineMs)),
    'Lambda-Runtime-Invoked-Function-Arn': inv.invokedFunctionArn,
  };
  if (inv.traceId !== undefined) headers['Lambda-Runtime-Trace-Id'] = inv.traceId;
  if (inv.clientContext !== undefined) headers['Lambda-Runtime-Client-Context'] = inv.clientContext;
  if (inv.cognitoIdentity !== undefined) headers['Lambda-Runtime-Cognito-Identity'] = inv.cognitoIdentity;
  if (inv.requestId === '' || inv.requestId.includes('/')) throw new TypeError(`Invalid request id: ${JSON.stringify(inv.requestId)}`);
  for (const [k, v] of Object.entries(headers)) http.validateHeaderValue(k, v);
  return headers;
}

/**
 * The error document to hand to the caller: the runtime's body as-is when it is JSON (minus the X-Ray
 * errorCause when posted as application/vnd.aws.lambda.error.cause+json, as Lambda filters it), else the text
 * wrapped as {errorMessage, errorType}.
 */
function normaliseError(body: Buffer, req: IncomingMessage): { payload: Buffer; errorType: string } {
  const header = req.headers[ERROR_TYPE_HEADER];
  const headerType = typeof header === 'string' && header !== '' ? header : undefined;
  let parsed: unknown;
  let isJson = false;
  try {
    parsed = JSON.parse(body.toString('utf8'));
    isJson = true;
  } catch {
    isJson = false;
  }
  if (!isJson) {
    const errorType = headerType ?? 'Runtime.Unknown';
    return { payload: Buffer.from(JSON.stringify({ errorMessage: body.toString('utf8'), errorType })), errorType };
  }
  let payload = body;
  let bodyType: string | undefined;
  if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) {
    const obj = parsed as Record<string, unknown>;
    if (typeof obj['errorType'] === 'string' && obj['errorType'] !== '') bodyType = obj['errorType'];
    if (req.headers['content-type'] === ERROR_WITH_CAUSE_CONTENT_TYPE && 'errorCause' in obj) {
      delete obj['errorCause'];
      payload = Buffer.from(JSON.stringify(obj));
    }
  }
  return { payload, errorType: headerType ?? bodyType ?? 'Runtime.Unknown' };
}

/**
 * Reads the whole body; calls back with null (after draining the rest) when it exceeds limit bytes. If the client
 * goes away before the body is complete, onGone runs instead of done.
 */
function readBody(req: IncomingMessage, limit: number, done: (body: Buffer | null) => void, onGone?: () => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  let over = false;
  let settled = false;
  req.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (over) return;
    if (size > limit) {
      over = true;
      chunks.length = 0;
      return;
    }
    chunks.push(chunk);
  });
  req.on('end', () => {
    if (settled) return;
    settled = true;
    done(over ? null : Buffer.concat(chunks, size));
  });
  const gone = (): void => {
    if (settled) return;
    settled = true;
    onGone?.();
  };
  req.on('error', gone);
  req.on('close', () => {
    if (!req.complete) gone();
  });
}

/** Consumes (and discards) any request body, then runs next, so keep-alive connections stay in sync. */
function drainThen(req: IncomingMessage, next: () => void): void {
  if (req.complete) {
    next();
    return;
  }
  req.on('error', () => {});
  req.on('end', next);
  req.resume();
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent || res.destroyed) return;
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(text)) });
  res.end(text);
}

function sendAccepted(res: ServerResponse): void {
  sendJson(res, 202, { status: 'OK' });
}

function sendInvalidRequestId(res: ServerResponse): void {
  sendJson(res, 400, { errorMessage: 'Invalid request ID', errorType: 'InvalidRequestID' });
}

function sendStateTransitionError(res: ServerResponse, from: string, to: string): void {
  sendJson(res, 403, {
    errorMessage: `State transition from ${from} to ${to} failed for runtime. Error: ${STATE_TRANSITION_NOT_ALLOWED}`,
    errorType: 'InvalidStateTransition',
  });
}
