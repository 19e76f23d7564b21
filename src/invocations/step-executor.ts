/**
 * The one place that sequences the worker manager's steps and reports their outcomes back to it. The
 * server and the simulator differ only in the `StepFleet` they hand it: the server's performs steps
 * (processes, cgroups, ENIs, profile delays on its Clock) and its completions are promises; the
 * simulator's schedules them on the virtual time line and its completions are instants.
 *
 * Imports nothing but the core's types, so both `invocations/` and `simulator/` can use it.
 */
import type { Step } from '../worker-manager/types.js';

/** Whom a step is performed for: a waiting invocation's cold start, or nobody (pre-warm, refills, ENIs). */
export type StepPurpose = 'invocation' | 'background';

/** Called once when a step completed (`error` undefined) or failed. */
export type StepDone = (error?: unknown) => void;

/**
 * The effects side of the steps. `C` is the fleet's handle on "this step has completed": a promise on
 * the server, a virtual instant in the simulator.
 */
export interface StepFleet<C> {
  /** The fleet's clock, in ms (what outcomes are reported at). */
  now(): number;
  /**
   * Begins `step` once `after` has completed (at once when undefined) and returns its completion. When
   * the step ends the fleet calls `done` (with the error when it failed) before anything that waits for
   * the returned completion goes on. When `after` failed, the step is not begun, `done` is not called,
   * and the returned completion fails too.
   */
  begin(step: Step, after: C | undefined, purpose: StepPurpose, done: StepDone): C;
  /** Runs cleanup steps (stop-sandbox, retire-worker, delete-eni) nobody waits for. */
  cleanup(steps: readonly Step[]): void;
}

/** What the executor reports outcomes to (the WorkerManager has these methods). */
export interface StepCore {
  workerReady(workerId: string, now: number): void;
  eniReady(eniId: string, now: number): void;
  ready(sandboxId: string, now: number): Step[];
  failed(sandboxId: string, now: number): Step[];
  eniFailed(eniId: string, now: number): Step[];
  describeSandbox(sandboxId: string): unknown;
}

/** The outcome of a step run in the background (provisioned sandboxes, hyperplane ENIs, tick refills). */
export interface BackgroundStepEvent {
  /** The step the work was for: a create-sandbox (after its prerequisites) or a lone attach-eni / provision-worker. */
  readonly step: Step;
  /** Set when it (or one of its prerequisites) failed. */
  readonly error?: unknown;
}

/** What a StepExecutor drives and tells. */
export interface StepExecutorOptions<C> {
  readonly fleet: StepFleet<C>;
  readonly core: StepCore;
  /** True once outcomes must no longer be reported (the service is closing). Default: never. */
  readonly stopped?: () => boolean;
  /** Called after a background chain ended and after a cold start failed (e.g. to re-arm a tick timer). */
  readonly afterReport?: () => void;
  /** Told of every batch of steps handed out (e.g. to forget the sandboxes they stop). */
  readonly onApply?: (steps: readonly Step[]) => void;
  /** Told how each background chain ended. */
  readonly onBackground?: (e: BackgroundStepEvent) => void;
}

/** Runs a Decision's steps (or steps returned outside an invocation) in order and reports each outcome. */
export class StepExecutor<C> {
  constructor(private readonly o: StepExecutorOptions<C>) {}

  /**
   * Runs a cold decision's steps in order (a step already under way for another invocation is awaited
   * by the fleet, not repeated), reporting each completion (workerReady, eniReady, ready). Returns the
   * completion of the last step: the sandbox is ready then. When a step fails, `onError` runs first
   * (the caller's logs), then the core is told (`failed`), and the returned completion fails.
   */
  coldStart(sandboxId: string, steps: readonly Step[], onError?: (error: unknown) => void): C | undefined {
    let last: C | undefined;
    for (const step of steps) {
      last = this.o.fleet.begin(step, last, 'invocation', (error) => {
        if (error === undefined) {
          this.reportDone(step, false);
          return;
        }
        onError?.(error);
        this.apply(this.o.core.failed(sandboxId, this.o.fleet.now()));
        this.o.afterReport?.();
      });
    }
    return last;
  }

  /**
   * Hands steps nobody waits for to the fleet. A create-sandbox (provisioned concurrency, pre-warm, tick
   * refills) runs after the provision-worker / attach-eni steps of its worker listed before it; a lone
   * attach-eni (a hyperplane ENI) or provision-worker runs on its own. Each completion is reported as for
   * a cold start; a failure is reported for the chain's goal (failed / eniFailed). Cleanup steps run as is.
   */
  apply(steps: readonly Step[]): void {
    let prerequisites: Step[] | undefined;
    let used: Set<Step> | undefined;
    let cleanup: Step[] | undefined;
    for (const s of steps) {
      if (s.kind === 'provision-worker' || s.kind === 'attach-eni') (prerequisites ??= []).push(s);
      else if (s.kind === 'create-sandbox') {
        let chain: Step[] = [s];
        if (prerequisites !== undefined) {
          const before = prerequisites.filter((p) => 'workerId' in p && p.workerId === s.workerId);
          for (const p of before) (used ??= new Set()).add(p);
          chain = [...before, s];
        }
        this.runChain(chain);
      } else (cleanup ??= []).push(s);
    }
    if (prerequisites !== undefined) for (const p of prerequisites) if (used?.has(p) !== true) this.runChain([p]);
    if (cleanup !== undefined) this.o.fleet.cleanup(cleanup);
    this.o.onApply?.(steps);
  }

  private reportDone(step: Step, background: boolean): void {
    if (background && this.o.stopped?.() === true) return;
    const now = this.o.fleet.now();
    const core = this.o.core;
    if (step.kind === 'provision-worker') core.workerReady(step.workerId, now);
    else if (step.kind === 'attach-eni') core.eniReady(step.eniId, now);
    else if (step.kind === 'create-sandbox') this.apply(core.ready(step.sandboxId, now));
  }

  private runChain(chain: readonly Step[]): void {
    const goal = chain[chain.length - 1];
    if (goal === undefined) return;
    let last: C | undefined;
    for (const step of chain) {
      last = this.o.fleet.begin(step, last, 'background', (error) => {
        try {
          if (error === undefined) {
            this.reportDone(step, true);
            if (step !== goal || this.o.stopped?.() === true) return;
            this.o.afterReport?.();
            this.emit({ step: goal });
            return;
          }
          if (this.o.stopped?.() === true) return;
          const core = this.o.core;
          const now = this.o.fleet.now();
          // A sandbox stopped on purpose while it started (e.g. provisioned concurrency lowered) is no failure.
          if (goal.kind === 'create-sandbox' && core.describeSandbox(goal.sandboxId) === undefined) return;
          if (goal.kind === 'create-sandbox') this.apply(core.failed(goal.sandboxId, now));
          else if (goal.kind === 'attach-eni') this.apply(core.eniFailed(goal.eniId, now));
          this.o.afterReport?.();
          this.emit({ step: goal, error });
        } catch (bookkeeping) {
          // The bookkeeping itself threw (a worker-manager invariant): report it as the chain's failure.
          this.emit({ step: goal, error: bookkeeping });
        }
      });
    }
  }

  private emit(e: BackgroundStepEvent): void {
    const l = this.o.onBackground;
    if (l === undefined) return;
    try {
      l(e);
    } catch {
      // A listener's failure must not break the chain's bookkeeping; listeners report their own errors.
    }
  }
}
