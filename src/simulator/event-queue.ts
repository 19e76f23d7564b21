/**
 * The simulator's event queue: a binary min-heap whose keys (time, then scheduling order) live in
 * typed arrays in heap order, so comparisons read contiguous memory; each entry points to a slot that
 * holds the event's kind, integer payload and optional string reference. Scheduling allocates nothing
 * once the arrays have grown. Equal times pop in scheduling order, which makes runs exact replays.
 */
export class EventQueue {
  // Heap order.
  private hTime: Float64Array;
  private hSeq: Float64Array;
  private hSlot: Int32Array;
  // Slot order.
  private kind: Uint8Array;
  private payload: Int32Array;
  private refs: (string | undefined)[] = [];
  private free: Int32Array;
  private freeCount = 0;
  private size = 0;
  private capacity: number;
  private seq = 0;

  constructor(initialCapacity = 1024) {
    this.capacity = Math.max(16, initialCapacity);
    this.hTime = new Float64Array(this.capacity);
    this.hSeq = new Float64Array(this.capacity);
    this.hSlot = new Int32Array(this.capacity);
    this.kind = new Uint8Array(this.capacity);
    this.payload = new Int32Array(this.capacity);
    this.free = new Int32Array(this.capacity);
    for (let i = this.capacity - 1; i >= 0; i--) this.free[this.freeCount++] = i;
  }

  get length(): number {
    return this.size;
  }

  /** Time of the earliest event, Infinity when empty. */
  peekTime(): number {
    return this.size === 0 ? Infinity : this.hTime[0]!;
  }

  /** Schedules an event (events are never cancelled). */
  push(at: number, kind: number, payload: number, ref?: string): void {
    if (this.freeCount === 0) this.grow();
    const slot = this.free[--this.freeCount]!;
    this.kind[slot] = kind;
    this.payload[slot] = payload;
    if (ref !== undefined || this.refs[slot] !== undefined) this.refs[slot] = ref;
    const seq = this.seq++;
    const hTime = this.hTime;
    const hSeq = this.hSeq;
    const hSlot = this.hSlot;
    let i = this.size++;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const pt = hTime[p]!;
      if (pt < at || (pt === at && hSeq[p]! < seq)) break;
      hTime[i] = pt;
      hSeq[i] = hSeq[p]!;
      hSlot[i] = hSlot[p]!;
      i = p;
    }
    hTime[i] = at;
    hSeq[i] = seq;
    hSlot[i] = slot;
  }

  /** Pops the earliest event into `out` (reused by the caller); false when empty. */
  pop(out: PoppedEvent): boolean {
    if (this.size === 0) return false;
    const hTime = this.hTime;
    const hSeq = this.hSeq;
    const hSlot = this.hSlot;
    const slot = hSlot[0]!;
    out.time = hTime[0]!;
    out.kind = this.kind[slot]!;
    out.payload = this.payload[slot]!;
    out.ref = this.refs[slot];
    this.free[this.freeCount++] = slot;
    const n = --this.size;
    if (n === 0) return true;
    const xt = hTime[n]!;
    const xs = hSeq[n]!;
    const xslot = hSlot[n]!;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      let c = l;
      let ct = hTime[l]!;
      const r = l + 1;
      if (r < n) {
        const rt = hTime[r]!;
        if (rt < ct || (rt === ct && hSeq[r]! < hSeq[l]!)) {
          c = r;
          ct = rt;
        }
      }
      if (ct > xt || (ct === xt && hSeq[c]! > xs)) break;
      hTime[i] = ct;
      hSeq[i] = hSeq[c]!;
      hSlot[i] = hSlot[c]!;
      i = c;
    }
    hTime[i] = xt;
    hSeq[i] = xs;
    hSlot[i] = xslot;
    return true;
  }

  private grow(): void {
    const old = this.capacity;
    const cap = old * 2;
    const f64 = (a: Float64Array) => {
      const b = new Float64Array(cap);
      b.set(a);
      return b;
    };
    const i32 = (a: Int32Array) => {
      const b = new Int32Array(cap);
      b.set(a);
      return b;
    };
    this.hTime = f64(this.hTime);
    this.hSeq = f64(this.hSeq);
    this.hSlot = i32(this.hSlot);
    const k = new Uint8Array(cap);
    k.set(this.kind);
    this.kind = k;
    this.payload = i32(this.payload);
    const fr = new Int32Array(cap);
    fr.set(this.free.subarray(0, this.freeCount));
    this.free = fr;
    for (let i = cap - 1; i >= old; i--) this.free[this.freeCount++] = i;
    this.capacity = cap;
  }
}

/** A popped event (one reused object). */
export interface PoppedEvent {
  time: number;
  kind: number;
  payload: number;
  ref: string | undefined;
}

/** A fresh PoppedEvent to reuse. */
export function poppedEvent(): PoppedEvent {
  return { time: 0, kind: 0, payload: 0, ref: undefined };
}
