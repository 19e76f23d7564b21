/**
 * Built-in workloads: `azure-sample` (the shipped synthetic trace in the Azure Functions 2019 format) and
 * `bench` (1,000 functions, more than 10 million invocations). `seed-2019` is in seed-preset.ts.
 */
import { join } from 'node:path';
import type { PlacementOptionsInput } from '../worker-manager/types.js';
import { loadAzureTrace } from './azure-trace.js';
import { AZURE_SAMPLE_FILES } from './azure-sample.js';
import { dataPath } from './data-files.js';
import { compileArrivals, expectedArrivals, vpcKeyFor, type SimFunction } from './workload.js';
import type { ArrivalsSpec, HandlerSpec, WorkloadSpec } from './workload-spec.js';

export const PRESETS = ['seed-2019', 'azure-sample', 'bench'] as const;
export type PresetName = (typeof PRESETS)[number];

/** A ready-to-run workload. */
export interface PreparedWorkload {
  readonly name: string;
  readonly functions: SimFunction[];
  readonly durationMs: number;
  readonly placement: PlacementOptionsInput;
  readonly profile: string;
}

/** Simulator placement defaults: a cloud-sized host (no capacity throttling), hyperplane VPC. */
export function simPlacement(p: WorkloadSpec['placement']): PlacementOptionsInput {
  return {
    vpcMode: p.vpcMode,
    workerMemoryMb: p.workerMemoryMb,
    hostMemoryMb: Math.max(p.hostMemoryMb, p.workerMemoryMb),
    hostCount: p.hostCount,
    workerIdleMs: p.workerIdle,
    accountConcurrency: p.accountConcurrency,
  };
}

/** The shipped synthetic trace's files. */
export function azureSampleFiles(): { invocations: string; durations: string; memory: string } {
  const dir = dataPath('azure-sample');
  return {
    invocations: join(dir, AZURE_SAMPLE_FILES.invocations),
    durations: join(dir, AZURE_SAMPLE_FILES.durations),
    memory: join(dir, AZURE_SAMPLE_FILES.memory),
  };
}

/** `azure-sample`: one day of the shipped synthetic trace. */
export function azureSamplePreset(): PreparedWorkload {
  return {
    name: 'azure-sample',
    functions: loadAzureTrace(azureSampleFiles(), { maxMemoryMb: 3072 }),
    durationMs: 86_400_000,
    placement: { vpcMode: 'hyperplane', workerMemoryMb: 3072, hostMemoryMb: 1_000_000_000 },
    profile: 'aws-2019',
  };
}

/**
 * `bench`: 1,000 functions in 10 accounts, Poisson arrivals with Zipf-like rates (a few hot functions, a
 * long tail) adding up to 3,000 invocations/s for an hour: ~10.8 million invocations.
 */
export function benchPreset(o: { functions?: number; totalRatePerSec?: number; durationMs?: number } = {}): PreparedWorkload {
  const n = o.functions ?? 1000;
  const total = o.totalRatePerSec ?? 3000;
  const durationMs = o.durationMs ?? 3_600_000;
  let norm = 0;
  for (let i = 1; i <= n; i++) norm += 1 / i;
  const memories = [128, 256, 512, 1024, 256, 128, 512, 1536];
  const functions: SimFunction[] = [];
  for (let i = 0; i < n; i++) {
    const memoryMb = memories[i % memories.length]!;
    const arrivals: ArrivalsSpec = { kind: 'poisson', ratePerSec: total / (i + 1) / norm };
    const handler: HandlerSpec = { dist: 'lognormal', meanMs: 40 + (i % 7) * 30, sdMs: 30, cpuFraction: 0.5, threads: 1 };
    functions.push({
      poissonRatePerSec: arrivals.ratePerSec,
      name: `bench-${i + 1}`,
      account: String(100_000_000_000 + (i % 10)),
      memoryMb,
      architecture: i % 3 === 0 ? 'arm64' : 'x86_64',
      vpcKey: i % 5 === 0 ? vpcKeyFor(true) : undefined,
      handler,
      handlerMemoryMb: memoryMb,
      arrivals: (end, rng) => compileArrivals(arrivals, end, rng),
      expected: (end) => expectedArrivals(arrivals, end),
    });
  }
  return { name: 'bench', functions, durationMs, placement: { vpcMode: 'hyperplane', workerMemoryMb: 3072, hostMemoryMb: 1_000_000_000 }, profile: 'aws-2019' };
}
