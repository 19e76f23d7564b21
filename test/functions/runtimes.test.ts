import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { AwsError } from '../../src/errors/catalogue.js';
import {
  ALL_RUNTIMES,
  RUNNABLE_RUNTIMES,
  assertRunnableRuntime,
  isDeprecatedRuntime,
  isRunnableRuntime,
  runtimeFamily,
  runtimeInfo,
} from '../../src/functions/runtimes.js';

void describe('runtimes', () => {
  void test('every nodejs, python3 and provided identifier is runnable, with its family', () => {
    for (const r of ['nodejs', 'nodejs4.3', 'nodejs6.10', 'nodejs8.10', 'nodejs10.x', 'nodejs20.x', 'nodejs24.x']) {
      assert.equal(runtimeFamily(r), 'nodejs', r);
    }
    for (const r of ['python3.6', 'python3.9', 'python3.12', 'python3.14']) assert.equal(runtimeFamily(r), 'python', r);
    for (const r of ['provided', 'provided.al2', 'provided.al2023']) assert.equal(runtimeFamily(r), 'provided', r);
    assert.ok(RUNNABLE_RUNTIMES.every((r) => ALL_RUNTIMES.includes(r)));
    assert.ok(RUNNABLE_RUNTIMES.every((r) => /^(nodejs|python3\.|provided)/.test(r)));
  });

  void test('known but unrunnable identifiers are explained, unknown ones get the enum message', () => {
    for (const r of ['java21', 'dotnet8', 'ruby3.3', 'go1.x', 'python2.7']) {
      assert.equal(isRunnableRuntime(r), false, r);
      assert.ok(runtimeInfo(r), r);
      assert.throws(
        () => assertRunnableRuntime(r),
        (e: unknown) => e instanceof AwsError && e.type === 'InvalidParameterValueException' && e.message.includes(`${r} is not supported by lambkin`),
      );
      assert.throws(() => runtimeFamily(r));
    }
    assert.throws(
      () => assertRunnableRuntime('cobol1'),
      (e: unknown) =>
        e instanceof AwsError &&
        e.code === 'invalidRuntime' &&
        e.message.startsWith("Value cobol1 at 'runtime' failed to satisfy constraint: Member must satisfy enum value set: [nodejs, nodejs4.3,") &&
        e.message.includes('provided.al2023'),
    );
  });

  void test('deprecation depends on the date passed in', () => {
    assert.equal(isDeprecatedRuntime('nodejs8.10', new Date('2020-01-01T00:00:00Z')), false);
    assert.equal(isDeprecatedRuntime('nodejs8.10', new Date('2020-03-06T00:00:00Z')), true);
    assert.equal(isDeprecatedRuntime('provided.al2023', new Date('2099-01-01T00:00:00Z')), false);
    assert.equal(isDeprecatedRuntime('nope', new Date()), false);
  });
});
