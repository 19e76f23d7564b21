/**
 * The statistics the seed reported, computed as it computed them: the variance is the sample
 * variance (divided by n − 1), as a spreadsheet's VAR gives it; the median of an even count is the
 * mean of the middle two.
 */

export interface Summary {
  readonly count: number;
  readonly mean: number;
  readonly median: number;
  readonly max: number;
  readonly min: number;
  /** Sample variance (n − 1); 0 for fewer than two values. */
  readonly variance: number;
  readonly p90: number;
  readonly p99: number;
}

export function mean(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  let s = 0;
  for (const x of xs) s += x;
  return s / xs.length;
}

/** Sample variance (n − 1), as the seed (a spreadsheet's VAR) computed it. */
export function sampleVariance(xs: readonly number[]): number {
  if (xs.length < 2) return 0;
  const m = mean(xs);
  let s = 0;
  for (const x of xs) s += (x - m) ** 2;
  return s / (xs.length - 1);
}

/** Percentile by linear interpolation between closest ranks (p in [0, 100]); p50 is the median. */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN;
  if (p < 0 || p > 100) throw new RangeError(`percentile ${p} is outside [0, 100]`);
  const sorted = [...xs].sort((a, b) => a - b);
  const rank = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  const a = sorted[lo] as number;
  const b = sorted[hi] as number;
  return a + (b - a) * (rank - lo);
}

export function median(xs: readonly number[]): number {
  return percentile(xs, 50);
}

export function summarize(xs: readonly number[]): Summary {
  return {
    count: xs.length,
    mean: mean(xs),
    median: median(xs),
    max: xs.length ? Math.max(...xs) : NaN,
    min: xs.length ? Math.min(...xs) : NaN,
    variance: sampleVariance(xs),
    p90: percentile(xs, 90),
    p99: percentile(xs, 99),
  };
}
