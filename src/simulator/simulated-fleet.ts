/**
 * The simulator's StepFleet: steps complete after a latency profile's draws on the virtual time line;
 * a completion is the instant it happens. A step already under way for another invocation (a worker
 * still provisioning, an ENI still attaching) is awaited, not repeated, as the server's fleet does.
 * Profile draws happen when a step is begun, in the order the executor begins them.
 */
import type { ProfileSampler } from '../profiles/latency-profile.js';
import type { StepDone, StepFleet, StepPurpose } from '../invocations/step-executor.js';
import type { Step } from '../worker-manager/types.js';
import type { EventQueue, PoppedEvent } from './event-queue.js';

/** Event kinds the fleet schedules (the engine's own kinds stay below FLEET_EVENT). */
export const FLEET_EVENT = 16;
const CALL = FLEET_EVENT;
const WORKER_READY = FLEET_EVENT + 1;
const ENI_READY = FLEET_EVENT + 2;

/** The simulated fleet; also keeps the memory gauges the engine reports. */
export class SimulatedFleet implements StepFleet<number> {
  /** The engine's current time (set before each event is handled). */
  time = 0;
  /** MB held by idle sandboxes (and pre-warmed ones while they initialise). */
  idleMb = 0;
  /** Sandboxes pre-warmed by the keep-alive policy. */
  prewarms = 0;
  /** The init duration drawn for the last create-sandbox begun. */
  lastInitMs = 0;
  /** The sandbox just released while its release's steps are handed out (never idle). */
  released: string | undefined;
  /** Memory of every live sandbox (for stops; idleness follows from the stop reason). */
  private readonly sandboxes = new Map<string, number>();
  private readonly pendingWorkers = new Map<string, number>();
  private readonly pendingEnis = new Map<string, number>();
  private readonly calls: (StepDone | undefined)[] = [];
  private readonly freeCalls: number[] = [];

  constructor(
    private readonly q: EventQueue,
    private readonly sampler: ProfileSampler,
  ) {}

  now(): number {
    return this.time;
  }

  begin(step: Step, after: number | undefined, purpose: StepPurpose, done: StepDone): number {
    const start = after ?? this.time;
    switch (step.kind) {
      case 'provision-worker': {
        // A legacy ENI is attached once its worker is provisioned, not in parallel.
        const r = Math.max(start, this.workerReadyAt(step.workerId, start));
        this.call(r, done);
        return r;
      }
      case 'attach-eni': {
        const r = Math.max(start, this.eniReadyAt(step.eniId, start));
        this.call(r, done);
        return r;
      }
      case 'create-sandbox': {
        const init = this.sampler.coldStartTotalMs(step.memoryMb);
        this.lastInitMs = init;
        this.sandboxes.set(step.sandboxId, step.memoryMb);
        if (purpose === 'background') {
          // Memory is held from now on and nobody uses it yet: it counts as idle.
          this.idleMb += step.memoryMb;
          if (step.prewarm === true) this.prewarms++;
        }
        this.call(start + init, done);
        return start + init;
      }
      default:
        this.stop(step);
        done();
        return start;
    }
  }

  cleanup(steps: readonly Step[]): void {
    for (const s of steps) this.stop(s);
  }

  /** Handles one of the fleet's events; false when `ev` is not one. */
  handle(ev: PoppedEvent): boolean {
    switch (ev.kind) {
      case CALL: {
        const done = this.calls[ev.payload]!;
        this.calls[ev.payload] = undefined;
        this.freeCalls.push(ev.payload);
        done();
        return true;
      }
      case WORKER_READY:
        this.pendingWorkers.delete(ev.ref!);
        return true;
      case ENI_READY:
        this.pendingEnis.delete(ev.ref!);
        return true;
      default:
        return false;
    }
  }

  private call(at: number, done: StepDone): void {
    let i = this.freeCalls.pop();
    if (i === undefined) {
      i = this.calls.length;
      this.calls.push(undefined);
    }
    this.calls[i] = done;
    this.q.push(at, CALL, i);
  }

  /**
   * A stop-sandbox frees idle memory when the sandbox was idle: expiries and evictions only take idle
   * sandboxes; a retirement takes idle ones, except the sandbox just released (`released`, never idle);
   * failed / discarded ones were never idle.
   */
  private stop(s: Step): void {
    if (s.kind !== 'stop-sandbox') return;
    const mem = this.sandboxes.get(s.sandboxId);
    if (mem === undefined) return;
    this.sandboxes.delete(s.sandboxId);
    if (s.sandboxId === this.released || s.reason === 'failed' || s.reason === 'discarded') return;
    this.idleMb -= mem;
  }

  private workerReadyAt(id: string, from: number): number {
    let r = this.pendingWorkers.get(id);
    if (r === undefined) {
      r = from + this.sampler.workerProvisionMs();
      this.pendingWorkers.set(id, r);
      this.q.push(r, WORKER_READY, 0, id);
    }
    return r;
  }

  private eniReadyAt(id: string, from: number): number {
    let r = this.pendingEnis.get(id);
    if (r === undefined) {
      r = from + this.sampler.eniCreateMs();
      this.pendingEnis.set(id, r);
      this.q.push(r, ENI_READY, 0, id);
    }
    return r;
  }
}
