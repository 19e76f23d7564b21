import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { FitIndex, FitNode } from '../../src/worker-manager/fit-index.js';

void test('bestFit: least free that fits, FIFO among equals', () => {
  const idx = new FitIndex<string>();
  const a = new FitNode('a');
  const b = new FitNode('b');
  const c = new FitNode('c');
  idx.set(a, 500);
  idx.set(b, 200);
  idx.set(c, 500);
  assert.equal(idx.bestFit(100), 'b');
  assert.equal(idx.bestFit(300), 'a');
  assert.equal(idx.bestFit(501), undefined);
  idx.set(a, 600);
  assert.equal(idx.bestFit(300), 'c');
  idx.delete(c);
  assert.equal(idx.bestFit(300), 'a');
  assert.equal(idx.size, 2);
  idx.set(b, 200); // unchanged: no-op
  assert.deepEqual([...idx.entries()], [['b', 200], ['a', 600]]);
  idx.delete(c); // not indexed: no-op
  assert.equal(idx.size, 2);
});

void test('bestFit agrees with a linear scan over random updates', () => {
  fc.assert(
    fc.property(
      fc.array(fc.record({ item: fc.nat(19), free: fc.option(fc.nat(3072), { nil: undefined }), need: fc.nat(3072) }), { maxLength: 200 }),
      (ops) => {
        const idx = new FitIndex<number>();
        const nodes = Array.from({ length: 20 }, (_, i) => new FitNode(i));
        const model = new Map<number, { free: number; seq: number }>();
        let seq = 0;
        for (const o of ops) {
          if (o.free === undefined) {
            idx.delete(nodes[o.item]!);
            model.delete(o.item);
          } else {
            const cur = model.get(o.item);
            if (cur === undefined || cur.free !== o.free) model.set(o.item, { free: o.free, seq: seq++ });
            idx.set(nodes[o.item]!, o.free);
          }
          let best: number | undefined;
          for (const [item, m] of model) {
            if (m.free < o.need) continue;
            const b = best === undefined ? undefined : model.get(best)!;
            if (b === undefined || m.free < b.free || (m.free === b.free && m.seq < b.seq)) best = item;
          }
          assert.equal(idx.bestFit(o.need), best);
          assert.equal(idx.size, model.size);
        }
      },
    ),
    { numRuns: 200 },
  );
});
