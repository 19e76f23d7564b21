/**
 * An indexed binary min-heap of timers for the placement core: idle-sandbox expiries and pre-warm loads
 * when the keep-alive differs per sandbox (a constant keep-alive needs none: LRU order is expiry order).
 * Items carry their own heap position, so removal (a warm start takes an idle sandbox) is O(log n)
 * without a lookup. Ties are broken by insertion order, so the order of equal deadlines is defined.
 */

/** What the heap needs of an item; `seq` and `heapIndex` are the heap's own bookkeeping. */
export interface TimerItem {
  /** Due time (ms). Must not change while the item is in the heap. */
  at: number;
  /** Insertion order (set by push). */
  seq: number;
  /** Position in the heap, -1 when not in it. */
  heapIndex: number;
}

/** See the module comment: earliest `at` first, ties in push order. */
export class TimerHeap<T extends TimerItem> {
  private readonly items: T[] = [];
  private seq = 0;

  get size(): number {
    return this.items.length;
  }

  /** The earliest item, or undefined. */
  peek(): T | undefined {
    return this.items[0];
  }

  /** Due time of the earliest item, Infinity when empty. */
  peekAt(): number {
    const top = this.items[0];
    return top === undefined ? Infinity : top.at;
  }

  push(x: T): void {
    if (x.heapIndex >= 0) throw new Error('item is already in a heap');
    x.seq = this.seq++;
    x.heapIndex = this.items.length;
    this.items.push(x);
    this.up(x.heapIndex);
  }

  /** Removes and returns the earliest item. */
  pop(): T | undefined {
    const items = this.items;
    const top = items[0];
    if (top === undefined) return undefined;
    const last = items.pop()!;
    top.heapIndex = -1;
    if (last !== top) {
      items[0] = last;
      last.heapIndex = 0;
      this.down(0);
    }
    return top;
  }

  /** Removes `x` if it is in the heap (no-op otherwise). */
  remove(x: T): void {
    const i = x.heapIndex;
    if (i < 0) return;
    const items = this.items;
    if (items[i] !== x) throw new Error('item belongs to another heap');
    const last = items.pop()!;
    x.heapIndex = -1;
    if (last === x) return;
    items[i] = last;
    last.heapIndex = i;
    this.down(i);
    this.up(last.heapIndex);
  }

  private less(a: T, b: T): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }

  private up(i: number): void {
    const items = this.items;
    const x = items[i]!;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = items[p]!;
      if (!this.less(x, parent)) break;
      items[i] = parent;
      parent.heapIndex = i;
      i = p;
    }
    items[i] = x;
    x.heapIndex = i;
  }

  private down(i: number): void {
    const items = this.items;
    const n = items.length;
    const x = items[i]!;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      let c = l;
      if (r < n && this.less(items[r]!, items[l]!)) c = r;
      const child = items[c]!;
      if (!this.less(child, x)) break;
      items[i] = child;
      child.heapIndex = i;
      i = c;
    }
    items[i] = x;
    x.heapIndex = i;
  }
}
