/** Shared by the placement / concurrency / VPC integration tests: the fleet as the server reports it. */
import assert from 'node:assert/strict';
import type { FleetView } from '../../src/worker-manager/types.js';

/** GET /lambkin/v1/fleet. */
export async function fleetOf(url: string): Promise<FleetView> {
  const res = await fetch(`${url}/lambkin/v1/fleet`);
  assert.equal(res.status, 200);
  return (await res.json()) as FleetView;
}

/** Resolves once `check()` holds, polling every `everyMs` (for states the API only exposes by polling); rejects after `timeoutMs`. */
export async function eventually<T>(what: string, check: () => Promise<T | undefined> | T | undefined, timeoutMs = 10_000, everyMs = 25): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Hyperplane mode with the aws-2019 ENI delay shrunk to ~0.4–0.7 s, and the VPC ids the VPC tests use. */
export const HYPERPLANE = { vpcMode: 'hyperplane', latencyProfile: 'aws-2019', timeScale: 0.05, seed: 3 } as const;
export const SUBNETS = ['subnet-11111111', 'subnet-22222222'];
export const SG_A = ['sg-aaaaaaaa'];
export const SG_B = ['sg-bbbbbbbb'];
