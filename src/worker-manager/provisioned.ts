/**
 * Provisioned concurrency: per version, a target number of pre-initialised sandboxes (create-sandbox with
 * provisioned: true; init runs without an invocation). They are used before on-demand ones, never expire
 * and are never evicted. A version below its target that cannot be filled now (no room, or its
 * hyperplane ENI is not ready) is "in deficit" and retried on every tick.
 */
import type { Admission } from './admission.js';
import type { Enis } from './enis.js';
import type { Version } from './model.js';
import type { Placement } from './placement.js';
import { isProvisioned, withoutProvisioned } from './sandbox-lifecycle.js';
import type { FunctionSpec, PlacementCounters, Step } from './types.js';

/** See the module comment. */
export class ProvisionedConcurrency {
  /** Versions below target, in the order they fell short (tick refills them in this order). */
  private readonly deficits = new Set<Version>();

  constructor(
    private readonly admission: Admission,
    private readonly placement: Placement,
    private readonly enis: Enis,
    private readonly stats: PlacementCounters,
  ) {}

  /**
   * Keeps `count` provisioned sandboxes of `fn.versionKey`. Raising the count places new ones like cold
   * starts (may provision workers and attach legacy ENIs; the steps are appended in order); what cannot be
   * placed now is retried by `refillDeficits`. Lowering it stops idle provisioned sandboxes (least recently
   * used first) and turns busy or initializing ones into ordinary on-demand sandboxes. 0 removes it.
   */
  set(fn: FunctionSpec, count: number, t: number, steps: Step[]): void {
    const f = this.admission.functionOf(fn);
    const v = this.admission.version(fn.versionKey) ?? this.admission.newVersion(fn, f);
    v.provTarget = count;
    if (v.provCount > count) {
      let excess = v.provCount - count;
      for (let l = v.provIdle.head; excess > 0 && l !== null; l = v.provIdle.head) {
        this.placement.removeSandbox(l.item, 'retired', steps, t);
        excess--;
      }
      for (let l = v.all.head; l !== null && excess > 0; l = l.next) {
        const s = l.item;
        if (isProvisioned(s.state)) {
          s.state = withoutProvisioned(s.state);
          v.provCount--;
          excess--;
        }
      }
    }
    if (v.provCount < count) this.refill(v, t, steps);
    else this.clearDeficit(v);
    this.admission.forgetIfUnused(v);
  }

  /** The version's code or configuration changed: its provisioned concurrency is dropped (target 0). */
  drop(v: Version): void {
    v.provTarget = 0;
    this.clearDeficit(v);
  }

  /** `v` is below its target (a provisioned sandbox was lost, or could not be placed). */
  markDeficit(v: Version): void {
    if (!v.inDeficit) {
      v.inDeficit = true;
      this.deficits.add(v);
    }
  }

  /**
   * Creates provisioned sandboxes until the target is met or there is no room (then marked in deficit).
   * A hyperplane VPC version whose ENI is not ready yet waits (marked) instead of throwing.
   */
  refill(v: Version, t: number, steps: Step[]): void {
    if (v.vpcKey !== undefined && this.enis.hyperplanePending(v.vpcKey)) {
      if (v.provCount < v.provTarget) this.markDeficit(v);
      return;
    }
    while (v.provCount < v.provTarget) {
      if (this.placement.place(v, 'provisioned', t, steps) === null) {
        this.markDeficit(v);
        return;
      }
      this.stats.provisionedCreated++;
    }
    this.clearDeficit(v);
  }

  /** Retries every version in deficit. */
  refillDeficits(t: number, steps: Step[]): void {
    if (this.deficits.size > 0) for (const v of [...this.deficits]) this.refill(v, t, steps);
  }

  private clearDeficit(v: Version): void {
    if (v.inDeficit) {
      v.inDeficit = false;
      this.deficits.delete(v);
    }
  }
}
