/**
 * `lambkin serve --sandbox-network nat` as a user gets it (root, full isolation, 128 MB): a Node.js
 * function fetches a host "outside" (the test's stand-in for the internet) and is seen there by the
 * host's address; the same function cannot reach lambkin's API (listening on every address), a host
 * service, cloud metadata or a private network. With the default (`none`) nothing outside is
 * reachable, and lambkin's relayed endpoints still are. Every probe gets the same timeout as the
 * one that must succeed, so a refusal is not mistaken for a slow 128 MB sandbox.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvokeCommand } from '@aws-sdk/client-lambda';
import { createFn, json, serverGroup } from '../helpers/lambda.js';
import { hostService, outsideHost } from '../helpers/outside-host.js';
import { makeZip } from '../helpers/zip.js';
import { detectCapabilities, namespacesUnavailable } from '../../src/fleet/isolation/capabilities.js';
import { natUnavailable } from '../../src/fleet/isolation/sandbox-networks.js';

const caps = detectCapabilities();
const skip = namespacesUnavailable(caps) ?? natUnavailable(caps.tools, caps.root);

/** Fetches each URL of the event (GATEWAY = the sandbox's default route, read from /proc/net/route) with a short timeout. */
const PROBE = makeZip({
  'index.js': `
const fs = require('fs');
function gateway() {
  const line = fs.readFileSync('/proc/net/route', 'utf8').split('\\n').find((l) => l.split('\\t')[1] === '00000000');
  if (!line) return undefined;
  const h = line.split('\\t')[2];
  return [3, 2, 1, 0].map((i) => parseInt(h.substr(i * 2, 2), 16)).join('.');
}
async function get(url) {
  try {
    const r = await fetch(url, { signal: AbortSignal.timeout(5000) });
    return 'ok ' + r.status + ' ' + (await r.text()).slice(0, 60);
  } catch (e) {
    return 'error ' + (e.cause?.code ?? e.name);
  }
}
exports.handler = async (event) => {
  const gw = gateway();
  const out = { gateway: gw ?? null };
  await Promise.all(Object.entries(event).map(async ([k, u]) => { out[k] = await get(u.replace('GATEWAY', gw ?? '192.0.2.1')); }));
  return out;
};
`,
});

void test(
  '--sandbox-network nat: the outside world through NAT, not the host, lambkin, metadata or private networks',
  { skip },
  serverGroup({ isolation: 'namespaces', sandboxNetwork: 'nat', host: '0.0.0.0' }, async (_t, { lambkin, lambda }, defer) => {
    const OUTSIDE = await outsideHost(defer, caps.tools.ip);
    const port = await hostService(defer);
    await createFn(lambda, 'probe', PROBE, { Timeout: 15 });
    const out = await lambda.send(
      new InvokeCommand({
        FunctionName: 'probe',
        Payload: Buffer.from(
          JSON.stringify({
            outside: `http://${OUTSIDE.peer}:${OUTSIDE.port}/`,
            lambkinByGateway: `http://GATEWAY:${lambkin.port}/2015-03-31/functions`,
            lambkinByHostAddress: `http://${OUTSIDE.host}:${lambkin.port}/2015-03-31/functions`,
            hostService: `http://GATEWAY:${port}/`,
            metadata: 'http://169.254.169.254/latest/meta-data/',
            privateNetwork: 'http://10.0.0.1/',
            sandboxEndpoint: 'http://127.0.0.1:9002/2015-03-31/functions',
          }),
        ),
      }),
    );
    assert.equal(out.FunctionError, undefined, Buffer.from(out.Payload ?? []).toString());
    const r = json(out.Payload) as Record<string, string | null>;
    assert.match(r.gateway ?? '', /^100\.(6[4-9]|[7-9]\d|1[01]\d|12[0-7])\./, 'the sandbox routes through its host end, in 100.64.0.0/10');
    assert.equal(r.outside, `ok 200 outside saw ${OUTSIDE.host}`);
    for (const k of ['lambkinByGateway', 'lambkinByHostAddress', 'hostService', 'metadata', 'privateNetwork']) assert.match(r[k] ?? '', /^error /, `${k} was reached: ${r[k]}`);
    // Reached through the relay, and refused there: unsigned requests are not a sandbox's.
    assert.match(r.sandboxEndpoint ?? '', /^ok 403 /);
  }),
);

void test(
  'the default sandbox network: nothing outside, only lambkin relayed endpoints',
  { skip },
  serverGroup({ isolation: 'namespaces' }, async (_t, { lambda }, defer) => {
    const OUTSIDE = await outsideHost(defer, caps.tools.ip);
    await createFn(lambda, 'probe', PROBE, { Timeout: 15 });
    const out = await lambda.send(new InvokeCommand({ FunctionName: 'probe', Payload: Buffer.from(JSON.stringify({ outside: `http://${OUTSIDE.peer}:${OUTSIDE.port}/`, sandboxEndpoint: 'http://127.0.0.1:9002/2015-03-31/functions' })) }));
    const r = json(out.Payload) as Record<string, string | null>;
    assert.equal(r.gateway, null, 'no route out');
    assert.match(r.outside ?? '', /^error /);
    assert.match(r.sandboxEndpoint ?? '', /^ok 403 /);
  }),
);
