/** Plain JSON views of the core's objects (`FleetView`, `describeSandbox`): O(fleet), not for hot paths. */
import type { Host, Sandbox, Worker } from './model.js';
import { isProvisioned, isRetired, viewState } from './sandbox-lifecycle.js';
import type { HostView, SandboxView, WorkerView } from './types.js';

/** One live sandbox as in `FleetView`. */
export function sandboxView(s: Sandbox): SandboxView {
  const state = viewState(s.state);
  return {
    id: s.id,
    workerId: s.worker.id,
    account: s.worker.account.name,
    versionKey: s.version.key,
    functionKey: s.version.fn.key,
    memoryMb: s.version.memoryMb,
    state,
    idleSince: state === 'idle' ? s.idleSince : null,
    provisioned: isProvisioned(s.state),
    retired: isRetired(s.state),
  };
}

/** One live worker as in `FleetView`. */
export function workerView(w: Worker): WorkerView {
  return {
    id: w.id,
    account: w.account.name,
    hostId: w.host.id,
    state: w.state,
    capacityMb: w.capacityMb,
    usedMb: w.usedMb,
    sandboxes: w.sandboxCount,
    enis: w.enis.map((e) => e.id),
    emptySince: w.emptyLink.linked ? w.emptySince : null,
  };
}

/** One host as in `FleetView`. */
export function hostView(h: Host): HostView {
  return { id: h.id, memoryMb: h.memoryMb, reservedMb: h.reservedMb, workers: h.workerCount };
}
