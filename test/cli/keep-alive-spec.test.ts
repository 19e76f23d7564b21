import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseKeepAliveSpec } from '../../src/cli/keep-alive-spec.js';

void test('CLI forms parse; bad ones say what is allowed', () => {
  assert.deepEqual(parseKeepAliveSpec('fixed:30s'), { policy: 'fixed', ttlMs: 30_000 });
  const h = parseKeepAliveSpec('hybrid:rangeMs=2h,cvThreshold=1.5');
  assert.equal(h.policy, 'hybrid');
  assert.ok(h.policy === 'hybrid' && h.rangeMs === 7_200_000 && h.cvThreshold === 1.5 && h.binMs === 60_000);
  assert.throws(() => parseKeepAliveSpec('lru'), /unknown keep-alive policy "lru"/);
  assert.throws(() => parseKeepAliveSpec('hybrid:headPercentile=99,tailPercentile=5'), /headPercentile must not exceed tailPercentile/);
  assert.throws(() => parseKeepAliveSpec('hybrid:bogus=1'), /invalid hybrid keep-alive options/);
  assert.throws(() => parseKeepAliveSpec('fixed:soon'), /not a duration/);
});
