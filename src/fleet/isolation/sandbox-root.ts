/**
 * What a fully isolated sandbox sees: the runtime's files (the host's /usr and its /bin, /lib…
 * links), a minimal /etc, /var/task and /var/runtime read-only, an empty read-only /opt, its /tmp,
 * its own /proc and a minimal /dev. No other host path: not lambkin's data or checkout, not /root,
 * /home, /work, /srv or /sys. On Lambda a function sees the runtime image, /var/task, /opt and /tmp.
 */
import { existsSync, lstatSync, readlinkSync } from 'node:fs';
import { SANDBOX_RUNTIME_DIR, SANDBOX_SOCKET_DIR, SANDBOX_TASK_ROOT, type RootEntry } from './launcher.js';

/** Top-level host entries that make up "the runtime image" (links on merged-/usr systems). */
const IMAGE_TOP = ['usr', 'bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32'];
/** /etc entries runtimes need: the dynamic loader's cache, name service, TLS roots, alternatives. */
const ETC_KEEP = ['ld.so.cache', 'ld.so.conf', 'ld.so.conf.d', 'nsswitch.conf', 'resolv.conf', 'ssl', 'ca-certificates', 'ca-certificates.conf', 'alternatives', 'localtime', 'mime.types', 'protocols', 'services', 'os-release', 'debian_version'];
/** Character devices a runtime may open. */
const DEVICES = ['null', 'zero', 'full', 'random', 'urandom'];

/** Lambda's own sandbox user is `sbx_user1051`; lambkin's uid differs per sandbox, the name does not. */
export const SANDBOX_USER = 'sbx_user1051';

export interface SandboxRootInputs {
  readonly codeDir: string;
  /** Staged runtime clients (`node/`, `python/`). */
  readonly runtimeDir: string;
  /** Host directory of this sandbox's Unix sockets, shown at /var/lambkin (absent: no relay). */
  readonly socketDir?: string;
  readonly uid: number;
  /** /tmp: a scratch disk, or a tmpfs of EphemeralStorage where none can be had. */
  readonly tmp: Extract<RootEntry, { kind: 'tmp' | 'disk' }>;
  /** Host directories a runtime lives in outside /usr (e.g. a Python under /opt/python), shown read-only at the same path. */
  readonly extraReadOnly?: readonly string[];
}

function hostEntry(path: string): RootEntry | undefined {
  try {
    const st = lstatSync(path);
    if (st.isSymbolicLink()) return { kind: 'link', linkTarget: readlinkSync(path), target: path };
    return { kind: 'ro', source: path, target: path };
  } catch {
    return undefined;
  }
}

/** The entries of a sandbox's root, in the order the init makes them. */
export function sandboxRoot(i: SandboxRootInputs): RootEntry[] {
  const out: RootEntry[] = [];
  for (const name of IMAGE_TOP) {
    const e = hostEntry(`/${name}`);
    if (e) out.push(e);
  }
  for (const name of ETC_KEEP) {
    const e = hostEntry(`/etc/${name}`);
    if (e) out.push(e);
  }
  out.push(
    { kind: 'file', target: '/etc/passwd', content: `root:x:0:0:root:/root:/sbin/nologin\n${SANDBOX_USER}:x:${i.uid}:${i.uid}::/tmp:/sbin/nologin\n` },
    { kind: 'file', target: '/etc/group', content: `root:x:0:\n${SANDBOX_USER}:x:${i.uid}:\n` },
    { kind: 'file', target: '/etc/hosts', content: '127.0.0.1\tlocalhost\n::1\tlocalhost\n' },
    { kind: 'file', target: '/etc/hostname', content: 'localhost\n' },
  );
  for (const dir of i.extraReadOnly ?? []) {
    if (dir === '/usr' || dir.startsWith('/usr/') || !existsSync(dir)) continue;
    out.push({ kind: 'ro', source: dir, target: dir });
  }
  out.push({ kind: 'ro', source: i.codeDir, target: SANDBOX_TASK_ROOT }, { kind: 'ro', source: i.runtimeDir, target: SANDBOX_RUNTIME_DIR });
  if (i.socketDir) out.push({ kind: 'ro', source: i.socketDir, target: SANDBOX_SOCKET_DIR });
  for (const name of DEVICES) if (existsSync(`/dev/${name}`)) out.push({ kind: 'dev', name });
  out.push(i.tmp);
  return out;
}
