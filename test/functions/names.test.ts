import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { AwsError } from '../../src/errors/catalogue.js';
import {
  NAMESPACED_FUNCTION_NAME_PATTERN,
  FUNCTION_NAME_PATTERN,
  aliasArn,
  checkAliasName,
  checkVersion,
  functionArn,
  parseFunctionName,
  parseQualifierParam,
  qualifierKind,
  type ParseOptions,
} from '../../src/functions/names.js';

const caller = { account: '123456789012', region: 'us-east-1' };
const ARN = 'arn:aws:lambda:us-east-1:123456789012:function';

function throwsAws(fn: () => unknown, type: string, message?: string | RegExp) {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof AwsError, `expected AwsError, got ${String(e)}`);
    assert.equal(e.type, type);
    if (typeof message === 'string') assert.equal(e.message, message);
    else if (message) assert.match(e.message, message);
    return true;
  });
}

void describe('parseFunctionName', () => {
  const ok: [string, Partial<ParseOptions>, { name: string; qualifier?: string }][] = [
    ['my-function', {}, { name: 'my-function' }],
    ['my_function:1', {}, { name: 'my_function', qualifier: '1' }],
    ['f:$LATEST', {}, { name: 'f', qualifier: '$LATEST' }],
    ['f:live', {}, { name: 'f', qualifier: 'live' }],
    ['123456789012:function:f', {}, { name: 'f' }],
    ['123456789012:function:f:live', {}, { name: 'f', qualifier: 'live' }],
    [`${ARN}:f`, {}, { name: 'f' }],
    [`${ARN}:f:7`, {}, { name: 'f', qualifier: '7' }],
    [`${ARN}:f:$LATEST`, { shape: 'plain' }, { name: 'f', qualifier: '$LATEST' }],
    ['f', { qualifier: 'live' }, { name: 'f', qualifier: 'live' }],
    ['f:live', { qualifier: 'live' }, { name: 'f', qualifier: 'live' }],
    ['f', { qualifier: '' }, { name: 'f' }],
    [`${ARN}:f`, { qualifier: '3' }, { name: 'f', qualifier: '3' }],
    ['a'.repeat(64), { shape: 'plain' }, { name: 'a'.repeat(64) }],
    ['f', { allowQualifier: false }, { name: 'f' }],
  ];
  for (const [input, opts, want] of ok) {
    void test(`accepts ${input.slice(0, 70)} ${JSON.stringify(opts)}`, () => {
      assert.deepEqual(parseFunctionName(input, { caller, ...opts }), want);
    });
  }

  const pattern = (v: string, p = NAMESPACED_FUNCTION_NAME_PATTERN) =>
    `1 validation error detected: Value '${v}' at 'functionName' failed to satisfy constraint: Member must satisfy regular expression pattern: ${p}`;

  void test('malformed names are ValidationExceptions in AWS wording', () => {
    throwsAws(() => parseFunctionName('a b', { caller }), 'ValidationException', pattern('a b'));
    throwsAws(() => parseFunctionName('f:g:h', { caller }), 'ValidationException', pattern('f:g:h'));
    throwsAws(() => parseFunctionName('f.x', { caller, shape: 'plain' }), 'ValidationException', pattern('f.x', FUNCTION_NAME_PATTERN));
    throwsAws(
      () => parseFunctionName('', { caller }),
      'ValidationException',
      "1 validation error detected: Value '' at 'functionName' failed to satisfy constraint: Member must have length greater than or equal to 1",
    );
    throwsAws(() => parseFunctionName('arn:aws:lambda:f', { caller }), 'ValidationException', pattern('arn:aws:lambda:f'));
    throwsAws(() => parseFunctionName(42, { caller }), 'ValidationException', /Member must not be null|at 'functionName'/);
    throwsAws(() => parseFunctionName(undefined, { caller }), 'ValidationException', /Member must not be null/);
  });

  void test('length limits: name 64, FunctionName 140 (plain) / 170 (namespaced)', () => {
    const n65 = 'a'.repeat(65);
    throwsAws(
      () => parseFunctionName(n65, { caller }),
      'ValidationException',
      `1 validation error detected: Value '${n65}' at 'functionName' failed to satisfy constraint: Member must have length less than or equal to 64`,
    );
    const long141 = 'a'.repeat(141);
    throwsAws(() => parseFunctionName(long141, { caller, shape: 'plain' }), 'ValidationException', /Member must have length less than or equal to 140/);
    throwsAws(() => parseFunctionName('a'.repeat(171), { caller }), 'ValidationException', /Member must have length less than or equal to 170/);
    // 141..170 passes the namespaced length check but the name part is still over 64.
    throwsAws(() => parseFunctionName(long141, { caller }), 'ValidationException', /less than or equal to 64$/);
    throwsAws(() => parseFunctionName(`f:${'q'.repeat(129)}`, { caller }), 'ValidationException', /at 'qualifier'.*128/);
  });

  void test('conflicting qualifiers', () => {
    throwsAws(
      () => parseFunctionName('f:1', { caller, qualifier: '2' }),
      'InvalidParameterValueException',
      'The derived qualifier from the function name does not match the specified qualifier.',
    );
    throwsAws(() => parseFunctionName(`${ARN}:f:live`, { caller, qualifier: 'prod' }), 'InvalidParameterValueException');
  });

  void test('qualifier refused where the operation acts on the function', () => {
    throwsAws(() => parseFunctionName('f:1', { caller, allowQualifier: false }), 'InvalidParameterValueException', /remove the qualifier '1'/);
    throwsAws(() => parseFunctionName('f', { caller, allowQualifier: false, qualifier: 'x' }), 'InvalidParameterValueException');
  });

  void test("another region's or account's ARN does not reach the caller's functions", () => {
    throwsAws(
      () => parseFunctionName('arn:aws:lambda:us-west-2:123456789012:function:f', { caller }),
      'ResourceNotFoundException',
      "Functions from 'us-west-2' are not reachable in this region ('us-east-1')",
    );
    throwsAws(
      () => parseFunctionName('999999999999:function:f:live', { caller }),
      'ResourceNotFoundException',
      'Function not found: arn:aws:lambda:us-east-1:999999999999:function:f:live',
    );
  });

  void test('the Qualifier parameter on its own', () => {
    assert.equal(parseQualifierParam('live'), 'live');
    assert.equal(parseQualifierParam(''), undefined);
    throwsAws(() => parseQualifierParam('a b'), 'ValidationException', /\(\|\[a-zA-Z0-9\$_-\]\+\)/);
    throwsAws(() => parseQualifierParam('x'.repeat(129)), 'ValidationException', /128/);
    throwsAws(() => parseQualifierParam(7), 'ValidationException');
  });

  void test('qualifier kinds, alias names and versions', () => {
    assert.equal(qualifierKind('$LATEST'), 'latest');
    assert.equal(qualifierKind('12'), 'version');
    assert.equal(qualifierKind('v12'), 'alias');
    assert.equal(checkAliasName('live'), 'live');
    throwsAws(() => checkAliasName('123'), 'ValidationException', /\(\?!\^\[0-9\]\+\$\)/);
    throwsAws(() => checkAliasName('x'.repeat(129)), 'ValidationException', /128/);
    assert.equal(checkVersion('$LATEST'), '$LATEST');
    throwsAws(() => checkVersion('live'), 'ValidationException');
  });

  void test('ARN builders', () => {
    assert.equal(functionArn('us-east-1', '123456789012', 'f'), `${ARN}:f`);
    assert.equal(functionArn('us-east-1', '123456789012', 'f', '$LATEST'), `${ARN}:f:$LATEST`);
    assert.equal(aliasArn('eu-west-1', '123456789012', 'f', 'live'), 'arn:aws:lambda:eu-west-1:123456789012:function:f:live');
    assert.equal(functionArn('cn-north-1', '123456789012', 'f'), 'arn:aws-cn:lambda:cn-north-1:123456789012:function:f');
  });

  const nameArb = fc.stringMatching(/^[a-zA-Z0-9_-]{1,64}$/);
  const qualArb = fc.option(
    fc.oneof(fc.constant('$LATEST'), fc.integer({ min: 1, max: 1e9 }).map(String), fc.stringMatching(/^[a-zA-Z_-][a-zA-Z0-9_-]{0,40}$/)),
    { nil: undefined },
  );

  void test('property: every accepted form of a valid name parses back to it', () => {
    fc.assert(
      fc.property(nameArb, qualArb, (name, qualifier) => {
        const want = qualifier === undefined ? { name } : { name, qualifier };
        const tail = qualifier === undefined ? '' : `:${qualifier}`;
        for (const form of [`${name}${tail}`, `${caller.account}:function:${name}${tail}`, functionArn(caller.region, caller.account, name, qualifier)]) {
          assert.deepEqual(parseFunctionName(form, { caller }), want);
          if (form.length <= 140) assert.deepEqual(parseFunctionName(form, { caller, shape: 'plain' }), want);
        }
        assert.deepEqual(parseFunctionName(name, { caller, qualifier: qualifier ?? '' }), want);
      }),
      { numRuns: 500 },
    );
  });

  void test('property: no input throws anything but AwsError', () => {
    const piece = fc.oneof(
      fc.string({ maxLength: 30 }),
      fc.constantFrom('arn', 'aws', 'lambda', 'us-east-1', 'us-west-2', '123456789012', 'function', '$LATEST', '1', 'f', '', '..', ':'),
    );
    const input = fc.oneof(
      fc.array(piece, { maxLength: 9 }).map((a) => a.join(':')),
      fc.string({ maxLength: 200 }),
      fc.string({ unit: 'grapheme', maxLength: 80 }),
      fc.anything(),
    );
    const qualifier = fc.oneof(fc.constant(undefined), fc.string({ maxLength: 140 }), fc.anything());
    fc.assert(
      fc.property(input, qualifier, fc.constantFrom('namespaced', 'plain') as fc.Arbitrary<'namespaced' | 'plain'>, fc.boolean(), (i, q, shape, allowQualifier) => {
        try {
          const ref = parseFunctionName(i, { caller, qualifier: q, shape, allowQualifier });
          assert.equal(typeof ref.name, 'string');
          assert.ok(ref.name.length >= 1 && ref.name.length <= 64);
        } catch (e) {
          if (!(e instanceof AwsError)) throw e;
        }
      }),
      { numRuns: 2000 },
    );
  });
});
