/**
 * The command lines that start a runtime inside its sandbox. Race-free by construction: the first
 * process of the sandbox moves itself into the sandbox's cgroup and only then starts anything else,
 * so every process of the sandbox, the runtime included, starts inside the cgroup. With cgroups
 * only, that first process is a shell that then execs the runtime.
 * It writes `0` ("the writing task") into each join file (SandboxCgroup.joinFiles). On cgroup v1
 * those are `tasks` files: moving just the current thread of a single-threaded process is the one
 * migration the kernel does without its global threadgroup lock, whose writer waits for an RCU grace
 * period (10–15 ms per sandbox measured on a 2-vCPU VM; see bench/isolation-cold-start.ts).
 *
 * With namespaces, the chain is
 *   unshare (new PID + mount namespace, fresh /proc) → perl (PID 1: a tiny init) → fork: drop to the
 *   sandbox's uid (setgroups/setresgid/setresuid, empty capability bounding set, no_new_privs) → the runtime.
 * The init joins the cgroup (it is single-threaded, as the v1 `tasks` join needs),
 * makes the mounts with mount(2) and drops privileges with direct syscalls (on architectures whose
 * numbers it does not know: mount(8) and setpriv(1), a few ms slower), reports the
 * runtime's real exit status on fd 3 (util-linux 2.38's unshare turns a child killed by a signal into
 * "exit 1"), reaps orphans, and exits when the runtime exits, which makes the kernel kill everything
 * else in the PID namespace. Every exec costs a few ms, so the chain is as short as it can be.
 * Every value reaches the scripts as an argument, never spliced into script text.
 */
import { constants } from 'node:os';

/** Where the function's code appears inside a namespaced sandbox, as on Lambda. */
export const SANDBOX_TASK_ROOT = '/var/task';
/** Where the runtime clients appear inside a namespaced sandbox. */
export const SANDBOX_RUNTIME_DIR = '/var/runtime';

/** Exit status of the launcher when it could not set the sandbox up (distinct from any runtime's). */
export const LAUNCH_FAILED = 125;

/**
 * `sh -c JOIN lambkin-sandbox N file1..fileN command args...`: joins the cgroup, then execs the command.
 * `echo` is a builtin, so the shell itself (not a child) is the task that `0` moves.
 */
export const JOIN_CGROUP_SCRIPT =
  'n=$1; shift; while [ "$n" -gt 0 ]; do echo 0 > "$1" || exit 125; shift; n=$((n - 1)); done; exec "$@"';

/** Syscall numbers the init uses directly: mount, prctl, setgroups, setresuid, setresgid. */
export interface InitSyscalls {
  readonly mount: number;
  readonly prctl: number;
  readonly setgroups: number;
  readonly setresuid: number;
  readonly setresgid: number;
}

/** By architecture (arm64, riscv64 and loong64 share the generic table); undefined = use mount(8) and setpriv(1). */
export function initSyscalls(arch: string = process.arch): InitSyscalls | undefined {
  if (arch === 'x64') return { mount: 165, prctl: 157, setgroups: 116, setresuid: 117, setresgid: 119 };
  if (arch === 'arm64' || arch === 'riscv64' || arch === 'loong64') return { mount: 40, prctl: 167, setgroups: 159, setresuid: 147, setresgid: 149 };
  return undefined;
}

/**
 * PID 1 of a namespaced sandbox, run as root by unshare. Arguments:
 * `SYSCALLS UID TASK RUNTIME TMP_MB SHM_MB N join-file×N M hidden-dir×M SETPRIV command args...`
 * where SYSCALLS is `mount,prctl,setgroups,setresuid,setresgid` or `0`.
 * Bind mounts come first: their sources may live under /tmp, which the private /tmp then hides.
 */
export const INIT_PERL = String.raw`
my ($nrs, $id, $task, $rt, $tmp, $shm) = splice(@ARGV, 0, 6);
$id = 0 + $id;
my ($nr, $prctl, $setgroups, $setresuid, $setresgid) = map { 0 + $_ } split(/,/, $nrs);
my @join = splice(@ARGV, 0, shift @ARGV);
my @hidden = splice(@ARGV, 0, shift @ARGV);
my $setpriv = shift @ARGV;
open(my $st, ">&=", 3) or die "lambkin-init: no status fd: $!\n";
sub fail { print STDERR "lambkin-init: $_[0]\n"; print $st "exit 125\n"; exit 125 }
for my $f (@join) { open(my $h, ">", $f) or fail("cgroup $f: $!"); print $h "0\n"; close($h) or fail("cgroup $f: $!") }
sub mnt {
  my ($src, $dst, $type, $flags, $data, @cli) = @_;
  if ($nr) { return 1 if syscall($nr, $src, $dst, $type, $flags, $data) == 0; return 0 }
  return system("mount", @cli) == 0;
}
sub bindro {
  my ($src, $dst) = @_;
  mnt($src, $dst, "none", 4096, "", "--bind", "-o", "ro,nosuid,nodev", $src, $dst) or fail("bind $dst: $!");
  !$nr or mnt("none", $dst, "none", 4096|32|1|2|4, "") or fail("read-only $dst: $!");
}
bindro($task, "/var/task");
bindro($rt, "/var/runtime");
for my $h (@hidden) { mnt("lambkin-hidden", $h, "tmpfs", 1, "size=4k,mode=000", "-t", "tmpfs", "-o", "ro,size=4k,mode=000", "lambkin-hidden", $h) or fail("hide $h: $!") }
mnt("lambkin-tmp", "/tmp", "tmpfs", 2|4, "size=" . $tmp . "m,mode=1777", "-t", "tmpfs", "-o", "size=" . $tmp . "m,mode=1777,nosuid,nodev", "lambkin-tmp", "/tmp") or fail("/tmp: $!");
!-d "/dev/shm" or mnt("lambkin-shm", "/dev/shm", "tmpfs", 2|4, "size=" . $shm . "m,mode=1777", "-t", "tmpfs", "-o", "size=" . $shm . "m,mode=1777,nosuid,nodev", "lambkin-shm", "/dev/shm") or fail("/dev/shm: $!");
# A read-only root as on Lambda; best effort (the root may not be a mount point of its own).
mnt("none", "/", "none", 4096|32|1, "", "-o", "remount,bind,ro", "/");
chdir("/var/task") or fail("chdir /var/task: $!");
my $p = fork; defined $p or fail("fork: $!");
if (!$p) {
  close $st; delete $ENV{PERL_BADLANG};
  if ($prctl) {
    # Empty bounding set (needs root, so first), no groups, every gid and uid (saved ones included:
    # a saved uid 0 would keep the permitted capabilities), then no_new_privs for anything exec'd.
    for my $c (0..63) { syscall($prctl, 24, $c, 0, 0, 0) }
    syscall($setgroups, 0, 0) == 0 or die "lambkin-init: setgroups: $!\n";
    syscall($setresgid, $id, $id, $id) == 0 or die "lambkin-init: setresgid: $!\n";
    syscall($setresuid, $id, $id, $id) == 0 or die "lambkin-init: setresuid: $!\n";
    syscall($prctl, 38, 1, 0, 0, 0) == 0 or die "lambkin-init: no_new_privs: $!\n";
  } else {
    unshift @ARGV, $setpriv, "--reuid=$id", "--regid=$id", "--clear-groups", "--no-new-privs", "--inh-caps=-all", "--bounding-set=-all", "--";
  }
  exec { $ARGV[0] } @ARGV; print STDERR "lambkin-init: cannot run $ARGV[0]: $!\n"; exit 127;
}
while (1) {
  my $w = waitpid(-1, 0); last if $w < 0; next if $w != $p; my $s = $?;
  if ($s & 127) { print $st "signal ", $s & 127, "\n"; close $st; exit 128 + ($s & 127) }
  print $st "exit ", $s >> 8, "\n"; close $st; exit $s >> 8;
}
exit 0;
`;

/** Everything the cgroups+namespaces launcher needs, each passed to its init as an argument. */
export interface NamespaceLaunch {
  readonly unshare: string;
  readonly perl: string;
  readonly setpriv: string;
  /** SandboxCgroup.joinFiles. */
  readonly joinFiles: readonly string[];
  readonly codeDir: string;
  readonly runtimeDir: string;
  readonly tmpMb: number;
  readonly shmMb: number;
  readonly uid: number;
  readonly hiddenPaths: readonly string[];
  readonly command: string;
  readonly args: readonly string[];
  /** Syscall numbers; default: this machine's architecture's (null: use mount(8) and setpriv(1)). */
  readonly syscalls?: InitSyscalls | null;
}

function syscallArg(n: InitSyscalls | undefined): string {
  return n ? [n.mount, n.prctl, n.setgroups, n.setresuid, n.setresgid].join(',') : '0';
}

/** argv for the cgroups level: join the cgroup, exec the runtime. */
export function cgroupLaunch(sh: string, joinFiles: readonly string[], command: string, args: readonly string[]): { command: string; args: string[] } {
  return { command: sh, args: ['-c', JOIN_CGROUP_SCRIPT, 'lambkin-sandbox', String(joinFiles.length), ...joinFiles, command, ...args] };
}

/**
 * argv for the cgroups+namespaces level. Its fd 3 must be a pipe: the runtime's exit status arrives
 * there. Set PERL_BADLANG=0 in its environment (the init removes it again) so a LANG the host lacks
 * does not put perl's locale warnings into the function's log.
 */
export function namespaceLaunch(o: NamespaceLaunch): { command: string; args: string[] } {
  return {
    command: o.unshare,
    args: [
      '--pid',
      '--fork',
      '--kill-child',
      '--mount-proc',
      '--propagation',
      'private',
      o.perl,
      '-e',
      INIT_PERL,
      '--',
      syscallArg(o.syscalls === undefined ? initSyscalls() : (o.syscalls ?? undefined)),
      String(o.uid),
      o.codeDir,
      o.runtimeDir,
      String(o.tmpMb),
      String(o.shmMb),
      String(o.joinFiles.length),
      ...o.joinFiles,
      String(o.hiddenPaths.length),
      ...o.hiddenPaths,
      o.setpriv,
      o.command,
      ...o.args,
    ],
  };
}

/** Parses the init's status line ("exit 3" / "signal 9") into Node's exit shape; undefined if absent. */
export function parseInitStatus(text: string): { code: number | null; signal: NodeJS.Signals | null } | undefined {
  const m = /^(exit|signal) (\d+)$/m.exec(text);
  if (!m) return undefined;
  const n = Number(m[2]);
  if (m[1] === 'exit') return { code: n, signal: null };
  const name = (Object.keys(constants.signals) as NodeJS.Signals[]).find((s) => constants.signals[s] === n);
  return { code: null, signal: name ?? 'SIGKILL' };
}
