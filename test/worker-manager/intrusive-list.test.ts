import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { IntrusiveList, ListLink } from '../../src/worker-manager/intrusive-list.js';

type Op = { op: 'push'; list: number; item: number } | { op: 'remove'; item: number } | { op: 'pop'; list: number };

/** Walks a list both ways, checking the links agree, and returns its items head to tail. */
function walk<T>(l: IntrusiveList<T>): T[] {
  const fwd: T[] = [];
  let prev: ListLink<T> | null = null;
  for (let x = l.head; x !== null; x = x.next) {
    assert.equal(x.prev, prev);
    assert.equal(x.list, l);
    fwd.push(x.item);
    prev = x;
  }
  assert.equal(l.tail, prev);
  const back: T[] = [];
  for (let x = l.tail; x !== null; x = x.prev) back.push(x.item);
  assert.deepEqual(back.reverse(), fwd);
  assert.deepEqual([...l.items()], fwd);
  assert.equal(l.size, fwd.length);
  return fwd;
}

void test('two lists sharing a pool of links behave like two arrays (push-back, remove anywhere, pop-front)', () => {
  const opArb: fc.Arbitrary<Op> = fc.oneof(
    { weight: 4, arbitrary: fc.record({ op: fc.constant('push' as const), list: fc.nat(1), item: fc.nat(11) }) },
    { weight: 3, arbitrary: fc.record({ op: fc.constant('remove' as const), item: fc.nat(11) }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('pop' as const), list: fc.nat(1) }) },
  );
  fc.assert(
    fc.property(fc.array(opArb, { maxLength: 300 }), (ops) => {
      const lists = [new IntrusiveList<number>(), new IntrusiveList<number>()];
      const links = Array.from({ length: 12 }, (_, i) => new ListLink(i));
      const model: number[][] = [[], []];
      const where = (item: number) => model.findIndex((m) => m.includes(item));
      for (const o of ops) {
        if (o.op === 'push') {
          const link = links[o.item]!;
          if (where(o.item) >= 0) {
            // A link is in at most one list at a time: a second push is refused and changes nothing.
            assert.throws(() => lists[o.list]!.pushBack(link), /already in a list/);
          } else {
            lists[o.list]!.pushBack(link);
            model[o.list]!.push(o.item);
          }
        } else if (o.op === 'remove') {
          const link = links[o.item]!;
          const i = where(o.item);
          if (i < 0) {
            assert.throws(() => lists[0]!.remove(link), /not in this list/);
          } else {
            lists[i]!.remove(link);
            model[i]!.splice(model[i]!.indexOf(o.item), 1);
          }
        } else {
          assert.equal(lists[o.list]!.popFront(), model[o.list]!.shift());
        }
        assert.deepEqual(walk(lists[0]!), model[0]);
        assert.deepEqual(walk(lists[1]!), model[1]);
        for (const l of links) assert.equal(l.linked, where(l.item) >= 0);
        for (const l of links) if (!l.linked) assert.ok(l.prev === null && l.next === null && l.list === null);
      }
    }),
    { numRuns: 300 },
  );
});

void test('removing the link being visited while walking with a saved next is safe', () => {
  const l = new IntrusiveList<number>();
  const links = [0, 1, 2, 3, 4].map((i) => new ListLink(i));
  for (const x of links) l.pushBack(x);
  for (let x = l.head; x !== null; ) {
    const next = x.next;
    if (x.item % 2 === 0) l.remove(x);
    x = next;
  }
  assert.deepEqual([...l.items()], [1, 3]);
  // An unlinked link goes back into any list.
  l.pushBack(links[0]!);
  assert.deepEqual([...l.items()], [1, 3, 0]);
});
