import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { invocationSegments, type SegmentDocument } from '../../src/tracing/segments.js';
import { isSegmentId } from '../../src/tracing/trace-header.js';
import { coldTrace, counterRandom, T0, warmTrace } from './fixtures.js';

const sub = (seg: SegmentDocument, name: string) => seg.subsegments?.find((s) => s.name === name);

describe('invocationSegments', () => {
  test('a cold start: AWS::Lambda spans received→responded and contains the worker, ENI and sandbox steps', () => {
    const [service, fn, ...rest] = invocationSegments(coldTrace(), counterRandom());
    assert.ok(service && fn);
    assert.equal(rest.length, 0);
    assert.equal(service.origin, 'AWS::Lambda');
    assert.equal(service.name, 'vpc_lambda_1');
    assert.equal(service.trace_id, '1-65937d25-000102030405060708090a0b');
    assert.equal(service.resource_arn, 'arn:aws:lambda:us-east-1:000000000000:function:vpc_lambda_1');
    assert.equal(service.start_time, T0 / 1000);
    assert.equal(service.end_time, (T0 + 1280) / 1000);
    assert.deepEqual(service.aws, { request_id: '11111111-2222-3333-4444-555555555555' });
    assert.deepEqual(service.http, { response: { status: 200 } });
    assert.equal(service.parent_id, undefined);
    const eni = sub(service, 'ENI Attach');
    assert.ok(eni, 'ENI subsegment on the AWS::Lambda segment');
    assert.ok(eni.start_time >= service.start_time && (eni.end_time ?? 0) <= (service.end_time ?? 0));
    assert.equal((eni.end_time ?? 0) - eni.start_time, 1);
    assert.ok(sub(service, 'Worker Provisioning'));
    assert.ok(sub(service, 'Sandbox Creation'));
    assert.equal(service.subsegments?.length, 3, 'the init step is the function segment’s Initialization, not a service step');
    assert.ok(!service.error && !service.fault && !service.throttle);

    assert.equal(fn.origin, 'AWS::Lambda::Function');
    assert.equal(fn.parent_id, service.id);
    assert.equal(fn.trace_id, service.trace_id);
    assert.deepEqual(fn.annotations, { cold_start: true, narrow_cold_start: true });
    assert.deepEqual(
      fn.subsegments?.map((s) => s.name),
      ['Initialization', 'Invocation', 'Overhead'],
    );
    const init = sub(fn, 'Initialization');
    assert.equal(init?.start_time, (T0 + 1122) / 1000);
    assert.equal(init?.end_time, (T0 + 1272) / 1000);
    assert.equal(fn.start_time, init?.start_time);
    assert.equal(fn.end_time, (T0 + 1278) / 1000);
    assert.equal(sub(fn, 'Overhead')?.start_time, (T0 + 1277) / 1000);
    for (const d of [service, fn, ...(service.subsegments ?? []), ...(fn.subsegments ?? [])]) assert.ok(isSegmentId(d.id), d.name);
    const ids = new Set([service, fn, ...(service.subsegments ?? []), ...(fn.subsegments ?? [])].map((d) => d.id));
    assert.equal(ids.size, 8, 'ids are unique');
  });

  test('a warm start has no Initialization and no service steps', () => {
    const [service, fn] = invocationSegments(warmTrace(5000), counterRandom());
    assert.equal(service?.subsegments, undefined);
    assert.deepEqual(
      fn?.subsegments?.map((s) => s.name),
      ['Invocation', 'Overhead'],
    );
    assert.deepEqual(fn?.annotations, { cold_start: false, narrow_cold_start: false });
  });

  test('Initialization is present exactly when coldStart, also when given only as an init step', () => {
    const onlyStep = coldTrace({ initStart: undefined, initEnd: undefined });
    assert.ok(sub(invocationSegments(onlyStep)[1] as SegmentDocument, 'Initialization'));
    const notCold = coldTrace({ coldStart: false });
    assert.equal(sub(invocationSegments(notCold)[1] as SegmentDocument, 'Initialization'), undefined);
  });

  test('segment ids chosen in advance are used (the runtime header’s Parent is the function segment)', () => {
    const [service, fn] = invocationSegments(coldTrace({ segmentIds: { lambda: 'aaaaaaaaaaaaaaaa', function: 'bbbbbbbbbbbbbbbb' }, parentId: 'cccccccccccccccc' }));
    assert.equal(service?.id, 'aaaaaaaaaaaaaaaa');
    assert.equal(service?.parent_id, 'cccccccccccccccc');
    assert.equal(fn?.id, 'bbbbbbbbbbbbbbbb');
    assert.equal(fn?.parent_id, 'aaaaaaaaaaaaaaaa');
  });

  test('a function fault marks the function segment and Invocation with a cause', () => {
    const [service, fn] = invocationSegments(warmTrace(0, { error: { kind: 'fault', errorType: 'TypeError', message: 'x is undefined' } }));
    assert.equal(service?.fault, undefined, 'Invoke itself answered 200');
    assert.equal(fn?.fault, true);
    assert.equal(sub(fn as SegmentDocument, 'Invocation')?.fault, true);
    assert.deepEqual((fn?.cause as { exceptions: { type: string; message: string }[] }).exceptions.map((e) => [e.type, e.message]), [
      ['TypeError', 'x is undefined'],
    ]);
  });

  test('a handled error sets error; a 5xx status faults the service segment', () => {
    const [, fn] = invocationSegments(warmTrace(0, { error: { kind: 'error' } }));
    assert.equal(fn?.error, true);
    const [service] = invocationSegments(warmTrace(0, { statusCode: 502, error: { kind: 'fault', errorType: 'Runtime.ExitError' } }));
    assert.equal(service?.fault, true);
  });

  test('a throttled invocation is only an AWS::Lambda segment with throttle and error', () => {
    const segs = invocationSegments(warmTrace(0, { statusCode: 429, error: { kind: 'throttle', message: 'Rate Exceeded.' } }));
    assert.equal(segs.length, 1);
    assert.equal(segs[0]?.throttle, true);
    assert.equal(segs[0]?.error, true);
    assert.deepEqual(segs[0]?.http, { response: { status: 429 } });
  });
});
