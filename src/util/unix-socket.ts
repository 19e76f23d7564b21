/** Listening on a Unix socket that a sandbox reaches through its relay (fleet/isolation/relay.ts). */
import { chmodSync, chownSync, lstatSync, unlinkSync } from 'node:fs';
import type net from 'node:net';

/**
 * Listens on a Unix socket at path: replaces a stale socket file (never another kind of file), then sets who
 * may connect (uid given: that uid only, mode 0600; else everyone, 0666). Closes the server if that fails.
 */
export async function listenUnix(server: net.Server, path: string, uid: number | undefined): Promise<void> {
  try {
    if (lstatSync(path).isSocket()) unlinkSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => {
      server.off('error', reject);
      resolve();
    });
  });
  try {
    if (uid !== undefined) {
      chownSync(path, uid, -1);
      chmodSync(path, 0o600);
    } else {
      chmodSync(path, 0o666);
    }
  } catch (e) {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    throw e;
  }
}
