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
  substituteNote,
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

describe('substituteNote', () => {
  const now = new Date('2026-11-26T00:00:00Z');
  const local = { node: 'v20.20.2', python: '3.11.7' };
  test('says a deprecated runtime runs on the local interpreter', () => {
    assert.equal(substituteNote('nodejs8.10', now, local), 'lambkin: nodejs8.10 is deprecated on AWS Lambda; this function runs on the local Node.js v20.20.2');
    assert.equal(substituteNote('python3.8', now, local), 'lambkin: python3.8 is deprecated on AWS Lambda; this function runs on the local Python 3.11.7');
  });
  test('says so when the local major version differs, and nothing when it matches', () => {
    assert.equal(substituteNote('nodejs22.x', now, local), 'lambkin: nodejs22.x runs on the local Node.js v20.20.2');
    assert.equal(substituteNote('nodejs22.x', now, { node: 'v22.1.0' }), undefined);
    assert.equal(substituteNote('python3.12', now, { ...local, python: '3.12.1' }), undefined);
    assert.equal(substituteNote('python3.12', now, local), 'lambkin: python3.12 runs on the local Python 3.11.7');
    assert.equal(substituteNote('provided.al2023', now, local), undefined);
  });
});
