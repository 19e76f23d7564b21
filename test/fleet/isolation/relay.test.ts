/**
 * The sandbox relay, run for real as `perl -e RELAY_PERL`: node's http client → relay (TCP on
 * 127.0.0.1) → a node server on a Unix socket, and UDP datagrams → frames on a Unix stream. Ports
 * are 0 (the relay reports what it bound in its ready line), except inside a fresh network
 * namespace, where the production ports are free.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { describe, test } from 'node:test';
import {
  parseRelayReady,
  RELAY_PERL,
  relayArgs,
  sandboxNetworkEnv,
  sandboxRelay,
  sandboxRoutes,
  RUNTIME_API_SOCKET,
  AWS_ENDPOINT_SOCKET,
  XRAY_SOCKET,
  SANDBOX_AWS_ENDPOINT_PORT,
  SANDBOX_RUNTIME_API_PORT,
  SANDBOX_XRAY_PORT,
  type RelayRoute,
} from '../../../src/fleet/isolation/relay.js';
import { FrameReader } from '../../../src/tracing/xray-daemon.js';
import { RuntimeApiServer } from '../../../src/fleet/runtime-api-server.js';
import { leakFree, type Defer } from '../../helpers/leaks.js';

/** Reads the first line from a stream ('' on EOF without one), leaving the stream open and paused. */
function firstLine(stream: Readable): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    const done = (line: string) => {
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.pause();
      resolve(line);
    };
    const onData = (chunk: Buffer) => {
      text += chunk.toString();
      const nl = text.indexOf('\n');
      if (nl >= 0) done(text.slice(0, nl + 1));
    };
    const onEnd = () => done('');
    stream.on('data', onData);
    stream.on('end', onEnd);
  });
}

interface Relay {
  child: ChildProcess;
  ports: number[];
}

async function startRelay(defer: Defer, routes: RelayRoute[], prctl?: number | null): Promise<Relay> {
  const child = spawn('perl', [...relayArgs({ routes, ...(prctl !== undefined ? { prctl } : {}) }), '3'], { stdio: ['ignore', 'ignore', 'inherit', 'pipe'] });
  defer(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
  });
  const ready = parseRelayReady(await firstLine(child.stdio[3] as Readable));
  if (ready instanceof Error) throw ready;
  return { child, ports: ready };
}

function scratch(defer: Defer): string {
  const dir = mkdtempSync(join(tmpdir(), 'lambkin-relay-'));
  defer(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Listens on a Unix socket; closing (deferred) also ends every connection the server still has. */
async function listen(defer: Defer, server: net.Server, path: string): Promise<void> {
  const open = new Set<net.Socket>();
  server.on('connection', (c: net.Socket) => {
    open.add(c);
    c.on('close', () => open.delete(c));
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  defer(() => {
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const c of open) c.destroy();
    return closed;
  });
}

/** An HTTP server on a Unix socket that echoes: status 200, the body's sha256 in a header, `size` bytes back (default: the body). */
async function echoServer(defer: Defer, path: string): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const hash = createHash('sha256');
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => {
      hash.update(c);
      chunks.push(c);
    });
    req.on('end', () => {
      const size = Number(req.headers['x-reply-size'] ?? -1);
      const body = size >= 0 ? Buffer.alloc(size, 7) : Buffer.concat(chunks);
      res.writeHead(200, { 'x-sha256': hash.digest('hex'), 'x-url': req.url ?? '' });
      res.end(body);
    });
  });
  await listen(defer, server, path);
  return server;
}

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  reused: boolean;
}

function request(port: number, o: { path?: string; body?: Buffer | string; headers?: Record<string, string>; agent?: http.Agent | false; method?: string } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: o.method ?? 'POST', path: o.path ?? '/', agent: o.agent ?? false, headers: o.headers ?? {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), reused: req.reusedSocket }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(o.body);
  });
}

const sha = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

describe('sandbox relay (perl)', () => {
  test('argv carries every value as an argument; the ready line parses', () => {
    const args = relayArgs({ prctl: 157, routes: [{ proto: 'tcp', port: 9001, socket: '/var/lambkin/runtime.sock' }, { proto: 'udp', port: 2000, socket: '/x y/$(z).sock' }] });
    assert.deepEqual(args, ['-e', RELAY_PERL, '--', '157', '2', 'tcp', '9001', '/var/lambkin/runtime.sock', 'udp', '2000', '/x y/$(z).sock']);
    assert.deepEqual(sandboxRelay('/usr/bin/perl', '/var/lambkin', 167), {
      listen: [{ proto: 'tcp', port: 9001 }, { proto: 'tcp', port: 9002 }, { proto: 'udp', port: 2000 }],
      argv: [
        '/usr/bin/perl', '-e', RELAY_PERL, '--', '167', '3',
        'tcp', 'fd:0', '/var/lambkin/runtime.sock', 'tcp', 'fd:1', '/var/lambkin/aws.sock', 'udp', 'fd:2', '/var/lambkin/xray.sock',
      ],
    });
    assert.throws(() => relayArgs({ routes: [{ proto: 'tcp', port: 'fd:x' as 'fd:0', socket: '/s' }] }), RangeError);
    assert.throws(() => relayArgs({ routes: [{ proto: 'tcp', port: 70000, socket: '/s' }] }), RangeError);
    assert.deepEqual(parseRelayReady('ready 9001 9002 2000\n'), [9001, 9002, 2000]);
    assert.match(String(parseRelayReady('error bind tcp 127.0.0.1:9001: Address already in use\n')), /Address already in use/);
    assert.ok(parseRelayReady('') instanceof Error);
    assert.deepEqual(sandboxNetworkEnv().AWS_LAMBDA_RUNTIME_API, `127.0.0.1:${SANDBOX_RUNTIME_API_PORT}`);
  });

  test(
    'a port that is taken: the relay reports an error line and exits 1',
    leakFree(async (_t, defer) => {
      const dir = scratch(defer);
      const taken = net.createServer();
      await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
      defer(() => new Promise<void>((resolve) => taken.close(() => resolve())));
      const port = (taken.address() as net.AddressInfo).port;
      const child = spawn('perl', [...relayArgs({ routes: [{ proto: 'tcp', port, socket: join(dir, 's') }] }), '3'], { stdio: ['ignore', 'ignore', 'inherit', 'pipe'] });
      const exited = once(child, 'exit');
      const ready = parseRelayReady(await firstLine(child.stdio[3] as Readable));
      assert.ok(ready instanceof Error);
      assert.match(ready.message, new RegExp(`bind tcp 127.0.0.1:${port}`));
      assert.deepEqual(await exited, [1, null]);
    }),
  );

  test(
    'HTTP through the relay: keep-alive reuse, 50 parallel requests, 6 MiB both ways',
    leakFree(async (_t, defer) => {
      const dir = scratch(defer);
      await echoServer(defer, join(dir, 'api.sock'));
      const { ports } = await startRelay(defer, [{ proto: 'tcp', port: 0, socket: join(dir, 'api.sock') }]);
      const port = ports[0] as number;
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      defer(() => agent.destroy());
      const a = await request(port, { agent, body: 'one', path: '/first' });
      assert.equal(a.status, 200);
      assert.equal(a.body.toString(), 'one');
      assert.equal(a.headers['x-url'], '/first');
      const b = await request(port, { agent, body: 'two' });
      assert.equal(b.body.toString(), 'two');
      assert.equal(b.reused, true, 'the second request rides the same relayed connection');

      const many = await Promise.all(Array.from({ length: 50 }, (_, i) => request(port, { body: `request ${i} `.repeat(i * 100 + 1), path: `/p${i}` })));
      many.forEach((r, i) => {
        assert.equal(r.headers['x-url'], `/p${i}`);
        assert.equal(r.body.toString(), `request ${i} `.repeat(i * 100 + 1));
      });

      const big = randomBytes(6 * 1024 * 1024);
      const up = await request(port, { body: big, headers: { 'x-reply-size': String(6 * 1024 * 1024 + 100) } });
      assert.equal(up.headers['x-sha256'], sha(big));
      assert.equal(up.body.length, 6 * 1024 * 1024 + 100);
      assert.equal(sha(up.body), sha(Buffer.alloc(6 * 1024 * 1024 + 100, 7)));
      const echo = await request(port, { body: big, agent });
      assert.equal(sha(echo.body), sha(big));
    }),
  );

  test(
    'out of file descriptors: connections wait in the backlog and are served as others close',
    leakFree(async (_t, defer) => {
      const dir = scratch(defer);
      await echoServer(defer, join(dir, 'api.sock'));
      // 16 fds: after stdio and the listener, room for about 5 relayed connections at a time.
      const child = spawn('sh', ['-c', 'ulimit -n 16 && exec "$0" "$@"', 'perl', ...relayArgs({ routes: [{ proto: 'tcp', port: 0, socket: join(dir, 'api.sock') }] }), '3'], {
        stdio: ['ignore', 'ignore', 'inherit', 'pipe'],
      });
      defer(async () => {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGKILL');
          await once(child, 'exit');
        }
      });
      const ready = parseRelayReady(await firstLine(child.stdio[3] as Readable));
      if (ready instanceof Error) throw ready;
      const port = ready[0] as number;
      const rs = await Promise.all(Array.from({ length: 40 }, (_, i) => request(port, { body: `n${i}`, headers: { Connection: 'close' } })));
      assert.deepEqual(
        rs.map((r) => r.body.toString()),
        Array.from({ length: 40 }, (_, i) => `n${i}`),
      );
      assert.equal(child.exitCode, null);
    }),
  );

  test(
    'half-close travels both ways: the function ends its side and still reads the reply',
    leakFree(async (_t, defer) => {
      const dir = scratch(defer);
      const path = join(dir, 'raw.sock');
      const server = net.createServer({ allowHalfOpen: true }, (conn) => {
        const got: Buffer[] = [];
        conn.on('data', (c: Buffer) => got.push(c));
        conn.on('end', () => conn.end(`read ${Buffer.concat(got).length} bytes after your FIN`));
      });
      await listen(defer, server, path);
      const { ports } = await startRelay(defer, [{ proto: 'tcp', port: 0, socket: path }]);
      const client = net.connect({ host: '127.0.0.1', port: ports[0] as number, allowHalfOpen: true });
      defer(() => client.destroy());
      await once(client, 'connect');
      client.end(Buffer.alloc(300_000, 1));
      const reply: Buffer[] = [];
      client.on('data', (c: Buffer) => reply.push(c));
      await once(client, 'end');
      assert.equal(Buffer.concat(reply).toString(), 'read 300000 bytes after your FIN');

      // And the other way: the server ends first, the function keeps writing and the server reads it.
      server.removeAllListeners('connection');
      const serverRead = new Promise<string>((resolve) =>
        server.once('connection', (conn: net.Socket) => {
          conn.end('bye first');
          const got: Buffer[] = [];
          conn.on('data', (c: Buffer) => got.push(c));
          conn.on('end', () => resolve(Buffer.concat(got).toString()));
        }),
      );
      const c2 = net.connect({ host: '127.0.0.1', port: ports[0] as number, allowHalfOpen: true });
      defer(() => c2.destroy());
      const got2: Buffer[] = [];
      c2.on('data', (c: Buffer) => got2.push(c));
      await once(c2, 'end');
      assert.equal(Buffer.concat(got2).toString(), 'bye first');
      c2.end('still talking');
      assert.equal(await serverRead, 'still talking');
    }),
  );

  test(
    'a long-poll held open while other connections come and go is answered on the same connection',
    leakFree(async (_t, defer) => {
      const dir = scratch(defer);
      const path = join(dir, 'api.sock');
      let release: (() => void) | undefined;
      const parked = new Promise<void>((resolveParked) => {
        const server = http.createServer((req, res) => {
          if (req.url === '/next') {
            req.resume();
            release = () => res.end('the event');
            resolveParked();
            return;
          }
          req.resume();
          req.on('end', () => res.end(`short ${req.url ?? ''}`));
        });
        server.keepAliveTimeout = 0;
        void listen(defer, server, path);
      });
      const { ports } = await startRelay(defer, [{ proto: 'tcp', port: 0, socket: path }]);
      const port = ports[0] as number;
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      defer(() => agent.destroy());
      await request(port, { agent, path: '/warm', method: 'GET' });
      const next = request(port, { agent, path: '/next', method: 'GET' });
      await parked;
      for (let round = 0; round < 5; round++) {
        const rs = await Promise.all(Array.from({ length: 20 }, (_, i) => request(port, { path: `/s${i}`, method: 'GET' })));
        assert.deepEqual(
          rs.map((r) => r.body.toString()),
          Array.from({ length: 20 }, (_, i) => `short /s${i}`),
        );
      }
      release?.();
      const answer = await next;
      assert.equal(answer.body.toString(), 'the event');
      assert.equal(answer.reused, true);
      const after = await request(port, { agent, path: '/after', method: 'GET' });
      assert.equal(after.reused, true, 'the long-held connection is still usable');
    }),
  );

  test(
    'an absent target closes the function connection; the target appearing later is reached',
    leakFree(async (_t, defer) => {
      const dir = scratch(defer);
      const path = join(dir, 'later.sock');
      const { child, ports } = await startRelay(defer, [{ proto: 'tcp', port: 0, socket: path }]);
      const port = ports[0] as number;
      await assert.rejects(request(port, { body: 'x' }), (e: NodeJS.ErrnoException) => e.code === 'ECONNRESET');
      await assert.rejects(request(port, { body: 'x' }), (e: NodeJS.ErrnoException) => e.code === 'ECONNRESET');
      await echoServer(defer, path);
      assert.equal((await request(port, { body: 'now' })).body.toString(), 'now');
      assert.equal(child.exitCode, null);
    }),
  );

  test(
    'garbage and abuse from the function side never take the relay down',
    leakFree(async (_t, defer) => {
      const dir = scratch(defer);
      await echoServer(defer, join(dir, 'api.sock'));
      const xray = net.createServer((c) => c.resume());
      await listen(defer, xray, join(dir, 'xray.sock'));
      const { child, ports } = await startRelay(defer, [
        { proto: 'tcp', port: 0, socket: join(dir, 'api.sock') },
        { proto: 'udp', port: 0, socket: join(dir, 'xray.sock') },
      ]);
      const [port, udpPort] = ports as [number, number];
      const raw = async (bytes: Buffer, how: 'end' | 'reset' | 'abandon'): Promise<void> => {
        const s = net.connect(port, '127.0.0.1');
        s.on('error', () => {});
        await once(s, 'connect');
        s.write(bytes);
        if (how === 'reset') s.resetAndDestroy();
        else if (how === 'end') {
          s.end();
          s.resume();
          await once(s, 'close');
        } else s.destroy();
      };
      await raw(randomBytes(100_000), 'end');
      await raw(Buffer.from('GET / HTTP/1.1\r\n' + 'X: '.padEnd(200_000, 'a') + '\r\n\r\n'), 'end');
      await raw(Buffer.from('POST / HTTP/1.1\r\nContent-Length: 9999999\r\n\r\npartial'), 'reset');
      await Promise.all(Array.from({ length: 100 }, (_, i) => raw(randomBytes(i * 50), i % 2 ? 'reset' : 'abandon')));
      const udp = createSocket('udp4');
      defer(() => new Promise<void>((resolve) => udp.close(() => resolve())));
      const send = (b: Buffer) => new Promise<void>((resolve, reject) => udp.send(b, udpPort, '127.0.0.1', (e) => (e ? reject(e) : resolve())));
      await send(Buffer.alloc(0));
      await send(randomBytes(65_507));
      for (let i = 0; i < 200; i++) await send(randomBytes(i * 13));
      const ok = await request(port, { body: 'still here' });
      assert.equal(ok.body.toString(), 'still here');
      assert.equal(child.exitCode, null);
      assert.equal(child.signalCode, null);
    }),
  );

  test(
    'UDP datagrams arrive as length-prefixed frames on one Unix stream connection, dropped while it is down',
    leakFree(async (_t, defer) => {
      const dir = scratch(defer);
      const path = join(dir, 'xray.sock');
      await echoServer(defer, join(dir, 'api.sock'));
      const { ports } = await startRelay(defer, [
        { proto: 'udp', port: 0, socket: path },
        { proto: 'tcp', port: 0, socket: join(dir, 'api.sock') },
      ]);
      const [udpPort, port] = ports as [number, number];
      const udp = createSocket('udp4');
      defer(() => new Promise<void>((resolve) => udp.close(() => resolve())));
      const send = (b: Buffer | string) => new Promise<void>((resolve, reject) => udp.send(b, udpPort, '127.0.0.1', (e) => (e ? reject(e) : resolve())));
      // A TCP round trip through the relay: the relay handles readable datagrams before new connections, so
      // every datagram sent before it has been handled (forwarded or dropped) once it returns.
      const roundTrip = async () => assert.equal((await request(port, { body: 'sync' })).status, 200);

      await send("lost: nobody listens yet");
      await roundTrip(); 

      const frames: Buffer[][] = [];
      const waiters: (() => void)[] = [];
      const conns: net.Socket[] = [];
      const server = net.createServer((conn) => {
        conns.push(conn);
        const mine: Buffer[] = [];
        frames.push(mine);
        const reader = new FrameReader();
        conn.on('data', (c: Buffer) => {
          const got = reader.push(c);
          assert.ok(Array.isArray(got));
          mine.push(...got);
          for (const w of waiters.splice(0)) w();
        });
      });
      await listen(defer, server, path);
      const total = () => frames.reduce((n, f) => n + f.length, 0);
      const until = async (cond: () => boolean) => {
        while (!cond()) await new Promise<void>((resolve) => waiters.push(resolve));
      };
      const big = randomBytes(65_507);
      await send('{"format":"json","version":1}\n{"a":1}');
      await send(Buffer.alloc(0));
      await send(big);
      for (let i = 0; i < 50; i++) await send(`datagram ${i}`);
      await until(() => total() >= 53); 
      assert.equal(frames.length, 1, 'one connection carries every frame');
      const f = frames[0] as Buffer[];
      assert.equal(f[0]?.toString(), '{"format":"json","version":1}\n{"a":1}');
      assert.equal(f[1]?.length, 0);
      assert.ok(f[2]?.equals(big));
      assert.deepEqual(
        f.slice(3).map((b) => b.toString()),
        Array.from({ length: 50 }, (_, i) => `datagram ${i}`),
      );

      // The daemon's side goes away: the relay reconnects lazily on a later datagram.
      for (const c of conns) c.destroy();
      let n = 0;
      while (frames.length < 2 || (frames[1] as Buffer[]).length === 0) {
        await send(`after ${n++}`); 
        await roundTrip(); 
        if (frames.length >= 2) await until(() => (frames[1] as Buffer[]).length > 0);
      }
      assert.match((frames[1] as Buffer[])[0]?.toString() ?? '', /^after \d+$/);
    }),
  );

  test(
    'a runtime polls the Runtime API on its Unix socket through the relay: parked /next, 6 MiB event and response',
    leakFree(async (_t, defer) => {
      const dir = scratch(defer);
      const path = join(dir, RUNTIME_API_SOCKET);
      const api = await RuntimeApiServer.start({ socketPath: path });
      defer(() => api.close());
      const { ports } = await startRelay(defer, [{ proto: 'tcp', port: 0, socket: path }]);
      const port = ports[0] as number;
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      defer(() => agent.destroy());
      const next = request(port, { agent, method: 'GET', path: '/2018-06-01/runtime/invocation/next' });
      await api.waitForInit();
      const event = randomBytes(6 * 1024 * 1024);
      const result = api.invoke({ requestId: 'via-relay', payload: event, deadlineMs: Date.now() + 60_000, invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:f' });
      const got = await next;
      assert.equal(got.headers['lambda-runtime-aws-request-id'], 'via-relay');
      assert.equal(sha(got.body), sha(event));
      const answer = randomBytes(6 * 1024 * 1024);
      const posted = await request(port, { agent, path: '/2018-06-01/runtime/invocation/via-relay/response', body: answer });
      assert.equal(posted.status, 202);
      assert.equal(posted.reused, true);
      const r = await result;
      assert.equal(r.kind, 'response');
      assert.equal(sha(r.payload), sha(answer));
      // The runtime parks again on the same connection.
      const again = request(port, { agent, method: 'GET', path: '/2018-06-01/runtime/invocation/next' });
      await api.waitForNext();
      assert.equal(api.parked, true);
      await api.close();
      await assert.rejects(again);
    }),
  );

  for (const mode of [
    { name: 'PR_SET_PDEATHSIG', prctl: undefined },
    { name: 'polling getppid() (no prctl)', prctl: null },
  ]) {
    test(
      `the relay exits when its parent dies (${mode.name})`,
      leakFree(async (_t, defer) => {
        const dir = scratch(defer);
        // A stand-in for the init: forks the relay, says its pid, then waits on stdin until killed.
        const parentScript = 'my $p = fork; defined $p or die; if (!$p) { exec { $^X } $^X, @ARGV; exit 127 } $| = 1; print "$p\\n"; my $x = <STDIN>;';
        const args = [...relayArgs({ routes: [{ proto: 'tcp', port: 0, socket: join(dir, 'none.sock') }], ...(mode.prctl === null ? { prctl: null } : {}) }), '3'];
        const parent = spawn('perl', ['-e', parentScript, '--', ...args], { stdio: ['pipe', 'pipe', 'inherit', 'pipe'] });
        defer(() => {
          parent.kill('SIGKILL');
        });
        const exited = once(parent, 'exit');
        const stdout = parent.stdout as Readable;
        const relayPid = Number(await firstLine(stdout));
        assert.ok(relayPid > 0);
        assert.ok(!(parseRelayReady(await firstLine(parent.stdio[3] as Readable)) instanceof Error));
        // The relay holds the stdout pipe too: EOF there means it is gone as well.
        const eof = new Promise<void>((resolve) => {
          stdout.on('end', resolve);
          stdout.resume();
        });
        parent.kill('SIGKILL');
        await exited;
        await eof;
        // Gone, or a zombie waiting for whoever adopted it to reap it. EOF comes while the kernel tears the
        // process down (files close before it turns zombie), so give it a few loop turns to finish.
        const state = (): string => {
          try {
            const stat = readFileSync(`/proc/${relayPid}/stat`, 'utf8');
            return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
          } catch {
            return 'gone';
          }
        };
        for (let i = 0; i < 1000 && !['gone', 'Z', 'X'].includes(state()); i++) await new Promise((r) => setImmediate(r));
        assert.ok(['gone', 'Z', 'X'].includes(state()), `relay ${relayPid} is still running (state ${state()})`);
      }),
    );
  }

  const root = process.getuid?.() === 0;
  const unshare = ['/usr/bin/unshare', '/bin/unshare'].find((p) => existsSync(p));
  const ip = ['/usr/sbin/ip', '/sbin/ip', '/usr/bin/ip', '/bin/ip'].find((p) => existsSync(p));
  const skip = process.platform !== 'linux' ? 'Linux only' : !root ? 'needs root (a network namespace)' : !unshare || !ip ? 'needs unshare and ip' : false;
  test(
    'inside a fresh network namespace with only lo, the production ports reach host Unix sockets',
    { skip },
    leakFree(async (_t, defer) => {
      const dir = scratch(defer);
      await echoServer(defer, join(dir, RUNTIME_API_SOCKET));
      await echoServer(defer, join(dir, AWS_ENDPOINT_SOCKET));
      const frames: Buffer[] = [];
      let frameArrived: () => void = () => {};
      const framed = new Promise<void>((resolve) => (frameArrived = resolve));
      const xray = net.createServer((conn) => {
        const reader = new FrameReader();
        conn.on('data', (c: Buffer) => {
          const got = reader.push(c);
          if (Array.isArray(got)) frames.push(...got);
          if (frames.length > 0) frameArrived();
        });
      });
      await listen(defer, xray, join(dir, XRAY_SOCKET));
      // A host TCP listener the namespace must NOT reach.
      const hostOnly = net.createServer((c) => c.end('leak'));
      await new Promise<void>((resolve) => hostOnly.listen(0, '127.0.0.1', resolve));
      defer(() => new Promise<void>((resolve) => hostOnly.close(() => resolve())));
      const hostPort = (hostOnly.address() as net.AddressInfo).port;

      // Inside the namespace: start the relay as the init would, wait for ready, then act as the function.
      const inside = String.raw`
        const { spawn } = require('node:child_process');
        const http = require('node:http'); const net = require('node:net'); const dgram = require('node:dgram'); const os = require('node:os');
        const [hostPort, perl, ...relay] = process.argv.slice(1);
        const child = spawn(perl, relay, { stdio: ['ignore', 'ignore', 'inherit', 'pipe'] });
        let line = '';
        child.stdio[3].on('data', async (c) => {
          line += c; if (!line.includes('\n')) return;
          const get = (port, body) => new Promise((res, rej) => { const q = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/p' + port }, (r) => { let b = ''; r.on('data', (d) => (b += d)); r.on('end', () => res(r.headers['x-url'] + ' ' + b)); }); q.on('error', rej); q.end(body); });
          const out = { ready: line.trim(), interfaces: Object.keys(os.networkInterfaces()) };
          // The datagram first: the relay forwards it before it accepts the connections that follow.
          const u = dgram.createSocket('udp4');
          await new Promise((res) => u.send('{"format":"json","version":1}\n{"from":"netns"}', ${SANDBOX_XRAY_PORT}, '127.0.0.1', res));
          u.close();
          out.runtime = await get(${SANDBOX_RUNTIME_API_PORT}, 'to the runtime api');
          out.aws = await get(${SANDBOX_AWS_ENDPOINT_PORT}, 'to the aws endpoint');
          out.host = await new Promise((res) => { const s = net.connect(Number(hostPort), '127.0.0.1'); s.on('connect', () => { s.destroy(); res('reached'); }); s.on('error', (e) => res(e.code)); });
          process.stdout.write(JSON.stringify(out));
          child.kill();
        });`;
      const relay = ['perl', ...relayArgs({ routes: sandboxRoutes(dir) }), '3'];
      const child = spawn(unshare as string, ['--net', '--', 'sh', '-c', `"${ip as string}" link set lo up && exec "$0" "$@"`, process.execPath, '-e', inside, String(hostPort), ...relay], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      const out: Buffer[] = [];
      (child.stdout as Readable).on('data', (c: Buffer) => out.push(c));
      const [code] = (await once(child, 'exit')) as [number | null];
      assert.equal(code, 0);
      const result = JSON.parse(Buffer.concat(out).toString()) as Record<string, unknown>;
      assert.deepEqual(result, {
        ready: `ready ${SANDBOX_RUNTIME_API_PORT} ${SANDBOX_AWS_ENDPOINT_PORT} ${SANDBOX_XRAY_PORT}`,
        interfaces: ['lo'],
        runtime: `/p${SANDBOX_RUNTIME_API_PORT} to the runtime api`,
        aws: `/p${SANDBOX_AWS_ENDPOINT_PORT} to the aws endpoint`,
        host: 'ECONNREFUSED',
      });
      await framed;
      assert.equal(frames[0]?.toString(), '{"format":"json","version":1}\n{"from":"netns"}');
    }),
  );
});
