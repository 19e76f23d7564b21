/**
 * Time as a dependency. Time-dependent logic takes a Clock so tests can drive it; the pure
 * worker manager goes further and takes `now` as an argument.
 */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Calls `fn` once at (or after) `at`; returns a cancel function. */
  setTimer(at: number, fn: () => void): () => void;
}

/** The wall clock, with timers that never keep the process alive on their own. */
export const realClock: Clock = {
  now: () => Date.now(),
  setTimer(at, fn) {
    const t = setTimeout(fn, Math.max(0, at - Date.now()));
    t.unref();
    return () => clearTimeout(t);
  },
};

/** A clock that only moves when told to; timers fire in time order during `advance`. */
export class VirtualClock implements Clock {
  private timers: { at: number; seq: number; fn: () => void }[] = [];
  private seq = 0;
  constructor(private current = 0) {}

  now(): number {
    return this.current;
  }

  setTimer(at: number, fn: () => void): () => void {
    const timer = { at, seq: this.seq++, fn };
    this.timers.push(timer);
    return () => {
      this.timers = this.timers.filter((t) => t !== timer);
    };
  }

  /** Moves time forward to `to`, firing due timers in order. */
  advance(to: number): void {
    for (;;) {
      const due = this.timers.filter((t) => t.at <= to).sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (!due) break;
      this.timers = this.timers.filter((t) => t !== due);
      this.current = Math.max(this.current, due.at);
      due.fn();
    }
    this.current = Math.max(this.current, to);
  }
}
