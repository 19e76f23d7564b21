/**
 * Replay of the Azure Functions 2019 public trace format (Shahrad et al., ATC '20; dataset description:
 * https://github.com/Azure/AzurePublicDataset/blob/master/AzureFunctionsDataset2019.md), from files the
 * user points at (nothing is downloaded):
 * - invocations_per_function_md.anon.dNN.csv: HashOwner,HashApp,HashFunction,Trigger,1..1440 (per-minute counts);
 * - function_durations_percentiles.anon.dNN.csv: HashOwner,HashApp,HashFunction,Average,Count,Minimum,Maximum,
 *   percentile_Average_0,_1,_25,_50,_75,_99,_100 (ms);
 * - app_memory_percentiles.anon.dNN.csv: HashOwner,HashApp,SampleCount,AverageAllocatedMb,AverageAllocatedMb_pct1,...
 * Mapping to Lambda: each owner is an account, each trace function a Lambda function; its MemorySize is
 * its app's average allocated memory rounded up to 64 MB (at least 128 MB, at most the worker size); its
 * handler duration follows the percentiles (piecewise linear); per-minute counts are spread uniformly
 * at random inside each minute.
 */
import { readFileSync } from 'node:fs';
import type { Rng } from '../profiles/rng.js';
import { PerMinuteArrivals, type SimFunction } from './workload.js';
import { WorkloadError, type HandlerSpec } from './workload-spec.js';

export interface AzureTraceFiles {
  readonly invocations: string;
  readonly durations?: string | undefined;
  readonly memory?: string | undefined;
}

export interface AzureTraceOptions {
  readonly maxFunctions?: number | undefined;
  /** Largest MemorySize (the worker capacity). */
  readonly maxMemoryMb?: number;
  readonly vpcKey?: string | undefined;
}

/** One parsed trace function (before it becomes a SimFunction). */
export interface AzureFunctionRow {
  readonly owner: string;
  readonly app: string;
  readonly fn: string;
  readonly trigger: string;
  readonly counts: Uint32Array;
}

function readCsv(path: string, what: string): { header: string[]; rows: string[][] } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new WorkloadError(`Cannot read the ${what} file "${path}": ${(err as Error).message}`);
  }
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  if (lines.length === 0) throw new WorkloadError(`The ${what} file "${path}" is empty`);
  const header = lines[0]!.split(',').map((s) => s.trim());
  const rows = lines.slice(1).map((l) => l.split(','));
  return { header, rows };
}

function columns(header: string[], need: readonly string[], path: string, what: string): number[] {
  return need.map((c) => {
    const i = header.indexOf(c);
    if (i < 0) throw new WorkloadError(`The ${what} file "${path}" has no column "${c}" (header: ${header.slice(0, 8).join(',')}${header.length > 8 ? ',…' : ''})`);
    return i;
  });
}

function num(v: string | undefined, path: string, line: number, col: string): number {
  const n = Number(v);
  if (v === undefined || v.trim() === '' || !Number.isFinite(n) || n < 0) {
    throw new WorkloadError(`"${path}" line ${line}: ${col} is "${v ?? ''}", not a non-negative number`);
  }
  return n;
}

/** Parses the per-minute invocation counts. */
export function parseInvocations(path: string, maxFunctions?: number): AzureFunctionRow[] {
  const { header, rows } = readCsv(path, 'invocations');
  const [o, a, f, t] = columns(header, ['HashOwner', 'HashApp', 'HashFunction', 'Trigger'], path, 'invocations');
  const minuteCols: number[] = [];
  for (let m = 1; ; m++) {
    const i = header.indexOf(String(m));
    if (i < 0) break;
    minuteCols.push(i);
  }
  if (minuteCols.length === 0) throw new WorkloadError(`The invocations file "${path}" has no per-minute columns 1..1440`);
  const out: AzureFunctionRow[] = [];
  for (let r = 0; r < rows.length && (maxFunctions === undefined || out.length < maxFunctions); r++) {
    const row = rows[r]!;
    const line = r + 2;
    if (row.length < header.length) throw new WorkloadError(`"${path}" line ${line}: ${row.length} fields, the header has ${header.length}`);
    const counts = new Uint32Array(minuteCols.length);
    for (let m = 0; m < minuteCols.length; m++) counts[m] = num(row[minuteCols[m]!], path, line, `minute ${m + 1}`);
    out.push({ owner: row[o!]!, app: row[a!]!, fn: row[f!]!, trigger: row[t!]!, counts });
  }
  return out;
}

/** Duration percentiles by owner/app/function key. */
export function parseDurations(path: string): Map<string, HandlerSpec> {
  const { header, rows } = readCsv(path, 'durations');
  const names = ['percentile_Average_0', 'percentile_Average_1', 'percentile_Average_25', 'percentile_Average_50', 'percentile_Average_75', 'percentile_Average_99', 'percentile_Average_100'];
  const [o, a, f, ...pc] = columns(header, ['HashOwner', 'HashApp', 'HashFunction', ...names], path, 'durations');
  const keys = ['0', '1', '25', '50', '75', '99', '100'];
  const out = new Map<string, HandlerSpec>();
  rows.forEach((row, r) => {
    const percentiles: Record<string, number> = {};
    let prev = 0;
    pc.forEach((c, i) => {
      // Percentiles of averages can be rounded inconsistently; keep them monotone.
      prev = Math.max(prev, num(row[c], path, r + 2, names[i]!));
      percentiles[keys[i]!] = prev;
    });
    out.set(`${row[o!]}/${row[a!]}/${row[f!]}`, { dist: 'percentiles', percentiles, cpuFraction: 1, threads: 1 });
  });
  return out;
}

/** Average allocated memory (MB) by owner/app key. */
export function parseMemory(path: string): Map<string, number> {
  const { header, rows } = readCsv(path, 'memory');
  const [o, a, m] = columns(header, ['HashOwner', 'HashApp', 'AverageAllocatedMb'], path, 'memory');
  const out = new Map<string, number>();
  rows.forEach((row, r) => out.set(`${row[o!]}/${row[a!]}`, num(row[m!], path, r + 2, 'AverageAllocatedMb')));
  return out;
}

/** Lambda MemorySize for an Azure app's allocated memory. */
export function memoryFor(allocatedMb: number | undefined, maxMb: number): number {
  if (allocatedMb === undefined) return 128;
  return Math.min(maxMb, Math.max(128, Math.ceil(allocatedMb / 64) * 64));
}

/** Reads a trace into simulator functions. */
export function loadAzureTrace(files: AzureTraceFiles, o: AzureTraceOptions = {}): SimFunction[] {
  const rows = parseInvocations(files.invocations, o.maxFunctions);
  const durations = files.durations ? parseDurations(files.durations) : new Map<string, HandlerSpec>();
  const memory = files.memory ? parseMemory(files.memory) : new Map<string, number>();
  const maxMb = o.maxMemoryMb ?? 3072;
  const accounts = new Map<string, string>();
  const fallback: HandlerSpec = { dist: 'constant', valueMs: 100, cpuFraction: 1, threads: 1 };
  return rows.map((row, i) => {
    let account = accounts.get(row.owner);
    if (account === undefined) {
      account = String(100_000_000_000 + accounts.size);
      accounts.set(row.owner, account);
    }
    const memoryMb = memoryFor(memory.get(`${row.owner}/${row.app}`), maxMb);
    const handler = durations.get(`${row.owner}/${row.app}/${row.fn}`) ?? fallback;
    const counts = row.counts;
    let total = 0;
    for (const c of counts) total += c;
    return {
      perMinuteCounts: counts,
      name: `${row.trigger}-${i + 1}-${row.fn.slice(0, 8)}`,
      account,
      memoryMb,
      architecture: 'x86_64' as const,
      vpcKey: o.vpcKey,
      handler,
      handlerMemoryMb: memoryMb,
      arrivals: (end: number, rng: Rng) => new PerMinuteArrivals(counts, end, rng),
      expected: (end: number) => {
        let n = 0;
        const minutes = Math.min(counts.length, Math.ceil(end / 60_000));
        for (let m = 0; m < minutes; m++) n += counts[m]!;
        return Math.min(n, total);
      },
    };
  });
}
