/**
 * A UDP listener speaking the X-Ray daemon protocol, so a function using aws-xray-sdk-core,
 * Powertools' tracer or the Python X-Ray SDK adds its own (sub)segments to the invocation's trace.
 * Its address goes into the sandbox as `AWS_XRAY_DAEMON_ADDRESS`.
 *
 * Each datagram is a header line and one document: `{"format": "json", "version": 1}\n{...}`.
 * Anything else (bad header, bad JSON, an invalid segment) is dropped and counted; a datagram can
 * never take the listener down.
 */
import { createSocket, type Socket } from 'node:dgram';
import type { TraceStore } from './trace-store.js';

/** Where {@link XrayDaemon} listens and what it stores into. */
export interface XrayDaemonOptions {
  readonly store: TraceStore;
  /** Default 127.0.0.1. */
  readonly host?: string;
  /** Default 0 (any free port). */
  readonly port?: number;
  /** Called for each dropped datagram, with the reason (for logs). */
  readonly onDropped?: (reason: string) => void;
  /** Called after each datagram is handled, stored or dropped (for metrics, and for tests to await delivery). */
  readonly onDatagram?: (outcome: 'stored' | 'dropped') => void;
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
    return d;
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

  /** Stops listening; resolves once the socket is closed (repeated calls share one close). */
  close(): Promise<void> {
    this.closed ??= new Promise<void>((resolve) => {
      try {
        this.socket.close(() => resolve());
      } catch {
        resolve(); // already closed
      }
    });
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
    const outcome = this.handle(msg);
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
