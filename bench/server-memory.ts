/**
 * Server memory under warm invocations (issue 9): the real server, a Node.js function returning
 * 1 MiB, invoked warm 1,000 times through the AWS SDK; the growth of the process's RSS beside a
 * baseline measured the same way with a function returning 1 byte. Goal: under 50 MB of growth.
 *
 * Each (isolation, payload) pair runs in a fresh child process, so that one measurement's heap
 * does not pad the next. The client runs in the server's process (its garbage is collected before
 * each reading, as the server's is). Isolation `auto` needs root for cgroups; `none` runs anywhere.
 *
 * `node dist/bench/server-memory.js` (after `npm run build`); `--quick`: 200 invocations.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { CreateFunctionCommand, InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { zipSync } from 'fflate';
import { startLambkin } from '../src/cli/lambkin.js';

const quick = process.argv.includes('--quick');
const INVOCATIONS = quick ? 200 : 1000;
const MIB = 1024 * 1024;

interface Sample {
  readonly isolation: string;
  readonly level: string;
  readonly bytes: number;
  readonly rssBeforeMb: number;
  readonly rssAfterMb: number;
  readonly heapGrowthMb: number;
  readonly ms: number;
}

async function child(isolation: 'auto' | 'none', bytes: number): Promise<Sample> {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const dataDir = mkdtempSync(join(tmpdir(), 'lambkin-bench-mem-'));
  const lambkin = await startLambkin({ port: 0, dataDir, isolation, log: () => {} });
  const lambda = new LambdaClient({ endpoint: lambkin.url, region: 'us-east-1', credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'x' }, maxAttempts: 1 });
  try {
    // JSON of the result: `1` is 1 byte, a string of n x's is n + 2.
    const code = bytes === 1 ? 'exports.handler = async () => 1;\n' : `exports.handler = async () => 'x'.repeat(${bytes - 2});\n`;
    await lambda.send(
      new CreateFunctionCommand({
        FunctionName: 'mem',
        Runtime: 'nodejs20.x',
        Handler: 'index.handler',
        Role: 'arn:aws:iam::000000000000:role/lambda-role',
        MemorySize: 1024,
        Code: { ZipFile: zipSync({ 'index.js': new TextEncoder().encode(code) }) },
      }),
    );
    const invoke = async () => {
      const out = await lambda.send(new InvokeCommand({ FunctionName: 'mem' }));
      if (out.FunctionError || out.Payload?.length !== bytes) throw new Error(`unexpected answer: ${out.FunctionError ?? ''} ${out.Payload?.length ?? 0} bytes`);
    };
    for (let i = 0; i < 20; i++) await invoke(); // cold start and warm-up
    gc();
    const rss0 = process.memoryUsage().rss;
    const heap0 = process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers;
    const t0 = performance.now();
    for (let i = 0; i < INVOCATIONS; i++) await invoke();
    const ms = performance.now() - t0;
    gc();
    const heap1 = process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers;
    const rss1 = process.memoryUsage().rss;
    const level = ((lambkin as unknown as { options: { isolation: string } }).options.isolation);
    return { isolation, level, bytes, rssBeforeMb: rss0 / MIB, rssAfterMb: rss1 / MIB, heapGrowthMb: (heap1 - heap0) / MIB, ms };
  } finally {
    lambda.destroy();
    await lambkin.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

function main(): void {
  const self = fileURLToPath(import.meta.url);
  const configs: ['auto' | 'none', number][] = [];
  for (const iso of ['auto', 'none'] as const) for (const bytes of [1, MIB]) configs.push([iso, bytes]);
  const samples: Sample[] = [];
  for (const [iso, bytes] of configs) {
    try {
      const out = execFileSync(process.execPath, [self, '--child', iso, String(bytes), ...(quick ? ['--quick'] : [])], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
      samples.push(JSON.parse(out) as Sample);
    } catch (err) {
      console.log(`isolation ${iso}, ${bytes} bytes: failed: ${(err as Error).message}`);
    }
  }
  console.log(`server RSS under ${INVOCATIONS} warm invocations (real server, AWS SDK client in the same process)`);
  console.log('isolation   payload    RSS before MB  after MB  growth MB  heap growth MB  per invoke ms  growth minus the 1-byte baseline\'s');
  for (const s of samples) {
    const base = samples.find((b) => b.isolation === s.isolation && b.bytes === 1);
    const growth = s.rssAfterMb - s.rssBeforeMb;
    const baseGrowth = base ? base.rssAfterMb - base.rssBeforeMb : NaN;
    const payload = s.bytes === 1 ? '1 B' : '1 MiB';
    console.log(
      `${s.isolation.padEnd(10)}  ${payload.padEnd(8)}  ${s.rssBeforeMb.toFixed(1).padStart(13)}  ${s.rssAfterMb.toFixed(1).padStart(8)}  ${growth.toFixed(1).padStart(9)}  ${s.heapGrowthMb.toFixed(1).padStart(14)}  ${(s.ms / INVOCATIONS).toFixed(2).padStart(13)}  ${s.bytes === 1 ? 'baseline' : `${(growth - baseGrowth >= 0 ? '+' : '') + (growth - baseGrowth).toFixed(1)} MB (goal: growth < 50 MB)`}`,
    );
  }
}

const at = process.argv.indexOf('--child');
if (at >= 0) {
  const sample = await child(process.argv[at + 1] === 'auto' ? 'auto' : 'none', Number(process.argv[at + 2]));
  process.stdout.write(JSON.stringify(sample));
} else {
  main();
}
