/**
 * Keep-alive policies as configuration (JSON, workload files, CLI values already parsed by src/cli/) and
 * the factory that builds a policy from it.
 */
import { z } from 'zod';
import { FixedKeepAlive, type KeepAlivePolicy } from './keep-alive.js';
import { HybridHistogramPolicy, hybridConfigSchema } from './keep-alive-hybrid.js';

/** The fixed policy's parameters. */
export const fixedConfigSchema = z.object({ policy: z.literal('fixed'), ttlMs: z.number().finite().nonnegative().default(600_000) }).strict();

/** A keep-alive policy as configuration (JSON, CLI). */
export const keepAliveConfigSchema = z.union([fixedConfigSchema, hybridConfigSchema]);
export type KeepAliveConfig = z.output<typeof keepAliveConfigSchema>;
export type KeepAliveConfigInput = z.input<typeof keepAliveConfigSchema>;

/** Builds a fresh policy (with empty state) from validated or raw configuration. */
export function createKeepAlivePolicy(config: KeepAliveConfigInput): KeepAlivePolicy {
  const c = keepAliveConfigSchema.parse(config);
  return c.policy === 'fixed' ? new FixedKeepAlive(c.ttlMs) : new HybridHistogramPolicy(c);
}

