/**
 * `lambkin logs FUNCTION [--follow]`: shows the invocation's START/END/REPORT and console lines
 * from the data dir, with or without a running server.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { test } from 'node:test';
import { InvokeCommand } from '@aws-sdk/client-lambda';
import { showLogs } from '../../src/cli/logs-command.js';
import { leakFree } from '../helpers/leaks.js';
import { startTestServer } from '../helpers/server.js';
import { makeZip } from '../helpers/zip.js';
import { createFn } from '../helpers/lambda.js';

const BIN = fileURLToPath(new URL('../../../bin/lambkin.js', import.meta.url));
const ZIP = makeZip({ 'index.js': `exports.handler = async (e) => { console.log('saw', e.n); return e.n; };` });

function collector(): { out: PassThrough; text: () => string; until: (needle: string) => Promise<void> } {
  const out = new PassThrough();
  let text = '';
  const waiters: { needle: string; resolve: () => void }[] = [];
  out.on('data', (c: Buffer) => {
    text += c.toString();
    for (const w of waiters.filter((x) => text.includes(x.needle))) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve();
    }
  });
  return {
    out,
    text: () => text,
    until: (needle) => (text.includes(needle) ? Promise.resolve() : new Promise((resolve) => waiters.push({ needle, resolve }))),
  };
}

void test(
  'lambkin logs shows the REPORT line of an invocation; --follow shows new ones',
  leakFree(async (t, defer) => {
    const { lambda, lambkin, dataDir } = await startTestServer(defer);
    await createFn(lambda, 'logged', ZIP);
    const first = await lambda.send(new InvokeCommand({ FunctionName: 'logged', Payload: Buffer.from('{"n":1}') }));
    const id1 = first.$metadata.requestId ?? '';

    await t.test('showLogs prints START, the console line and REPORT', async () => {
      const c = collector();
      await showLogs({ dataDir, region: 'us-east-1', account: '000000000000', functionName: 'logged', follow: false, out: c.out });
      const text = c.text();
      assert.match(text, new RegExp(`START RequestId: ${id1} Version: \\$LATEST`));
      assert.match(text, new RegExp(`\\t${id1}\\tINFO\\tsaw 1`));
      assert.match(text, new RegExp(`REPORT RequestId: ${id1}\\tDuration: [\\d.]+ ms\\tBilled Duration: \\d+ ms\\tMemory Size: 128 MB\\tMax Memory Used: \\d+ MB\\tInit Duration`));
    });

    await t.test('--follow prints an invocation made after it started', async () => {
      const c = collector();
      const stop = new AbortController();
      const following = showLogs({ dataDir, region: 'us-east-1', account: '000000000000', functionName: 'logged', follow: true, out: c.out, signal: stop.signal });
      await c.until(`REPORT RequestId: ${id1}`);
      const second = await lambda.send(new InvokeCommand({ FunctionName: 'logged', Payload: Buffer.from('{"n":2}') }));
      await c.until(`REPORT RequestId: ${second.$metadata.requestId ?? ''}`);
      stop.abort();
      await following;
      assert.equal(c.text().split('\n').filter((l) => l.includes(`START RequestId: ${id1}`)).length, 1, 'old lines are not repeated');
    });

    await t.test('an unknown function is an error that says why', async () => {
      await assert.rejects(
        showLogs({ dataDir, region: 'us-east-1', account: '000000000000', functionName: 'never-invoked', follow: false, out: new PassThrough() }),
        /no logs for never-invoked/,
      );
    });

    await lambkin.close();
    await t.test('the `lambkin logs` command reads the data dir without a server', async () => {
      const { stdout } = await promisify(execFile)(process.execPath, [BIN, 'logs', 'logged', '--data-dir', dataDir], { timeout: 20_000 });
      assert.match(stdout, new RegExp(`REPORT RequestId: ${id1}\\t`));
      assert.match(stdout, /\tINFO\tsaw 2/);
    });
  }),
);
