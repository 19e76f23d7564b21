/**
 * The cost of freezing sandboxes between invocations (issue 9). For each isolation level this
 * machine supports (cgroup freezer) and `none` (SIGSTOP/SIGCONT of the process group):
 *
 *   thaw            the thaw itself (cgroup write or SIGCONT), sandbox frozen before each sample. Goal < 1 ms.
 *   warm, frozen    a warm invoke of a frozen sandbox (thaw included), from invoke() to the result
 *   warm, running   the same invoke with freezing off (the baseline)
 *
 * All measured in the same run, rounds interleaved so that machine drift hits them alike; p50/p99
 * and the ratios to the baseline. Run as root: `node dist/bench/freeze.js` (`--quick`: fewer rounds).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ProcessDriver } from '../src/fleet/process-driver.js';
import type { SandboxHandle, SandboxSpec } from '../src/fleet/sandbox-driver.js';
import { Isolation } from '../src/fleet/isolation/isolation.js';
import { cgroupsUnavailable, detectCapabilities, namespacesUnavailable, type IsolationRequest } from '../src/fleet/isolation/capabilities.js';

const quick = process.argv.includes('--quick');
const ROUNDS = quick ? 50 : 300;
const caps = detectCapabilities();
const levels: { name: string; request: IsolationRequest; skip: string | undefined }[] = [
  { name: 'none (SIGSTOP)', request: 'none', skip: undefined },
  { name: 'cgroups', request: 'cgroups', skip: cgroupsUnavailable(caps) },
  { name: 'cgroups+namespaces', request: 'namespaces', skip: namespacesUnavailable(caps) },
];

const scratch = mkdtempSync(join(process.platform === 'linux' ? '/var/tmp' : '/tmp', 'lambkin-bench-'));
const dir = join(scratch, 'code');
mkdirSync(dir, { mode: 0o755 });
writeFileSync(join(dir, 'index.js'), "exports.handler = async () => ({ statusCode: 200, body: 'Hello from Lambda!' });\n");

/** What the bench reaches inside a process sandbox (private there; this is a measurement). */
type Sandbox = SandboxHandle & { whenFrozen(): Promise<boolean>; freezeWhenIdle(): void; thaw(): void };

let n = 0;
function spec(): SandboxSpec {
  return {
    sandboxId: `bench-freeze-${++n}`,
    account: '000000000000',
    region: 'us-east-1',
    functionName: 'hello',
    functionVersion: '$LATEST',
    runtime: 'nodejs20.x',
    handler: 'index.handler',
    codeDir: dir,
    memoryMb: 1769,
    timeoutMs: 5000,
    environment: {},
    initializationType: 'on-demand',
    logGroupName: '/aws/lambda/hello',
    logStreamName: 'bench',
  };
}

async function invoke(sandbox: SandboxHandle): Promise<number> {
  const t0 = performance.now();
  const out = await sandbox.invoke({ requestId: `r-${++n}`, payload: Buffer.from('{}'), invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:hello', deadlineMs: Date.now() + 5000 });
  const ms = performance.now() - t0;
  if (out.kind !== 'success') throw new Error(out.payload.toString());
  return ms;
}

function pct(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
}

async function measure(request: IsolationRequest): Promise<{ thaw: number[]; frozen: number[]; running: number[] }> {
  const freezing = new ProcessDriver({ initTimeoutMs: 10_000, python: 'python3', isolation: Isolation.create({ request }) });
  const plain = new ProcessDriver({ initTimeoutMs: 10_000, python: 'python3', isolation: Isolation.create({ request }), freezeIdle: false });
  const thaw: number[] = [];
  const frozen: number[] = [];
  const running: number[] = [];
  try {
    const a = (await freezing.create(spec())) as Sandbox;
    const b = await plain.create(spec());
    for (let round = -20; round < ROUNDS; round++) {
      // The thaw alone: frozen, thawed, frozen again for the invoke below.
      if (!(await a.whenFrozen())) throw new Error('the sandbox did not freeze');
      const t0 = performance.now();
      a.thaw();
      const t = performance.now() - t0;
      a.freezeWhenIdle();
      if (!(await a.whenFrozen())) throw new Error('the sandbox did not freeze again');
      const f = await invoke(a);
      const r = await invoke(b);
      if (round < 0) continue; // warm-up
      thaw.push(t);
      frozen.push(f);
      running.push(r);
    }
  } finally {
    await Promise.all([freezing.close(), plain.close()]);
  }
  return { thaw, frozen, running };
}

async function main(): Promise<void> {
  for (const l of levels.filter((x) => x.skip)) console.log(`skipping ${l.name}: ${l.skip}`);
  console.log(`freeze between invocations: Node.js hello, 1769 MB, ${ROUNDS} rounds, ${caps.cores} cores, cgroup v${caps.cgroup.version ?? '-'}`);
  console.log('level                 thaw p50/p99 ms   warm frozen p50/p99 ms   warm running p50/p99 ms   frozen/running p50  p99   thaw/running p50');
  try {
    for (const l of levels.filter((x) => !x.skip)) {
      const { thaw, frozen, running } = await measure(l.request);
      const f = (x: number) => x.toFixed(3);
      console.log(
        `${l.name.padEnd(20)}  ${`${f(pct(thaw, 50))}/${f(pct(thaw, 99))}`.padStart(15)}   ${`${f(pct(frozen, 50))}/${f(pct(frozen, 99))}`.padStart(22)}   ${`${f(pct(running, 50))}/${f(pct(running, 99))}`.padStart(23)}   ${(pct(frozen, 50) / pct(running, 50)).toFixed(2).padStart(12)}x ${(pct(frozen, 99) / pct(running, 99)).toFixed(2).padStart(5)}x   ${(pct(thaw, 50) / pct(running, 50)).toFixed(3).padStart(12)}x`,
      );
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

await main();
