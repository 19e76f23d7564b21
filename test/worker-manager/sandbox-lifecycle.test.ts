import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  afterInit,
  afterRelease,
  afterRetire,
  afterWarmStart,
  inFlight,
  initialState,
  isProvisioned,
  isRetired,
  viewState,
  withoutProvisioned,
  type SandboxLifecycle,
} from '../../src/worker-manager/sandbox-lifecycle.js';

const ALL: SandboxLifecycle[] = [
  'starting',
  'starting-provisioned',
  'prewarming',
  'starting-retired',
  'starting-draining',
  'idle',
  'idle-provisioned',
  'busy',
  'busy-provisioned',
  'draining',
  'stopped',
  'failed',
];
const LIVE = ALL.filter((s) => s !== 'stopped' && s !== 'failed');

void describe('sandbox lifecycle', () => {
  void test('each purpose starts in its own state', () => {
    assert.equal(initialState('invocation'), 'starting');
    assert.equal(initialState('provisioned'), 'starting-provisioned');
    assert.equal(initialState('prewarm'), 'prewarming');
    assert.ok(inFlight('starting') && !inFlight('starting-provisioned') && !inFlight('prewarming'));
  });

  void test('the happy paths: starting → busy ⇄ idle, provisioned stays provisioned', () => {
    assert.equal(afterInit('starting'), 'busy');
    assert.equal(afterRelease('busy'), 'idle');
    assert.equal(afterWarmStart('idle'), 'busy');
    assert.equal(afterInit('starting-provisioned'), 'idle-provisioned');
    assert.equal(afterWarmStart('idle-provisioned'), 'busy-provisioned');
    assert.equal(afterRelease('busy-provisioned'), 'idle-provisioned');
    assert.equal(afterInit('prewarming'), 'idle');
  });

  void test('reports in the wrong state are refused (null)', () => {
    for (const s of ALL) {
      assert.equal(afterInit(s) === null, !s.startsWith('starting') && s !== 'prewarming', s);
      assert.equal(afterRelease(s) === null, !(s === 'busy' || s === 'busy-provisioned' || s === 'draining'), s);
      assert.equal(afterWarmStart(s) === null, !(s === 'idle' || s === 'idle-provisioned'), s);
    }
  });

  void test('retire: idle stops now; the rest drain, lose provisioned concurrency, and stop when done', () => {
    for (const s of LIVE) {
      const r = afterRetire(s);
      if (s === 'idle' || s === 'idle-provisioned') {
        assert.equal(r, 'stop');
        continue;
      }
      assert.notEqual(r, 'stop');
      const next = r as SandboxLifecycle;
      assert.ok(isRetired(next), `${s} → ${next} is retired`);
      assert.ok(!isProvisioned(next), `${s} → ${next} is not provisioned`);
      assert.equal(inFlight(next), inFlight(s), `retiring ${s} keeps its invocation`);
      assert.equal(viewState(next), viewState(s), `retiring ${s} keeps its phase`);
      assert.equal(afterRetire(next), next, 'retiring twice changes nothing');
    }
    // A retired sandbox ends instead of going idle.
    assert.equal(afterInit('starting-retired'), 'stop');
    assert.equal(afterInit('starting-draining'), 'draining');
    assert.equal(afterRelease('draining'), 'stop');
  });

  void test('lowering provisioned concurrency keeps the phase and the invocation', () => {
    for (const s of LIVE) {
      const next = withoutProvisioned(s);
      assert.ok(!isProvisioned(next));
      assert.equal(viewState(next), viewState(s));
      assert.equal(inFlight(next), inFlight(s));
      assert.equal(isRetired(next), isRetired(s));
      if (!isProvisioned(s)) assert.equal(next, s);
    }
  });

  void test('no state is both provisioned and retired; every live state has a phase; stopped ones have none', () => {
    for (const s of LIVE) {
      assert.ok(!(isProvisioned(s) && isRetired(s)), s);
      assert.ok(['initializing', 'idle', 'busy'].includes(viewState(s)));
      if (viewState(s) === 'idle') assert.ok(!inFlight(s) && !isRetired(s));
      if (viewState(s) === 'busy') assert.ok(inFlight(s));
    }
    assert.throws(() => viewState('stopped'), /no longer in the fleet/);
    assert.throws(() => viewState('failed'), /no longer in the fleet/);
  });
});
