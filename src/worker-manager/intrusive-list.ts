/**
 * The one doubly linked list of the placement core. It is intrusive: an item owns one `ListLink` per list
 * it can be in (made once, with the item), so linking and unlinking allocate nothing and unlinking a known
 * item is O(1) without a search. Used for the idle sandboxes of a version (MRU order), the global LRU of
 * idle sandboxes, every sandbox of a version, the empty workers (retirement order) and the buckets of
 * the best-fit index.
 */

/**
 * One item's membership slot for one kind of list. A link is in at most one list at a time; its
 * `prev`, `next` and `list` are written by `IntrusiveList` only (read them, never assign them).
 */
export class ListLink<T> {
  prev: ListLink<T> | null = null;
  next: ListLink<T> | null = null;
  list: IntrusiveList<T> | null = null;
  constructor(readonly item: T) {}

  /** Whether the link is in a list. */
  get linked(): boolean {
    return this.list !== null;
  }
}

/** See the module comment. Head is the oldest end for lists used in push-back order. */
export class IntrusiveList<T> {
  private first: ListLink<T> | null = null;
  private last: ListLink<T> | null = null;
  private count = 0;

  /** The first link, or null when empty. */
  get head(): ListLink<T> | null {
    return this.first;
  }

  /** The last link, or null when empty. */
  get tail(): ListLink<T> | null {
    return this.last;
  }

  /** Number of links in the list. */
  get size(): number {
    return this.count;
  }

  /** Appends `link` (which must not be in any list). */
  pushBack(link: ListLink<T>): void {
    if (link.list !== null) throw new Error('link is already in a list');
    link.list = this;
    link.next = null;
    link.prev = this.last;
    if (this.last !== null) this.last.next = link;
    else this.first = link;
    this.last = link;
    this.count++;
  }

  /** Removes `link`, which must be in this list. */
  remove(link: ListLink<T>): void {
    if (link.list !== this) throw new Error('link is not in this list');
    const { prev, next } = link;
    if (prev !== null) prev.next = next;
    else this.first = next;
    if (next !== null) next.prev = prev;
    else this.last = prev;
    link.prev = link.next = null;
    link.list = null;
    this.count--;
  }

  /** Removes and returns the first item, or undefined when empty. */
  popFront(): T | undefined {
    const h = this.first;
    if (h === null) return undefined;
    this.remove(h);
    return h.item;
  }

  /** The items from head to tail (allocates; for views and tests, not hot paths). */
  *items(): IterableIterator<T> {
    for (let l = this.first; l !== null; l = l.next) yield l.item;
  }
}
