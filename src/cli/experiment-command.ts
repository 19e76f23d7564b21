/** `lambkin experiment seed`: the seed's study against an embedded lambkin, a running one, or real AWS. */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import cliProgress from 'cli-progress';
import { seedHelloZip, selectCases } from '../experiments/seed-cases.js';
import { runSeedExperiment, totalInvocations, type CaseResult, type ExperimentOptions } from '../experiments/seed-experiment.js';
import { renderHtml, renderTables, reportJson, type ReportMeta } from '../experiments/seed-report.js';
import type { StartOptions } from './lambkin.js';
import { realClock, timeoutSignal, type Clock } from '../util/clock.js';

/** `lambkin experiment seed`'s options; those it passes through mean what they mean to the experiment. */
export interface ExperimentCommandOptions
  extends Pick<ExperimentOptions, 'endpoint' | 'region' | 'repeat' | 'runtime' | 'role' | 'subnetIds' | 'securityGroupIds' | 'traceWaitMs' | 'signal'> {
  /** Which cases to run, e.g. `1,2,3,4,5,6`. */
  readonly cases: string;
  /** Where report.json and report.html go. */
  readonly out: string;
  /** Embedded lambkin only: multiplies the aws-2019 profile's delays. */
  readonly timeScale: number;
  /** Embedded lambkin only: seed of the profile's random draws. */
  readonly seed: number;
  /** Show a progress bar on stderr. */
  readonly progress: boolean;
  /** Extra options for the embedded server (tests). */
  readonly serverOptions?: StartOptions;
  /** Where the result tables go. Default: process.stdout. */
  readonly stdout?: NodeJS.WritableStream;
  /** The experiment's clock, and the embedded server's unless `serverOptions` names another (default: the real clock). */
  readonly clock?: Clock;
}

/** X-Ray's endpoint next to a Lambda endpoint: AWS has one host per service, lambkin serves both. */
export function xrayEndpointFor(lambdaEndpoint: string): string {
  const url = new URL(lambdaEndpoint);
  if (/^lambda\./.test(url.hostname) && /\.amazonaws\.com(\.cn)?$/.test(url.hostname)) {
    url.hostname = url.hostname.replace(/^lambda\./, 'xray.');
  }
  return url.toString().replace(/\/$/, '');
}

async function isLambkin(endpoint: string, clock: Clock): Promise<boolean> {
  try {
    const r = await fetch(new URL('/lambkin/health', endpoint), { signal: timeoutSignal(clock, 3000) });
    return r.ok;
  } catch {
    return false;
  }
}

/** Runs the seed's experiment, writes report.json and report.html under `out`, and prints the tables. */
export async function runExperimentCommand(o: ExperimentCommandOptions): Promise<{ results: CaseResult[]; outDir: string }> {
  const out = o.stdout ?? process.stdout;
  const cases = selectCases(o.cases);
  const clock = o.serverOptions?.clock ?? o.clock ?? realClock;
  const startedAt = new Date(clock.now()).toISOString();
  let endpoint = o.endpoint;
  let stopServer: (() => Promise<void>) | undefined;
  let dataDir: string | undefined;
  const embedded = endpoint === undefined;
  const profile = 'aws-2019';
  if (embedded) {
    const { startLambkin } = await import('./lambkin.js');
    dataDir = mkdtempSync(join(tmpdir(), 'lambkin-experiment-'));
    const server = await startLambkin({
      port: 0,
      dataDir,
      vpcMode: 'legacy',
      latencyProfile: profile,
      timeScale: o.timeScale,
      seed: o.seed,
      // Emulate a cloud-sized host: reservations, not resident memory (ten 3008 MB sandboxes need ten workers).
      hostMemoryMb: 1_000_000,
      log: () => {},
      clock,
      ...o.serverOptions,
    });
    endpoint = server.url;
    stopServer = () => server.close();
  }
  const target = endpoint as string;
  const local = embedded || (await isLambkin(target, clock));
  const bar = o.progress ? new cliProgress.SingleBar({ format: ' {bar} {value}/{total} invocations | {label}', stream: process.stderr, hideCursor: true }, cliProgress.Presets.shades_classic) : undefined;
  bar?.start(totalInvocations({ cases, repeat: o.repeat }), 0, { label: 'starting' });
  let results: CaseResult[];
  try {
    results = await runSeedExperiment({
      endpoint: target,
      xrayEndpoint: xrayEndpointFor(target),
      region: o.region,
      cases,
      repeat: o.repeat,
      zip: seedHelloZip(),
      runtime: o.runtime,
      handler: 'hello.handler',
      role: o.role,
      subnetIds: o.subnetIds,
      securityGroupIds: o.securityGroupIds,
      // A fresh account per run of ten on lambkin, so that no run finds another's workers.
      credentialsFor: (i) => (local ? { accessKeyId: String(100_000_000_000 + i), secretAccessKey: 'lambkin' } : undefined),
      ...(local
        ? {
            fleetCounters: async () => {
              const r = await fetch(new URL('/lambkin/v1/fleet', target));
              if (!r.ok) return undefined;
              const v = (await r.json()) as { counters?: { enisCreated: number; workersCreated: number } };
              return v.counters;
            },
          }
        : {}),
      traceWaitMs: o.traceWaitMs,
      onProgress: (done, _total, label) => bar?.update(done, { label }),
      ...(o.signal ? { signal: o.signal } : {}),
      clock,
    });
  } finally {
    bar?.stop();
    await stopServer?.();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  }
  const meta: ReportMeta = {
    endpoint: embedded ? 'embedded' : target,
    embedded,
    ...(embedded ? { timeScale: o.timeScale, profile, vpcMode: 'legacy' } : {}),
    repeat: o.repeat,
    startedAt,
    finishedAt: new Date(clock.now()).toISOString(),
  };
  const outDir = resolve(o.out);
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, 'report.json'), `${JSON.stringify(reportJson(results, meta), null, 2)}\n`);
  writeFileSync(join(outDir, 'report.html'), renderHtml(results, meta));
  out.write(`${renderTables(results, meta)}\n\nreport: ${join(outDir, 'report.json')}, ${join(outDir, 'report.html')}\n`);
  return { results, outDir };
}
