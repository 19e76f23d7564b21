/**
 * Cold-start cost of isolation: time from create() to the runtime's first /next (Init Duration) plus
 * the first invocation, for a Node.js hello function at each isolation level this machine supports:
 * plain process vs cgroups vs full isolation with and without a network namespace of its own. Levels are interleaved round by round so drift in
 * the machine's load hits them alike; medians and the difference and ratio to `none` come from the
 * same run. Goal: under 10 ms added.
 *
 * MemorySize is 3538 MB (two vCPUs, capped at the cores) so the CPU quota does not slow Node.js's own
 * start-up: the figure is the cost of the launcher, cgroup and namespaces alone.
 *
 * Run as root on Linux: `node dist/bench/isolation-cold-start.js` (after `npm run build`). `--quick`: fewer rounds.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ProcessDriver } from '../src/fleet/process-driver.js';
import { Isolation } from '../src/fleet/isolation/isolation.js';
import { cgroupsUnavailable, detectCapabilities, namespacesUnavailable, type IsolationRequest } from '../src/fleet/isolation/capabilities.js';

const quick = process.argv.includes('--quick');
const ROUNDS = quick ? 8 : 30;
const caps = detectCapabilities();
// The last two differ only in the network namespace (+ relay): their difference is what network
// isolation adds to a cold start (issue 9's goal: < 10 ms).
const levels: { name: string; request: IsolationRequest; network?: boolean; skip: string | undefined }[] = [
  { name: 'none', request: 'none', skip: undefined },
  { name: 'cgroups', request: 'cgroups', skip: cgroupsUnavailable(caps) },
  { name: 'full, host network', request: 'namespaces', network: false, skip: namespacesUnavailable(caps) },
  { name: 'full (own network)', request: 'namespaces', skip: namespacesUnavailable(caps) },
];

const scratch = mkdtempSync(join(process.platform === 'linux' ? '/var/tmp' : '/tmp', 'lambkin-bench-'));
// The code dir itself must be readable by the sandbox's uid (mkdtemp makes 0700 dirs), as the code store's are.
const dir = join(scratch, 'code');
mkdirSync(dir, { mode: 0o755 });
writeFileSync(join(dir, 'index.js'), "exports.handler = async () => ({ statusCode: 200, body: 'Hello from Lambda!' });\n");

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

async function main(): Promise<void> {
  const runnable = levels.filter((l) => !l.skip);
  for (const l of levels.filter((x) => x.skip)) console.log(`skipping ${l.name}: ${l.skip}`);
  const isolations = new Map(runnable.map((l) => [l.name, Isolation.create({ request: l.request, ...(l.network === false ? { network: false } : {}) })]));
  const drivers = new Map(runnable.map((l) => [l.name, new ProcessDriver({ initTimeoutMs: 10_000, python: 'python3', isolation: isolations.get(l.name) as Isolation })]));
  const samples = new Map<string, number[]>(runnable.map((l) => [l.name, []]));
  let n = 0;
  try {
    for (let round = -2; round < ROUNDS; round++) {
      for (const l of runnable) {
        const driver = drivers.get(l.name) as ProcessDriver;
        // A cold start takes a ready /tmp disk; refills happen in the background, between starts.
        await isolations.get(l.name)?.scratchReady();
        // ... and a ready network namespace (made ahead; the cold path only joins one).
        await isolations.get(l.name)?.networkReady(true);
        const t0 = performance.now();
        const sandbox = await driver.create({
          sandboxId: `bench-${++n}`,
          account: '000000000000',
          region: 'us-east-1',
          functionName: 'hello',
          functionVersion: '$LATEST',
          runtime: 'nodejs20.x',
          handler: 'index.handler',
          codeDir: dir,
          memoryMb: 3538,
          timeoutMs: 5000,
          environment: {},
          initializationType: 'on-demand',
          logGroupName: '/aws/lambda/hello',
          logStreamName: 'bench',
        });
        const out = await sandbox.invoke({ requestId: `r-${n}`, payload: Buffer.from('{}'), invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:hello', deadlineMs: Date.now() + 5000 });
        const ms = performance.now() - t0;
        if (out.kind !== 'success') throw new Error(`${l.name}: ${out.payload.toString()}`);
        await sandbox.stop();
        if (round >= 0) samples.get(l.name)?.push(ms); // two warm-up rounds
      }
    }
  } finally {
    await Promise.all([...drivers.values()].map((d) => d.close()));
    rmSync(scratch, { recursive: true, force: true });
  }
  const base = median(samples.get('none') ?? [0]);
  console.log(`cold start (create → first response), Node.js hello, median of ${ROUNDS}, ${caps.cores} cores`);
  console.log('level                 median ms   added ms   ratio to none');
  for (const l of runnable) {
    const m = median(samples.get(l.name) ?? [0]);
    console.log(`${l.name.padEnd(20)}  ${m.toFixed(1).padStart(9)}  ${(m - base).toFixed(1).padStart(9)}   ${(m / base).toFixed(2).padStart(8)}x`);
  }
  const host = samples.get('full, host network');
  const own = samples.get('full (own network)');
  if (host && own) console.log(`network isolation adds ${(median(own) - median(host)).toFixed(1)} ms (own network ${(median(own) / median(host)).toFixed(2)}x host network)`);
}

await main();
