/** HTTP client for the Lambda Runtime API (2018-06-01) over one keep-alive connection. */
import http from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';
import type { RapidErrorResponse } from './errors.js';

const ERROR_TYPE_HEADER = 'Lambda-Runtime-Function-Error-Type';

/** One invocation as /next delivered it. */
export interface NextInvocation {
  body: string;
  headers: IncomingHttpHeaders;
}

/** Status and body of an API answer. */
export interface RapidAnswer {
  status: number;
  body: string;
}

/** The Runtime API at AWS_LAMBDA_RUNTIME_API (`host:port`), one request at a time. */
export class RapidClient {
  readonly #host: string;
  readonly #port: number;
  // One socket, reused: /next, then the answer, then /next again, as AWS's client does.
  readonly #agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

  constructor(hostPort: string) {
    const i = hostPort.lastIndexOf(':');
    if (i <= 0) throw new Error(`AWS_LAMBDA_RUNTIME_API is not host:port: ${JSON.stringify(hostPort)}`);
    this.#host = hostPort.slice(0, i).replace(/^\[(.*)\]$/, '$1');
    this.#port = Number(hostPort.slice(i + 1));
  }

  /** Long-polls GET /runtime/invocation/next; rejects unless the API answers 200. */
  async next(): Promise<NextInvocation> {
    const { status, body, headers } = await this.#request('GET', '/2018-06-01/runtime/invocation/next');
    if (status !== 200) throw new Error(`Runtime API /next answered ${status}: ${body}`);
    return { body, headers };
  }

  /** POSTs the serialised result to /invocation/{id}/response. */
  postResponse(id: string, body: string): Promise<RapidAnswer> {
    return this.#request('POST', `/2018-06-01/runtime/invocation/${encodeURIComponent(id)}/response`, body, {
      'Content-Type': 'application/json',
    });
  }

  /** POSTs an error document to /invocation/{id}/error with Lambda-Runtime-Function-Error-Type. */
  postError(id: string, error: RapidErrorResponse): Promise<RapidAnswer> {
    return this.#request('POST', `/2018-06-01/runtime/invocation/${encodeURIComponent(id)}/error`, JSON.stringify(error), {
      'Content-Type': 'application/json',
      [ERROR_TYPE_HEADER]: headerSafe(error.errorType),
    });
  }

  /** POSTs an error document to /init/error. */
  postInitError(error: RapidErrorResponse): Promise<RapidAnswer> {
    return this.#request('POST', '/2018-06-01/runtime/init/error', JSON.stringify(error), {
      'Content-Type': 'application/json',
      [ERROR_TYPE_HEADER]: headerSafe(error.errorType),
    });
  }

  #request(method: string, path: string, body?: string, headers: Record<string, string> = {}): Promise<RapidAnswer & { headers: IncomingHttpHeaders }> {
    return new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : Buffer.from(body, 'utf8');
      const req = http.request(
        {
          host: this.#host,
          port: this.#port,
          method,
          path,
          agent: this.#agent,
          headers: payload ? { ...headers, 'Content-Length': String(payload.length) } : headers,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), headers: res.headers }));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
  }
}

function headerSafe(value: string): string {
  // A header value cannot carry control characters; an error name could.
  return value.replace(/[^\t\x20-\x7e\x80-\xff]/g, '') || 'Runtime.Unknown';
}
