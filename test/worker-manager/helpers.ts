/** Test helpers for the placement core: specs and a tiny synchronous "fleet" that completes steps. */
import assert from 'node:assert/strict';
import type { WorkerManager } from '../../src/worker-manager/worker-manager.js';
import type { Decision, FunctionSpec, Step } from '../../src/worker-manager/types.js';

/** A spec for function `name` (revision 1) of `account`. */
export function spec(name: string, memoryMb: number, extra: Partial<FunctionSpec> = {}): FunctionSpec {
  const account = extra.account ?? '111111111111';
  const functionKey = `arn:aws:lambda:us-east-1:${account}:function:${name}`;
  return { versionKey: `${functionKey}:$LATEST#1`, functionKey, account, memoryMb, ...extra };
}

/** Completes every step the way a healthy fleet would report it. */
export function complete(wm: WorkerManager, steps: readonly Step[], now: number): Step[] {
  const more: Step[] = [];
  for (const s of steps) {
    if (s.kind === 'provision-worker') wm.workerReady(s.workerId, now);
    else if (s.kind === 'attach-eni') wm.eniReady(s.eniId, now);
    else if (s.kind === 'create-sandbox') more.push(...wm.ready(s.sandboxId, now));
  }
  return more;
}

/** Asserts a cold decision and narrows its type. */
export function cold(d: Decision): Extract<Decision, { kind: 'cold' }> {
  assert.equal(d.kind, 'cold', `expected cold, got ${JSON.stringify(d)}`);
  return d as Extract<Decision, { kind: 'cold' }>;
}

/** Asserts a warm decision and narrows its type. */
export function warm(d: Decision): Extract<Decision, { kind: 'warm' }> {
  assert.equal(d.kind, 'warm', `expected warm, got ${JSON.stringify(d)}`);
  return d as Extract<Decision, { kind: 'warm' }>;
}

/** Acquire, complete the cold start if any, and return the sandbox id (busy). */
export function invoke(wm: WorkerManager, fn: FunctionSpec, now: number): string {
  const d = wm.acquire(fn, now);
  if (d.kind === 'throttle') assert.fail(`throttled: ${d.reason}`);
  if (d.kind === 'cold') complete(wm, d.steps, now);
  return d.sandboxId;
}

/** Step kinds, for compact assertions. */
export function kinds(steps: readonly Step[]): string[] {
  return steps.map((s) => (s.kind === 'stop-sandbox' ? `stop-sandbox:${s.reason}` : s.kind));
}
