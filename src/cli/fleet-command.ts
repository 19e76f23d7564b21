/**
 * `lambkin fleet`: prints a running server's GET /lambkin/v1/fleet as plain-text tables (hosts,
 * workers, sandboxes, ENIs), so that placement can be watched while experimenting.
 */
import type { FleetView } from '../worker-manager/types.js';
import { signRequest, type SigningCredentials } from '../frontend/sigv4.js';
import { realClock } from '../util/clock.js';

/** Left-aligned columns separated by two spaces; numbers right-aligned. Always ends with a newline. */
export function table(headers: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  const cells = [headers.map(String), ...rows.map((r) => r.map(String))];
  const numeric = headers.map((_, i) => rows.length > 0 && rows.every((r) => typeof r[i] === 'number'));
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return (
    cells
      .map((r) =>
        r
          .map((c, i) => (numeric[i] ? c.padStart(widths[i]!) : i === r.length - 1 ? c : c.padEnd(widths[i]!)))
          .join('  ')
          .trimEnd(),
      )
      .join('\n') + '\n'
  );
}

/** `12.3s ago`, relative to the snapshot's own clock. */
function since(t: number | null, now: number): string {
  if (t === null) return '-';
  const s = Math.max(0, now - t) / 1000;
  return s < 60 ? `${s.toFixed(1)}s ago` : s < 3600 ? `${Math.floor(s / 60)}m${Math.round(s % 60)}s ago` : `${(s / 3600).toFixed(1)}h ago`;
}

/** `arn:aws:lambda:r:a:function:name` → `name`. */
function nameOf(functionKey: string): string {
  const i = functionKey.indexOf(':function:');
  return i < 0 ? functionKey : functionKey.slice(i + ':function:'.length);
}

/** The version of a versionKey (`<qualified ARN>#<config id>`). */
function versionOf(versionKey: string): string {
  const arn = versionKey.split('#')[0] ?? versionKey;
  return arn.slice(arn.lastIndexOf(':') + 1);
}

/** Renders a fleet snapshot as text. */
export function formatFleet(view: FleetView): string {
  const c = view.counters;
  const accountOf = new Map(view.workers.map((w) => [w.id, w.account]));
  const parts = [
    `lambkin fleet  (vpc mode ${view.options.vpcMode}, worker ${view.options.workerMemoryMb} MB)\n` +
      `cold starts ${c.coldStarts} (narrow ${c.narrowColdStarts}), warm ${c.warmStarts}, throttles ${c.throttles}, ` +
      `workers created ${c.workersCreated}, ENIs created ${c.enisCreated}\n`,
    'HOSTS\n' + table(['HOST', 'MEMORY MB', 'RESERVED MB', 'WORKERS'], view.hosts.map((h) => [h.id, h.memoryMb, h.reservedMb, h.workers])),
    'WORKERS\n' +
      table(
        ['WORKER', 'ACCOUNT', 'HOST', 'STATE', 'CAPACITY MB', 'USED MB', 'SANDBOXES', 'ENIS', 'IDLE SINCE'],
        view.workers.map((w) => [w.id, w.account, w.hostId, w.state, w.capacityMb, w.usedMb, w.sandboxes, w.enis.join(',') || '-', since(w.emptySince, view.now)]),
      ),
    'SANDBOXES\n' +
      table(
        ['SANDBOX', 'WORKER', 'ACCOUNT', 'FUNCTION', 'VERSION', 'MEMORY MB', 'STATE', 'PROVISIONED', 'IDLE SINCE'],
        view.sandboxes.map((s) => [
          s.id,
          s.workerId,
          s.account,
          nameOf(s.functionKey),
          versionOf(s.versionKey),
          s.memoryMb,
          s.retired ? `${s.state} (retiring)` : s.state,
          s.provisioned ? 'yes' : 'no',
          since(s.idleSince, view.now),
        ]),
      ),
    'ENIS\n' +
      table(
        ['ENI', 'MODE', 'ACCOUNT', 'SUBNETS', 'SECURITY GROUPS', 'WORKER', 'STATE', 'FUNCTIONS'],
        view.enis.map((e) => {
          const [subnets = '', sgs = ''] = e.vpcKey.split('|');
          return [
            e.id,
            e.mode,
            e.workerId !== undefined ? (accountOf.get(e.workerId) ?? '-') : '-',
            subnets,
            sgs,
            e.workerId ?? '-',
            e.state,
            e.functions !== undefined ? String(e.functions) : '-',
          ];
        }),
      ),
  ];
  return parts.join('\n');
}

/** Which server `lambkin fleet` asks, and where the table and the errors go. */
export interface ShowFleetOptions {
  /** The server's base URL, e.g. `http://127.0.0.1:4590`. */
  readonly endpoint: string;
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  readonly signal?: AbortSignal;
  /** Signs the request (SigV4) with these, as a `--auth strict` server requires. */
  readonly credentials?: SigningCredentials;
  /** The signature's region (default us-east-1). */
  readonly region?: string;
}

/** Fetches the fleet and prints it; returns the exit code. */
export async function showFleet(o: ShowFleetOptions): Promise<number> {
  const url = new URL('/lambkin/v1/fleet', o.endpoint);
  let res: Response;
  try {
    const headers = o.credentials ? signRequest({ method: 'GET', url }, o.credentials, { region: o.region ?? 'us-east-1', service: 'lambda' }, realClock.now()) : {};
    res = await fetch(url, { headers, ...(o.signal ? { signal: o.signal } : {}) });
  } catch (err) {
    o.err(`lambkin fleet: cannot reach ${url.href}: ${err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err)}\n`);
    return 1;
  }
  if (!res.ok) {
    o.err(`lambkin fleet: ${url.href} answered ${res.status}: ${await res.text()}\n`);
    return 1;
  }
  o.out(formatFleet((await res.json()) as FleetView));
  return 0;
}
