/** Shared by the invocations tests that run a whole server on a virtual clock. */

/**
 * Resolves once `check()` holds, letting pending promise chains and I/O run between checks (a few
 * event-loop turns, no waiting on time); rejects when it still does not hold after `turns` turns.
 */
export async function settles<T>(what: string, check: () => Promise<T | undefined | false> | T | undefined | false, turns = 200): Promise<T> {
  for (let i = 0; i < turns; i++) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  throw new Error(`${what} did not happen once the clock had moved`);
}

/**
 * Awaits `p` while moving `clock` forward in `stepMs` steps (a latency profile's delays are timers on
 * it), at most `maxSteps` times.
 */
export async function driven<T>(clock: { now(): number; advance(to: number): void }, p: Promise<T>, stepMs = 100, maxSteps = 600): Promise<T> {
  let done = false;
  const watched = p.finally(() => (done = true));
  for (let i = 0; i < maxSteps && !done; i++) {
    await new Promise<void>((resolve) => setImmediate(resolve));
    if (!done) clock.advance(clock.now() + stepMs);
  }
  return watched;
}
