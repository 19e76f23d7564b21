/** Lambda's public on-demand prices (src/simulator/data/lambda-prices.json: source URL, region, date). */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { dataPath } from './data-files.js';

const archPrice = z.object({ perGbSecond: z.number().nonnegative(), perMillionRequests: z.number().nonnegative() }).strict();

const priceTableSchema = z
  .object({
    source: z.string().min(1),
    region: z.string().min(1),
    tier: z.string(),
    recorded: z.string().regex(/^\d{4}-\d{2}-\d{2}$/),
    note: z.string().optional(),
    currency: z.string().min(1),
    /** Initialization code is billed as duration (cold starts). */
    billInit: z.boolean(),
    architectures: z.object({ x86_64: archPrice, arm64: archPrice }).strict(),
  })
  .strict();

export type PriceTable = Readonly<z.output<typeof priceTableSchema>>;
export type Architecture = 'x86_64' | 'arm64';

/** Loads the shipped price table, or one at `path`. */
export function loadPrices(path?: string): PriceTable {
  const file = path ?? dataPath('lambda-prices.json');
  const r = priceTableSchema.safeParse(JSON.parse(readFileSync(file, 'utf8')));
  if (!r.success) throw new Error(`Invalid price table ${file}:\n${z.prettifyError(r.error)}`);
  return Object.freeze(r.data);
}

/** Cost in the table's currency of `requests` requests and `gbSeconds` GB-s on `arch`. */
export function cost(prices: PriceTable, arch: Architecture, requests: number, gbSeconds: number): { requests: number; compute: number; total: number } {
  const p = prices.architectures[arch];
  const r = (requests / 1e6) * p.perMillionRequests;
  const c = gbSeconds * p.perGbSecond;
  return { requests: r, compute: c, total: r + c };
}
