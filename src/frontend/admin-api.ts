import { readFile } from 'node:fs/promises';
import type { Route } from './http-server.js';
import { awsError } from '../errors/catalogue.js';
import type { Clock } from '../util/clock.js';

/** What the admin endpoints read. */
export interface AdminDeps {
  /** When the server started (epoch ms on `clock`), for the health check's uptime. */
  readonly startedAt: number;
  readonly clock: Clock;
  /** lambkin's package version. */
  readonly version: string;
  /** The worker manager's fleet snapshot. */
  readonly fleetView: () => unknown;
  /** Path of a stored zip by its hex digest, if present. */
  readonly zipPath: (hex: string) => string | undefined;
  /** Extra members of the health check (e.g. queued events). */
  readonly stats: () => Record<string, unknown>;
}

/** lambkin's own endpoints under /lambkin: health, fleet snapshot, code downloads. */
export function adminRoutes(d: AdminDeps): Route[] {
  return [
    {
      method: 'GET',
      pattern: '/lambkin/health',
      open: true,
      handler: () => ({
        status: 200,
        body: { status: 'ok', version: d.version, uptimeMs: d.clock.now() - d.startedAt, ...d.stats() },
      }),
    },
    { method: 'GET', pattern: '/lambkin/v1/fleet', handler: () => ({ status: 200, body: d.fleetView() }) },
    {
      method: 'GET',
      pattern: '/lambkin/v1/code/:file',
      // GetFunction's Code.Location: on AWS a presigned URL any HTTP client downloads unsigned. Here the
      // SHA-256 in the path is the capability (only the function's account is told it), so it stays open.
      open: true,
      handler: async (ctx) => {
        const m = /^([0-9a-f]{64})\.zip$/.exec(ctx.params.file ?? '');
        const path = m?.[1] ? d.zipPath(m[1]) : undefined;
        if (!path) throw awsError('resourceNotFound', { what: `No code package ${ctx.params.file ?? ''} is stored here.` });
        return { status: 200, headers: { 'content-type': 'application/zip' }, body: await readFile(path) };
      },
    },
  ];
}
