/**
 * A warm sandbox keeps nothing of an invocation once it has answered: results must not pile up
 * for as long as the sandbox lives (issue 9: 400 invocations returning 1 MiB each once took the
 * server from 76 to 488 MB). Checked without timing: weak references to each result are cleared
 * by a forced GC while the sandbox is still running.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { ProcessDriver } from '../../src/fleet/process-driver.js';
import { leakFree } from '../helpers/leaks.js';
import { invocation, nodeSpec, scratchRoot } from './isolation-fixtures.js';

// `gc` without --expose-gc on the command line (node --test passes no flags through to us).
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Collects garbage until every ref is cleared or a few rounds did not clear them (then they are retained). */
async function collected(refs: readonly WeakRef<object>[]): Promise<number> {
  for (let i = 0; i < 10; i++) {
    // A WeakRef's target survives the job that created or dereferenced it: yield to the loop first.
    await nextTurn();
    gc();
    if (refs.every((r) => r.deref() === undefined)) break;
  }
  return refs.filter((r) => r.deref() !== undefined).length;
}

void test(
  'results of finished invocations are not kept by a warm sandbox',
  leakFree(async (_t, defer) => {
    const scratch = scratchRoot('lambkin-mem-');
    defer(() => scratch.remove());
    const driver = new ProcessDriver({ initTimeoutMs: 10_000, python: 'python3' });
    defer(() => driver.close());
    const sandbox = await driver.create(nodeSpec(scratch.dir, "exports.handler = async () => 'x'.repeat(256 * 1024);"));
    const refs: WeakRef<object>[] = [];
    // In a function of its own, so that no local of this frame still holds the last result.
    const invokeOnce = async (i: number) => {
      const out = await sandbox.invoke(invocation({ i }));
      assert.equal(out.kind, 'success');
      assert.equal(out.payload.length, 256 * 1024 + 2);
      refs.push(new WeakRef(out), new WeakRef(out.payload));
    };
    for (let i = 0; i < 8; i++) await invokeOnce(i);
    assert.equal(sandbox.state, 'idle', 'the sandbox is still warm while we look');
    assert.equal(await collected(refs), 0, 'results still referenced');
    // And it still works after that.
    const again = await sandbox.invoke(invocation({}));
    assert.equal(again.kind, 'success');
  }),
);
