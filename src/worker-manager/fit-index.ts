/**
 * Best-fit index: items keyed by free memory (integral MB), answering "the item with the least free
 * memory that is still >= need" in O(log d), where d is the number of DISTINCT free amounts present
 * (bounded by the worker capacity in MB and in practice tiny: 3072 MB / 128 MB sandboxes = 25 values).
 * Items with the same free amount share a bucket (a FIFO `IntrusiveList`), so inserting, moving and
 * removing an item is O(1) plus, only when a bucket appears or empties, a splice of the d-sized
 * bucket array. The cost therefore does not grow with the number of items.
 */
import { IntrusiveList, ListLink } from './intrusive-list.js';

/** Membership of one item in one FitIndex. An item can be in several indexes through several nodes. */
export class FitNode<T> {
  /** @internal */ bucket: FitBucket<T> | null = null;
  /** @internal */ readonly link: ListLink<T>;
  constructor(readonly item: T) {
    this.link = new ListLink<T>(item);
  }
  /** Whether the node is currently in an index. */
  get indexed(): boolean {
    return this.bucket !== null;
  }
}

/** @internal */
class FitBucket<T> {
  readonly nodes = new IntrusiveList<T>();
  constructor(readonly free: number) {}
}

/** See the module comment. Ties (equal free memory) are broken first-in-first-out. */
export class FitIndex<T> {
  /** Non-empty buckets, ascending by `free`. */
  private readonly buckets: FitBucket<T>[] = [];
  private count = 0;

  /** Number of items indexed. */
  get size(): number {
    return this.count;
  }

  /** Inserts `node` with `free`, or moves it if already indexed (no-op when `free` is unchanged). */
  set(node: FitNode<T>, free: number): void {
    const old = node.bucket;
    if (old !== null) {
      if (old.free === free) return;
      this.unlink(node, old);
    }
    const i = this.lowerBound(free);
    let b = this.buckets[i];
    if (b === undefined || b.free !== free) {
      b = new FitBucket<T>(free);
      this.buckets.splice(i, 0, b);
    }
    node.bucket = b;
    b.nodes.pushBack(node.link);
    this.count++;
  }

  /** Removes `node` if indexed. */
  delete(node: FitNode<T>): void {
    const b = node.bucket;
    if (b !== null) this.unlink(node, b);
  }

  /** The item with the least free memory >= `need` (the oldest entry among equals), or undefined. */
  bestFit(need: number): T | undefined {
    const b = this.buckets[this.lowerBound(need)];
    return b?.nodes.head?.item;
  }

  /** Items in ascending free-memory order (for tests and views; allocates). */
  *entries(): IterableIterator<[T, number]> {
    for (const b of this.buckets) for (const item of b.nodes.items()) yield [item, b.free];
  }

  private unlink(node: FitNode<T>, b: FitBucket<T>): void {
    b.nodes.remove(node.link);
    node.bucket = null;
    this.count--;
    if (b.nodes.size === 0) {
      const i = this.lowerBound(b.free);
      this.buckets.splice(i, 1);
    }
  }

  /** First bucket index whose free >= `free`. */
  private lowerBound(free: number): number {
    const a = this.buckets;
    let lo = 0;
    let hi = a.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (a[mid]!.free < free) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
