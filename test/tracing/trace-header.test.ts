import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  formatTraceHeader,
  isSegmentId,
  isTraceId,
  newSegmentId,
  newTraceId,
  parseTraceHeader,
  traceIdTime,
} from '../../src/tracing/trace-header.js';
import { counterRandom } from './fixtures.js';

describe('trace ids', () => {
  test('a trace id carries the epoch seconds in 8 hex digits and 24 random hex digits', () => {
    const id = newTraceId(1_700_000_000_999, counterRandom(0));
    assert.equal(id, '1-6553f100-000102030405060708090a0b');
    assert.ok(isTraceId(id));
    assert.equal(traceIdTime(id), 1_700_000_000_000);
  });

  test('segment ids are 16 hex digits and differ between calls', () => {
    const r = counterRandom(250);
    const a = newSegmentId(r);
    const b = newSegmentId(r);
    assert.equal(a, 'fafbfcfdfeff0001');
    assert.ok(isSegmentId(a) && isSegmentId(b));
    assert.notEqual(a, b);
  });

  test('random ids from crypto are well formed', () => {
    assert.ok(isTraceId(newTraceId(Date.now())));
    assert.ok(isSegmentId(newSegmentId()));
    assert.ok(!isTraceId('1-abc-def'));
    assert.ok(!isSegmentId('xyz'));
  });
});

describe('trace header', () => {
  test('parses Root, Parent, Sampled in any order and keeps other fields', () => {
    const h = parseTraceHeader('Sampled=1; Parent=53995c3f42cd8ad8;Root=1-5759e988-bd862e3fe1be46a994272793;Lineage=a87bd80c:0');
    assert.deepEqual(h, {
      root: '1-5759e988-bd862e3fe1be46a994272793',
      parent: '53995c3f42cd8ad8',
      sampled: true,
      extra: [['Lineage', 'a87bd80c:0']],
    });
  });

  test('Sampled=0 is false, Sampled=? and a missing Sampled leave the decision open', () => {
    assert.equal(parseTraceHeader('Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=0').sampled, false);
    assert.equal(parseTraceHeader('Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=?').sampled, undefined);
    assert.equal(parseTraceHeader('Root=1-5759e988-bd862e3fe1be46a994272793').sampled, undefined);
  });

  test('malformed values are dropped, never thrown', () => {
    assert.deepEqual(parseTraceHeader('Root=nonsense;Parent=zz;garbage'), {});
    assert.deepEqual(parseTraceHeader(undefined), {});
    assert.deepEqual(parseTraceHeader(''), {});
  });

  test('formats the Lambda runtime form', () => {
    assert.equal(
      formatTraceHeader({ root: '1-5759e988-bd862e3fe1be46a994272793', parent: '53995c3f42cd8ad8', sampled: true }),
      'Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1',
    );
    assert.equal(formatTraceHeader({ root: '1-5759e988-bd862e3fe1be46a994272793', sampled: false }), 'Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=0');
  });

  test('format then parse round-trips', () => {
    const h = { root: '1-5759e988-bd862e3fe1be46a994272793', parent: '53995c3f42cd8ad8', sampled: true, extra: [['Lineage', 'x:1'] as const] };
    assert.deepEqual(parseTraceHeader(formatTraceHeader(h)), h);
  });
});
