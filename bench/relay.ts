/**
 * What the sandbox relay (src/fleet/isolation/relay.ts) adds to a warm HTTP request: one keep-alive
 * connection each, sequential small POSTs (as a runtime's /next and /response are), to the same node
 * handler served three ways in the same run, requests interleaved round by round so drift hits all
 * alike:
 *   tcp    direct to 127.0.0.1 (what a sandbox without a network namespace uses)
 *   unix   direct to the Unix socket (the host side the relay connects to)
 *   relay  127.0.0.1 → perl relay → the Unix socket (what a namespaced sandbox uses)
 * The server is a separate node process (lambkin is one, the runtime another), so every path pays
 * the same two process wake-ups per request; the relay adds its own two.
 * Goal: the relay adds < 0.1 ms at p50 over direct Unix. Latency through an extra process depends on
 * the machine's load (each hop is a wake-up that waits for a CPU), so the relay's own CPU time per
 * request (from /proc/PID/schedstat) is printed too: that part does not depend on load.
 *
 * `node dist/bench/relay.js` (after `npm run build`). `--quick`: fewer requests.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { parseRelayReady, relayArgs } from '../src/fleet/isolation/relay.js';

const quick = process.argv.includes('--quick');
const ROUNDS = quick ? 1000 : 5000;
const WARMUP = 300;
const BODY = Buffer.from(JSON.stringify({ statusCode: 200, body: 'Hello from Lambda!' }));

/**
 * The server runs in a process of its own, as lambkin does relative to a sandbox's runtime: a
 * request then costs the same process wake-ups on every path but the relay's own.
 */
const SERVER = String.raw`
const http = require('node:http');
const handler = (req, res) => { req.resume(); req.on('end', () => { res.writeHead(202, { 'Content-Type': 'application/json', 'Content-Length': '15' }); res.end('{"status":"OK"}'); }); };
const unix = http.createServer({ keepAliveTimeout: 0 }, handler);
const tcp = http.createServer({ keepAliveTimeout: 0 }, handler);
unix.listen(process.argv[1], () => tcp.listen(0, '127.0.0.1', () => process.stdout.write(tcp.address().port + '\n')));
`;

function firstLine(s: Readable): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    s.on('data', (c: Buffer) => {
      text += c.toString();
      if (text.includes('\n')) resolve(text);
    });
    s.on('end', () => resolve(text));
  });
}

type Target = { name: string; opts: http.RequestOptions };

function once(t: Target, agent: http.Agent): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = http.request({ ...t.opts, method: 'POST', path: '/2018-06-01/runtime/invocation/r/response', agent, headers: { 'Content-Length': String(BODY.length) } }, (res) => {
      res.resume();
      res.on('end', () => resolve(performance.now() - t0));
    });
    req.on('error', reject);
    req.end(BODY);
  });
}

/** CPU time the process has used, in ms (Linux schedstat; undefined elsewhere). */
function cpuMs(pid: number | undefined): number | undefined {
  try {
    return Number(readFileSync(`/proc/${pid ?? 0}/schedstat`, 'utf8').split(' ')[0]) / 1e6;
  } catch {
    return undefined;
  }
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] as number;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'lambkin-bench-relay-'));
  const sock = join(dir, 'runtime.sock');
  const server = spawn(process.execPath, ['-e', SERVER, sock], { stdio: ['ignore', 'pipe', 'inherit'] });
  const relay = spawn('perl', [...relayArgs({ routes: [{ proto: 'tcp', port: 0, socket: sock }] }), '3'], { stdio: ['ignore', 'inherit', 'inherit', 'pipe'] });
  const agents: http.Agent[] = [];
  try {
    const tcpPort = Number(await firstLine(server.stdout as Readable));
    const line = await firstLine(relay.stdio[3] as Readable);
    const ports = parseRelayReady(line);
    if (ports instanceof Error) throw ports;
    const targets: Target[] = [
      { name: 'tcp', opts: { host: '127.0.0.1', port: tcpPort } },
      { name: 'unix', opts: { socketPath: sock } },
      { name: 'relay', opts: { host: '127.0.0.1', port: ports[0] as number } },
    ];
    const samples = new Map<string, number[]>(targets.map((t) => [t.name, []]));
    for (let i = 0; i < targets.length; i++) agents.push(new http.Agent({ keepAlive: true, maxSockets: 1 }));
    let cpu0: number | undefined;
    for (let round = -WARMUP; round < ROUNDS; round++) {
      if (round === 0) cpu0 = cpuMs(relay.pid);
      for (const [i, t] of targets.entries()) {
        const ms = await once(t, agents[i] as http.Agent);
        if (round >= 0) samples.get(t.name)?.push(ms);
      }
    }
    const cpu1 = cpuMs(relay.pid);
    const unix50 = pct(samples.get('unix') ?? [], 50);
    const tcp50 = pct(samples.get('tcp') ?? [], 50);
    console.log(`warm HTTP request latency (keep-alive, sequential, ${ROUNDS} each, interleaved)`);
    console.log('path     p50 ms   p99 ms   p50 vs unix   p50 vs tcp');
    for (const t of targets) {
      const xs = samples.get(t.name) ?? [];
      const p50 = pct(xs, 50);
      const p99 = pct(xs, 99);
      console.log(`${t.name.padEnd(7)} ${p50.toFixed(4).padStart(7)}  ${p99.toFixed(4).padStart(7)}   ${(p50 / unix50).toFixed(2).padStart(8)}x   ${(p50 / tcp50).toFixed(2).padStart(8)}x`);
    }
    const added = pct(samples.get('relay') ?? [], 50) - unix50;
    if (cpu0 !== undefined && cpu1 !== undefined) console.log(`relay CPU time per request: ${(((cpu1 - cpu0) / ROUNDS) * 1000).toFixed(1)} µs`);
    console.log(`relay adds ${(added * 1000).toFixed(0)} µs at p50 over direct unix (goal < 100 µs): ${added < 0.1 ? 'ok' : 'OVER'}`);
  } finally {
    for (const a of agents) a.destroy();
    relay.kill('SIGKILL');
    server.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
