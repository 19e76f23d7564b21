import type { Fleet } from '../fleet/fleet.js';
import type { TraceStep } from '../tracing/segments.js';
import type { Clock } from '../util/clock.js';
import type { Step } from '../worker-manager/types.js';
import type { StepDone, StepFleet, StepPurpose } from './step-executor.js';

/** Options of one FleetSteps. */
export interface FleetStepsOptions {
  /** Aborts an invocation's steps when its caller goes away (background steps ignore it). */
  readonly signal?: AbortSignal;
  /** Receives the timing of an invocation's provision-worker / attach-eni / create-sandbox steps. */
  readonly trace?: TraceStep[];
  /** Given every background completion (already guarded against unhandled rejection), e.g. for `settled()`. */
  readonly track?: (p: Promise<void>) => void;
}

/** The server's StepFleet: the Fleet performs each step; a completion is a promise. */
export class FleetSteps implements StepFleet<Promise<void>> {
  constructor(
    private readonly fleet: Fleet,
    private readonly clock: Clock,
    private readonly o: FleetStepsOptions = {},
  ) {}

  now(): number {
    return this.clock.now();
  }

  begin(step: Step, after: Promise<void> | undefined, purpose: StepPurpose, done: StepDone): Promise<void> {
    const invocation = purpose === 'invocation';
    const run = async (): Promise<void> => {
      const start = this.clock.now();
      try {
        await this.fleet.execute(step, invocation ? this.o.signal : undefined);
      } catch (error) {
        done(error);
        throw error;
      }
      if (invocation && (step.kind === 'provision-worker' || step.kind === 'attach-eni' || step.kind === 'create-sandbox')) {
        this.o.trace?.push({ kind: step.kind, start, end: this.clock.now() });
      }
      done();
    };
    // The first step starts at once (no microtask in between), as the fleet memoizes it synchronously.
    const p = after === undefined ? run() : after.then(run);
    if (!invocation) {
      const guarded = p.catch(() => undefined);
      this.o.track?.(guarded);
    }
    return p;
  }

  cleanup(steps: readonly Step[]): void {
    this.fleet.executeInBackground(steps);
  }
}
