/**
 * Placement and eviction: hosts and workers, where a new sandbox goes, and what is removed to make room.
 *
 * A new sandbox goes into a worker of its account that is ready or provisioning and has room: best fit
 * (least free memory that fits), in legacy VPC mode a worker that has (or is attaching) the ENI first.
 * Otherwise (a narrow cold start): a new worker on the first host with budget; else the longest-empty
 * worker (any account) is retired and its host used; else least-recently-used idle sandboxes (any
 * account) are evicted until either a worker of this account has room or a worker of another account is
 * empty (then retired and replaced). Only the sandboxes of that one target worker are evicted.
 *
 * Indexes (no full scans): per account, workers in a best-fit index by free memory (`FitIndex`), plus in
 * legacy VPC mode one per vpcKey (enis.ts); the idle pool's LRU and empty-worker list (idle-pool.ts).
 */
import type { Admission } from './admission.js';
import type { Enis } from './enis.js';
import type { IdlePool } from './idle-pool.js';
import type { ListLink } from './intrusive-list.js';
import { Host, Sandbox, Worker, type Account, type Version } from './model.js';
import { inFlight, initialState, isProvisioned, type PlacementPurpose } from './sandbox-lifecycle.js';
import type { IdSource, PlacementCounters, PlacementOptions, Step, StopReason } from './types.js';

/** What `place` did: the new sandbox, and whether it needed a new worker or a new legacy ENI. */
export interface PlacementResult {
  readonly sandbox: Sandbox;
  /** A new worker was provisioned for it (a narrow cold start). */
  readonly narrow: boolean;
  /** A new legacy ENI was created for it. */
  readonly eniAttached: boolean;
}

/** See the module comment. */
export class Placement {
  readonly hosts: readonly Host[];
  private hostHint = 0;
  private readonly workers = new Map<string, Worker>();
  private readonly sandboxes = new Map<string, Sandbox>();
  /** Eviction walks stamp workers with this to reset their scratch fields lazily. */
  private epoch = 0;

  constructor(
    private readonly options: PlacementOptions,
    private readonly ids: IdSource,
    private readonly stats: PlacementCounters,
    private readonly admission: Admission,
    private readonly enis: Enis,
    private readonly pool: IdlePool,
    /** A provisioned sandbox was removed and the version is below its target now. */
    private readonly provisionedLost: (v: Version) => void,
  ) {
    const hosts: Host[] = [];
    for (let i = 0; i < options.hostCount; i++) hosts.push(new Host(`host-${i}`, i, options.hostMemoryMb));
    this.hosts = hosts;
  }

  /** The live sandbox `id`, or undefined. */
  sandbox(id: string): Sandbox | undefined {
    return this.sandboxes.get(id);
  }

  /** The live worker `id`, or undefined. */
  worker(id: string): Worker | undefined {
    return this.workers.get(id);
  }

  /** Live workers, in creation order. */
  allWorkers(): IterableIterator<Worker> {
    return this.workers.values();
  }

  /** Live sandboxes, in creation order. */
  allSandboxes(): IterableIterator<Sandbox> {
    return this.sandboxes.values();
  }

  /**
   * Places a new sandbox of `v` for `purpose` (see the module comment), appending the steps it needs
   * (evictions first, then provision-worker, attach-eni, create-sandbox). null when there is no room.
   * Hyperplane mode: throws unless the version's ENI is ready.
   */
  place(v: Version, purpose: PlacementPurpose, t: number, steps: Step[]): PlacementResult | null {
    const vpcKey = v.vpcKey;
    const enis = this.enis;
    if (vpcKey !== undefined) enis.requireHyperplaneReady(vpcKey);
    const a = v.fn.account;
    const need = v.memoryMb;
    const legacyVpc = enis.legacy && vpcKey !== undefined;
    const workersBefore = this.stats.workersCreated;
    let w: Worker | undefined;
    if (legacyVpc) w = a.eniFit.get(vpcKey)?.bestFit(need);
    if (w === undefined) w = a.fit.bestFit(need);
    if (w === undefined) w = this.makeRoom(a, need, t, steps);
    if (w === undefined) return null;
    if (w.state === 'provisioning') {
      steps.push({ kind: 'provision-worker', workerId: w.id, account: a.name, memoryMb: w.capacityMb, hostId: w.host.id });
    }
    let eniAttached = false;
    if (legacyVpc) {
      let e = enis.onWorker(w, vpcKey);
      if (e === undefined) {
        e = enis.attachLegacy(w, vpcKey);
        eniAttached = true;
      }
      if (!e.ready) steps.push({ kind: 'attach-eni', eniId: e.id, workerId: w.id, vpcKey });
    }
    const s = new Sandbox(this.ids.next('sandbox'), w, v, initialState(purpose));
    s.kaMs = this.options.keepAliveMs;
    this.sandboxes.set(s.id, s);
    v.all.pushBack(s.allLink);
    const provisioned = purpose === 'provisioned';
    if (provisioned) v.provCount++;
    w.usedMb += need;
    w.sandboxCount++;
    this.pool.unlinkEmpty(w);
    this.refreshWorker(w);
    if (purpose === 'invocation') this.admission.incInflight(v.fn);
    const create: Step = { kind: 'create-sandbox', sandboxId: s.id, workerId: w.id, versionKey: v.key, memoryMb: need, provisioned };
    if (purpose === 'prewarm') create.prewarm = true;
    steps.push(create);
    return { sandbox: s, narrow: this.stats.workersCreated !== workersBefore, eniAttached };
  }

  /** The provision-worker step succeeded. An empty worker starts its idle period now. */
  workerReady(w: Worker, t: number): void {
    w.state = 'ready';
    this.refreshWorker(w);
    if (w.sandboxCount === 0) this.pool.linkEmpty(w, t);
  }

  /** No new placements on `w`; it is retired as soon as it is empty. */
  setRetiring(w: Worker): void {
    w.state = 'retiring';
    w.account.fit.delete(w.fitNode);
    this.enis.unindexWorker(w);
    this.pool.unlinkEmpty(w);
    this.refreshWorker(w);
  }

  /**
   * Removes a sandbox in any live state, frees its memory and appends stop-sandbox (and, when that empties
   * a retiring worker, the worker's removal). `t`: the event's time.
   */
  removeSandbox(s: Sandbox, reason: StopReason, steps: Step[], t: number): void {
    const w = s.worker;
    const v = s.version;
    const st = s.state;
    if (st === 'idle' || st === 'idle-provisioned') this.pool.unlink(s);
    if (inFlight(st)) this.admission.decInflight(v.fn);
    s.state = reason === 'failed' || reason === 'discarded' ? 'failed' : 'stopped';
    this.sandboxes.delete(s.id);
    v.all.remove(s.allLink);
    if (isProvisioned(st)) {
      v.provCount--;
      if (v.provCount < v.provTarget) this.provisionedLost(v);
    }
    w.usedMb -= v.memoryMb;
    w.sandboxCount--;
    steps.push({ kind: 'stop-sandbox', sandboxId: s.id, reason });
    if (w.sandboxCount === 0 && w.state === 'retiring') {
      if (this.workers.get(w.id) === w) this.removeWorker(w, steps);
    } else {
      this.refreshWorker(w);
      if (w.sandboxCount === 0 && w.state === 'ready') this.pool.linkEmpty(w, t);
    }
    this.admission.forgetIfUnused(v);
  }

  /** Removes an empty worker: delete-eni for its legacy ENIs, then retire-worker; frees host budget. */
  removeWorker(w: Worker, steps: Step[]): void {
    this.enis.deleteWorkerEnis(w, steps);
    w.account.fit.delete(w.fitNode);
    w.account.workers.delete(w);
    this.pool.unlinkEmpty(w);
    w.state = 'retiring';
    this.pool.updateReclaimable(w);
    const h = w.host;
    h.reservedMb -= w.capacityMb;
    h.workerCount--;
    if (h.index < this.hostHint) this.hostHint = h.index;
    this.workers.delete(w.id);
    this.stats.workersRetired++;
    steps.push({ kind: 'retire-worker', workerId: w.id });
  }

  /** No worker of the account has room: a new worker (narrow) or room made by eviction. */
  private makeRoom(a: Account, need: number, t: number, steps: Step[]): Worker | undefined {
    let host = this.hostWithBudget();
    const empty = host === undefined ? this.pool.firstEmpty() : null;
    if (empty !== null) {
      // An empty worker (necessarily of another account: ours would have had room) costs nobody a warm sandbox.
      host = empty.host;
      this.removeWorker(empty, steps);
    }
    if (host !== undefined) return this.newWorker(a, host);
    return this.evictFor(a, need, t, steps);
  }

  private hostWithBudget(): Host | undefined {
    const cap = this.options.workerMemoryMb;
    const hosts = this.hosts;
    for (let i = this.hostHint; i < hosts.length; i++) {
      const h = hosts[i]!;
      if (h.reservedMb + cap <= h.memoryMb) {
        this.hostHint = i;
        return h;
      }
    }
    this.hostHint = hosts.length;
    return undefined;
  }

  private newWorker(a: Account, host: Host): Worker {
    const w = new Worker(this.ids.next('worker'), a, host, this.options.workerMemoryMb);
    host.reservedMb += w.capacityMb;
    host.workerCount++;
    a.workers.add(w);
    this.workers.set(w.id, w);
    a.fit.set(w.fitNode, w.capacityMb);
    this.stats.workersCreated++;
    return w;
  }

  /**
   * Eviction. A dry run walks the global LRU list and finds the first worker that becomes usable:
   * a worker of account `a` whose free memory plus the idle sandboxes passed so far fits `need`, or a
   * reclaimable worker (all sandboxes idle, any account) whose last idle sandbox was passed. Then only
   * that worker's sandboxes up to that point are evicted. A cheap feasibility check first guarantees the
   * walk succeeds, so a full fleet of busy sandboxes throttles in O(1) (or O(workers of the account)).
   */
  private evictFor(a: Account, need: number, t: number, steps: Step[]): Worker | undefined {
    const pool = this.pool;
    if (pool.lruHead === null) return undefined;
    let feasible = pool.reclaimableCount > 0;
    if (!feasible) {
      for (const w of a.workers) {
        if (w.state !== 'retiring' && w.capacityMb - w.usedMb + w.idleMb >= need) {
          feasible = true;
          break;
        }
      }
    }
    if (!feasible) return undefined;
    const epoch = ++this.epoch;
    let target: Worker | null = null;
    let stop: Sandbox | null = null;
    for (let l: ListLink<Sandbox> | null = pool.lruHead; l !== null; l = l.next) {
      const s = l.item;
      const w = s.worker;
      if (w.scratchEpoch !== epoch) {
        w.scratchEpoch = epoch;
        w.scratchFreed = 0;
        w.scratchIdle = w.idleCount;
      }
      w.scratchFreed += s.version.memoryMb;
      w.scratchIdle--;
      if ((w.account === a && w.state !== 'retiring' && w.capacityMb - w.usedMb + w.scratchFreed >= need) || (w.reclaimable && w.scratchIdle === 0)) {
        target = w;
        stop = s;
        break;
      }
    }
    if (target === null) return undefined;
    for (let l: ListLink<Sandbox> | null = pool.lruHead; l !== null; ) {
      const next: ListLink<Sandbox> | null = l.next;
      const s = l.item;
      if (s.worker === target) {
        this.stats.evictions++;
        this.removeSandbox(s, 'evicted', steps, t);
      }
      if (s === stop) break;
      l = next;
    }
    if (target.account === a) return target;
    const host = target.host;
    this.removeWorker(target, steps);
    return this.newWorker(a, host);
  }

  /** Re-indexes a worker after its memory, state or sandboxes changed. */
  private refreshWorker(w: Worker): void {
    if (w.state !== 'retiring') {
      const free = w.capacityMb - w.usedMb;
      w.account.fit.set(w.fitNode, free);
      this.enis.indexWorker(w, free);
    }
    this.pool.updateReclaimable(w);
  }
}
