import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { startLambkin, type Lambkin, type StartOptions } from '../../src/cli/lambkin.js';
import type { Defer } from './leaks.js';

export interface TestServer {
  readonly lambkin: Lambkin;
  readonly dataDir: string;
  /** A real AWS SDK client pointed at the server (account 000000000000, us-east-1). */
  readonly lambda: LambdaClient;
  /** Another client with other credentials (e.g. a 12-digit access key id for another account). */
  client(accessKeyId: string, region?: string): LambdaClient;
}

/** Starts lambkin on a free port with a temporary data dir; everything is closed through `defer`. */
export async function startTestServer(defer: Defer, options: StartOptions = {}): Promise<TestServer> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'lambkin-test-'));
  if (!options.dataDir) defer(() => rmSync(dataDir, { recursive: true, force: true }));
  const lines: string[] = [];
  const lambkin = await startLambkin({ port: 0, log: (l) => lines.push(l), ...options, dataDir });
  defer(() => lambkin.close());
  const clients: LambdaClient[] = [];
  defer(() => clients.forEach((c) => c.destroy()));
  const client = (accessKeyId: string, region = 'us-east-1') => {
    const c = new LambdaClient({
      endpoint: lambkin.url,
      region,
      credentials: { accessKeyId, secretAccessKey: 'test' },
      maxAttempts: 1,
    });
    clients.push(c);
    return c;
  };
  return { lambkin, dataDir, lambda: client('AKIDEXAMPLE'), client };
}
