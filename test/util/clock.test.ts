/**
 * The Clock contract, one suite run against both clocks: the real one (time passes by waiting) and
 * the virtual one (time passes by `advance`). Then what only one of them promises.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { setImmediate as nextTurn, setTimeout as wait } from 'node:timers/promises';
import { promisify } from 'node:util';
import { describe, test } from 'node:test';
import { realClock, timeoutSignal, VirtualClock, type Clock } from '../../src/util/clock.js';

interface Subject {
  readonly name: string;
  /** A clock, and a way to let `ms` of its time pass and the callbacks due by then run. */
  make(): { clock: Clock; pass(ms: number): Promise<void> };
}

const subjects: Subject[] = [
  {
    name: 'realClock',
    make: () => ({
      clock: realClock,
      // Node runs due timers in the order of their times, so one set later than theirs runs after them.
      pass: (ms) => wait(ms + 20),
    }),
  },
  {
    name: 'VirtualClock',
    make: () => {
      const clock = new VirtualClock(1_000_000);
      return {
        clock,
        pass: async (ms) => {
          clock.advance(clock.now() + ms);
          await nextTurn(); // the continuations of what resolved during advance
        },
      };
    },
  },
];

for (const subject of subjects) {
  describe(`Clock contract: ${subject.name}`, () => {
    test('now() and monotonic() never go back, and both move with the time that passes', async () => {
      const { clock, pass } = subject.make();
      const nows = [clock.now()];
      const monos = [clock.monotonic()];
      for (let i = 0; i < 5; i++) {
        await pass(5);
        nows.push(clock.now());
        monos.push(clock.monotonic());
      }
      for (let i = 1; i < nows.length; i++) {
        assert.ok(nows[i]! >= nows[i - 1]!, `now() went back: ${nows.join(', ')}`);
        assert.ok(monos[i]! >= monos[i - 1]!, `monotonic() went back: ${monos.join(', ')}`);
      }
      const [n0, m0] = [clock.now(), clock.monotonic()];
      await pass(30);
      assert.ok(clock.now() - n0 >= 30, `now() moved ${clock.now() - n0} ms over 30`);
      assert.ok(clock.monotonic() - m0 >= 30, `monotonic() moved ${clock.monotonic() - m0} ms over 30`);
    });

    test('a timer fires once, when now() has reached its time', async () => {
      const { clock, pass } = subject.make();
      const at = clock.now() + 25;
      const seen: number[] = [];
      clock.setTimer(at, () => seen.push(clock.now()));
      await pass(40);
      await pass(40);
      assert.equal(seen.length, 1);
      assert.ok(seen[0]! >= at, `fired at ${seen[0]}, set for ${at}`);
    });

    test('timers fire in time order, whatever order they were set in', async () => {
      const { clock, pass } = subject.make();
      const t0 = clock.now();
      const order: number[] = [];
      for (const d of [60, 20, 40]) clock.setTimer(t0 + d, () => order.push(d));
      await pass(80);
      assert.deepEqual(order, [20, 40, 60]);
    });

    test('a timer for a time already past fires soon, never inside setTimer', async () => {
      const { clock, pass } = subject.make();
      let fired = false;
      clock.setTimer(clock.now() - 1000, () => (fired = true));
      assert.equal(fired, false);
      await pass(0);
      assert.equal(fired, true);
    });

    test('a cancelled timer never fires, the others still do, and cancelling twice or after firing is harmless', async () => {
      const { clock, pass } = subject.make();
      const t0 = clock.now();
      const fired: string[] = [];
      const cancelA = clock.setTimer(t0 + 10, () => fired.push('a'));
      const cancelB = clock.setTimer(t0 + 20, () => fired.push('b'));
      cancelA();
      cancelA();
      await pass(30);
      cancelB();
      assert.deepEqual(fired, ['b']);
    });

    test('a timer set by a firing timer for a time already reached fires in the same pass', async () => {
      const { clock, pass } = subject.make();
      const fired: string[] = [];
      clock.setTimer(clock.now() + 10, () => {
        fired.push('outer');
        clock.setTimer(clock.now(), () => fired.push('inner'));
      });
      await pass(30);
      assert.deepEqual(fired, ['outer', 'inner']);
    });

    test('sleep(ms) resolves once ms have passed; sleep(0) resolves too', async () => {
      const { clock, pass } = subject.make();
      const t0 = clock.now();
      let done = false;
      const slept = clock.sleep(30).then(() => {
        done = true;
        return clock.now();
      });
      await pass(45);
      assert.equal(done, true);
      assert.ok((await slept) - t0 >= 30);
      const zero = clock.sleep(0);
      await pass(0);
      await zero;
    });

    test("sleep rejects with the signal's reason when it aborts, and at once when it already has", async () => {
      const { clock, pass } = subject.make();
      const c = new AbortController();
      const reason = new Error('stop');
      const slept = clock.sleep(10_000, c.signal);
      c.abort(reason);
      await assert.rejects(slept, (e) => e === reason);
      const later = clock.sleep(0, c.signal);
      await assert.rejects(later, (e) => e === reason);
      // Nothing of the aborted sleep fires later.
      await pass(20);
    });

    test('timeoutSignal aborts with a TimeoutError once its time has passed', async () => {
      const { clock, pass } = subject.make();
      const signal = timeoutSignal(clock, 20);
      assert.equal(signal.aborted, false);
      await pass(30);
      assert.equal(signal.aborted, true);
      assert.equal((signal.reason as Error).name, 'TimeoutError');
    });
  });
}

const run = promisify(execFile);
const clockModule = new URL('../../src/util/clock.js', import.meta.url).href;

describe('realClock only', () => {
  test('a timer does not keep the process alive; a sleep does', async () => {
    const timer = `const { realClock } = await import(${JSON.stringify(clockModule)}); realClock.setTimer(Date.now() + 60_000, () => console.log('fired'));`;
    const t0 = performance.now();
    const a = await run(process.execPath, ['--input-type=module', '-e', timer], { timeout: 30_000 });
    assert.equal(a.stdout, '');
    assert.ok(performance.now() - t0 < 30_000);
    const sleep = `const { realClock } = await import(${JSON.stringify(clockModule)}); void realClock.sleep(200).then(() => console.log('slept'));`;
    const b = await run(process.execPath, ['--input-type=module', '-e', sleep], { timeout: 30_000 });
    assert.equal(b.stdout, 'slept\n');
  });

  test('no timer sees Date.now() before its time (Node may fire a millisecond early)', async () => {
    const early: string[] = [];
    const all = Array.from({ length: 40 }, (_, k) => {
      const at = Date.now() + 1 + (k % 8);
      return new Promise<void>((resolve) =>
        realClock.setTimer(at, () => {
          if (Date.now() < at) early.push(`${Date.now()} < ${at}`);
          resolve();
        }),
      );
    });
    // realClock's timers are unref'd: something must hold the event loop open while they are awaited.
    const keepAlive = setInterval(() => undefined, 1_000);
    try {
      await Promise.all(all);
    } finally {
      clearInterval(keepAlive);
    }
    assert.deepEqual(early, []);
  });

  test('a delay beyond what Node can arm neither fires early nor warns', async () => {
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    try {
      let fired = false;
      const cancel = realClock.setTimer(Date.now() + 2 ** 31 + 60_000, () => (fired = true));
      await wait(30);
      cancel();
      assert.equal(fired, false);
      assert.deepEqual(warnings.map((w) => w.name), []);
    } finally {
      process.off('warning', onWarning);
    }
  });
});

describe('VirtualClock only', () => {
  test('timers set for the same time fire in the order they were set, with now() exactly their time', () => {
    const clock = new VirtualClock(100);
    const seen: string[] = [];
    for (const name of ['a', 'b', 'c']) clock.setTimer(150, () => seen.push(`${name}@${clock.now()}`));
    clock.setTimer(120, () => seen.push(`early@${clock.now()}`));
    clock.advance(200);
    assert.deepEqual(seen, ['early@120', 'a@150', 'b@150', 'c@150']);
    assert.equal(clock.now(), 200);
  });

  test('advance never moves time back, and time moves only when advanced', () => {
    const clock = new VirtualClock(1000);
    clock.advance(500);
    assert.equal(clock.now(), 1000);
    assert.equal(clock.monotonic(), 1000);
    let fired = false;
    clock.setTimer(1001, () => (fired = true));
    assert.equal(fired, false);
    clock.advance(1000);
    assert.equal(fired, false);
    clock.advance(1001);
    assert.equal(fired, true);
  });
});
