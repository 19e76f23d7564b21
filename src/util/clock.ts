/**
 * Time as a dependency. Everything in `src/` that reads the time or sets a timer takes a Clock, and
 * this module is the only one that touches `Date.now`, `setTimeout`, `performance.now` and the like
 * (test/util/raw-time-sources.test.ts enforces it; code in `src/runtimes/`, which runs inside
 * sandboxes, is exempt). So one clock, real or virtual, drives a whole server: arrival times,
 * deadlines and the timers that enforce them cannot disagree. The pure worker manager goes further and
 * takes `now` as an argument.
 */
export interface Clock {
  /** Milliseconds since the epoch: timestamps, deadlines, and the times timers are set for. */
  now(): number;
  /**
   * Milliseconds from an arbitrary origin, with sub-millisecond resolution where the clock has it,
   * never going back (setting the wall clock does not move it): for measuring durations, never for
   * timestamps.
   */
  monotonic(): number;
  /**
   * Calls `fn` once, when `now()` has reached `at`; never synchronously, even when `at` has passed.
   * Returns a cancel function (harmless once the timer fired). A real timer does not keep the
   * process alive on its own.
   */
  setTimer(at: number, fn: () => void): () => void;
  /**
   * Resolves once `ms` have passed on this clock. Rejects with `signal.reason` when `signal` aborts
   * first (at once when it already has), and the timer is gone. A real sleep keeps the process alive,
   * as any awaited wait does.
   */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** An AbortSignal that aborts with a `TimeoutError` once `ms` have passed on `clock` (`AbortSignal.timeout` on any clock). */
export function timeoutSignal(clock: Clock, ms: number): AbortSignal {
  const controller = new AbortController();
  clock.setTimer(clock.now() + ms, () => controller.abort(new DOMException('The operation was aborted due to timeout', 'TimeoutError')));
  return controller.signal;
}

/** Waits for `schedule`'s callback, or rejects when `signal` aborts first (cancelling it). */
function abortableWait(signal: AbortSignal | undefined, schedule: (fire: () => void) => () => void): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason as Error);
      return;
    }
    const onAbort = () => {
      cancel();
      reject(signal?.reason as Error);
    };
    const cancel = schedule(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    });
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Node clamps longer delays to 1 ms (with a warning); longer waits re-arm instead. */
const MAX_DELAY_MS = 2 ** 31 - 1;

/** A Node timer that calls `fn` once `Date.now()` has reached `at`. */
function wallTimer(at: number, fn: () => void, keepAlive: boolean): () => void {
  let t: NodeJS.Timeout | undefined;
  const arm = (ms: number) => {
    t = setTimeout(check, Math.min(MAX_DELAY_MS, Math.max(0, ms)));
    if (!keepAlive) t.unref();
  };
  // Node counts a delay from its loop's cached, millisecond-rounded time, so a timer can fire a
  // millisecond before Date.now() shows `at`; the wall clock may also be set back meanwhile. Re-arm
  // for what is left, so that `fn` never sees a time before `at`.
  const check = () => {
    const left = at - Date.now();
    if (left > 0) arm(left);
    else fn();
  };
  arm(at - Date.now());
  return () => clearTimeout(t);
}

/** The wall clock: Node's timers, `Date.now` and `performance.now`. */
export const realClock: Clock = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
  setTimer: (at, fn) => wallTimer(at, fn, false),
  sleep: (ms, signal) => abortableWait(signal, (fire) => wallTimer(Date.now() + ms, fire, true)),
};

/**
 * A clock that only moves when told to: timers fire in time order (ties in the order they were set)
 * during `advance`. `monotonic()` is the same virtual time as `now()`. Promise continuations of a
 * `sleep` run after `advance` returns, as microtasks.
 */
export class VirtualClock implements Clock {
  private timers: { at: number; seq: number; fn: () => void }[] = [];
  private seq = 0;
  constructor(private current = 0) {}

  now(): number {
    return this.current;
  }

  monotonic(): number {
    return this.current;
  }

  setTimer(at: number, fn: () => void): () => void {
    const timer = { at, seq: this.seq++, fn };
    this.timers.push(timer);
    return () => {
      this.timers = this.timers.filter((t) => t !== timer);
    };
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return abortableWait(signal, (fire) => this.setTimer(this.current + ms, fire));
  }

  /** Moves time forward to `to` (never back), firing due timers in order, including those they set. */
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
