/**
 * One invocation through InvokeService in-process: the worker manager decides, the fleet runs the
 * steps on FakeDriver sandboxes, durations and deadlines come from a VirtualClock, and the log lines
 * written are Lambda's START / END / REPORT.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { FakeDriver, type FakeHandler } from '../../src/fleet/fake-driver.js';
import { Fleet } from '../../src/fleet/fleet.js';
import { InvokeService, type InvocableVersion, type InvokeRequest } from '../../src/invocations/invoke-service.js';
import { LogStore } from '../../src/invocations/log-store.js';
import { VirtualClock } from '../../src/util/clock.js';
import { createKeepAlivePolicy } from '../../src/worker-manager/keep-alive-config.js';
import { WorkerManager } from '../../src/worker-manager/worker-manager.js';

const T0 = Date.UTC(2026, 2, 4, 5, 6, 7);
const ACCOUNT = '000000000000';

interface Harness {
  readonly clock: VirtualClock;
  readonly invoker: InvokeService;
  readonly logs: LogStore;
  readonly version: InvocableVersion;
  /** Lines of the function's log file, without their stream prefix, and the streams. */
  logLines(): { stream: string; line: string }[];
  request(id: string, payload?: unknown): InvokeRequest;
}

function harness(t: { after: (fn: () => Promise<void>) => void }, handler: FakeHandler, v: Partial<InvocableVersion> = {}): Harness {
  const dir = mkdtempSync(join(tmpdir(), 'lambkin-invoke-service-'));
  const clock = new VirtualClock(T0);
  const driver = new FakeDriver({ 'index.handler': handler }, { clock });
  const wm = new WorkerManager({ vpcMode: 'legacy', hostMemoryMb: 4096, workerMemoryMb: 2048, keepAliveMs: 600_000 }, undefined, createKeepAlivePolicy({ policy: 'fixed', ttlMs: 600_000 }));
  const ref: { invoker?: InvokeService } = {};
  const fleet = new Fleet({ driver, clock, specFor: (step) => ref.invoker!.specFor(step) });
  const logs = new LogStore(join(dir, 'logs'));
  const invoker = new InvokeService({ workerManager: wm, fleet, clock, logs });
  ref.invoker = invoker;
  t.after(async () => {
    invoker.close();
    await fleet.close();
    await invoker.settled();
    rmSync(dir, { recursive: true, force: true });
  });
  const version: InvocableVersion = {
    account: ACCOUNT,
    region: 'us-east-1',
    functionName: 'fn',
    functionArn: `arn:aws:lambda:us-east-1:${ACCOUNT}:function:fn`,
    version: '$LATEST',
    versionKey: `arn:aws:lambda:us-east-1:${ACCOUNT}:function:fn:$LATEST`,
    runtime: 'nodejs20.x',
    handler: 'index.handler',
    codeDir: dir,
    memorySize: 256,
    timeout: 3,
    environment: {},
    ...v,
  };
  return {
    clock,
    invoker,
    logs,
    version,
    logLines: () =>
      readFileSync(logs.fileFor({ account: ACCOUNT, region: 'us-east-1', functionName: 'fn' }), 'utf8')
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => {
          const tab = l.indexOf('\t');
          return { stream: l.slice(0, tab), line: l.slice(tab + 1) };
        }),
    request: (id, payload = {}) => ({ requestId: id, payload: Buffer.from(JSON.stringify(payload)), invokedFunctionArn: version.functionArn }),
  };
}

/** A handler that waits until the test lets it finish (after moving the clock). */
function gated(): { handler: FakeHandler; entered: (id: string) => Promise<void>; finish: (id: string, value?: unknown) => void } {
  const gates = new Map<string, (v: unknown) => void>();
  const waiters = new Map<string, () => void>();
  return {
    handler: {
      handle: (event, ctx) =>
        new Promise((resolve) => {
          ctx.log(`got ${JSON.stringify(event)}`);
          gates.set(ctx.requestId, resolve);
          waiters.get(ctx.requestId)?.();
        }),
    },
    entered: (id) => (gates.has(id) ? Promise.resolve() : new Promise((resolve) => waiters.set(id, resolve))),
    finish: (id, value = 'ok') => gates.get(id)?.(value),
  };
}

describe('InvokeService', () => {
  test('a cold start, then a warm invocation: START, handler lines, END, REPORT (Init Duration only when cold)', async (t) => {
    const g = gated();
    const h = harness(t, g.handler);
    const first = h.invoker.invoke(h.version, h.request('req-1', { a: 1 }));
    await g.entered('req-1');
    h.clock.advance(T0 + 1234.5);
    g.finish('req-1', { answer: 42 });
    const r1 = await first;
    assert.equal(r1.coldStart, true);
    assert.equal(r1.narrowColdStart, true, 'the first start provisions the worker too');
    assert.equal(r1.functionError, undefined);
    assert.deepEqual(JSON.parse(r1.payload.toString()), { answer: 42 });

    const second = h.invoker.invoke(h.version, h.request('req-2'));
    await g.entered('req-2');
    h.clock.advance(T0 + 1234.5 + 10);
    g.finish('req-2');
    const r2 = await second;
    assert.equal(r2.coldStart, false);
    assert.equal(r2.narrowColdStart, false);

    const lines = h.logLines();
    assert.deepEqual(
      lines.map((l) => l.line),
      [
        'START RequestId: req-1 Version: $LATEST',
        'got {"a":1}',
        'END RequestId: req-1',
        'REPORT RequestId: req-1\tDuration: 1234.50 ms\tBilled Duration: 1235 ms\tMemory Size: 256 MB\tMax Memory Used: 1 MB\tInit Duration: 0.00 ms',
        'START RequestId: req-2 Version: $LATEST',
        'got {}',
        'END RequestId: req-2',
        'REPORT RequestId: req-2\tDuration: 10.00 ms\tBilled Duration: 10 ms\tMemory Size: 256 MB\tMax Memory Used: 1 MB',
      ],
    );
    // Both ran in the one sandbox, so in one log stream named after the day it started on.
    const streams = new Set(lines.map((l) => l.stream));
    assert.equal(streams.size, 1);
    assert.match([...streams][0]!, /^2026\/03\/04\/\[\$LATEST\][0-9a-f]{32}$/);

    // LogType=Tail: this invocation's lines only.
    assert.equal(Buffer.from(r2.logTail, 'base64').toString(), lines.slice(4).map((l) => `${l.line}\n`).join(''));
  });

  test('a handler that outlives its timeout on the clock: Sandbox.Timedout, Status: timeout, and the next start is cold', async (t) => {
    const g = gated();
    const h = harness(t, g.handler);
    const p = h.invoker.invoke(h.version, h.request('slow'));
    await g.entered('slow');
    h.clock.advance(T0 + 2999);
    h.clock.advance(T0 + 3000);
    const r = await p;
    assert.equal(r.functionError, 'Unhandled');
    assert.equal(r.errorType, 'Sandbox.Timedout');
    assert.deepEqual(JSON.parse(r.payload.toString()), { errorType: 'Sandbox.Timedout', errorMessage: 'RequestId: slow Error: Task timed out after 3.00 seconds' });
    assert.equal(h.logLines().at(-1)?.line, 'REPORT RequestId: slow\tDuration: 3000.00 ms\tBilled Duration: 3000 ms\tMemory Size: 256 MB\tMax Memory Used: 1 MB\tInit Duration: 0.00 ms\tStatus: timeout');
    await h.invoker.settled();

    const next = h.invoker.invoke(h.version, h.request('after'));
    await g.entered('after');
    g.finish('after');
    assert.equal((await next).coldStart, true, 'the timed-out sandbox is not reused');
  });

  test('a function error is a result (Unhandled, its type), and the sandbox stays warm', async (t) => {
    const h = harness(t, {
      handle: (event) => {
        if ((event as { fail?: boolean }).fail) throw new TypeError('bad input');
        return 'fine';
      },
    });
    const r = await h.invoker.invoke(h.version, h.request('e1', { fail: true }));
    assert.equal(r.functionError, 'Unhandled');
    assert.equal(r.errorType, 'TypeError');
    assert.deepEqual(JSON.parse(r.payload.toString()), { errorType: 'TypeError', errorMessage: 'bad input' });
    assert.doesNotMatch(h.logLines().at(-1)?.line ?? '', /Status:/);
    const ok = await h.invoker.invoke(h.version, h.request('e2'));
    assert.equal(ok.coldStart, false);
    assert.equal(JSON.parse(ok.payload.toString()), 'fine');
  });

  test('reserved concurrency 1: a second concurrent invocation is throttled, and runs once the first is done', async (t) => {
    const g = gated();
    const h = harness(t, g.handler, { reservedConcurrency: 1 });
    const first = h.invoker.invoke(h.version, h.request('one'));
    await g.entered('one');
    await assert.rejects(h.invoker.invoke(h.version, h.request('two')), (err: { type?: string }) => err.type === 'TooManyRequestsException');
    g.finish('one');
    await first;
    const third = h.invoker.invoke(h.version, h.request('three'));
    await g.entered('three');
    g.finish('three');
    assert.equal((await third).coldStart, false);
  });

  test('a failed init is reported as the function error of the invocation, with an INIT_REPORT line', async (t) => {
    const h = harness(t, {
      init: () => {
        const e = new Error('cannot load');
        e.name = 'Runtime.ImportModuleError';
        throw e;
      },
      handle: () => 'never',
    });
    const r = await h.invoker.invoke(h.version, h.request('i1'));
    assert.equal(r.functionError, 'Unhandled');
    assert.equal(r.errorType, 'Runtime.ImportModuleError');
    assert.ok(
      h.logLines().some((l) => l.line === 'INIT_REPORT Init Duration: 0.00 ms\tPhase: init\tStatus: error\tError Type: Runtime.ImportModuleError'),
      JSON.stringify(h.logLines()),
    );
  });
});
