/**
 * Lambda's platform log lines, byte for byte as CloudWatch shows them (tab-separated REPORT fields,
 * durations with two decimals, billing rounded up to the next millisecond).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { endLine, logStreamName, reportLine, startLine, tailBase64 } from '../../src/invocations/log-format.js';

const ID = '8f5f1e0c-3a5b-4c57-9d1e-1b2c3d4e5f60';

describe('log-format', () => {
  test('START names the request and the version', () => {
    assert.equal(startLine(ID, '$LATEST'), `START RequestId: ${ID} Version: $LATEST`);
    assert.equal(startLine(ID, '7'), `START RequestId: ${ID} Version: 7`);
  });

  test('END names the request only', () => {
    assert.equal(endLine(ID), `END RequestId: ${ID}`);
  });

  test('REPORT of a warm invocation: tab-separated, billed duration rounded up to 1 ms', () => {
    assert.equal(
      reportLine({ requestId: ID, durationMs: 12.341, memorySizeMb: 128, maxMemoryUsedMb: 67.4 }),
      `REPORT RequestId: ${ID}\tDuration: 12.34 ms\tBilled Duration: 13 ms\tMemory Size: 128 MB\tMax Memory Used: 67 MB`,
    );
  });

  test('REPORT of a cold start carries Init Duration after the memory fields', () => {
    assert.equal(
      reportLine({ requestId: ID, durationMs: 2, memorySizeMb: 1024, maxMemoryUsedMb: 80.6, initDurationMs: 153.456 }),
      `REPORT RequestId: ${ID}\tDuration: 2.00 ms\tBilled Duration: 2 ms\tMemory Size: 1024 MB\tMax Memory Used: 81 MB\tInit Duration: 153.46 ms`,
    );
  });

  test('REPORT of a timed-out invocation ends with Status: timeout, an exited one with Status: error', () => {
    const base = { requestId: ID, durationMs: 3000, memorySizeMb: 128, maxMemoryUsedMb: 50 };
    assert.equal(
      reportLine({ ...base, status: 'timeout' }),
      `REPORT RequestId: ${ID}\tDuration: 3000.00 ms\tBilled Duration: 3000 ms\tMemory Size: 128 MB\tMax Memory Used: 50 MB\tStatus: timeout`,
    );
    assert.match(reportLine({ ...base, initDurationMs: 1, status: 'error' }), /\tInit Duration: 1\.00 ms\tStatus: error$/);
  });

  test('REPORT never bills or reports less than 1 (ms, MB)', () => {
    assert.equal(
      reportLine({ requestId: ID, durationMs: 0, memorySizeMb: 128, maxMemoryUsedMb: 0 }),
      `REPORT RequestId: ${ID}\tDuration: 0.00 ms\tBilled Duration: 1 ms\tMemory Size: 128 MB\tMax Memory Used: 1 MB`,
    );
  });

  test('tail: the last 4 KB of the lines, each ending in a newline, base64', () => {
    assert.equal(Buffer.from(tailBase64(['a', 'b']), 'base64').toString(), 'a\nb\n');
    const long = ['x'.repeat(5000), 'END'];
    const tail = Buffer.from(tailBase64(long), 'base64').toString();
    assert.equal(tail.length, 4096);
    assert.ok(tail.endsWith('x\nEND\n'));
    assert.equal(Buffer.from(tailBase64(['abcdef'], 4), 'base64').toString(), 'def\n');
  });

  test('log stream name: date of the sandbox start, version in brackets, sandbox id', () => {
    assert.equal(logStreamName(new Date(Date.UTC(2024, 0, 31, 23, 59)), '$LATEST', '0123abcd'), '2024/01/31/[$LATEST]0123abcd');
    assert.equal(logStreamName(new Date(Date.UTC(2024, 11, 1)), '3', 'ff'), '2024/12/01/[3]ff');
  });
});
