/**
 * The one program that starts every sandbox: a small perl init, run with a FIXED environment.
 *
 * Nothing the function controls reaches it through its environment or argv: the function's code
 * path, its variables and everything else arrive as a NUL-separated plan on fd 4 (`encodePlan`),
 * and the function's variables become the environment only at the final exec of the runtime,
 * after privileges are dropped and `no_new_privs` is set. The init reports the runtime's real exit
 * status on fd 3 ("exit N" / "signal N").
 *
 * Modes:
 * - `none` / `cgroups`: the init (joining the sandbox's cgroup first, for `cgroups`) becomes a
 *   child subreaper with a parent-death signal, runs the runtime, and when the runtime exits, the
 *   server stops the sandbox (SIGTERM) or the server dies, kills every process the sandbox left,
 *   setsid daemons included (they are reparented to it).
 * - `full`: the outer init joins the cgroup and unshares mount, PID, network, UTS and IPC namespaces;
 *   its child is PID 1 of the sandbox. PID 1 builds a fresh root on a tmpfs — the runtime's files,
 *   /var/task and /var/runtime read-only, /opt, /tmp (a scratch disk or a tmpfs), its own /proc, a
 *   minimal /dev and /etc — pivots into it and detaches the host's tree, brings up `lo`, starts the
 *   relay that carries 127.0.0.1 ports to lambkin's Unix sockets, then forks the runtime as the
 *   sandbox's uid (empty capability bounding set, no groups, no_new_privs) in a user namespace that
 *   may create no further user namespaces. When the runtime exits,
 *   PID 1 exits and the kernel kills everything else in the namespace; both inits die with the server
 *   (PR_SET_PDEATHSIG).
 *
 * Syscalls are made directly (perl's `syscall`) so the chain is one exec; architectures whose
 * numbers are not known here get no `full` mode (capabilities.ts says so).
 */
import { constants } from 'node:os';

/** Where the function's code appears inside a namespaced sandbox, as on Lambda. */
export const SANDBOX_TASK_ROOT = '/var/task';
/** Where the runtime clients appear inside a namespaced sandbox. */
export const SANDBOX_RUNTIME_DIR = '/var/runtime';
/** Where lambkin's Unix sockets appear inside a namespaced sandbox (read by the relay only). */
export const SANDBOX_SOCKET_DIR = '/var/lambkin';

/** Exit status of the init when it could not set the sandbox up (distinct from any runtime's). */
export const LAUNCH_FAILED = 125;

/** Syscall numbers the init uses directly. */
export interface InitSyscalls {
  readonly unshare: number;
  readonly prctl: number;
  readonly mount: number;
  readonly pivotRoot: number;
  readonly umount2: number;
  readonly setgroups: number;
  readonly setresuid: number;
  readonly setresgid: number;
  readonly close: number;
  /** move_mount(2): 429 on every architecture (syscalls from 424 on share one table). */
  readonly moveMount: number;
  /** setns(2): joins a network namespace made ahead (sandbox-networks.ts). */
  readonly setns: number;
}

/** By architecture (arm64, riscv64 and loong64 share the generic table); undefined = not known here. */
export function initSyscalls(arch: string = process.arch): InitSyscalls | undefined {
  if (arch === 'x64') return { unshare: 272, prctl: 157, mount: 165, pivotRoot: 155, umount2: 166, setgroups: 116, setresuid: 117, setresgid: 119, close: 3, moveMount: 429, setns: 308 };
  if (arch === 'arm64' || arch === 'riscv64' || arch === 'loong64') {
    return { unshare: 97, prctl: 167, mount: 40, pivotRoot: 41, umount2: 39, setgroups: 159, setresuid: 147, setresgid: 149, close: 57, moveMount: 429, setns: 268 };
  }
  return undefined;
}

/**
 * The init. Plan tokens (fd 4, NUL-separated, fields TAB-separated, the last field may hold tabs):
 * `mode M` · `sys N,N,…` · `uid N` · `net 1` · `netns FD` · `join FILE` · `root DIR` · `ro SRC DST` · `rw SRC DST` ·
 * `link TARGET DST` · `file DST CONTENT` · `dev NAME` · `tmp SOURCE FSTYPE DATA` · `disk FD DEVICE` · `listen PROTO PORT` · `relay ARG` ·
 * `cmd ARG` · `env K=V` · `cwd DIR`.
 */
export const INIT_PERL = String.raw`
use strict; no warnings;
my (%o, @join, @ops, @relay, @listen, @cmd, @env);
{ open(my $cf, "<&=", 4) or die "lambkin-init: no plan fd: $!\n"; local $/; my $raw = <$cf>; close $cf;
  for my $t (split /\0/, $raw) { my ($k, $r) = split /\t/, $t, 2;
    if ($k eq 'join') { push @join, $r } elsif ($k eq 'relay') { push @relay, $r } elsif ($k eq 'listen') { push @listen, $r } elsif ($k eq 'cmd') { push @cmd, $r }
    elsif ($k eq 'env') { push @env, $r } elsif ($k =~ /^(ro|rw|link|file|dev|tmp|disk)$/) { push @ops, [$k, split(/\t/, $r, $k eq 'tmp' ? 3 : 2)] }
    else { $o{$k} = $r } } }
open(my $st, ">&=", 3) or die "lambkin-init: no status fd: $!\n";
sub fail { print STDERR "lambkin-init: $_[0]\n"; print $st "exit 125\n"; exit 125 }
my ($UNSHARE, $PRCTL, $MOUNT, $PIVOT, $UMOUNT2, $SETGROUPS, $SETRESUID, $SETRESGID, $CLOSE, $MOVE_MOUNT, $SETNS) = map { 0 + $_ } split(/,/, $o{sys});
my $full = $o{mode} eq 'full';
my $id = 0 + ($o{uid} // 0);
# Die with the server. 'full' is torn down by the kernel with PID 1; the others clean up on SIGTERM.
syscall($PRCTL, 1, $full ? 9 : 15, 0, 0, 0) == 0 or fail("pdeathsig: $!");
exit 125 if getppid() == 1;
for my $f (@join) { open(my $h, ">", $f) or fail("cgroup $f: $!"); print $h "0\n"; close($h) or fail("cgroup $f: $!") }
sub drop {
  for my $c (0..63) { syscall($PRCTL, 24, $c, 0, 0, 0) }
  syscall($SETGROUPS, 0, 0) == 0 or die "lambkin-init: setgroups: $!\n";
  syscall($SETRESGID, $id, $id, $id) == 0 or die "lambkin-init: setresgid: $!\n";
  syscall($SETRESUID, $id, $id, $id) == 0 or die "lambkin-init: setresuid: $!\n";
  syscall($PRCTL, 38, 1, 0, 0, 0) == 0 or die "lambkin-init: no_new_privs: $!\n";
}
sub runtime {
  close $st; %ENV = (); for my $e (@env) { my ($k, $v) = split /=/, $e, 2; $ENV{$k} = $v }
  chdir($o{cwd} // "/") or die "lambkin-init: chdir: $!\n";
  exec { $cmd[0] } @cmd; print STDERR "lambkin-init: cannot run $cmd[0]: $!\n"; exit 127;
}
sub report { my $s = shift; if ($s & 127) { print $st "signal ", $s & 127, "\n"; return 128 + ($s & 127) } print $st "exit ", $s >> 8, "\n"; return $s >> 8 }
if (!$full) {
  # A child subreaper: whatever the runtime leaves behind (setsid daemons too) is reparented here.
  syscall($PRCTL, 36, 1, 0, 0, 0);
  my $p = fork; defined $p or fail("fork: $!");
  if (!$p) { drop() if $id; runtime() }
  # A dead server's status pipe must not kill the init (SIGPIPE) before it has cleaned up; set here,
  # after the fork, so the runtime keeps the default disposition.
  $SIG{PIPE} = 'IGNORE';
  # Stopped by the server (SIGTERM): the runtime goes first, then everything else below.
  local $SIG{TERM} = sub { kill 'KILL', $p };
  my $code;
  while (1) { my $w = waitpid(-1, 0); if ($w == $p) { $code = report($?); last } last if $w < 0 && !$!{EINTR} }
  close $st;
  # Kill everything left: descendants found through /proc (orphans are reparented here; the last ')'
  # ends the name, which the function chooses), reaped
  # without blocking (a late orphan must not hold the loop), until none is left.
  for my $round (1..1000) {
    my %pp; for my $d (glob "/proc/[0-9]*") { open(my $h, "<", "$d/stat") or next; my $s = <$h>; $s =~ /^.*\) (\S) (\d+)/s or next; $pp{substr($d, 6)} = $2 if $1 ne "Z" }
    my @mine = ($$); my @kill; while (@mine) { my $x = shift @mine; for my $c (grep { $pp{$_} == $x } keys %pp) { push @kill, $c; push @mine, $c } }
    kill 'KILL', @kill if @kill; 1 while waitpid(-1, 1) > 0;
    last if !@kill && waitpid(-1, 1) < 0;
    select(undef, undef, undef, 0.005);
  }
  exit $code // 0;
}
# full: new namespaces; the child is PID 1 of the sandbox. A network namespace made ahead (the fd
# in the plan's netns token, lo up already) is joined instead of made here.
if ($o{netns}) { my $fd = 0 + $o{netns}; syscall($SETNS, $fd, 0x40000000) == 0 or fail("setns: $!"); syscall($CLOSE, $fd) }
syscall($UNSHARE, 0x00020000 | 0x20000000 | 0x04000000 | 0x08000000 | ($o{net} && !$o{netns} ? 0x40000000 : 0)) == 0 or fail("unshare: $!");
my $pid1 = fork; defined $pid1 or fail("fork: $!");
if ($pid1) { close $st; waitpid($pid1, 0); my $s = $?; exit(($s & 127) ? 128 + ($s & 127) : $s >> 8) }
syscall($PRCTL, 1, 9, 0, 0, 0);
sub mnt { my ($src, $dst, $type, $flags, $data) = @_; syscall($MOUNT, $src // 0, $dst, $type // 0, $flags, $data // 0) == 0 or fail("mount $dst: $!") }
sub mkdir_p { my $p = shift; my $acc = ""; for my $c (grep { length } split m{/}, $p) { $acc .= "/$c"; mkdir $acc, 0755 } }
my ($BIND, $REC, $RO, $NOSUID, $NODEV, $NOEXEC, $REMOUNT) = (4096, 16384, 1, 2, 4, 8, 32);
mnt(undef, "/", undef, $REC | 262144, undef);
my $r = $o{root};
mnt("lambkin-root", $r, "tmpfs", $NOSUID | $NODEV, "size=1m,mode=755");
mkdir_p("$r$_") for qw(/var/task /var/runtime /opt /tmp /proc /dev /etc /.old);
for my $op (@ops) {
  my ($k, $a, $b, $c) = @$op;
  if ($k eq 'link') { mkdir_p($1) if "$r$b" =~ m{^(.*)/[^/]+$}; symlink($a, "$r$b") or fail("link $b: $!"); next }
  if ($k eq 'file') { mkdir_p($1) if "$r$a" =~ m{^(.*)/[^/]+$}; open(my $h, ">", "$r$a") or fail("file $a: $!"); print $h $b; close $h; chmod 0644, "$r$a"; next }
  if ($k eq 'tmp') { mnt($a, "$r/tmp", $b, $NOSUID | $NODEV, $c); chmod 01777, "$r/tmp"; rmdir "$r/tmp/lost+found"; next }
  if ($k eq 'disk') {
    # A scratch disk mounted ahead (an fsmount fd): attach it; else mount its device. Either way the
    # fd is closed so the runtime never inherits it.
    my ($fd, $empty, $at) = (0 + $a, "", "$r/tmp");
    my $moved = $fd > 0 && syscall($MOVE_MOUNT, $fd, $empty, -100, $at, 4) == 0;
    syscall($CLOSE, $fd) if $fd > 0;
    if (!$moved) { mnt($b, $at, "ext4", $NOSUID | $NODEV, undef); chmod 01777, $at; rmdir "$at/lost+found" }
    next;
  }
  my ($src, $dst) = $k eq 'dev' ? ("/dev/$a", "/dev/$a") : ($a, $b);
  if (-d $src) { mkdir_p("$r$dst") } elsif (!-e "$r$dst") { mkdir_p($1) if "$r$dst" =~ m{^(.*)/[^/]+$}; open(my $h, ">", "$r$dst") or fail("$dst: $!"); close $h }
  mnt($src, "$r$dst", undef, $BIND | $REC, undef);
  my $f = $k eq 'ro' ? $RO | $NOSUID | $NODEV : $k eq 'dev' ? $NOSUID | $NOEXEC : $NOSUID | $NODEV;
  mnt(undef, "$r$dst", undef, $REMOUNT | $BIND | $f, undef);
}
symlink("/proc/self/fd", "$r/dev/fd"); symlink("/proc/self/fd/0", "$r/dev/stdin"); symlink("/proc/self/fd/1", "$r/dev/stdout"); symlink("/proc/self/fd/2", "$r/dev/stderr");
mnt("proc", "$r/proc", "proc", $NOSUID | $NODEV | $NOEXEC, undef);
chdir($r) or fail("chdir root: $!");
# syscall() may write into its string arguments, so they must be variables, not literals.
{ my ($new, $put, $old) = (".", ".old", "/.old");
  syscall($PIVOT, $new, $put) == 0 or fail("pivot_root: $!");
  chdir("/"); syscall($UMOUNT2, $old, 2) == 0 or fail("detach the host's tree: $!"); rmdir $old }
mnt(undef, "/", undef, $REMOUNT | $RO | $NOSUID | $NODEV, undef);
# Only lo, brought up (SIOCSIFFLAGS: IFF_UP | IFF_RUNNING).
if ($o{net} && !$o{netns}) { socket(my $s, 2, 2, 0) or fail("socket: $!"); my $ifr = pack("a16 s x22", "lo", 1 | 64); ioctl($s, 0x8914, $ifr) or fail("lo: $!"); close $s }
# The relay's listeners are bound here, before the runtime starts, so the runtime never races the
# relay and the init need not wait for it: connections queue in the backlog until it accepts.
if (@relay) {
  my @l;
  for my $spec (@listen) {
    my ($proto, $port) = split /\t/, $spec; my $udp = $proto eq "udp";
    socket(my $s, 2, $udp ? 2 : 1, 0) or fail("socket: $!");
    setsockopt($s, 1, 2, 1) unless $udp;
    bind($s, pack("S n a4 x8", 2, $port, "\x7f\0\0\1")) or fail("bind 127.0.0.1:$port: $!");
    $udp or listen($s, 1024) or fail("listen 127.0.0.1:$port: $!");
    push @l, $s;
  }
  @relay = map { /^fd:(\d+)$/ && $l[$1] ? "fd:" . fileno($l[$1]) : $_ } @relay;
  open(my $null, ">", "/dev/null") or fail("/dev/null: $!");
  my $relay = fork; defined $relay or fail("fork: $!");
  if (!$relay) { close $st; fcntl($_, 2, 0) for @l, $null; drop(); %ENV = (); exec { $relay[0] } @relay, fileno($null); exit 127 }
  close $_ for @l, $null;
}
# The runtime goes into a user namespace of its own (root and the sandbox uid mapped to themselves)
# whose max_user_namespaces is 0: it cannot open further user namespaces and the kernel surface
# they bring, as on Lambda.
pipe(my $ur, my $uw) or fail("pipe: $!"); pipe(my $gr, my $gw) or fail("pipe: $!");
my $p = fork; defined $p or fail("fork: $!");
if (!$p) {
  close $uw; close $gr;
  syscall($UNSHARE, 0x10000000) == 0 or die "lambkin-init: user namespace: $!\n";
  syswrite($gw, "1"); close $gw;
  sysread($ur, my $go, 1) or die "lambkin-init: no uid map\n"; close $ur;
  open(my $h, ">", "/proc/sys/user/max_user_namespaces") or die "lambkin-init: max_user_namespaces: $!\n";
  print $h "0\n"; close($h) or die "lambkin-init: max_user_namespaces: $!\n";
  drop(); runtime();
}
close $gw; close $ur;
sysread($gr, my $made, 1) or fail("the runtime's user namespace could not be made"); close $gr;
for my $f ("uid_map", "gid_map") { open(my $h, ">", "/proc/$p/$f") or fail("$f: $!"); print $h "0 0 1\n$id $id 1\n"; close($h) or fail("$f: $!") }
syswrite($uw, "1"); close $uw;
while (1) { my $w = waitpid(-1, 0); last if $w < 0; next if $w != $p; exit report($?) }
exit 0;
`;

/** A sandbox's plan, as the init reads it from fd 4. */
export interface LaunchPlan {
  readonly mode: 'none' | 'cgroups' | 'full';
  /** The uid to run as (`full`; optional elsewhere: 0 or undefined keeps lambkin's own). */
  readonly uid?: number;
  /** SandboxCgroup.joinFiles. */
  readonly joinFiles?: readonly string[];
  /** `full`: an empty directory on the host where the sandbox's root tmpfs is mounted (in its own mount namespace). */
  readonly rootMountPoint?: string;
  /** `full`: what goes into the new root, in order. */
  readonly layout?: readonly RootEntry[];
  /** `full`: a network namespace of its own (only `lo`); the relay carries lambkin's endpoints into it. */
  readonly network?: boolean;
  /** `full` with `network`: an inherited fd of a network namespace made ahead, joined instead of making one. */
  readonly netnsFd?: number;
  /**
   * `full`: the relay's argv; the init appends the fd number it may write "ready" to (not waited
   * for), and replaces each `fd:K` with the fd of its K-th `listen` socket.
   */
  readonly relay?: readonly string[];
  /** `full`: loopback sockets the init binds (and listens on, for tcp) before the runtime starts, for the relay. */
  readonly listen?: readonly { readonly proto: 'tcp' | 'udp'; readonly port: number }[];
  readonly command: string;
  readonly args: readonly string[];
  /** The runtime's whole environment (the function's variables and Lambda's). */
  readonly env: Readonly<Record<string, string>>;
  readonly cwd: string;
  /** Default: this machine's architecture's. */
  readonly syscalls?: InitSyscalls;
}

/** One entry of a sandbox's root. */
export type RootEntry =
  | { readonly kind: 'ro' | 'rw'; readonly source: string; readonly target: string }
  | { readonly kind: 'link'; readonly linkTarget: string; readonly target: string }
  | { readonly kind: 'file'; readonly target: string; readonly content: string }
  | { readonly kind: 'dev'; readonly name: string }
  | { readonly kind: 'tmp'; readonly source: string; readonly fsType: string; readonly data: string }
  /** /tmp on a scratch disk: the init attaches `fd` (mounted ahead) or mounts `device` (ext4). */
  | { readonly kind: 'disk'; readonly fd: number | undefined; readonly device: string };

function field(value: string, what: string): string {
  if (value.includes('\0')) throw new Error(`${what} contains a NUL byte`);
  return value;
}

function pathField(value: string, what: string): string {
  if (value.includes('\t') || value.includes('\n')) throw new Error(`${what} contains a tab or newline: ${JSON.stringify(value)}`);
  return field(value, what);
}

/** The plan as the init reads it. Throws on a value the format cannot carry (a NUL byte, a tab in a path). */
export function encodePlan(plan: LaunchPlan): Buffer {
  const sys = plan.syscalls ?? initSyscalls();
  if (!sys) throw new Error(`sandboxes cannot be launched on ${process.arch}: its syscall numbers are not known to lambkin`);
  const tokens: string[] = [
    `mode\t${plan.mode}`,
    `sys\t${[sys.unshare, sys.prctl, sys.mount, sys.pivotRoot, sys.umount2, sys.setgroups, sys.setresuid, sys.setresgid, sys.close, sys.moveMount, sys.setns].join(',')}`,
    `cwd\t${pathField(plan.cwd, 'cwd')}`,
  ];
  if (plan.uid !== undefined) tokens.push(`uid\t${plan.uid}`);
  if (plan.network) tokens.push('net\t1');
  if (plan.network && plan.netnsFd !== undefined) tokens.push(`netns\t${plan.netnsFd}`);
  if (plan.rootMountPoint !== undefined) tokens.push(`root\t${pathField(plan.rootMountPoint, 'root')}`);
  for (const f of plan.joinFiles ?? []) tokens.push(`join\t${pathField(f, 'cgroup file')}`);
  for (const e of plan.layout ?? []) {
    switch (e.kind) {
      case 'ro':
      case 'rw':
        tokens.push(`${e.kind}\t${pathField(e.source, 'bind source')}\t${pathField(e.target, 'bind target')}`);
        break;
      case 'link':
        tokens.push(`link\t${pathField(e.linkTarget, 'link target')}\t${pathField(e.target, 'link')}`);
        break;
      case 'file':
        tokens.push(`file\t${pathField(e.target, 'file')}\t${field(e.content, 'file content')}`);
        break;
      case 'dev':
        tokens.push(`dev\t${pathField(e.name, 'device')}`);
        break;
      case 'disk':
        tokens.push(`disk\t${e.fd ?? 0}\t${pathField(e.device, 'scratch disk')}`);
        break;
      case 'tmp':
        tokens.push(`tmp\t${pathField(e.source, '/tmp source')}\t${pathField(e.fsType, '/tmp type')}\t${field(e.data, '/tmp options')}`);
        break;
    }
  }
  for (const l of plan.listen ?? []) tokens.push(`listen\t${l.proto}\t${l.port}`);
  for (const a of plan.relay ?? []) tokens.push(`relay\t${field(a, 'relay argument')}`);
  for (const a of [plan.command, ...plan.args]) tokens.push(`cmd\t${field(a, 'runtime argument')}`);
  for (const [k, v] of Object.entries(plan.env)) {
    if (k === '' || k.includes('=')) throw new Error(`invalid environment variable name ${JSON.stringify(k)}`);
    tokens.push(`env\t${field(k, 'variable name')}=${field(v, `variable ${k}`)}`);
  }
  return Buffer.from(tokens.join('\0'), 'utf8');
}

/**
 * The environment every init starts with: nothing of the function's, nothing of lambkin's own
 * (e.g. NODE_OPTIONS or PERL5LIB that lambkin may have been started with).
 */
export const LAUNCHER_ENV: Readonly<Record<string, string>> = Object.freeze({ PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' });

/** argv of the init. Its fd 3 must be a pipe lambkin reads (status), fd 4 one it writes the plan to. */
export function initCommand(perl: string): { command: string; args: string[] } {
  return { command: perl, args: ['-e', INIT_PERL] };
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
