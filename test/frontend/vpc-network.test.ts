/**
 * A VPC function's ENI is a real interface (root, full isolation, the default sandbox network): the
 * Hyperplane ENI made at CreateFunction is a veth into the VPC's namespace; a service placed in the
 * VPC is reached by the VPC's function, which it sees as the ENI's address, and by nothing else;
 * the VPC function has no internet (no NAT gateway), as on Lambda; deleting the function deletes
 * the interface. With legacy ENIs, each worker's ENI is an interface of its own.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { test } from 'node:test';
import { DeleteFunctionCommand, GetFunctionConfigurationCommand, InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import { createFn, json, serverGroup } from '../helpers/lambda.js';
import type { Defer } from '../helpers/leaks.js';
import { outsideHost } from '../helpers/outside-host.js';
import { makeZip } from '../helpers/zip.js';
import { detectCapabilities, namespacesUnavailable } from '../../src/fleet/isolation/capabilities.js';
import { natUnavailable, VPC_ROUTER } from '../../src/fleet/isolation/sandbox-networks.js';

const caps = detectCapabilities();
const skip = namespacesUnavailable(caps) ?? natUnavailable(caps.tools, caps.root);
const ip = caps.tools.ip ?? 'ip';
const VPC = { SubnetIds: ['subnet-0a1b2c3d4e5f60718'], SecurityGroupIds: ['sg-0123456789abcdef0'] };

const PROBE = makeZip({
  'index.js': `
async function get(url) {
  try {
    const r = await fetch(url, { signal: AbortSignal.timeout(5000) });
    return 'ok ' + r.status + ' ' + (await r.text()).slice(0, 60);
  } catch (e) {
    return 'error ' + (e.cause?.code ?? e.name);
  }
}
exports.handler = async ({ wait, ...urls }) => {
  if (wait) await new Promise((r) => setTimeout(r, wait));
  const out = {};
  await Promise.all(Object.entries(urls).map(async ([k, u]) => { out[k] = await get(u); }));
  return out;
};
`,
});

async function probe(lambda: LambdaClient, name: string, urls: Record<string, string | number>): Promise<Record<string, string>> {
  const out = await lambda.send(new InvokeCommand({ FunctionName: name, Payload: Buffer.from(JSON.stringify(urls)) }));
  assert.equal(out.FunctionError, undefined, Buffer.from(out.Payload ?? []).toString());
  return json(out.Payload) as Record<string, string>;
}

/** Awaits a condition the server reaches on its own, with a deadline. */
async function until(what: string, done: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!(await done())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The VPC's namespace for `vpcId` (made by some lambkin instance: `lk<block>-<VpcId>`). */
function vpcNamespace(vpcId: string, block?: string): string | undefined {
  const names = execFileSync(ip, ['netns', 'list']).toString().split('\n').map((l) => l.split(' ')[0] ?? '');
  return names.find((n) => (block === undefined ? new RegExp(`^lk\\d+-${vpcId}$`) : new RegExp(`^lk${block}-${vpcId}$`)).test(n));
}

/** ENI interfaces of block `block` on the host. */
function eniInterfaces(block: string): string[] {
  return execFileSync(ip, ['-o', 'link'])
    .toString()
    .split('\n')
    .map((l) => /^\d+: (lk\d+e\d+)@/.exec(l)?.[1])
    .filter((n): n is string => n !== undefined && n.startsWith(`lk${block}e`));
}

/** A service in the VPC, on the VPC router's address, answering with the caller's address. */
async function serviceInVpc(defer: Defer, ns: string): Promise<void> {
  const server = spawn(ip, ['netns', 'exec', ns, process.execPath, '-e', `require('http').createServer((q, s) => s.end('vpc saw ' + q.socket.remoteAddress)).listen(8080, '${VPC_ROUTER}', () => console.log('ready'))`], { stdio: ['ignore', 'pipe', 'inherit'] });
  defer(() => new Promise((r) => (server.exitCode !== null ? r(undefined) : (server.once('exit', r), server.kill('SIGKILL')))));
  await new Promise<void>((resolve, reject) => {
    server.stdout.once('data', () => resolve());
    server.once('exit', (code) => reject(new Error(`the VPC service exited (${code})`)));
  });
}

void test(
  'Hyperplane: the ENI is a veth into the VPC; the VPC function reaches the VPC only, seen as the ENI',
  { skip },
  serverGroup({ isolation: 'namespaces' }, async (t, { lambda }, defer) => {
    const outside = await outsideHost(defer, ip);
    await createFn(lambda, 'in-vpc', PROBE, { Timeout: 20, VpcConfig: VPC });
    await createFn(lambda, 'no-vpc', PROBE, { Timeout: 20 });
    let vpcId = '';
    await until('the function is Active (its ENI made)', async () => {
      const c = await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: 'in-vpc' }));
      vpcId = c.VpcConfig?.VpcId ?? '';
      return c.State === 'Active';
    });
    const ns = vpcNamespace(vpcId);
    assert.ok(ns, `a namespace for ${vpcId}`);
    const block = /^lk(\d+)-/.exec(ns)?.[1] as string;
    const [eni, ...more] = eniInterfaces(block);
    assert.ok(eni && more.length === 0, `one ENI interface, got ${[eni, ...more].join(', ')}`);
    const eniAddress = /inet (172\.31\.\d+\.\d+)\/16/.exec(execFileSync(ip, ['-4', '-o', 'addr', 'show', 'dev', eni]).toString())?.[1];
    assert.ok(eniAddress, 'the ENI has an address in the VPC');
    await serviceInVpc(defer, ns);

    await t.test('the VPC function reaches the service, which sees the ENI; no internet; lambkin still relayed', async () => {
      const r = await probe(lambda, 'in-vpc', {
        vpc: `http://${VPC_ROUTER}:8080/`,
        outside: `http://${outside.peer}:${outside.port}/`,
        sandboxEndpoint: 'http://127.0.0.1:9002/2015-03-31/functions',
      });
      assert.equal(r.vpc, `ok 200 vpc saw ${eniAddress}`);
      assert.match(r.outside ?? '', /^error /, 'a VPC function without a NAT gateway has no internet');
      assert.match(r.sandboxEndpoint ?? '', /^ok 403 /);
    });

    await t.test('attack: a function outside the VPC cannot reach it', async () => {
      const r = await probe(lambda, 'no-vpc', { vpc: `http://${VPC_ROUTER}:8080/`, eni: `http://${eniAddress}:8080/` });
      assert.match(r.vpc ?? '', /^error /);
      assert.match(r.eni ?? '', /^error /);
    });

    await t.test('deleting the function deletes its ENI interface', async () => {
      await lambda.send(new DeleteFunctionCommand({ FunctionName: 'in-vpc' }));
      await until('the ENI interface is gone', () => eniInterfaces(block).length === 0);
    });
  }),
);

void test(
  'legacy: one ENI interface per worker, made at the cold start that attaches it',
  { skip },
  serverGroup({ isolation: 'namespaces', vpcMode: 'legacy', workerMemoryMb: 256 }, async (_t, { lambda }) => {
    await createFn(lambda, 'legacy-vpc', PROBE, { Timeout: 20, MemorySize: 256, VpcConfig: VPC });
    const c = await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: 'legacy-vpc' }));
    const vpcId = c.VpcConfig?.VpcId ?? '';
    // Two concurrent invocations need two sandboxes; a 256 MB worker holds one: two workers, two ENIs.
    await Promise.all([probe(lambda, 'legacy-vpc', { wait: 1500 }), probe(lambda, 'legacy-vpc', { wait: 1500 })]);
    const ns = vpcNamespace(vpcId);
    assert.ok(ns);
    const block = /^lk(\d+)-/.exec(ns)?.[1] as string;
    assert.equal(eniInterfaces(block).length, 2);
  }),
);
