/**
 * A sandbox's lifecycle in the placement core, as one union: starting → idle ⇄ busy → stopped | failed,
 * refined by what the core must know at each point (is an invocation waiting, is the sandbox one of the
 * version's provisioned concurrency, was its version retired). Each name is one legal combination, so
 * e.g. "idle but retired" or "provisioned and pre-warmed" cannot be written down.
 *
 * The fleet's own `stopping` (the stop-sandbox step under way) is not the core's: the core hands out
 * stop-sandbox and forgets the sandbox, marking the object `stopped` or `failed`.
 */
import type { SandboxState } from './types.js';

/** See the module comment. */
export type SandboxLifecycle =
  /** Init runs for the invocation that waits for it (counts in flight). */
  | 'starting'
  /** Init runs for provisioned concurrency; nobody waits. */
  | 'starting-provisioned'
  /** Init runs and nobody waits (a keep-alive pre-warm, or a provisioned sandbox no longer needed): idle when ready. */
  | 'prewarming'
  /** Init runs, nobody waits, and the version was retired: stopped as soon as init ends. */
  | 'starting-retired'
  /** Init runs for a waiting invocation and the version was retired: runs that invocation, then stops. */
  | 'starting-draining'
  /** Warm and reusable; keep-alive runs (on-demand). */
  | 'idle'
  /** Warm provisioned concurrency: used first, never expires, never evicted. */
  | 'idle-provisioned'
  | 'busy'
  | 'busy-provisioned'
  /** Busy with the last invocation of a retired version: stopped when it ends. */
  | 'draining'
  /** Handed to the fleet to stop (expired, evicted, retired); forgotten by the core. */
  | 'stopped'
  /** Init failed or the sandbox died (failed, discarded); forgotten by the core. */
  | 'failed';

/** Why a new sandbox is placed; decides its first state. */
export type PlacementPurpose = 'invocation' | 'provisioned' | 'prewarm';

/** The first state of a sandbox placed for `purpose`. */
export function initialState(purpose: PlacementPurpose): SandboxLifecycle {
  switch (purpose) {
    case 'invocation':
      return 'starting';
    case 'provisioned':
      return 'starting-provisioned';
    case 'prewarm':
      return 'prewarming';
  }
}

/** Counts as an invocation in flight (admission control): started for a waiting invocation, or running one. */
export function inFlight(s: SandboxLifecycle): boolean {
  return s === 'busy' || s === 'busy-provisioned' || s === 'starting' || s === 'draining' || s === 'starting-draining';
}

/** One of the version's provisioned-concurrency sandboxes. */
export function isProvisioned(s: SandboxLifecycle): boolean {
  return s === 'idle-provisioned' || s === 'busy-provisioned' || s === 'starting-provisioned';
}

/** Its version was retired: it stops as soon as it is no longer needed. */
export function isRetired(s: SandboxLifecycle): boolean {
  return s === 'draining' || s === 'starting-retired' || s === 'starting-draining';
}

/** Init finished: the next state, or 'stop' (a retired sandbox nobody waits for); null when not starting. */
export function afterInit(s: SandboxLifecycle): SandboxLifecycle | 'stop' | null {
  switch (s) {
    case 'starting':
      return 'busy';
    case 'starting-provisioned':
      return 'idle-provisioned';
    case 'prewarming':
      return 'idle';
    case 'starting-retired':
      return 'stop';
    case 'starting-draining':
      return 'draining';
    case 'idle':
    case 'idle-provisioned':
    case 'busy':
    case 'busy-provisioned':
    case 'draining':
    case 'stopped':
    case 'failed':
      return null;
  }
}

/** The invocation ended: the next state, or 'stop' (retired); null when not busy. */
export function afterRelease(s: SandboxLifecycle): SandboxLifecycle | 'stop' | null {
  switch (s) {
    case 'busy':
      return 'idle';
    case 'busy-provisioned':
      return 'idle-provisioned';
    case 'draining':
      return 'stop';
    case 'starting':
    case 'starting-provisioned':
    case 'prewarming':
    case 'starting-retired':
    case 'starting-draining':
    case 'idle':
    case 'idle-provisioned':
    case 'stopped':
    case 'failed':
      return null;
  }
}

/** A warm start takes an idle sandbox: the busy state, or null when not idle. */
export function afterWarmStart(s: SandboxLifecycle): SandboxLifecycle | null {
  return s === 'idle' ? 'busy' : s === 'idle-provisioned' ? 'busy-provisioned' : null;
}

/**
 * The version was retired: idle sandboxes stop now ('stop'), the others are marked and stop when they
 * are no longer needed (provisioned concurrency is dropped on the way). Terminal states stay.
 */
export function afterRetire(s: SandboxLifecycle): SandboxLifecycle | 'stop' {
  switch (s) {
    case 'idle':
    case 'idle-provisioned':
      return 'stop';
    case 'starting':
      return 'starting-draining';
    case 'starting-provisioned':
    case 'prewarming':
      return 'starting-retired';
    case 'busy':
    case 'busy-provisioned':
      return 'draining';
    case 'starting-retired':
    case 'starting-draining':
    case 'draining':
    case 'stopped':
    case 'failed':
      return s;
  }
}

/** Provisioned concurrency was lowered: the sandbox becomes an ordinary on-demand one (same phase). */
export function withoutProvisioned(s: SandboxLifecycle): SandboxLifecycle {
  switch (s) {
    case 'starting-provisioned':
      return 'prewarming';
    case 'idle-provisioned':
      return 'idle';
    case 'busy-provisioned':
      return 'busy';
    case 'starting':
    case 'prewarming':
    case 'starting-retired':
    case 'starting-draining':
    case 'idle':
    case 'busy':
    case 'draining':
    case 'stopped':
    case 'failed':
      return s;
  }
}

/** The phase shown in views (`FleetView`, `describeSandbox`). Throws for a stopped sandbox (it has no view). */
export function viewState(s: SandboxLifecycle): SandboxState {
  switch (s) {
    case 'starting':
    case 'starting-provisioned':
    case 'prewarming':
    case 'starting-retired':
    case 'starting-draining':
      return 'initializing';
    case 'idle':
    case 'idle-provisioned':
      return 'idle';
    case 'busy':
    case 'busy-provisioned':
    case 'draining':
      return 'busy';
    case 'stopped':
    case 'failed':
      throw new Error(`a ${s} sandbox is no longer in the fleet`);
  }
}
