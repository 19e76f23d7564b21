/**
 * The network relay that runs INSIDE a namespaced sandbox. The sandbox's network namespace has only
 * `lo`, yet the function must reach its Runtime API, lambkin's sandbox-facing AWS endpoint and the
 * X-Ray daemon at fixed loopback addresses, as on Lambda. lambkin serves each of these on a Unix
 * socket whose file is bind-mounted into the sandbox; the relay listens on 127.0.0.1 and carries
 * the bytes across:
 *
 *   TCP  127.0.0.1:PORT → accept → connect the Unix stream socket → copy both ways (half-close kept)
 *   UDP  127.0.0.1:PORT → each datagram becomes a frame on ONE Unix stream connection:
 *        4-byte big-endian length + the datagram's bytes (see {@link XRAY_FRAME_MAX_BYTES})
 *
 * It is a perl program using core modules only (perl is already what the sandbox's init runs), one
 * process, one select loop, non-blocking everywhere: a slow or stuck connection stalls only itself.
 * It never parses what it relays, so nothing the function sends can take it down; it exits when its
 * parent (the init) dies. It runs as the sandbox's unprivileged uid: ports are > 1024.
 *
 * Arguments (see {@link relayArgs}): `PRCTL N (PROTO PORT SOCKET)×N READY_FD`
 * - PRCTL: the prctl syscall number (PR_SET_PDEATHSIG with SIGKILL), or 0 to rely on polling
 *   getppid() once a second only.
 * - PROTO is `tcp` or `udp`; SOCKET the Unix socket's path as the sandbox sees it.
 * - READY_FD, last because the sandbox's init appends it: an inherited fd (a pipe's write end).
 *   Once every listener is bound the relay writes
 *   `ready PORT1 ... PORTN\n` (the ports actually bound, in route order: port 0 asks the kernel for a
 *   free one, which tests use) and closes it. If a listener cannot be set up it writes
 *   `error MESSAGE\n` and exits with status 1. EOF without a line means it died. The init starts the
 *   runtime only after `ready`, so the runtime never races the relay.
 *
 * The relay runs with an empty environment, as the sandbox's uid, after `lo` is up; the host side
 * serves `runtime.sock` (RuntimeApiServer.start({ socketPath })), `aws.sock` (the sandbox-facing
 * endpoint) and `xray.sock` (XrayDaemon.listenStream) in the sandbox's socket directory.
 */
import { initSyscalls } from './launcher.js';

/** Where the Runtime API appears inside a namespaced sandbox: AWS_LAMBDA_RUNTIME_API=127.0.0.1:9001, as on Lambda. */
export const SANDBOX_RUNTIME_API_PORT = 9001;
/** Where lambkin's sandbox-facing AWS endpoint appears: AWS_ENDPOINT_URL=http://127.0.0.1:9002. */
export const SANDBOX_AWS_ENDPOINT_PORT = 9002;
/** Where the X-Ray daemon appears: AWS_XRAY_DAEMON_ADDRESS=127.0.0.1:2000, as on Lambda. */
export const SANDBOX_XRAY_PORT = 2000;

/** Largest datagram (= frame payload) the relay forwards and the daemon's stream listener accepts. */
export const XRAY_FRAME_MAX_BYTES = 64 * 1024;

/**
 * The relay program; run as `perl -e RELAY_PERL -- ARGS` ({@link relayArgs}).
 * Per direction at most 1 MiB is buffered before the relay stops reading that side (backpressure);
 * the X-Ray stream buffers at most 1 MiB and drops datagrams beyond that or while it is down.
 */
export const RELAY_PERL = String.raw`
use strict; no warnings;
# Linux's numbers (the same on every architecture whose sandboxes are sealed), so that no module is
# loaded: Socket, POSIX and Fcntl would add ~25 ms to every cold start (the runtime waits for "ready").
sub AF_UNIX () { 1 } sub AF_INET () { 2 } sub SOCK_STREAM () { 1 } sub SOCK_DGRAM () { 2 } sub SOL_SOCKET () { 1 }
sub SO_REUSEADDR () { 2 } sub IPPROTO_TCP () { 6 } sub TCP_NODELAY () { 1 } sub EAGAIN () { 11 } sub EINTR () { 4 }
sub EMFILE () { 24 } sub ENFILE () { 23 } sub ENOBUFS () { 105 } sub ENOMEM () { 12 } sub F_GETFL () { 3 } sub F_SETFL () { 4 }
sub O_NONBLOCK () { 2048 }
sub pack_sockaddr_in { pack("S n a4 x8", AF_INET, $_[0], "\x7f\0\0\1") }
sub unpack_sockaddr_in { (unpack("S n", $_[0]))[1] }
sub pack_sockaddr_un { pack("S", AF_UNIX) . $_[0] . "\0" }
$0 = "lambkin-relay";
$SIG{PIPE} = "IGNORE";
my ($prctl, $n) = map { 0 + $_ } splice(@ARGV, 0, 2);
syscall($prctl, 1, 9, 0, 0, 0) if $prctl;
my $ppid = getppid();
my $readyfd = 0 + $ARGV[$#ARGV];
open(my $ready, ">&=", $readyfd) or die "lambkin-relay: no ready fd $readyfd: $!\n";
sub fail { syswrite($ready, "error $_[0]\n"); exit 1 }
sub nb { my $f = fcntl($_[0], F_GETFL, 0); fcntl($_[0], F_SETFL, $f | O_NONBLOCK) }
my (@tcp, @udp, @ports);
for (1 .. $n) {
  my ($proto, $port, $path) = splice(@ARGV, 0, 3);
  defined $path && @ARGV or fail("missing route arguments");
  my $udp = $proto eq "udp";
  $udp or $proto eq "tcp" or fail("unknown protocol $proto");
  my $l;
  if ($port =~ /^fd:(\d+)$/) {
    # Bound (and listening) already by the sandbox's init, which need not wait for the relay then.
    open($l, "+<&=", $1) or fail("fd $1: $!");
  } else {
    socket($l, AF_INET, $udp ? SOCK_DGRAM : SOCK_STREAM, 0) or fail("socket: $!");
    setsockopt($l, SOL_SOCKET, SO_REUSEADDR, 1) unless $udp;
    bind($l, pack_sockaddr_in(0 + $port)) or fail("bind $proto 127.0.0.1:$port: $!");
    $udp or listen($l, 1024) or fail("listen 127.0.0.1:$port: $!");
  }
  nb($l);
  my $r = { fh => $l, fd => fileno($l), to => pack_sockaddr_un($path), out => "" };
  push @{ $udp ? \@udp : \@tcp }, $r;
  push @ports, unpack_sockaddr_in(getsockname($l));
}
syswrite($ready, "ready @ports\n"); close($ready);
my $MAX = 1 << 20;
my $rbuf = "";
my %pairs;      # id => { fh => [tcp, unix], fd => [...], buf => [to unix, to tcp], eof => [..], shut => [..] }
my $nextid = 0;
my $paused = 0; # out of fds: stop accepting until a connection closes (or 50 ms pass)
my $turns = 0;
sub drop_pair { my $p = shift; return if $p->{dead}; $p->{dead} = 1; close($p->{fh}[0]); close($p->{fh}[1]); delete $pairs{$p->{id}}; $paused = 0 }
sub settle {
  my ($p, $i) = @_;
  if ($p->{eof}[$i] && !length($p->{buf}[$i]) && !$p->{shut}[$i]) { shutdown($p->{fh}[1 - $i], 1); $p->{shut}[$i] = 1 }
  drop_pair($p) if $p->{shut}[0] && $p->{shut}[1];
}
sub flush {
  my ($p, $i) = @_;
  my $w = syswrite($p->{fh}[1 - $i], $p->{buf}[$i]);
  if (!defined $w) { return if $! == EAGAIN || $! == EINTR; return drop_pair($p) }
  substr($p->{buf}[$i], 0, $w, "");
  settle($p, $i);
}
sub pump {
  my ($p, $i) = @_;
  my $got = sysread($p->{fh}[$i], $rbuf, 262144);
  if (!defined $got) { return if $! == EAGAIN || $! == EINTR; return drop_pair($p) }
  if ($got == 0) { $p->{eof}[$i] = 1; return settle($p, $i) }
  if (length $p->{buf}[$i]) { $p->{buf}[$i] .= $rbuf; return }
  # Nothing queued: write at once, saving a trip through select.
  my $w = syswrite($p->{fh}[1 - $i], $rbuf);
  if (!defined $w) { return drop_pair($p) unless $! == EAGAIN || $! == EINTR; $w = 0 }
  $p->{buf}[$i] = substr($rbuf, $w) if $w < $got;
}
sub accept_all {
  my $r = shift;
  for (1 .. 64) {
    my $c;
    if (!accept($c, $r->{fh})) { $paused = 1 if $! == EMFILE || $! == ENFILE || $! == ENOBUFS || $! == ENOMEM; return }
    my $u;
    if (!socket($u, AF_UNIX, SOCK_STREAM, 0)) { close($c); $paused = 1; return }
    nb($u);
    # A Unix connect never waits: it succeeds, or fails (absent, refused, backlog full) and the
    # function's connection is closed.
    if (!connect($u, $r->{to})) { close($u); close($c); next }
    nb($c);
    setsockopt($c, IPPROTO_TCP, TCP_NODELAY, 1);
    my $id = ++$nextid;
    $pairs{$id} = { id => $id, fh => [$c, $u], fd => [fileno($c), fileno($u)], buf => ["", ""], eof => [0, 0], shut => [0, 0] };
  }
}
sub xray_down { my $r = shift; close($r->{x}) if $r->{x}; $r->{x} = undef; $r->{out} = "" }
sub xray_flush {
  my $r = shift;
  my $w = syswrite($r->{x}, $r->{out});
  if (!defined $w) { xray_down($r) unless $! == EAGAIN || $! == EINTR; return }
  substr($r->{out}, 0, $w, "");
}
sub datagrams {
  my $r = shift;
  for (1 .. 256) {
    defined(recv($r->{fh}, $rbuf, 65536, 0)) or return;
    next if length($rbuf) > 65535;
    if (!$r->{x}) {
      # Lazily (re)connect; while the daemon is away, datagrams are dropped as UDP would.
      socket(my $x, AF_UNIX, SOCK_STREAM, 0) or next;
      nb($x);
      connect($x, $r->{to}) or next;
      $r->{x} = $x; $r->{xfd} = fileno($x);
    }
    next if length($r->{out}) > $MAX;
    my $was = length $r->{out};
    $r->{out} .= pack("N", length $rbuf) . $rbuf;
    xray_flush($r) unless $was;
  }
}
while (1) {
  my ($rin, $win) = ("", "");
  unless ($paused) { vec($rin, $_->{fd}, 1) = 1 for @tcp }
  for my $r (@udp) {
    vec($rin, $r->{fd}, 1) = 1;
    next unless $r->{x};
    vec($rin, $r->{xfd}, 1) = 1;
    vec($win, $r->{xfd}, 1) = 1 if length $r->{out};
  }
  for my $p (values %pairs) {
    for my $i (0, 1) {
      vec($rin, $p->{fd}[$i], 1) = 1 if !$p->{eof}[$i] && length($p->{buf}[$i]) < $MAX;
      vec($win, $p->{fd}[1 - $i], 1) = 1 if length $p->{buf}[$i];
    }
  }
  my ($rout, $wout) = ($rin, $win);
  my $found = select($rout, $wout, undef, $paused ? 0.05 : 1);
  # Without a parent-death signal a busy relay still notices, every 1000 turns.
  exit 0 if ($found <= 0 || ++$turns % 1000 == 0) && getppid() != $ppid;
  # Out of fds: try accepting again after a pause, even if no connection of ours closed.
  if ($found <= 0) { $paused = 0; next }
  for my $p (values %pairs) {
    for my $i (0, 1) {
      last if $p->{dead};
      flush($p, 1 - $i) if length $p->{buf}[1 - $i] && vec($wout, $p->{fd}[$i], 1);
      pump($p, $i) if !$p->{dead} && !$p->{eof}[$i] && vec($rout, $p->{fd}[$i], 1);
    }
  }
  for my $r (@udp) {
    if ($r->{x} && vec($rout, $r->{xfd}, 1)) {
      # The daemon never writes: readable means it went away (or misbehaves).
      my $got = sysread($r->{x}, $rbuf, 65536);
      xray_down($r) if !defined($got) ? ($! != EAGAIN && $! != EINTR) : $got == 0;
    }
    xray_flush($r) if $r->{x} && length $r->{out} && vec($wout, $r->{xfd}, 1);
    datagrams($r) if vec($rout, $r->{fd}, 1);
  }
  for my $r (@tcp) { accept_all($r) if vec($rout, $r->{fd}, 1) }
}
`;

/** One address the relay listens on inside the sandbox and the Unix socket it carries it to. */
export interface RelayRoute {
  readonly proto: 'tcp' | 'udp';
  /**
   * Port on 127.0.0.1; 0 = any free port (reported in the ready line; for tests). `fd:N`: a socket
   * already bound and listening, inherited as fd N (the sandbox's init binds before the runtime starts).
   */
  readonly port: number | `fd:${number}`;
  /** Path of the Unix stream socket as the relay (inside the sandbox) sees it. */
  readonly socket: string;
}

/** What {@link relayArgs} needs. */
export interface RelayOptions {
  readonly routes: readonly RelayRoute[];
  /** prctl's syscall number for PR_SET_PDEATHSIG; default: this machine's (null: poll getppid() only). */
  readonly prctl?: number | null;
}

/**
 * perl's arguments (after the perl executable): `['-e', RELAY_PERL, '--', PRCTL, N, routes...]`; the
 * ready fd's number goes last (the init appends it). Every value is an argument, never script text.
 */
export function relayArgs(o: RelayOptions): string[] {
  const prctl = o.prctl === undefined ? (initSyscalls()?.prctl ?? 0) : (o.prctl ?? 0);
  const routes = o.routes.flatMap((r) => {
    if (typeof r.port === 'string') {
      if (!/^fd:\d+$/.test(r.port)) throw new RangeError(`relay: bad port ${r.port}`);
    } else if (!Number.isInteger(r.port) || r.port < 0 || r.port > 65535) throw new RangeError(`relay: bad port ${r.port}`);
    if (r.socket === '' || r.socket.includes('\0')) throw new RangeError(`relay: bad socket path ${JSON.stringify(r.socket)}`);
    return [r.proto, String(r.port), r.socket];
  });
  return ['-e', RELAY_PERL, '--', String(prctl), String(o.routes.length), ...routes];
}

/** Socket file names in a sandbox's socket directory (host side and, bind-mounted, inside). */
export const RUNTIME_API_SOCKET = 'runtime.sock';
export const AWS_ENDPOINT_SOCKET = 'aws.sock';
export const XRAY_SOCKET = 'xray.sock';

/** The production routes: 9001 → runtime.sock, 9002 → aws.sock (TCP), 2000 → xray.sock (UDP, framed). */
export function sandboxRoutes(socketDirInside: string): RelayRoute[] {
  return [
    { proto: 'tcp', port: SANDBOX_RUNTIME_API_PORT, socket: `${socketDirInside}/${RUNTIME_API_SOCKET}` },
    { proto: 'tcp', port: SANDBOX_AWS_ENDPOINT_PORT, socket: `${socketDirInside}/${AWS_ENDPOINT_SOCKET}` },
    { proto: 'udp', port: SANDBOX_XRAY_PORT, socket: `${socketDirInside}/${XRAY_SOCKET}` },
  ];
}

/**
 * What a sealed sandbox's init needs for its relay: the loopback sockets to bind (9001, 9002, UDP
 * 2000) and the relay's argv (argv[0] being perl as the sandbox sees it), whose routes name those
 * sockets as `fd:0`, `fd:1`, `fd:2` (the init substitutes the real fds and appends the ready fd).
 */
export function sandboxRelay(perl: string, socketDirInside: string, prctl?: number | null): { listen: { proto: 'tcp' | 'udp'; port: number }[]; argv: string[] } {
  const routes = sandboxRoutes(socketDirInside);
  return {
    listen: routes.map((r) => ({ proto: r.proto, port: r.port as number })),
    argv: [perl, ...relayArgs({ routes: routes.map((r, i) => ({ ...r, port: `fd:${i}` as const })), ...(prctl !== undefined ? { prctl } : {}) })],
  };
}

/** Parses the relay's readiness line: the bound ports, in route order; an Error for `error ...` or anything else. */
export function parseRelayReady(line: string): number[] | Error {
  const m = /^ready((?: \d+)*)\n?$/.exec(line);
  if (m) return (m[1] ?? '').trim() === '' ? [] : (m[1] ?? '').trim().split(' ').map(Number);
  const e = /^error (.*)\n?$/.exec(line);
  return new Error(e ? `relay: ${e[1] ?? ''}` : `relay exited before it was ready${line ? `: ${JSON.stringify(line)}` : ''}`);
}

/** The sandbox's environment values that point at the relay's fixed ports. */
export function sandboxNetworkEnv(): Record<string, string> {
  return {
    AWS_LAMBDA_RUNTIME_API: `127.0.0.1:${SANDBOX_RUNTIME_API_PORT}`,
    AWS_ENDPOINT_URL: `http://127.0.0.1:${SANDBOX_AWS_ENDPOINT_PORT}`,
    AWS_XRAY_DAEMON_ADDRESS: `127.0.0.1:${SANDBOX_XRAY_PORT}`,
    _AWS_XRAY_DAEMON_ADDRESS: '127.0.0.1',
    _AWS_XRAY_DAEMON_PORT: String(SANDBOX_XRAY_PORT),
  };
}
