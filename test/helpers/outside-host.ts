/**
 * Network fixtures for tests run as root: an "outside" host standing in for the internet, and a
 * careless host service listening on every address.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { Defer } from './leaks.js';

/** The stand-in for the internet, as the host sees it. */
export interface OutsideHost {
  /** The host's address on the link to it. */
  readonly host: string;
  /** Its address, where it serves HTTP. */
  readonly peer: string;
  readonly port: number;
}

/**
 * Makes the stand-in for the internet: a namespace behind a veth on a /30 of TEST-NET-2 (RFC 5737,
 * in no range sandboxes are kept from), one not in use on the host (test files run in parallel),
 * serving HTTP on port 8080 with "outside saw <the caller's address>".
 */
export async function outsideHost(defer: Defer, ip = 'ip'): Promise<OutsideHost> {
  const used = execFileSync(ip, ['-4', '-o', 'addr']).toString();
  const free = Array.from({ length: 64 }, (_, i) => i * 4).filter((b) => !used.includes(` 198.51.100.${b + 1}/`));
  const base = free[Math.floor(Math.random() * free.length)];
  if (base === undefined) throw new Error('every /30 of 198.51.100.0/24 is in use on this host');
  const OUTSIDE = { host: `198.51.100.${base + 1}`, peer: `198.51.100.${base + 2}`, port: 8080 };
  const tag = Math.random().toString(16).slice(2, 8);
  const ns = `lkt-out-${tag}`;
  execFileSync(ip, ['netns', 'add', ns]);
  defer(() => spawnSync(ip, ['netns', 'del', ns]));
  // Not named lk*: the NAT rules treat those as sandboxes'.
  execFileSync(ip, ['-b', '-'], { input: `link add vout${tag} type veth peer name eth0 netns ${ns}\naddr add ${OUTSIDE.host}/30 dev vout${tag}\nlink set vout${tag} up\n` });
  execFileSync(ip, ['-n', ns, '-b', '-'], { input: `link set lo up\naddr add ${OUTSIDE.peer}/30 dev eth0\nlink set eth0 up\n` });
  const server = spawn(ip, ['netns', 'exec', ns, process.execPath, '-e', `require('http').createServer((q, s) => s.end('outside saw ' + q.socket.remoteAddress)).listen(${OUTSIDE.port}, '${OUTSIDE.peer}', () => console.log('ready'))`], { stdio: ['ignore', 'pipe', 'inherit'] });
  defer(() => new Promise((r) => (server.exitCode !== null ? r(undefined) : (server.once('exit', r), server.kill('SIGKILL')))));
  await new Promise<void>((resolve, reject) => {
    server.stdout.once('data', () => resolve());
    server.once('exit', (code) => reject(new Error(`the outside server exited (${code})`)));
  });
  return OUTSIDE;
}

/** A server on every address of the host (as a careless service, or lambkin bound to 0.0.0.0, would be). */
export async function hostService(defer: Defer): Promise<number> {
  const s: Server = createServer((_q, res) => res.end('host service'));
  await new Promise<void>((r) => s.listen(0, '0.0.0.0', r));
  defer(() => new Promise((r) => s.close(r)));
  return (s.address() as { port: number }).port;
}

