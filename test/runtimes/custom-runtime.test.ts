import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { startSandbox, writeTaskRoot } from './sandbox-harness.js';

const have = (cmd: string): boolean => spawnSync(cmd, ['--version'], { stdio: 'ignore' }).status === 0;
const skip = !have('curl') ? 'curl is not installed' : !have('bash') ? 'bash is not installed' : false;

// The bootstrap and function script of AWS's "Building a custom runtime" tutorial (runtimes-walkthrough), unchanged
// except for the interpreter line: the tutorial's `set -o pipefail` and `function` need bash, which /bin/sh is on
// Amazon Linux but not everywhere.
const BOOTSTRAP = `#!/bin/bash
set -euo pipefail

# Initialization - load function handler
source $LAMBDA_TASK_ROOT/"$(echo $_HANDLER | cut -d. -f1).sh"

# Processing
while true
do
  HEADERS="$(mktemp)"
  # Get an event. The HTTP request will block until one is received
  EVENT_DATA=$(curl -sS -LD "$HEADERS" "http://\${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation/next")

  # Extract request ID by scraping response headers received above
  REQUEST_ID=$(grep -Fi Lambda-Runtime-Aws-Request-Id "$HEADERS" | tr -d '[:space:]' | cut -d: -f2)

  # Run the handler function from the script
  RESPONSE=$($(echo "$_HANDLER" | cut -d. -f2) "$EVENT_DATA")

  # Send the response
  curl "http://\${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation/$REQUEST_ID/response"  -d "$RESPONSE"
done
`;

const FUNCTION_SH = `function handler () {
  EVENT_DATA=$1
  echo "$EVENT_DATA" 1>&2;
  RESPONSE="Echoing request: '$EVENT_DATA'"

  echo $RESPONSE
}
`;

void test('the bash custom runtime from AWS\'s tutorial works unmodified', { skip }, async (t) => {
  const taskRoot = writeTaskRoot(t, { bootstrap: BOOTSTRAP, 'function.sh': FUNCTION_SH });
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
