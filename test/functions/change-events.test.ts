import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ChangeBus, type ChangeEvent } from '../../src/functions/change-events.js';

const caller = { account: '123456789012', region: 'us-east-1' };
const event = (version: string): ChangeEvent => ({ kind: 'created', caller, name: 'f', version });

void describe('ChangeBus', () => {
  void test('delivers to every subscriber in subscription order until unsubscribed', () => {
    const bus = new ChangeBus((e) => assert.fail(String(e)));
    const got: string[] = [];
    const offA = bus.subscribe((e) => got.push(`a:${e.version}`));
    bus.subscribe((e) => got.push(`b:${e.version}`));
    bus.emit(event('1'));
    offA();
    bus.emit(event('2'));
    bus.clear();
    bus.emit(event('3'));
    assert.deepEqual(got, ['a:1', 'b:1', 'b:2']);
  });

  void test("a subscriber's exception goes to onListenerError and the others still hear of the change", () => {
    const errors: unknown[] = [];
    const bus = new ChangeBus((e) => errors.push(e));
    const got: string[] = [];
    bus.subscribe(() => {
      throw new Error('listener bug');
    });
    bus.subscribe((e) => got.push(e.version));
    bus.emit(event('1'));
    assert.deepEqual(got, ['1']);
    assert.equal(errors.length, 1);
    assert.match(String(errors[0]), /listener bug/);
  });

  void test('a subscriber may unsubscribe itself, or subscribe another, while being called', () => {
    const bus = new ChangeBus((e) => assert.fail(String(e)));
    const got: string[] = [];
    const off = bus.subscribe((e) => {
      got.push(`once:${e.version}`);
      off();
      bus.subscribe((f) => got.push(`late:${f.version}`));
    });
    bus.subscribe((e) => got.push(`b:${e.version}`));
    bus.emit(event('1'));
    bus.emit(event('2'));
    assert.deepEqual(got, ['once:1', 'b:1', 'b:2', 'late:2']);
  });
});
