/**
 * The placement core's data: hosts, accounts, functions, versions, workers, sandboxes, ENIs and scheduled
 * pre-warms. Plain mutable objects with their list links and index nodes built in (so the hot paths
 * allocate nothing); the rooms (admission, placement, idle pool, ENIs, provisioned concurrency) change
 * them, and only through the methods documented there.
 */
import { FitIndex, FitNode } from './fit-index.js';
import { IntrusiveList, ListLink } from './intrusive-list.js';
import type { TimerItem } from './keep-alive-heap.js';
import type { SandboxLifecycle } from './sandbox-lifecycle.js';
import type { WorkerState } from './types.js';

/** A machine with a memory budget for workers. */
export class Host {
  reservedMb = 0;
  workerCount = 0;
  constructor(
    readonly id: string,
    readonly index: number,
    readonly memoryMb: number,
  ) {}
}

/** An account: its workers (best-fit indexes) and its concurrency counters. */
export class Account {
  readonly fit = new FitIndex<Worker>();
  /** Legacy VPC mode: per vpcKey, the workers that have (or are attaching) that ENI. */
  readonly eniFit = new Map<string, FitIndex<Worker>>();
  readonly workers = new Set<Worker>();
  /** Invocations in flight (initializing for an invocation, or busy). */
  inflight = 0;
  /** Sum of the reserved concurrency of the account's functions that have one. */
  reservedSum = 0;
  /** Part of `inflight` that belongs to functions with reserved concurrency. */
  reservedInflight = 0;
  constructor(readonly name: string) {}
}

/** A function (all its versions): reserved concurrency, in-flight count, keep-alive policy state. */
export class Fn {
  reserved: number | undefined = undefined;
  inflight = 0;
  constructor(
    readonly key: string,
    readonly account: Account,
    /** The keep-alive policy's state for this function (null with a fixed keep-alive). */
    readonly policyState: unknown,
  ) {}
}

/** One deployable version: its sandboxes, idle lists and provisioned-concurrency target. */
export class Version {
  /** Idle on-demand sandboxes, most recently used at the tail (warm starts take the tail). */
  readonly idle = new IntrusiveList<Sandbox>();
  /** Idle provisioned sandboxes (used before on-demand ones), most recently used at the tail. */
  readonly provIdle = new IntrusiveList<Sandbox>();
  /** Every live sandbox of the version, in creation order. */
  readonly all = new IntrusiveList<Sandbox>();
  provTarget = 0;
  /** Live sandboxes in a provisioned state. */
  provCount = 0;
  inDeficit = false;
  /** Pre-warm loads scheduled for this version (per-function keep-alive policies only). */
  prewarms: Prewarm[] | null = null;
  constructor(
    readonly key: string,
    readonly fn: Fn,
    readonly memoryMb: number,
    readonly vpcKey: string | undefined,
  ) {}
}

/** An ENI: legacy (attached to `worker`) or hyperplane (per vpcKey, `worker` null). */
export class Eni {
  ready = false;
  /** Legacy: the account's index of workers with this vpcKey, and this worker's node in it. */
  fitIndex: FitIndex<Worker> | null = null;
  fitNode: FitNode<Worker> | null = null;
  constructor(
    readonly id: string,
    readonly vpcKey: string,
    readonly worker: Worker | null,
  ) {}
}

/** A worker: capacity, the sandboxes' memory, legacy ENIs, and its place in the indexes. */
export class Worker {
  state: WorkerState = 'provisioning';
  usedMb = 0;
  sandboxCount = 0;
  /** Idle non-provisioned (evictable) sandboxes and their memory. */
  idleCount = 0;
  idleMb = 0;
  readonly enis: Eni[] = [];
  readonly fitNode: FitNode<Worker>;
  /** In the idle pool's list of empty workers (retirement order) while ready and empty. */
  readonly emptyLink: ListLink<Worker>;
  emptySince = 0;
  /** ready, has sandboxes, all of them evictable: evicting them all frees the worker. */
  reclaimable = false;
  /** Scratch space of one eviction walk (valid while `scratchEpoch` is the walk's epoch). */
  scratchEpoch = 0;
  scratchFreed = 0;
  scratchIdle = 0;
  constructor(
    readonly id: string,
    readonly account: Account,
    readonly host: Host,
    readonly capacityMb: number,
  ) {
    this.fitNode = new FitNode<Worker>(this);
    this.emptyLink = new ListLink<Worker>(this);
  }
}

/** A sandbox: its lifecycle state, and its links into the version's lists and the idle pool. */
export class Sandbox implements TimerItem {
  idleSince = -1;
  /** Keep-alive of the next idle period (per-function policies; the fixed path reads the options). */
  kaMs = 0;
  /** Expiry timer (per-function policies only): see TimerItem. */
  at = 0;
  seq = 0;
  heapIndex = -1;
  /** In `version.idle` or `version.provIdle` while idle. */
  readonly versionLink: ListLink<Sandbox>;
  /** In the idle pool's global LRU while idle on-demand. */
  readonly lruLink: ListLink<Sandbox>;
  /** In `version.all` while live. */
  readonly allLink: ListLink<Sandbox>;
  constructor(
    readonly id: string,
    readonly worker: Worker,
    readonly version: Version,
    public state: SandboxLifecycle,
  ) {
    this.versionLink = new ListLink<Sandbox>(this);
    this.lruLink = new ListLink<Sandbox>(this);
    this.allLink = new ListLink<Sandbox>(this);
  }
}

/** A scheduled pre-warm load of one sandbox of `version` (a timer of the idle pool). */
export class Prewarm implements TimerItem {
  seq = 0;
  heapIndex = -1;
  constructor(
    public at: number,
    readonly version: Version,
    readonly keepAliveMs: number,
  ) {}
}
