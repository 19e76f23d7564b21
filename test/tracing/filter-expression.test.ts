import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { AwsError } from '../../src/errors/catalogue.js';
import { compileFilter, parseFilterExpression, SUPPORTED_FILTERS } from '../../src/tracing/filter-expression.js';
import type { TraceSummary } from '../../src/tracing/summary.js';

function summary(over: Partial<TraceSummary> = {}): TraceSummary {
  return {
    Id: '1-65937d25-000102030405060708090a0b',
    StartTime: 1704164645,
    Duration: 1.28,
    ResponseTime: 1.2,
    HasFault: false,
    HasError: false,
    HasThrottle: false,
    IsPartial: false,
    Http: { HttpStatus: 200, HttpMethod: 'POST', HttpURL: 'https://example.com/x' },
    Annotations: {
      cold_start: [{ AnnotationValue: { BooleanValue: true }, ServiceIds: [] }],
      customer: [{ AnnotationValue: { StringValue: 'acme-corp' }, ServiceIds: [] }],
      items: [{ AnnotationValue: { NumberValue: 3 }, ServiceIds: [] }],
    },
    Users: [],
    ServiceIds: [
      { Name: 'vpc_lambda_1', Names: ['vpc_lambda_1'], Type: 'AWS::Lambda' },
      { Name: 'vpc_lambda_1', Names: ['vpc_lambda_1'], Type: 'AWS::Lambda::Function', AccountId: '000000000000' },
    ],
    ResourceARNs: [{ ARN: 'arn:aws:lambda:us-east-1:000000000000:function:vpc_lambda_1' }],
    InstanceIds: [],
    AvailabilityZones: [],
    FaultRootCauses: [],
    ErrorRootCauses: [],
    ResponseTimeRootCauses: [],
    Revision: 1,
    ...over,
  };
}

const yes = (expr: string, s = summary()) => assert.equal(compileFilter(expr)(s), true, expr);
const no = (expr: string, s = summary()) => assert.equal(compileFilter(expr)(s), false, expr);

function rejects(expr: string, fragment?: RegExp): void {
  assert.throws(
    () => parseFilterExpression(expr),
    (e: unknown) => {
      assert.ok(e instanceof AwsError, `${expr}: ${String(e)}`);
      assert.equal(e.type, 'InvalidRequestException');
      assert.equal(e.status, 400);
      assert.ok(e.message.includes(SUPPORTED_FILTERS), 'the message lists what is supported');
      if (fragment) assert.match(e.message, fragment);
      return true;
    },
  );
}

describe('filter expressions', () => {
  test('service("name"), service(), service(id(...))', () => {
    yes('service("vpc_lambda_1")');
    no('service("other")');
    yes('service()');
    no('service()', summary({ ServiceIds: [] }));
    yes('service(id(name: "vpc_lambda_1", type: "AWS::Lambda::Function"))');
    no('service(id(name: "vpc_lambda_1", type: "AWS::EC2::Instance"))');
    yes('service(id(type: "AWS::Lambda"))');
    yes('service(id(account.id: "000000000000"))');
    no('service(id(account.id: "111111111111"))');
  });

  test('duration and responsetime with every operator', () => {
    yes('duration > 1');
    no('duration > 2');
    yes('duration >= 1.28');
    yes('duration < 2');
    yes('duration <= 1.28');
    yes('duration = 1.28');
    yes('duration != 1');
    yes('responsetime < 1.25');
    no('responsetime >= 1.25');
    yes('http.status = 200');
    no('http.status >= 500');
  });

  test('annotations: string, number and boolean values', () => {
    yes('annotation.cold_start = true');
    no('annotation.cold_start = false');
    yes('annotation.cold_start != false');
    no('annotation.missing != false', summary(), /* absent annotation never matches */);
    yes('annotation.customer = "acme-corp"');
    yes('annotation.customer BEGINSWITH "acme"');
    yes('annotation.customer ENDSWITH "corp"');
    yes('annotation.customer CONTAINS "me-co"');
    no('annotation.customer = "other"');
    yes('annotation.items = 3');
    yes('annotation.items > 2');
    no('annotation.items > 3');
    no('annotation.items = "3"', summary(), /* types must match */);
  });

  test('resource.arn, http.url, http.method', () => {
    yes('resource.arn = "arn:aws:lambda:us-east-1:000000000000:function:vpc_lambda_1"');
    yes('resource.arn BEGINSWITH "arn:aws:lambda:us-east-1:000000000000:function:vpc_lambda_"');
    no('resource.arn != "arn:aws:lambda:us-east-1:000000000000:function:vpc_lambda_1"');
    yes('http.method = "POST"');
    yes('http.url CONTAINS "example"');
  });

  test('ok, error, fault, throttle, partial', () => {
    yes('ok');
    no('error');
    no('fault');
    no('throttle');
    no('partial');
    const bad = summary({ HasError: true, HasThrottle: true });
    yes('error', bad);
    yes('throttle', bad);
    no('ok', bad);
    yes('fault', summary({ HasFault: true }));
    yes('partial', summary({ IsPartial: true }));
  });

  test('!, and/or in all spellings, precedence and parentheses', () => {
    yes('!error');
    yes('!!ok');
    yes('service("vpc_lambda_1") and duration > 1');
    yes('service("vpc_lambda_1") AND duration > 1');
    yes('service("vpc_lambda_1") && duration > 1');
    no('service("x") and duration > 1');
    yes('service("x") or duration > 1');
    yes('service("x") OR duration > 1');
    yes('service("x") || duration > 1');
    // and binds tighter than or: true || (false && false)
    yes('ok or error and fault');
    no('(ok or error) and fault');
    yes('!(error or fault) && annotation.cold_start = true');
  });

  test('unsupported forms are InvalidRequestException listing what is supported', () => {
    rejects('user = "bob"', /'user'/);
    rejects('edge("a", "b")', /not a supported keyword/);
    rejects('service("a") { fault }', /not supported/);
    rejects('rootcause.fault.entity { name = "x" }');
    rejects('duration > "slow"', /number/);
    rejects('duration CONTAINS 3');
    rejects('annotation.x > true');
    rejects('annotation.x BEGINSWITH 3');
    rejects('error = true');
    rejects('(ok');
    rejects('ok)');
    rejects('ok and');
    rejects('"unterminated');
    rejects('duration > 1 # comment');
    rejects('');
    rejects('('.repeat(100) + 'ok' + ')'.repeat(100), /nesting/);
    rejects('ok or '.repeat(2000) + 'ok', /longer/);
  });

  test('property: the parser returns or throws an AwsError, never anything else', () => {
    const pieces = [
      'service', '(', ')', '"a"', 'id', 'name', ':', ',', 'duration', 'responsetime', '>', '>=', '<', '=', '!=', '!', '&&', '||',
      'and', 'or', 'AND', 'OR', 'annotation.k', '3', '-1.5e3', 'true', 'false', 'error', 'fault', 'ok', 'throttle', 'CONTAINS',
      'resource.arn', '{', '}', '[', ']', "'x'", '\\', '"', 'http.status', ' ',
    ];
    const check = (s: string) => {
      try {
        const f = compileFilter(s);
        assert.equal(typeof f(summary()), 'boolean');
      } catch (e) {
        if (!(e instanceof AwsError)) throw e;
        assert.equal(e.type, 'InvalidRequestException');
      }
    };
    fc.assert(fc.property(fc.string({ maxLength: 200 }), check), { numRuns: 2000 });
    fc.assert(fc.property(fc.array(fc.constantFrom(...pieces), { maxLength: 40 }).map((a) => a.join(' ')), check), { numRuns: 5000 });
    fc.assert(fc.property(fc.array(fc.constantFrom(...pieces), { maxLength: 40 }).map((a) => a.join('')), check), { numRuns: 2000 });
  });
});
