/**
 * ENIs, in the two VPC modes:
 * - `legacy` (the seed's 2019 model): one ENI per (worker, vpcKey), attached by the first cold start of a
 *   VPC function on that worker and deleted with the worker. The account keeps, per vpcKey, a best-fit
 *   index of the workers that have (or are attaching) the ENI, so placement prefers them.
 * - `hyperplane` (Lambda since Sept 2019): one ENI per vpcKey, made when a function is created or its
 *   VpcConfig changes and deleted when no function uses the vpcKey any more; a VPC function is Pending
 *   (the caller answers so) until it is ready.
 */
import { FitIndex, FitNode } from './fit-index.js';
import { Eni, type Worker } from './model.js';
import type { EniView, IdSource, PlacementCounters, Step } from './types.js';

/** See the module comment. */
export class Enis {
  /** Every ENI by id, both modes. */
  private readonly byId = new Map<string, Eni>();
  /** Hyperplane: the ENI of each vpcKey, functions per vpcKey, vpcKey per function. */
  private readonly vpcEnis = new Map<string, Eni>();
  private readonly vpcUsers = new Map<string, number>();
  private readonly fnVpc = new Map<string, string>();

  constructor(
    /** Legacy mode (else hyperplane). */
    readonly legacy: boolean,
    private readonly ids: IdSource,
    private readonly stats: PlacementCounters,
  ) {}

  /** The ENI `eniId`, or undefined (never made, or deleted). */
  get(eniId: string): Eni | undefined {
    return this.byId.get(eniId);
  }

  /** The attach-eni step succeeded. */
  ready(e: Eni): void {
    e.ready = true;
  }

  /**
   * The attach-eni step failed. Legacy: the ENI is dropped from its worker. Hyperplane: forgotten, so the
   * next `ensureHyperplane` for its vpcKey creates a new one. Appends the delete-eni cleanup step.
   */
  failed(e: Eni, steps: Step[]): void {
    if (e.worker !== null) this.detachLegacy(e, steps);
    else {
      this.byId.delete(e.id);
      this.vpcEnis.delete(e.vpcKey);
      this.stats.enisDeleted++;
      steps.push({ kind: 'delete-eni', eniId: e.id });
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Legacy

  /** Legacy: the ENI of `vpcKey` on `w` (attached or attaching), or undefined. */
  onWorker(w: Worker, vpcKey: string): Eni | undefined {
    const enis = w.enis;
    for (let i = 0; i < enis.length; i++) if (enis[i]!.vpcKey === vpcKey) return enis[i];
    return undefined;
  }

  /** Legacy: a new (pending) ENI for `vpcKey` on `w`, indexed for placement unless the worker is retiring. */
  attachLegacy(w: Worker, vpcKey: string): Eni {
    const e = new Eni(this.ids.next('eni'), vpcKey, w);
    let idx = w.account.eniFit.get(vpcKey);
    if (idx === undefined) {
      idx = new FitIndex<Worker>();
      w.account.eniFit.set(vpcKey, idx);
    }
    e.fitIndex = idx;
    e.fitNode = new FitNode<Worker>(w);
    w.enis.push(e);
    this.byId.set(e.id, e);
    this.stats.enisCreated++;
    if (w.state !== 'retiring') idx.set(e.fitNode, w.capacityMb - w.usedMb);
    return e;
  }

  /** Legacy: removes `e` from its worker (delete-eni). */
  detachLegacy(e: Eni, steps: Step[]): void {
    const w = e.worker;
    if (w === null) throw new Error(`${e.id} is a hyperplane ENI`);
    if (e.fitNode !== null) e.fitIndex?.delete(e.fitNode);
    const i = w.enis.indexOf(e);
    if (i >= 0) w.enis.splice(i, 1);
    this.byId.delete(e.id);
    this.stats.enisDeleted++;
    steps.push({ kind: 'delete-eni', eniId: e.id });
  }

  /** Legacy: deletes every ENI of a worker that is being removed (delete-eni each). */
  deleteWorkerEnis(w: Worker, steps: Step[]): void {
    for (const e of w.enis) {
      if (e.fitNode !== null) e.fitIndex?.delete(e.fitNode);
      this.byId.delete(e.id);
      this.stats.enisDeleted++;
      steps.push({ kind: 'delete-eni', eniId: e.id });
    }
    w.enis.length = 0;
  }

  /** Legacy: re-indexes the worker's ENIs with its free memory. */
  indexWorker(w: Worker, free: number): void {
    const enis = w.enis;
    for (let i = 0; i < enis.length; i++) {
      const e = enis[i]!;
      if (e.fitNode !== null) e.fitIndex?.set(e.fitNode, free);
    }
  }

  /** Legacy: the worker takes no new placements; its ENIs leave the indexes. */
  unindexWorker(w: Worker): void {
    for (const e of w.enis) if (e.fitNode !== null) e.fitIndex?.delete(e.fitNode);
  }

  // ---------------------------------------------------------------------------------------------
  // Hyperplane

  /**
   * Hyperplane: function `functionKey` now uses `vpcKey` (undefined: no VPC any more, or deleted).
   * Appends attach-eni (create, no workerId) when no ENI exists for the vpcKey yet, and delete-eni for the
   * previous vpcKey when no function uses it any more.
   */
  ensureHyperplane(functionKey: string, vpcKey: string | undefined, steps: Step[]): void {
    const old = this.fnVpc.get(functionKey);
    if (vpcKey !== undefined) {
      if (old !== vpcKey) {
        this.fnVpc.set(functionKey, vpcKey);
        this.vpcUsers.set(vpcKey, (this.vpcUsers.get(vpcKey) ?? 0) + 1);
      }
      if (!this.vpcEnis.has(vpcKey)) {
        const e = new Eni(this.ids.next('eni'), vpcKey, null);
        this.vpcEnis.set(vpcKey, e);
        this.byId.set(e.id, e);
        this.stats.enisCreated++;
        steps.push({ kind: 'attach-eni', eniId: e.id, vpcKey });
      }
    } else {
      this.fnVpc.delete(functionKey);
    }
    if (old !== undefined && old !== vpcKey) {
      const n = (this.vpcUsers.get(old) ?? 1) - 1;
      if (n > 0) this.vpcUsers.set(old, n);
      else {
        this.vpcUsers.delete(old);
        const e = this.vpcEnis.get(old);
        if (e !== undefined) {
          this.vpcEnis.delete(old);
          this.byId.delete(e.id);
          this.stats.enisDeleted++;
          steps.push({ kind: 'delete-eni', eniId: e.id });
        }
      }
    }
  }

  /** Hyperplane ENI state of a vpcKey: undefined when none exists (or in legacy mode). */
  hyperplaneState(vpcKey: string): 'pending' | 'ready' | undefined {
    const e = this.vpcEnis.get(vpcKey);
    return e === undefined ? undefined : e.ready ? 'ready' : 'pending';
  }

  /** Hyperplane mode and the vpcKey's ENI is missing or not ready yet (placement must wait). */
  hyperplanePending(vpcKey: string): boolean {
    return !this.legacy && this.vpcEnis.get(vpcKey)?.ready !== true;
  }

  /** Hyperplane mode: throws unless the vpcKey's ENI is ready (the caller answers Pending before placing). */
  requireHyperplaneReady(vpcKey: string): void {
    if (this.legacy) return;
    const e = this.vpcEnis.get(vpcKey);
    if (e === undefined || !e.ready) {
      throw new Error(`hyperplane ENI for ${vpcKey} is ${e === undefined ? 'missing' : 'pending'}: the function is not Active`);
    }
  }

  /** Every ENI as in `FleetView`, in creation order. */
  views(): EniView[] {
    const out: EniView[] = [];
    for (const e of this.byId.values()) {
      const state = e.ready ? 'ready' : 'pending';
      if (e.worker !== null) out.push({ id: e.id, vpcKey: e.vpcKey, mode: 'legacy', workerId: e.worker.id, state });
      else out.push({ id: e.id, vpcKey: e.vpcKey, mode: 'hyperplane', state, functions: this.vpcUsers.get(e.vpcKey) ?? 0 });
    }
    return out;
  }
}
