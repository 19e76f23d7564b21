/**
 * The command-line form of a keep-alive policy (`--keep-alive fixed:10m`, `--keep-alive-policy hybrid:...`),
 * parsed here at the CLI boundary into the configuration the core's factory takes (keep-alive-config.ts).
 */
import { z } from 'zod';
import { parseDuration } from '../util/duration.js';
import { keepAliveConfigSchema, type KeepAliveConfig } from '../worker-manager/keep-alive-config.js';
import { hybridConfigSchema } from '../worker-manager/keep-alive-hybrid.js';

/**
 * Parses the CLI form: `fixed`, `fixed:10m`/`fixed:600000` (ms), `hybrid`, or `hybrid:key=value,...`
 * with the keys of `hybridConfigSchema` (durations as `parseDuration` reads them: ms, or with an ms/s/m/h/d suffix).
 * Throws with a readable message.
 */
export function parseKeepAliveSpec(spec: string): KeepAliveConfig {
  const [kind, rest = ''] = spec.split(/:(.*)/s, 2) as [string, string?];
  const dur = (v: string, what: string): number => {
    try {
      return parseDuration(v);
    } catch (err) {
      throw new Error(`${what}: ${(err as Error).message}`);
    }
  };
  if (kind === 'fixed') return keepAliveConfigSchema.parse({ policy: 'fixed', ...(rest ? { ttlMs: dur(rest, 'fixed TTL') } : {}) });
  if (kind === 'hybrid') {
    const o: Record<string, number> = {};
    for (const kv of rest.split(',').filter((s) => s.trim() !== '')) {
      const [k, v] = kv.split('=', 2) as [string, string?];
      if (v === undefined) throw new Error(`hybrid option "${kv}" needs key=value`);
      const key = k.trim();
      o[key] = key.endsWith('Ms') ? dur(v, key) : Number(v);
    }
    const r = hybridConfigSchema.safeParse({ policy: 'hybrid', ...o });
    if (!r.success) throw new Error(`invalid hybrid keep-alive options: ${z.prettifyError(r.error)}`);
    return r.data;
  }
  throw new Error(`unknown keep-alive policy "${spec}": use fixed, fixed:<ttl>, hybrid or hybrid:key=value,...`);
}
