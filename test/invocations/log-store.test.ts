/**
 * The per-function log files `lambkin logs` reads: where they are, how each line is prefixed with
 * its stream and kept on one line, and that subscribers see exactly what was appended.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { LogStore, logsDir, type LogKey } from '../../src/invocations/log-store.js';

const KEY: LogKey = { account: '000000000000', region: 'us-east-1', functionName: 'fn' };

function store(t: { after: (fn: () => void) => void }): { dir: string; logs: LogStore } {
  const dir = mkdtempSync(join(tmpdir(), 'lambkin-log-store-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return { dir, logs: new LogStore(logsDir(dir)) };
}

describe('LogStore', () => {
  test('one file per function under logs/<account>/<region>/<name>.log', (t) => {
    const { dir, logs } = store(t);
    assert.equal(logs.fileFor(KEY), join(dir, 'logs', '000000000000', 'us-east-1', 'fn.log'));
    assert.equal(logs.fileFor({ ...KEY, region: 'eu-west-1' }), join(dir, 'logs', '000000000000', 'eu-west-1', 'fn.log'));
  });

  test('appends lines prefixed by their stream and a tab, in order, across calls and streams', (t) => {
    const { logs } = store(t);
    logs.append(KEY, 's1', ['START RequestId: a Version: $LATEST', 'END RequestId: a']);
    logs.append(KEY, 's2', ['hello']);
    logs.append({ ...KEY, functionName: 'other' }, 's3', ['elsewhere']);
    assert.equal(readFileSync(logs.fileFor(KEY), 'utf8'), 's1\tSTART RequestId: a Version: $LATEST\ns1\tEND RequestId: a\ns2\thello\n');
    assert.equal(readFileSync(logs.fileFor({ ...KEY, functionName: 'other' }), 'utf8'), 's3\telsewhere\n');
  });

  test("a line's own newlines become \\r, so every entry stays one line of the file", (t) => {
    const { logs } = store(t);
    logs.append(KEY, 's', ['Error: x\n    at f (index.js:1:1)\n    at g']);
    const text = readFileSync(logs.fileFor(KEY), 'utf8');
    assert.equal(text, 's\tError: x\r    at f (index.js:1:1)\r    at g\n');
    assert.equal(text.split('\n').length, 2);
  });

  test('no lines: no file, no notification', (t) => {
    const { logs } = store(t);
    const seen: unknown[] = [];
    logs.subscribe((k, l) => seen.push([k, l]));
    logs.append(KEY, 's', []);
    assert.equal(existsSync(logs.fileFor(KEY)), false);
    assert.deepEqual(seen, []);
  });

  test('subscribers get the key and the unprefixed lines until they unsubscribe', (t) => {
    const { logs } = store(t);
    const seen: [LogKey, readonly string[]][] = [];
    const stop = logs.subscribe((k, l) => seen.push([k, l]));
    logs.append(KEY, 's', ['one', 'two']);
    stop();
    logs.append(KEY, 's', ['three']);
    assert.deepEqual(seen, [[KEY, ['one', 'two']]]);
  });
});
