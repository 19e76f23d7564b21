/**
 * A UDP listener speaking the X-Ray daemon protocol, so a function using aws-xray-sdk-core,
 * Powertools' tracer or the Python X-Ray SDK adds its own (sub)segments to the invocation's trace.
 * Its address goes into the sandbox as `AWS_XRAY_DAEMON_ADDRESS`.
 *
 * Each datagram is a header line and one document: `{"format": "json", "version": 1}\n{...}`.
 * Anything else (bad header, bad JSON, an invalid segment) is dropped and counted; a datagram can
 * never take the listener down.
 *
 * A namespaced sandbox has no route to the host's UDP port: its relay (fleet/isolation/relay.ts)
 * forwards each datagram over a Unix stream connection as a frame, a 4-byte big-endian length and
 * the datagram's bytes ({@link XrayDaemon.listenStream}). Frames are handled exactly as datagrams.
 */
import { createSocket, type Socket } from 'node:dgram';
import net from 'node:net';
import { listenUnix } from '../util/unix-socket.js';
import type { TraceStore } from './trace-store.js';

/** Where {@link XrayDaemon} listens and what it stores into. */
export interface XrayDaemonOptions {
  readonly store: TraceStore;
  /** Default 127.0.0.1. */
  readonly host?: string;
  /** Default 0 (any free port). */
  readonly port?: number;
  /** Also listen on this Unix stream socket for framed datagrams (see {@link XrayDaemon.listenStream}). */
  readonly streamSocketPath?: string;
  /** Called for each dropped datagram, with the reason (for logs). */
  readonly onDropped?: (reason: string) => void;
  /** Called after each datagram is handled, stored or dropped (for metrics, and for tests to await delivery). */
  readonly onDatagram?: (outcome: 'stored' | 'dropped') => void;
}

/** One Unix stream listener of an {@link XrayDaemon} (see {@link XrayDaemon.listenStream}). */
export interface XrayStreamListener {
  readonly path: string;
  /** Stops listening, ends its connections, removes the socket file. Idempotent. */
  close(): Promise<void>;
}

/** Counters of a running {@link XrayDaemon}. */
export interface XrayDaemonStats {
  /** Datagrams received. */
  received: number;
  /** Documents stored. */
  stored: number;
  /** Datagrams dropped: malformed header or document, or refused by the store. */
  dropped: number;
}

const HEADER_FORMATS = new Set(['json']);

/** Largest frame payload a stream connection may send: a UDP datagram's worth (64 KiB). */
export const MAX_FRAME_BYTES = 64 * 1024;

/**
 * Splits a byte stream into frames (4-byte big-endian length + payload). push() returns the complete
 * payloads so far, or an error for a frame longer than max (the connection is then not to be trusted).
 */
export class FrameReader {
  #pending: Buffer[] = [];
  #size = 0;
  constructor(private readonly max: number = MAX_FRAME_BYTES) {}

  push(chunk: Buffer): Buffer[] | { error: string } {
    this.#pending.push(chunk);
    this.#size += chunk.length;
    const out: Buffer[] = [];
    while (this.#size >= 4) {
      let buf = this.#pending.length === 1 ? (this.#pending[0] as Buffer) : Buffer.concat(this.#pending, this.#size);
      const len = buf.readUInt32BE(0);
      if (len > this.max) return { error: `frame of ${len} bytes exceeds ${this.max}` };
      if (this.#size < 4 + len) {
        this.#pending = [buf];
        break;
      }
      out.push(buf.subarray(4, 4 + len));
      buf = buf.subarray(4 + len);
      this.#pending = buf.length > 0 ? [buf] : [];
      this.#size = buf.length;
    }
    return out;
  }

  /** Bytes of an incomplete frame held. */
  get buffered(): number {
    return this.#size;
  }
}

/** Splits a datagram into its header and document; undefined (with a reason) when it is not the daemon protocol. */
export function parseDatagram(msg: Buffer): { document: string } | { error: string } {
  const text = msg.toString('utf8');
  const nl = text.indexOf('\n');
  if (nl < 0) return { error: 'no header line' };
  let header: unknown;
  try {
    header = JSON.parse(text.slice(0, nl));
  } catch {
    return { error: 'header is not JSON' };
  }
  const h = header as { format?: unknown; version?: unknown } | null;
  if (typeof h !== 'object' || h === null || typeof h.format !== 'string' || !HEADER_FORMATS.has(h.format)) {
    return { error: 'header must be {"format": "json", "version": 1}' };
  }
  if (h.version !== undefined && h.version !== 1) return { error: `unsupported protocol version ${String(h.version)}` };
  return { document: text.slice(nl + 1) };
}

/** The running UDP listener. */
export class XrayDaemon {
  readonly stats: XrayDaemonStats = { received: 0, stored: 0, dropped: 0 };
  private closed: Promise<void> | undefined;
  /** close() of each stream listener. */
  private readonly streams = new Set<() => Promise<void>>();

  private constructor(
    private readonly socket: Socket,
    private readonly options: XrayDaemonOptions,
  ) {}

  /** Binds the socket; resolves once it listens. */
  static async start(options: XrayDaemonOptions): Promise<XrayDaemon> {
    const host = options.host ?? '127.0.0.1';
    const socket = createSocket(host.includes(':') ? 'udp6' : 'udp4');
    const d = new XrayDaemon(socket, options);
    socket.on('message', (msg) => d.onMessage(msg));
    // Errors after bind (e.g. ICMP noise) must not crash lambkin; they are counted as drops.
    socket.on('error', (err) => d.drop(`socket error: ${err.message}`));
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => {
        // A socket that failed to bind still holds its handle; release it before giving up.
        try {
          socket.close();
        } catch {
          // already closed
        }
        reject(err);
      };
      socket.once('error', onError);
      socket.bind(options.port ?? 0, host, () => {
        socket.off('error', onError);
        resolve();
      });
    });
    if (options.streamSocketPath !== undefined) {
      try {
        await d.listenStream(options.streamSocketPath);
      } catch (e) {
        await d.close();
        throw e;
      }
    }
    return d;
  }

  /**
   * Also accepts framed datagrams on a Unix stream socket at path (a sandbox's relay connects here): each
   * frame is a 4-byte big-endian length and that many bytes, handled as one datagram. A frame over 64 KiB
   * closes its connection (counted as a drop); other connections and the UDP socket are unaffected. With
   * `uid`, only that uid may connect (mode 0600), else anyone (0666). A stale socket file is replaced.
   * May be called once per sandbox; the returned close() stops that listener (and its connections) and
   * removes its file; the daemon's close() stops them all.
   */
  async listenStream(path: string, opts: { uid?: number } = {}): Promise<XrayStreamListener> {
    if (this.closed) throw new Error('X-Ray daemon is closed');
    const conns = new Set<net.Socket>();
    const server = net.createServer((conn) => this.onStream(conn, conns));
    server.on('error', (err) => this.drop(`stream listener error: ${err.message}`));
    await listenUnix(server, path, opts.uid);
    let closing: Promise<void> | undefined;
    const close = (): Promise<void> =>
      (closing ??= new Promise<void>((resolve) => {
        this.streams.delete(close);
        server.close(() => resolve());
        for (const c of conns) c.destroy();
      }));
    this.streams.add(close);
    if (this.closed) {
      await close();
      throw new Error('X-Ray daemon is closed');
    }
    return { path, close };
  }

  private onStream(conn: net.Socket, conns: Set<net.Socket>): void {
    conns.add(conn);
    const frames = new FrameReader();
    conn.on('data', (chunk: Buffer) => {
      const got = frames.push(chunk);
      if (!Array.isArray(got)) {
        // Counted as one received and dropped datagram; the stream cannot be resynchronised, so it ends.
        this.stats.received++;
        this.drop(got.error);
        this.notify('dropped');
        conn.destroy();
        return;
      }
      for (const f of got) this.onMessage(f);
    });
    conn.on('error', () => {}); // a reset from the sandbox's side ends only this connection
    conn.on('close', () => conns.delete(conn));
  }

  /** `host:port`, the value of AWS_XRAY_DAEMON_ADDRESS. */
  get address(): string {
    const a = this.socket.address();
    return a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
  }

  /** The UDP port listened on. */
  get port(): number {
    return this.socket.address().port;
  }

  /** Stops listening (UDP and streams); resolves once every socket is closed (repeated calls share one close). */
  close(): Promise<void> {
    this.closed ??= Promise.all([
      new Promise<void>((resolve) => {
        try {
          this.socket.close(() => resolve());
        } catch {
          resolve(); // already closed
        }
      }),
      ...[...this.streams].map((close) => close()),
    ]).then(() => undefined);
    return this.closed;
  }

  private drop(reason: string): void {
    this.stats.dropped++;
    try {
      this.options.onDropped?.(reason);
    } catch {
      // a logging hook must not break the listener
    }
  }

  private onMessage(msg: Buffer): void {
    this.stats.received++;
    this.notify(this.handle(msg));
  }

  private notify(outcome: 'stored' | 'dropped'): void {
    try {
      this.options.onDatagram?.(outcome);
    } catch {
      // a metrics hook must not break the listener
    }
  }

  private handle(msg: Buffer): 'stored' | 'dropped' {
    try {
      const p = parseDatagram(msg);
      if ('error' in p) {
        this.drop(p.error);
        return 'dropped';
      }
      const refused = this.options.store.putJson([p.document]);
      if (refused.length > 0) {
        this.drop(refused.map((r) => r.Message).join('; '));
        return 'dropped';
      }
      this.stats.stored++;
      return 'stored';
    } catch (e) {
      // e.g. the database is closing during shutdown
      this.drop(`store failed: ${e instanceof Error ? e.message : String(e)}`);
      return 'dropped';
    }
  }
}
