/**
 * Generates a synthetic trace in the Azure Functions 2019 format (azure-trace.ts), deterministically from
 * a seed, so tests and `--preset azure-sample` have a trace without downloading anything. The shipped
 * files in src/simulator/data/azure-sample/ are this generator's output for the default options; a test
 * checks that they still are. Regenerate with:
 *
 *   node dist/src/simulator/azure-sample.js src/simulator/data/azure-sample
 *
 * The mix imitates what the paper reports about the real trace (Shahrad et al., ATC '20, section 3):
 * timers are a large share of functions and most are periodic at minutes-to-an-hour periods; most
 * functions are invoked rarely (a large share at most once per hour), a few very often, with diurnal
 * patterns and bursts; app memory mostly a few hundred MB; durations from tens of ms to seconds.
 * It is NOT real data: numbers from it illustrate, they do not measure Azure.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Rng } from '../profiles/rng.js';

export interface AzureSampleOptions {
  readonly functions: number;
  readonly seed: number;
  /** Minutes per day column set (the format has 1440). */
  readonly minutes?: number;
}

export interface AzureSample {
  readonly invocations: string;
  readonly durations: string;
  readonly memory: string;
}

/** The shipped sample's options. */
export const AZURE_SAMPLE_DEFAULTS: AzureSampleOptions = { functions: 50, seed: 2019 };

export const AZURE_SAMPLE_FILES = {
  invocations: 'invocations_per_function_md.anon.d01.csv',
  durations: 'function_durations_percentiles.anon.d01.csv',
  memory: 'app_memory_percentiles.anon.d01.csv',
} as const;

function hex(rng: Rng, n: number): string {
  let s = '';
  while (s.length < n) s += Math.floor(rng.next() * 0x1_0000_0000).toString(16).padStart(8, '0');
  return s.slice(0, n);
}

function poisson(rng: Rng, mean: number): number {
  if (mean <= 0) return 0;
  if (mean > 50) return Math.max(0, Math.round(mean + Math.sqrt(mean) * rng.normal()));
  const l = Math.exp(-mean);
  let k = 0;
  let p = 1;
  for (;;) {
    p *= rng.next();
    if (p <= l) return k;
    k++;
  }
}

type Kind = 'timer' | 'http-frequent' | 'http-rare' | 'queue-bursty';
/** Share of each kind, in a repeating pattern of 20 (timers 40%, rare 30%, frequent 15%, bursty 15%). */
const PATTERN: Kind[] = [
  'timer', 'http-rare', 'timer', 'http-frequent', 'timer', 'http-rare', 'queue-bursty', 'timer', 'http-rare', 'timer',
  'http-frequent', 'timer', 'http-rare', 'queue-bursty', 'timer', 'http-rare', 'http-frequent', 'timer', 'http-rare', 'queue-bursty',
];
const TIMER_PERIODS = [1, 2, 5, 5, 10, 15, 15, 30, 60, 60];

/** Generates the three CSV files' contents. */
export function generateAzureSample(o: AzureSampleOptions = AZURE_SAMPLE_DEFAULTS): AzureSample {
  const rng = new Rng(o.seed, 7);
  const minutes = o.minutes ?? 1440;
  const inv: string[] = [['HashOwner', 'HashApp', 'HashFunction', 'Trigger', ...Array.from({ length: minutes }, (_, i) => String(i + 1))].join(',')];
  const dur: string[] = [
    'HashOwner,HashApp,HashFunction,Average,Count,Minimum,Maximum,percentile_Average_0,percentile_Average_1,percentile_Average_25,percentile_Average_50,percentile_Average_75,percentile_Average_99,percentile_Average_100',
  ];
  const mem: string[] = [
    'HashOwner,HashApp,SampleCount,AverageAllocatedMb,AverageAllocatedMb_pct1,AverageAllocatedMb_pct5,AverageAllocatedMb_pct25,AverageAllocatedMb_pct50,AverageAllocatedMb_pct75,AverageAllocatedMb_pct95,AverageAllocatedMb_pct99,AverageAllocatedMb_pct100',
  ];
  let owner = hex(rng, 64);
  let app = hex(rng, 64);
  let appLeft = 0;
  let ownerLeft = 0;
  const newApp = () => {
    if (ownerLeft <= 0) {
      owner = hex(rng, 64);
      ownerLeft = 1 + Math.floor(rng.next() * 2);
    }
    ownerLeft--;
    app = hex(rng, 64);
    appLeft = 1 + Math.floor(rng.next() * 2);
    const avg = Math.round(80 + 320 * rng.next() ** 2);
    const q = [0.7, 0.75, 0.85, 0.97, 1.05, 1.2, 1.3, 1.4].map((f) => Math.round(avg * f));
    mem.push([owner, app, 100 + Math.floor(rng.next() * 900), avg, ...q].join(','));
  };
  for (let i = 0; i < o.functions; i++) {
    if (appLeft <= 0) newApp();
    appLeft--;
    const kind = PATTERN[i % PATTERN.length]!;
    const counts = new Array<number>(minutes).fill(0);
    let trigger: string;
    switch (kind) {
      case 'timer': {
        trigger = 'timer';
        const period = TIMER_PERIODS[Math.floor(rng.next() * TIMER_PERIODS.length)]!;
        const offset = Math.floor(rng.next() * period);
        for (let m = offset; m < minutes; m += period) counts[m] = 1;
        break;
      }
      case 'http-frequent': {
        trigger = 'http';
        const perMinute = 0.5 + 20 * rng.next() ** 2;
        const peak = 10 + rng.next() * 8;
        for (let m = 0; m < minutes; m++) {
          const diurnal = 1 + 0.6 * Math.cos((2 * Math.PI * (m / 60 - peak)) / 24);
          counts[m] = poisson(rng, perMinute * diurnal);
        }
        break;
      }
      case 'http-rare': {
        trigger = 'http';
        const meanGapMin = 15 + 225 * rng.next();
        for (let m = 0; m < minutes; m++) counts[m] = poisson(rng, 1 / meanGapMin);
        break;
      }
      case 'queue-bursty': {
        trigger = 'queue';
        const bursts = 2 + Math.floor(rng.next() * 5);
        for (let b = 0; b < bursts; b++) {
          const start = Math.floor(rng.next() * (minutes - 10));
          const len = 2 + Math.floor(rng.next() * 8);
          const rate = 5 + 45 * rng.next();
          for (let m = start; m < start + len; m++) counts[m] = (counts[m] ?? 0) + poisson(rng, rate);
        }
        break;
      }
    }
    const fn = hex(rng, 64);
    inv.push([owner, app, fn, trigger, ...counts].join(','));
    // Durations (ms): a lognormal-ish spread around a median between ~20 ms and ~3 s.
    const median = Math.round(20 * Math.exp(5 * rng.next()));
    const p = [0.1, 0.3, 0.7, 1, 1.5, 4, 8].map((f) => Math.max(1, Math.round(median * f)));
    const total = counts.reduce((a, b) => a + b, 0);
    const average = Math.round(median * 1.2);
    dur.push([owner, app, fn, average, total, p[0], p[6], ...p].join(','));
  }
  return { invocations: inv.join('\n') + '\n', durations: dur.join('\n') + '\n', memory: mem.join('\n') + '\n' };
}

/** Writes a sample into `dir` under the trace's file names. */
export function writeAzureSample(dir: string, o: AzureSampleOptions = AZURE_SAMPLE_DEFAULTS): void {
  mkdirSync(dir, { recursive: true });
  const s = generateAzureSample(o);
  writeFileSync(join(dir, AZURE_SAMPLE_FILES.invocations), s.invocations);
  writeFileSync(join(dir, AZURE_SAMPLE_FILES.durations), s.durations);
  writeFileSync(join(dir, AZURE_SAMPLE_FILES.memory), s.memory);
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const dir = process.argv[2];
  if (!dir) {
    console.error('usage: node dist/src/simulator/azure-sample.js <dir> [functions] [seed]');
    process.exit(2);
  }
  const functions = Number(process.argv[3] ?? AZURE_SAMPLE_DEFAULTS.functions);
  const seed = Number(process.argv[4] ?? AZURE_SAMPLE_DEFAULTS.seed);
  writeAzureSample(dir, { functions, seed });
  console.log(`wrote ${functions} functions (seed ${seed}) to ${dir}`);
}
