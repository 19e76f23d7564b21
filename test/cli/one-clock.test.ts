/**
 * A server started on a virtual clock runs on nothing else: over HTTP, a request's arrival, its
 * deadline and the timer that enforces it, the trace it leaves, LastModified and the health check's
 * uptime all read the one clock, which moves only when the test moves it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GetFunctionConfigurationCommand, InvokeCommand } from '@aws-sdk/client-lambda';
import { GetTraceSummariesCommand, XRayClient } from '@aws-sdk/client-xray';
import { FakeDriver } from '../../src/fleet/fake-driver.js';
import { VirtualClock } from '../../src/util/clock.js';
import { createFn, json } from '../helpers/lambda.js';
import { leakFree } from '../helpers/leaks.js';
import { startTestServer } from '../helpers/server.js';
import { makeZip } from '../helpers/zip.js';

const T0 = Date.UTC(2001, 0, 2, 3, 4, 5);

void test(
  'on a virtual clock, arrival, deadline, timeout, trace, LastModified and uptime all come from it',
  leakFree(async (_t, defer) => {
    const clock = new VirtualClock(T0);
    let entered!: () => void;
    const inHandler = new Promise<void>((resolve) => (entered = resolve));
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    defer(() => release());
    const driver = new FakeDriver(
      {
        'index.handler': {
          handle: async () => {
            entered();
            await gate;
            return 'late';
          },
        },
      },
      { clock },
    );
    const s = await startTestServer(defer, { clock, driver });
    const health = async () => ((await (await fetch(new URL('/lambkin/health', s.lambkin.url))).json()) as { uptimeMs: number }).uptimeMs;
    assert.equal(await health(), 0);

    await createFn(s.lambda, 'clocked', makeZip({ 'index.js': 'exports.handler = async () => 1;\n' }), { Timeout: 3, TracingConfig: { Mode: 'Active' } });
    const cfg = await s.lambda.send(new GetFunctionConfigurationCommand({ FunctionName: 'clocked' }));
    assert.match(cfg.LastModified ?? '', /^2001-01-02T03:04:05/);

    clock.advance(T0 + 1000);
    assert.equal(await health(), 1000);

    const invoked = s.lambda.send(new InvokeCommand({ FunctionName: 'clocked', Payload: Buffer.from('{}') }));
    await inHandler;
    // The deadline is 3 s after the request arrived on this clock; only moving the clock ends it.
    clock.advance(T0 + 1000 + 3000);
    const r = await invoked;
    assert.equal(r.FunctionError, 'Unhandled');
    assert.deepEqual(json(r.Payload), { errorType: 'Sandbox.Timedout', errorMessage: `RequestId: ${r.$metadata.requestId} Error: Task timed out after 3.00 seconds` });

    const xray = new XRayClient({ endpoint: s.lambkin.url, region: 'us-east-1', credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'test' }, maxAttempts: 1 });
    defer(() => xray.destroy());
    const { TraceSummaries: traces = [] } = await xray.send(new GetTraceSummariesCommand({ StartTime: new Date(T0), EndTime: new Date(T0 + 60_000) }));
    assert.equal(traces.length, 1, 'the trace starts at the arrival on the virtual clock');
    const duration = traces[0]?.Duration ?? NaN;
    assert.ok(duration >= 3 && duration < 3.1, `the trace lasts the 3 s the clock moved, not ${duration} s`);
  }),
);
