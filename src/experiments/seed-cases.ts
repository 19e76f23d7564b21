/**
 * The seed's six verifications (shared/seed/SUMMARY.md): what each ran and what it measured on
 * AWS Lambda in 2019, so a run can be printed beside the original.
 */
import { zipSync } from 'fflate';

export interface SeedFigures {
  readonly mean: number;
  readonly median: number;
  readonly max: number;
  readonly min: number;
  readonly variance: number;
  /** The individual runs, where the seed listed them. */
  readonly runs?: readonly number[];
}

export interface SeedCase {
  readonly id: number;
  readonly title: string;
  readonly vpc: boolean;
  /** One memory size, or case 5's sweep. */
  readonly memoryMb: readonly number[];
  /** Case 5 counted only the starts that reused a worker (no ENI created). */
  readonly onlyReusedWorkers: boolean;
  readonly seed?: SeedFigures;
  /** Case 5's per-memory means and medians. */
  readonly sweep?: readonly { memoryMb: number; mean: number; median: number }[];
}

/** Functions per case, as in the seed's script. */
export const FUNCTIONS_PER_CASE = 10;

// Case 5's table lists 376 MB; Lambda sizes were multiples of 64 MB in 2019, so it was 384 MB.
const SWEEP = [128, 256, 384, 512, 640, 768, 896, 1024, 1152, 1280];
const SWEEP_MEANS = [239, 193, 186, 213, 185, 215, 180, 189, 194, 192];
const SWEEP_MEDIANS = [250, 182, 191, 213, 186, 211, 178, 198, 202, 198];

export const SEED_CASES: readonly SeedCase[] = [
  {
    id: 1,
    title: 'VPC, 128 MB',
    vpc: true,
    memoryMb: [128],
    onlyReusedWorkers: false,
    seed: { mean: 1217, median: 251, max: 10019, min: 194, variance: 9_566_172, runs: [273, 220, 234, 254, 194, 250, 204, 10019, 268, 251] },
  },
  {
    id: 2,
    title: 'VPC, 3008 MB',
    vpc: true,
    memoryMb: [3008],
    onlyReusedWorkers: false,
    seed: {
      mean: 10645,
      median: 9801,
      max: 14897,
      min: 7922,
      variance: 4_633_741,
      runs: [9475, 13851, 9478, 9419, 9539, 10917, 7922, 10890, 14897, 10062],
    },
  },
  {
    id: 3,
    title: 'no VPC, 128 MB',
    vpc: false,
    memoryMb: [128],
    onlyReusedWorkers: false,
    seed: { mean: 248, median: 240, max: 319, min: 202, variance: 1553, runs: [247, 319, 219, 318, 241, 226, 241, 202, 228, 238] },
  },
  {
    id: 4,
    title: 'no VPC, 3008 MB',
    vpc: false,
    memoryMb: [3008],
    onlyReusedWorkers: false,
    seed: { mean: 184, median: 183, max: 204, min: 169, variance: 122, runs: [182, 169, 190, 204, 175, 181, 184, 191, 194, 170] },
  },
  {
    id: 5,
    title: 'VPC, 128…1280 MB, starts that reused a worker',
    vpc: true,
    memoryMb: SWEEP,
    onlyReusedWorkers: true,
    sweep: SWEEP.map((m, i) => ({ memoryMb: m, mean: SWEEP_MEANS[i] as number, median: SWEEP_MEDIANS[i] as number })),
  },
  {
    id: 6,
    title: 'no VPC, 1024 MB',
    vpc: false,
    memoryMb: [1024],
    onlyReusedWorkers: false,
    seed: { mean: 180, median: 178, max: 194, min: 161, variance: 136, runs: [191, 194, 173, 179, 167, 176, 161, 173, 194, 188] },
  },
];

/** What the seed reported for case `id`: its figures, or case 5's sweep; null for an unknown case. */
export function seedReference(id: number): SeedFigures | NonNullable<SeedCase['sweep']> | null {
  const c = SEED_CASES.find((x) => x.id === id);
  return c?.seed ?? c?.sweep ?? null;
}

/** Parses `--cases 1,2,5` into seed cases, in the order given. */
export function selectCases(spec: string): SeedCase[] {
  const ids = spec.split(',').map((s) => s.trim()).filter(Boolean);
  return ids.map((id) => {
    const c = SEED_CASES.find((x) => String(x.id) === id);
    if (!c) throw new Error(`unknown case '${id}': the seed has cases ${SEED_CASES.map((x) => x.id).join(', ')}`);
    return c;
  });
}

/** The seed's hello.zip: its handler, verbatim. */
export function seedHelloZip(): Buffer {
  const source = `exports.handler = async (event) => {
    
    
    const response = {
        statusCode: 200,
        body: JSON.stringify('Hello from Lambda!'),
    };
    return response;
};
`;
  return Buffer.from(zipSync({ 'hello.js': [Buffer.from(source), { os: 3, attrs: (0o100644 << 16) >>> 0 }] }));
}
