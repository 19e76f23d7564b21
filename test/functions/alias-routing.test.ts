import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { checkRouting, routedVersion } from '../../src/functions/alias-routing.js';
import { rejectsAwsError } from '../helpers/aws-error.js';

void describe('alias routing', () => {
  void test('routedVersion: a roll below the additional weight runs the additional version, else the primary', () => {
    assert.equal(routedVersion('1', {}, 0), '1');
    const w = { '2': 0.25 };
    assert.deepEqual([0, 0.1, 0.24999, 0.25, 0.3, 0.9999].map((r) => routedVersion('1', w, r)), ['2', '2', '2', '1', '1', '1']);
    assert.equal(routedVersion('1', { '2': 0 }, 0), '1', 'weight 0 never routes');
    assert.equal(routedVersion('1', { '2': 1 }, 0.99999), '2', 'weight 1 always routes');
  });

  void test('routedVersion: over many rolls the share matches the weight', () => {
    let routed = 0;
    const n = 10_000;
    for (let i = 0; i < n; i++) if (routedVersion('1', { '2': 0.3 }, (i + 0.5) / n) === '2') routed++;
    assert.equal(routed, 3000);
  });

  void test('checkRouting: one additional numbered version other than the primary, never for $LATEST', async () => {
    checkRouting('1', {});
    checkRouting('$LATEST', {});
    checkRouting('1', { '2': 0.5 });
    await rejectsAwsError(() => checkRouting('1', { '2': 0.1, '3': 0.1 }), 'invalidParameter', 'RoutingConfig can shift traffic to one additional version only.');
    await rejectsAwsError(() => checkRouting('$LATEST', { '1': 0.5 }), 'invalidParameter', '$LATEST is not supported for an alias pointing to more than 1 version');
    await rejectsAwsError(
      () => checkRouting('1', { live: 0.5 }),
      'validation',
      "1 validation error detected: Value 'live' at 'routingConfig.additionalVersionWeights' failed to satisfy constraint: Map keys must satisfy constraint: [Member must satisfy regular expression pattern: [0-9]+]",
    );
    await rejectsAwsError(
      () => checkRouting('1', { '1': 0.5 }),
      'invalidParameter',
      "Version 1 is the alias's FunctionVersion; an additional version must be a different version.",
    );
  });
});
