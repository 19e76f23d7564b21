/**
 * Log-bucketed latency histograms: percentiles of millions of latencies without storing them. Buckets
 * grow by 2% from 0.01 ms (a percentile is reported as its bucket's geometric midpoint, within 1% of the
 * exact value) up to ~11 days; the exact count, sum, min and max are kept too.
 */
const MIN_MS = 0.01;
const GROWTH = 1.02;
const K = 1 / Math.log(GROWTH);
/** Buckets: 0 holds everything below MIN_MS, the last everything above the range. */
export const BUCKETS = Math.ceil(Math.log(1e9 / MIN_MS) * K) + 2;

/** Bucket index of a latency (ms). */
export function bucketOf(ms: number): number {
  if (!(ms >= MIN_MS)) return 0;
  const b = 1 + Math.floor(Math.log(ms / MIN_MS) * K);
  return b < BUCKETS - 1 ? b : BUCKETS - 1;
}

/** Representative value of a bucket (geometric midpoint). */
export function bucketValue(b: number): number {
  if (b <= 0) return 0;
  return MIN_MS * Math.pow(GROWTH, b - 0.5);
}

export class LatencyHistogram {
  readonly counts = new Uint32Array(BUCKETS);
  count = 0;
  sum = 0;
  min = Infinity;
  max = -Infinity;

  add(ms: number): void {
    this.counts[bucketOf(ms)]!++;
    this.count++;
    this.sum += ms;
    if (ms < this.min) this.min = ms;
    if (ms > this.max) this.max = ms;
  }

  merge(o: LatencyHistogram): void {
    const a = this.counts;
    const b = o.counts;
    for (let i = 0; i < BUCKETS; i++) a[i]! += b[i]!;
    this.count += o.count;
    this.sum += o.sum;
    if (o.min < this.min) this.min = o.min;
    if (o.max > this.max) this.max = o.max;
  }

  /** Percentile p in [0, 100] (nearest rank on buckets, clamped to [min, max]); NaN when empty. */
  percentile(p: number): number {
    if (this.count === 0) return NaN;
    const rank = Math.max(1, Math.ceil((p / 100) * this.count));
    let cum = 0;
    for (let i = 0; i < BUCKETS; i++) {
      cum += this.counts[i]!;
      if (cum >= rank) return Math.min(this.max, Math.max(this.min, bucketValue(i)));
    }
    return this.max;
  }

  mean(): number {
    return this.count === 0 ? NaN : this.sum / this.count;
  }

  /** The summary the reports print. */
  summary(): LatencySummary {
    const n = this.count === 0;
    return {
      mean: this.mean(),
      p50: this.percentile(50),
      p90: this.percentile(90),
      p99: this.percentile(99),
      max: n ? NaN : this.max,
    };
  }
}

export interface LatencySummary {
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}
