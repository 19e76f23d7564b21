/**
 * The statistics the seed reported, computed as it computed them: the variance is the sample
 * variance (divided by n − 1), as a spreadsheet's VAR gives it; the median of an even count is the
 * mean of the middle two.
 */

/** What `summarize` computes. */
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

/** Arithmetic mean; NaN for no values. */
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
  return percentileOfSorted([...xs].sort((a, b) => a - b), p);
}

/** `percentile` of values already sorted ascending (no copy, no sort). */
function percentileOfSorted(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  if (p < 0 || p > 100) throw new RangeError(`percentile ${p} is outside [0, 100]`);
  const rank = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  const a = sorted[lo] as number;
  const b = sorted[hi] as number;
  return a + (b - a) * (rank - lo);
}

/** The middle value; the mean of the middle two for an even count. */
export function median(xs: readonly number[]): number {
  return percentile(xs, 50);
}

/**
 * Every statistic of `xs` at once. Sorts one copy (min and max are its ends: `Math.max(...xs)` would
 * overflow the call stack for the hundreds of thousands of values a long seed-2019 preset collects).
 */
export function summarize(xs: readonly number[]): Summary {
  const sorted = [...xs].sort((a, b) => a - b);
  const n = sorted.length;
  return {
    count: n,
    mean: mean(xs),
    median: percentileOfSorted(sorted, 50),
    max: n > 0 ? sorted[n - 1]! : NaN,
    min: n > 0 ? sorted[0]! : NaN,
    variance: sampleVariance(xs),
    p90: percentileOfSorted(sorted, 90),
    p99: percentileOfSorted(sorted, 99),
  };
}
