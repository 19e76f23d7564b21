/**
 * A small, fast, seeded PRNG for latency profiles and the simulator (which draws millions of numbers).
 * xoshiro128** (Blackman & Vigna, https://prng.di.unimi.it/): 128-bit state, period 2^128 − 1, only
 * 32-bit integer ops (Math.imul), so it is exact and fast in JavaScript. The state is filled from the
 * seed with splitmix32, so that nearby seeds (1, 2, 3, ...) give unrelated streams.
 */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  /** Box–Muller makes two normals per pair of uniforms; the second waits here. */
  private spare = 0;
  private hasSpare = false;

  /**
   * `seed`: any safe integer (negative and > 2^32 are fine; all of its bits count). `stream`: a small
   * integer that selects an independent-looking stream for the same seed (one per profile quantity).
   */
  constructor(seed: number, stream = 0) {
    if (!Number.isSafeInteger(seed)) throw new RangeError(`Rng seed must be a safe integer, got ${seed}`);
    let s = (seed >>> 0) ^ Math.imul(Math.floor(seed / 0x1_0000_0000) >>> 0, 0x9e3779b9) ^ Math.imul(stream, 0x85ebca6b);
    const splitmix32 = (): number => {
      s = (s + 0x9e3779b9) | 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = splitmix32();
    this.b = splitmix32();
    this.c = splitmix32();
    this.d = splitmix32();
    // An all-zero state would stay zero forever; splitmix32 practically never yields it, but be sure.
    if ((this.a | this.b | this.c | this.d) === 0) this.a = 1;
  }

  /** A uniform number in [0, 1), with 32 random bits. */
  next(): number {
    const result = Math.imul(rotl(Math.imul(this.b, 5), 7), 9) >>> 0;
    const t = this.b << 9;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = rotl(this.d, 11);
    return result / 0x1_0000_0000;
  }

  /** A standard normal draw (mean 0, sd 1), Box–Muller. */
  normal(): number {
    if (this.hasSpare) {
      this.hasSpare = false;
      return this.spare;
    }
    const u1 = 1 - this.next(); // (0, 1]: log(0) would be -Infinity
    const u2 = this.next();
    const r = Math.sqrt(-2 * Math.log(u1));
    const theta = 2 * Math.PI * u2;
    this.spare = r * Math.sin(theta);
    this.hasSpare = true;
    return r * Math.cos(theta);
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
