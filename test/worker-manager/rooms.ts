/** Test helper: the worker manager's rooms wired as the `WorkerManager` facade wires them, for unit tests of one room. */
import { Admission } from '../../src/worker-manager/admission.js';
import { Enis } from '../../src/worker-manager/enis.js';
import { counterIds } from '../../src/worker-manager/ids.js';
import { IdlePool } from '../../src/worker-manager/idle-pool.js';
import { FixedKeepAlive, type KeepAlivePolicy } from '../../src/worker-manager/keep-alive.js';
import type { Sandbox, Version } from '../../src/worker-manager/model.js';
import { Placement } from '../../src/worker-manager/placement.js';
import { ProvisionedConcurrency } from '../../src/worker-manager/provisioned.js';
import { afterInit, afterRelease, type SandboxLifecycle } from '../../src/worker-manager/sandbox-lifecycle.js';
import { parsePlacementOptions, type FunctionSpec, type PlacementCounters, type PlacementOptions, type PlacementOptionsInput, type Step } from '../../src/worker-manager/types.js';

export interface Rooms {
  options: PlacementOptions;
  stats: PlacementCounters;
  pool: IdlePool;
  admission: Admission;
  enis: Enis;
  placement: Placement;
  provisioned: ProvisionedConcurrency;
}

/** Fresh rooms for `input` (and a keep-alive policy; default fixed at `keepAliveMs`). */
export function rooms(input: PlacementOptionsInput, policy?: KeepAlivePolicy): Rooms {
  const options = parsePlacementOptions(input);
  const stats: PlacementCounters = {
    workersCreated: 0,
    workersRetired: 0,
    enisCreated: 0,
    enisDeleted: 0,
    coldStarts: 0,
    narrowColdStarts: 0,
    warmStarts: 0,
    throttles: 0,
    provisionedCreated: 0,
    evictions: 0,
    expirations: 0,
  };
  const ids = counterIds();
  const pool = new IdlePool(policy ?? new FixedKeepAlive(options.keepAliveMs), options.workerIdleMs);
  const admission = new Admission(options, stats, (k) => pool.newPolicyState(k));
  const enis = new Enis(options.vpcMode === 'legacy', ids, stats);
  // Called only after both exist (as in the facade: placement reports a lost provisioned sandbox).
  const placement = new Placement(options, ids, stats, admission, enis, pool, (v) => provisioned.markDeficit(v));
  const provisioned = new ProvisionedConcurrency(admission, placement, enis, stats);
  return { options, stats, pool, admission, enis, placement, provisioned };
}

/** The version of `spec` (created on first use) in `r`. */
export function versionOf(r: Rooms, spec: FunctionSpec): Version {
  const f = r.admission.functionOf(spec);
  return r.admission.version(spec.versionKey) ?? r.admission.newVersion(spec, f);
}

/** Places a sandbox of `spec` for an invocation, completes its steps and makes it idle at `t`. */
export function idleSandbox(r: Rooms, spec: FunctionSpec, t: number): Sandbox {
  const steps: Step[] = [];
  const placed = r.placement.place(versionOf(r, spec), 'invocation', t, steps);
  if (placed === null) throw new Error('no room');
  const s = placed.sandbox;
  for (const st of steps) if (st.kind === 'provision-worker') r.placement.workerReady(s.worker, t);
  for (const st of steps) if (st.kind === 'attach-eni') r.enis.ready(r.enis.get(st.eniId)!);
  // As the facade does: ready (starting → busy), then release (busy → idle, out of flight, into the pool).
  s.state = afterInit(s.state) as SandboxLifecycle;
  s.state = afterRelease(s.state) as SandboxLifecycle;
  r.admission.decInflight(s.version.fn);
  r.pool.link(s, t);
  return s;
}
