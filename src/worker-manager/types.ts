/**
 * Data types of the pure placement core: options, function specs, steps, decisions and the fleet view.
 * Everything here is plain data so the server, the simulator and tests can log, diff and replay it.
 */
import { z } from 'zod';

/**
 * Placement options, validated once at the boundary. Memory sizes are integral MB (like Lambda's
 * MemorySize); durations are ms and may be fractional (the simulator's virtual clock).
 */
export const placementOptionsSchema = z
  .object({
    /** Memory budget of each host, in MB of configured worker capacity (reservations, not RSS). */
    hostMemoryMb: z.number().int().positive(),
    /** Number of hosts, each with `hostMemoryMb`. */
    hostCount: z.number().int().positive().default(1),
    /** Capacity of every worker in MB; a sandbox larger than this can never be placed. */
    workerMemoryMb: z.number().int().positive().default(3072),
    /** How long an idle (non-provisioned) sandbox stays warm after its last invocation. */
    keepAliveMs: z.number().finite().nonnegative().default(600_000),
    /** How long a ready worker without any sandbox is kept before it is retired. */
    workerIdleMs: z.number().finite().nonnegative().default(300_000),
    /** Concurrent executions per account (AWS default 1000). */
    accountConcurrency: z.number().int().nonnegative().default(1000),
    /** `legacy`: one ENI per (worker, vpcKey), attached at cold start. `hyperplane`: one per vpcKey, made at create/update. */
    vpcMode: z.enum(['hyperplane', 'legacy']).default('hyperplane'),
  })
  .strict()
  .refine((o) => o.hostMemoryMb >= o.workerMemoryMb, {
    message: 'hostMemoryMb must be at least workerMemoryMb (a host must fit one worker)',
    path: ['hostMemoryMb'],
  });

/** Validated, defaulted, frozen placement options. */
export type PlacementOptions = Readonly<z.output<typeof placementOptionsSchema>>;
/** What callers may pass before defaults are applied. */
export type PlacementOptionsInput = z.input<typeof placementOptionsSchema>;

/** Validates `input`, applies defaults and freezes the result. Throws a ZodError on invalid input. */
export function parsePlacementOptions(input: PlacementOptionsInput): PlacementOptions {
  return Object.freeze(placementOptionsSchema.parse(input));
}

/** What the core needs to know about the function version being invoked. */
export interface FunctionSpec {
  /** One deployable version including its revision (e.g. `arn:...:fn:$LATEST#3`); idle sandboxes are reused only for an equal key. */
  versionKey: string;
  /** Unqualified function ARN; reserved concurrency and in-flight counts are per function. */
  functionKey: string;
  /** Account id; workers never mix accounts. */
  account: string;
  /** Configured MemorySize in MB (integer, at most `workerMemoryMb`). */
  memoryMb: number;
  /** Canonical "subnets|security groups" string; present for VPC functions only. */
  vpcKey?: string;
  /** undefined = the function draws from the account's unreserved pool; 0 = every invoke is throttled. */
  reservedConcurrency?: number;
}

/** Why a sandbox is stopped. */
export type StopReason = 'expired' | 'evicted' | 'retired' | 'failed' | 'discarded';

/**
 * One effect the fleet must carry out. Steps are ordered: a step depends on the earlier steps that name
 * the same workerId / eniId. The same provision-worker or attach-eni step (same id) may be returned by
 * several decisions while the work is in progress; the fleet memoizes by id and awaits the same work.
 */
export type Step =
  | { kind: 'provision-worker'; workerId: string; account: string; memoryMb: number; hostId: string }
  /** legacy mode: attach to `workerId`; hyperplane mode: create the shared ENI (no workerId). */
  | { kind: 'attach-eni'; eniId: string; workerId?: string; vpcKey: string }
  /**
   * `provisioned`: a provisioned-concurrency sandbox (init runs, no invocation waits for it). `prewarm`: loaded
   * ahead of an expected invocation by a keep-alive policy (keep-alive.ts); on-demand otherwise, nobody waits.
   */
  | { kind: 'create-sandbox'; sandboxId: string; workerId: string; versionKey: string; memoryMb: number; provisioned: boolean; prewarm?: boolean }
  | { kind: 'stop-sandbox'; sandboxId: string; reason: StopReason }
  /** The worker is gone; its legacy ENIs were deleted by delete-eni steps just before. */
  | { kind: 'retire-worker'; workerId: string }
  | { kind: 'delete-eni'; eniId: string };

/** AWS TooManyRequestsException reasons the core produces. */
export type ThrottleReason = 'ConcurrentInvocationLimitExceeded' | 'ReservedFunctionConcurrentInvocationLimitExceeded';

/** The outcome of `acquire`. */
export type Decision =
  /** An idle sandbox of the version is now busy with this invocation. */
  | { kind: 'warm'; sandboxId: string; workerId: string }
  /**
   * A new sandbox (state initializing) is reserved for this invocation. `steps` lists every prerequisite
   * not yet completed, in order, ending with create-sandbox; it may start with stop-sandbox/retire-worker
   * steps of evictions that made room. `narrow`: this decision provisioned a new worker. `eniAttached`:
   * this decision created a new legacy ENI.
   */
  | { kind: 'cold'; sandboxId: string; workerId: string; steps: Step[]; narrow: boolean; eniAttached: boolean }
  /**
   * Rejected. `capacity` is true when concurrency allowed the invoke but no host had room even after
   * evicting idle sandboxes (AWS reports that as the account limit too).
   */
  | { kind: 'throttle'; reason: ThrottleReason; capacity: boolean };

/** Deterministic id generator; the default (`counterIds`) yields `w-1`, `sb-1`, `eni-1`, ... */
export interface IdSource {
  next(kind: IdKind): string;
}
/** The kinds of ids the core mints. */
export type IdKind = 'worker' | 'sandbox' | 'eni';

/** `provisioning` until provision-worker completes; `retiring`: no new placements, removed once empty. */
export type WorkerState = 'provisioning' | 'ready' | 'retiring';
/** `initializing` until create-sandbox completes; then `busy` with an invocation or `idle` (warm). */
export type SandboxState = 'initializing' | 'idle' | 'busy';

/** Counters since construction (cheap: also available through `WorkerManager.counters()`). */
export interface PlacementCounters {
  workersCreated: number;
  workersRetired: number;
  enisCreated: number;
  enisDeleted: number;
  /** Cold decisions (invocations that waited for a new sandbox). */
  coldStarts: number;
  /** Cold decisions that also provisioned a worker. */
  narrowColdStarts: number;
  warmStarts: number;
  throttles: number;
  /** Provisioned-concurrency sandboxes created (not invocations, not counted as cold starts). */
  provisionedCreated: number;
  evictions: number;
  expirations: number;
}

/** One host in `FleetView`. */
export interface HostView {
  id: string;
  memoryMb: number;
  /** Sum of the capacities of its workers. */
  reservedMb: number;
  workers: number;
}

/** One worker in `FleetView`. */
export interface WorkerView {
  id: string;
  account: string;
  hostId: string;
  state: WorkerState;
  capacityMb: number;
  usedMb: number;
  sandboxes: number;
  /** Legacy ENI ids attached (or attaching) to this worker. */
  enis: string[];
  /** When it last became empty (ready workers without sandboxes), else null. */
  emptySince: number | null;
}

/** One sandbox in `FleetView` (also `WorkerManager.describeSandbox`). */
export interface SandboxView {
  id: string;
  workerId: string;
  account: string;
  versionKey: string;
  functionKey: string;
  memoryMb: number;
  state: SandboxState;
  /** Start of the current idle period, null unless idle. */
  idleSince: number | null;
  provisioned: boolean;
  /** Marked by retire(): stopped as soon as it is no longer busy. */
  retired: boolean;
}

/** One ENI in `FleetView`, legacy (per worker) or hyperplane (per vpcKey). */
export interface EniView {
  id: string;
  vpcKey: string;
  mode: 'legacy' | 'hyperplane';
  /** Legacy ENIs only. */
  workerId?: string;
  state: 'pending' | 'ready';
  /** Hyperplane ENIs only: functions configured with this vpcKey. */
  functions?: number;
}

/** Plain JSON snapshot of the fleet (for /lambkin/v1/fleet, traces and tests). Order is deterministic. */
export interface FleetView {
  now: number;
  options: PlacementOptions;
  hosts: HostView[];
  workers: WorkerView[];
  sandboxes: SandboxView[];
  enis: EniView[];
  counters: PlacementCounters;
}
