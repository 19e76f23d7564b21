import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { startSandbox, writeTaskRoot } from './sandbox-harness.js';
import { TUTORIAL_BOOTSTRAP, TUTORIAL_FUNCTION_SH } from '../helpers/custom-runtime.js';

const have = (cmd: string): boolean => spawnSync(cmd, ['--version'], { stdio: 'ignore' }).status === 0;
const skip = !have('curl') ? 'curl is not installed' : !have('bash') ? 'bash is not installed' : false;

void test('the bash custom runtime from AWS\'s tutorial works unmodified', { skip }, async (t) => {
  const taskRoot = writeTaskRoot(t, { bootstrap: TUTORIAL_BOOTSTRAP, 'function.sh': TUTORIAL_FUNCTION_SH });
  const bootstrap = path.join(taskRoot, 'bootstrap');
  fs.chmodSync(bootstrap, 0o755);
  const sb = await startSandbox(t, { command: bootstrap, args: [], taskRoot, handler: 'function.handler' });
  await sb.api.waitForInit();
  for (const event of [{ key1: 'value1' }, { n: 2 }]) {
    const r = await sb.invoke(event);
    assert.equal(r.kind, 'response');
    assert.equal(r.payload.toString(), `Echoing request: '${JSON.stringify(event)}'`);
  }
  // The handler echoed each event to stderr; curl printed the API's 202 body on stdout.
  await sb.waitForStdoutLine(/\{"status":"OK"\}/);
  assert.ok(sb.stderr().includes('{"key1":"value1"}'));
});
