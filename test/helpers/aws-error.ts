import assert from 'node:assert/strict';
import { AwsError } from '../../src/errors/catalogue.js';

/**
 * Awaits `p` (or calls it) and checks it failed with the catalogue's error `code` (and `message`,
 * exactly or by pattern). For tests below the frontend; SDK-level tests use helpers/lambda.ts.
 */
export async function rejectsAwsError(p: Promise<unknown> | (() => unknown), code: string, message?: string | RegExp): Promise<AwsError> {
  let caught: unknown;
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof AwsError, `expected AwsError ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  if (typeof message === 'string') assert.equal(caught.message, message);
  else if (message) assert.match(caught.message, message);
  return caught;
}
