/**
 * The uid owning the other end of a loopback TCP connection, from /proc/net/tcp{,6}. Each isolated
 * sandbox runs as its own uid, so its Runtime API server can refuse every connection but its own.
 */
import { readFileSync } from 'node:fs';

function portHex(port: number): string {
  return port.toString(16).toUpperCase().padStart(4, '0');
}

/**
 * Finds the socket whose local port is `peerPort` and whose remote port is `serverPort` in the text of
 * /proc/net/tcp (or tcp6) and returns its uid column. Exported for tests.
 */
export function uidFromProcNetTcp(text: string, peerPort: number, serverPort: number): number | undefined {
  const local = `:${portHex(peerPort)}`;
  const remote = `:${portHex(serverPort)}`;
  for (const line of text.split('\n')) {
    // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
    const f = line.trim().split(/\s+/);
    if (f.length < 8) continue;
    const l = f[1];
    const r = f[2];
    if (l?.endsWith(local) && r?.endsWith(remote)) {
      const uid = Number(f[7]);
      return Number.isInteger(uid) ? uid : undefined;
    }
  }
  return undefined;
}

/** The uid of the process that owns the client end of a connection to `serverPort` from `peerPort`; undefined if not found. */
export function peerUid(peerPort: number, serverPort: number): number | undefined {
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    const uid = uidFromProcNetTcp(text, peerPort, serverPort);
    if (uid !== undefined) return uid;
  }
  return undefined;
}
