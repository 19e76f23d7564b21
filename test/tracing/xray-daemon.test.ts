import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { openDatabase } from '../../src/store/database.js';
import { VirtualClock } from '../../src/util/clock.js';
import { invocationSegments, type SegmentDocument } from '../../src/tracing/segments.js';
import { TraceStore } from '../../src/tracing/trace-store.js';
import { FrameReader, MAX_FRAME_BYTES, parseDatagram, XrayDaemon } from '../../src/tracing/xray-daemon.js';
import { leakFree } from '../helpers/leaks.js';
import { pythonMissing, pythonWith } from '../helpers/tools.js';
import { coldTrace, T0 } from './fixtures.js';

const HEADER = '{"format": "json", "version": 1}\n';
const FN_SEGMENT = 'bbbbbbbbbbbbbbbb';

async function setup(defer: (c: () => unknown) => void) {
  const db = openDatabase(':memory:');
  defer(() => db.close());
  const store = new TraceStore(db, { clock: new VirtualClock(T0) });
  const trace = coldTrace({ segmentIds: { lambda: 'aaaaaaaaaaaaaaaa', function: FN_SEGMENT } });
  store.put(invocationSegments(trace));
  const dropped: string[] = [];
  let handledCount = 0;
  const waiters: { n: number; resolve: () => void }[] = [];
  const onDatagram = () => {
    handledCount++;
    for (const w of waiters.filter((x) => x.n <= handledCount)) w.resolve();
  };
  const daemon = await XrayDaemon.start({ store, host: '127.0.0.1', port: 0, onDropped: (r) => dropped.push(r), onDatagram });
  defer(() => daemon.close());
  const client = createSocket('udp4');
  defer(() => new Promise<void>((r) => client.close(() => r())));
  const send = async (msg: string | Buffer) => {
    await new Promise<void>((resolve, reject) => client.send(msg, daemon.port, '127.0.0.1', (e) => (e ? reject(e) : resolve())));
  };
  /** Resolves once the daemon has handled `n` datagrams (delivery on loopback is asynchronous). */
  const handled = (n: number) =>
    new Promise<void>((resolve) => {
      if (handledCount >= n) resolve();
      else waiters.push({ n, resolve });
    });
  return { store, trace, daemon, send, handled, dropped };
}

function userSubsegment(traceId: string, over: Partial<SegmentDocument> = {}): SegmentDocument {
  return {
    id: 'cccccccccccccccc',
    name: 'fetch-orders',
    start_time: (T0 + 1273) / 1000,
    end_time: (T0 + 1276) / 1000,
    type: 'subsegment',
    parent_id: FN_SEGMENT,
    trace_id: traceId,
    namespace: 'remote',
    annotations: { orders: 2 },
    ...over,
  };
}

describe('X-Ray daemon (UDP)', () => {
  test('parseDatagram splits header and document and refuses other formats', () => {
    assert.deepEqual(parseDatagram(Buffer.from(HEADER + '{"a":1}')), { document: '{"a":1}' });
    assert.ok('error' in parseDatagram(Buffer.from('{"a":1}')));
    assert.ok('error' in parseDatagram(Buffer.from('{"format":"xml"}\n{}')));
    assert.ok('error' in parseDatagram(Buffer.from('nope\n{}')));
    assert.ok('error' in parseDatagram(Buffer.from('{"format":"json","version":2}\n{}')));
  });

  test(
    'a port that is taken rejects start and leaves no socket open',
    leakFree(async (_t, defer) => {
      const { daemon } = await setup(defer);
      const sockets = () => process.getActiveResourcesInfo().filter((r) => r === 'UDPWrap').length;
      const before = sockets();
      const db = openDatabase(':memory:');
      defer(() => db.close());
      const store = new TraceStore(db, { clock: new VirtualClock(T0) });
      await assert.rejects(XrayDaemon.start({ store, host: '127.0.0.1', port: daemon.port }), { code: 'EADDRINUSE' });
      // A closed handle leaves the list in libuv's close phase, a few loop turns later.
      for (let i = 0; i < 50 && sockets() > before; i++) await new Promise((r) => setImmediate(r));
      assert.equal(sockets(), before);
    }),
  );

  test(
    'a subsegment sent as aws-xray-sdk-core sends it joins the function segment of its trace',
    leakFree(async (_t, defer) => {
      const { store, trace, daemon, send, handled } = await setup(defer);
      assert.match(daemon.address, /^127\.0\.0\.1:\d+$/);
      await send(HEADER + JSON.stringify(userSubsegment(trace.traceId)));
      await handled(1);
      assert.equal(daemon.stats.stored, 1);
      const fn = store
        .trace(trace.traceId)
        ?.Segments.map((s) => JSON.parse(s.Document) as SegmentDocument)
        .find((d) => d.id === FN_SEGMENT);
      assert.deepEqual(
        fn?.subsegments?.map((s) => s.name),
        ['Initialization', 'Invocation', 'fetch-orders', 'Overhead'],
      );
      assert.deepEqual(store.summary(trace.traceId)?.Annotations.orders?.map((a) => a.AnnotationValue), [{ NumberValue: 2 }]);
      assert.ok(store.summary(trace.traceId)?.ServiceIds.some((s) => s.Name === 'fetch-orders' && s.Type === 'remote'));
    }),
  );

  test(
    'malformed datagrams are dropped and counted; the listener keeps working',
    leakFree(async (_t, defer) => {
      const { store, trace, daemon, send, handled, dropped } = await setup(defer);
      await send('garbage without header');
      await send(HEADER + '{not json');
      await send(HEADER + JSON.stringify({ id: 'short', name: 'x' }));
      await send(Buffer.from([0xff, 0xfe, 0x0a, 0x00]));
      await send(HEADER);
      await send(HEADER + JSON.stringify(userSubsegment(trace.traceId, { id: 'dddddddddddddddd', name: 'after-garbage' })));
      await handled(6);
      assert.equal(daemon.stats.dropped, 5);
      assert.equal(dropped.length, 5);
      assert.equal(daemon.stats.stored, 1);
      assert.ok(store.trace(trace.traceId)?.Segments.some((s) => s.Document.includes('after-garbage')));
    }),
  );

  const python = pythonWith('aws_xray_sdk.core');
  test(
    'the real Python X-Ray SDK in Lambda mode streams its subsegment to the daemon',
    { skip: python ? false : pythonMissing(['aws_xray_sdk'], ['python3-aws-xray-sdk']) },
    leakFree(async (_t, defer) => {
      const { store, trace, daemon, handled } = await setup(defer);
      const script = [
        'from aws_xray_sdk.core import xray_recorder',
        "sub = xray_recorder.begin_subsegment('python-work')",
        "sub.put_annotation('from_python', True)",
        'xray_recorder.end_subsegment()',
      ].join('\n');
      const child = execFile(python ?? 'python3', ['-c', script], {
        env: {
          PATH: process.env.PATH ?? '',
          HOME: process.env.HOME ?? '/tmp',
          LAMBDA_TASK_ROOT: '/tmp',
          AWS_XRAY_DAEMON_ADDRESS: daemon.address,
          _X_AMZN_TRACE_ID: `Root=${trace.traceId};Parent=${FN_SEGMENT};Sampled=1`,
        },
      });
      const [code] = (await once(child, 'exit')) as [number];
      assert.equal(code, 0);
      await handled(1);
      const fn = store
        .trace(trace.traceId)
        ?.Segments.map((s) => JSON.parse(s.Document) as SegmentDocument)
        .find((d) => d.id === FN_SEGMENT);
      assert.ok(fn?.subsegments?.some((s) => s.name === 'python-work'), JSON.stringify(fn?.subsegments?.map((s) => s.name)));
      assert.deepEqual(store.summary(trace.traceId)?.Annotations.from_python?.map((a) => a.AnnotationValue), [{ BooleanValue: true }]);
    }),
  );
});

describe('X-Ray daemon (Unix stream of framed datagrams, as the sandbox relay sends them)', () => {
  const frame = (payload: Buffer | string): Buffer => {
    const b = Buffer.from(payload);
    const len = Buffer.alloc(4);
    len.writeUInt32BE(b.length);
    return Buffer.concat([len, b]);
  };

  test('FrameReader splits frames across and within chunks and refuses oversized ones', () => {
    const r = new FrameReader(10);
    const all = Buffer.concat([frame('abc'), frame(''), frame('0123456789')]);
    const got: string[] = [];
    for (let i = 0; i < all.length; i++) {
      const out = r.push(all.subarray(i, i + 1));
      assert.ok(Array.isArray(out));
      got.push(...out.map((b) => b.toString()));
    }
    assert.deepEqual(got, ['abc', '', '0123456789']);
    assert.equal(r.buffered, 0);
    assert.deepEqual(r.push(frame('x'.repeat(11))), { error: 'frame of 11 bytes exceeds 10' });
    assert.equal(MAX_FRAME_BYTES, 65536);
  });

  test(
    'frames are stored like datagrams; a bad frame closes only its connection; close() removes the socket',
    leakFree(async (_t, defer) => {
      const { store, trace, daemon, handled, dropped } = await setup(defer);
      const dir = mkdtempSync(join(tmpdir(), 'lambkin-xray-'));
      defer(() => rmSync(dir, { recursive: true, force: true }));
      const path = join(dir, 'xray.sock');
      const listener = await daemon.listenStream(path);
      assert.equal(statSync(path).mode & 0o777, 0o666);
      const connect = async () => {
        const c = net.connect(path);
        c.on('error', () => {});
        defer(() => c.destroy());
        await once(c, 'connect');
        return c;
      };
      const good = await connect();
      // One subsegment split over two writes, then a malformed document, in one stream.
      const doc = frame(HEADER + JSON.stringify(userSubsegment(trace.traceId, { id: 'eeeeeeeeeeeeeeee', name: 'via-relay' })));
      good.write(doc.subarray(0, 7));
      good.write(Buffer.concat([doc.subarray(7), frame('not the protocol')]));
      await handled(2);
      assert.equal(daemon.stats.stored, 1);
      assert.ok(store.trace(trace.traceId)?.Segments.some((s) => s.Document.includes('via-relay')));

      const bad = await connect();
      const badClosed = once(bad, 'close');
      bad.write(Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 2, 3]));
      await badClosed;
      assert.match(dropped.at(-1) ?? '', /exceeds 65536/);

      // The good connection still works after the bad one was cut off.
      good.write(frame(HEADER + JSON.stringify(userSubsegment(trace.traceId, { id: 'ffffffffffffffff', name: 'still-flowing' }))));
      await handled(4);
      assert.equal(daemon.stats.stored, 2);

      const goodClosed = once(good, 'close');
      await listener.close();
      await goodClosed;
      assert.equal(existsSync(path), false);
    }),
  );

  test(
    'start({ streamSocketPath }) listens at once; daemon.close() ends the stream listener too',
    leakFree(async (_t, defer) => {
      const db = openDatabase(':memory:');
      defer(() => db.close());
      const dir = mkdtempSync(join(tmpdir(), 'lambkin-xray-'));
      defer(() => rmSync(dir, { recursive: true, force: true }));
      const path = join(dir, 'xray.sock');
      let handledOne: () => void = () => {};
      const one = new Promise<void>((resolve) => (handledOne = resolve));
      const daemon = await XrayDaemon.start({ store: new TraceStore(db, { clock: new VirtualClock(T0) }), streamSocketPath: path, onDatagram: () => handledOne() });
      defer(() => daemon.close());
      const c = net.connect(path);
      c.on('error', () => {});
      defer(() => c.destroy());
      await once(c, 'connect');
      c.write(frame('garbage'));
      await one;
      assert.equal(daemon.stats.dropped, 1);
      const closed = once(c, 'close');
      await daemon.close();
      await closed;
      assert.equal(existsSync(path), false);
    }),
  );
});
