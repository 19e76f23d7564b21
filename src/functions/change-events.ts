/**
 * The registry's change-event bus: committed changes of versions, delivered synchronously to
 * subscribers (the VPC layer, provisioned concurrency, the sandboxes' retirement).
 */
import type { Caller } from './names.js';

/** A committed change, as {@link ChangeBus.subscribe} listeners receive it. */
export interface ChangeEvent {
  /**
   * `state`: only State/StateReason or LastUpdateStatus changed (code and config did not). When an
   * update completes, invocations switch from the previous configuration to the current one.
   */
  readonly kind: 'created' | 'updated' | 'deleted' | 'state';
  readonly caller: Caller;
  readonly name: string;
  readonly version: string;
}

/** Delivers change events to subscribers; a subscriber's exception goes to `onListenerError`. */
export class ChangeBus {
  private readonly listeners = new Set<(e: ChangeEvent) => void>();

  constructor(private readonly onListenerError: (e: unknown) => void) {}

  /** Subscribes to changes (after they are committed). Returns the unsubscribe function. */
  subscribe(listener: (e: ChangeEvent) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** Tells every subscriber of a committed change. */
  emit(e: ChangeEvent): void {
    // A copy: a listener may unsubscribe (or subscribe) while being called.
    for (const l of [...this.listeners]) {
      try {
        l(e);
      } catch (err) {
        // The change is committed; a listener's failure must not turn it into an API error.
        this.onListenerError(err);
      }
    }
  }

  /** Drops every subscriber. */
  clear(): void {
    this.listeners.clear();
  }
}
