/**
 * The network namespaces of sealed sandboxes, made ahead so the cold path only joins one (setns,
 * ~0.3 ms) instead of creating it and bringing `lo` up (unshare + an ioctl under the kernel's RTNL
 * lock, which a namespace being torn down can hold for milliseconds).
 *
 * A namespace is made by a small holder process (perl, like the init): it unshares a network
 * namespace, brings `lo` up and waits; lambkin opens `/proc/<holder>/ns/net` (close-on-exec) and lets
 * the holder go. The namespace then lives exactly as long as lambkin's fd and, once the sandbox's
 * init has joined it, the sandbox's processes: nothing is named, so a killed lambkin leaves no
 * namespace behind. Each namespace serves one sandbox and is never reused.
 *
 * Modes (`--sandbox-network`):
 * - `none` (default): only `lo`. The relay (relay.ts) carries the Runtime API, lambkin's
 *   sandbox-facing endpoint and the X-Ray daemon in; nothing else is reachable.
 * - `nat`: also a veth pair: `eth0` inside with a /30 of 100.64.0.0/10 (RFC 6598 shared space) and a
 *   default route to the host end (`lk<block>x<slot>`), and outbound traffic masqueraded behind the
 *   host's address. The host's own services (lambkin's API included, on any address), other
 *   sandboxes, link-local addresses (cloud metadata services), loopback and private networks stay
 *   unreachable, as they are from a Lambda function outside a VPC; nothing can connect in. One nftables
 *   table per lambkin instance holds these rules (`ip lambkin_<block>`).
 *
 * VPC functions (any mode, where ip and nft are available): each ENI the placement core attaches is a
 * real veth pair. The VPC is a network namespace of its own, `lk<block>-<VpcId>` (find it with
 * `ip netns list`), whose bridge `br0` holds 172.31.0.1/16 (the CIDR of AWS's default VPC); put a
 * service there (`ip netns exec lk7-vpc-… <command>`) and the VPC's functions reach it. An ENI is
 * `lk<block>e<n>` on the host, with an address of 172.31.16.0/20, and its peer is a port of `br0`. A
 * sandbox of a VPC function gets a veth like `nat`'s, a policy rule sending everything it sends to
 * its ENI's routing table (the VPC's CIDR through the ENI, nothing else: no internet, as a Lambda
 * function in a VPC without a NAT gateway), and its traffic leaves masqueraded as the ENI's address,
 * as the VPC sees a Lambda ENI's. Legacy ENIs (one per worker) and Hyperplane ENIs (one per subnets
 * and security groups) differ only in how many the placement core attaches.
 *
 * Address blocks are host-wide: each lambkin instance claims a /20 (1,024 sandboxes; slots are
 * recycled once their interface is gone) by creating `<claimsDir>/block-<n>` exclusively; a claim
 * whose process is gone is taken over, and its nftables table replaced.
 */
import { execFile, spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { pidAlive } from './cgroups.js';

/** What a sealed sandbox may reach besides lambkin's relayed endpoints. */
export type SandboxNetworkMode = 'none' | 'nat';
/** Namespaces kept ready. */
export const DEFAULT_NETWORK_POOL = 4;
/** Where instances claim their address blocks (host-wide). */
export const DEFAULT_CLAIMS_DIR = '/run/lambkin/net';
/** Destinations a `nat` sandbox never reaches (the host's and its networks', not the internet's). */
export const UNREACHABLE_FROM_SANDBOXES = ['0.0.0.0/8', '10.0.0.0/8', '100.64.0.0/10', '127.0.0.0/8', '169.254.0.0/16', '172.16.0.0/12', '192.168.0.0/16', '224.0.0.0/3'] as const;

const BLOCKS = 1024;
const SLOTS = 1024;
/** ENIs per instance (their addresses: 172.31.16.0/20). */
const ENIS = 4096;
/** The VPC's side: the CIDR of AWS's default VPC, its bridge address, and where ENI addresses start. */
export const VPC_CIDR = '172.31.0.0/16';
export const VPC_ROUTER = '172.31.0.1';
const ENI_BASE = ((172 << 24) >>> 0) + (31 << 16) + (16 << 8);
/** Routing tables and rule priorities of block K: tables 0x10000 + K·ENIS + n, rules at 20000 + K. */
const tableOf = (block: number, eni: number): number => 0x10000 + block * ENIS + eni;
const rulePriority = (block: number): number => 20_000 + block;
/** A fixed environment for the privileged helpers (the security contract: never a function's). */
const HELPER_ENV = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' };

/**
 * The holder: arguments UNSHARE PRCTL IP. Prints `ready` once its namespace has `lo` up; then, for
 * each `conf ADDRESS GATEWAY` line on stdin, configures `eth0` (moved in by lambkin) with ip(8) run
 * inside the namespace and answers `done` / `failed`; exits at EOF (and with lambkin).
 */
const HOLDER_PERL = String.raw`
use strict; no warnings;
$0 = "lambkin-netns";
my ($unshare, $prctl, $ip) = @ARGV;
syscall(0 + $prctl, 1, 9, 0, 0, 0);
syscall(0 + $unshare, 0x40000000) == 0 or die "unshare: $!\n";
socket(my $s, 2, 2, 0) or die "socket: $!\n";
my $ifr = pack("a16 s x22", "lo", 1 | 64);
ioctl($s, 0x8914, $ifr) or die "lo: $!\n";
close $s;
$| = 1;
print "ready\n";
while (my $line = <STDIN>) {
  chomp $line;
  my ($cmd, $addr, $gw) = split / /, $line;
  next unless $cmd eq "conf" && $addr =~ /^[0-9.]+$/ && $gw =~ /^[0-9.]+$/;
  open(my $b, "|-", $ip, "-b", "-") or do { print "failed\n"; next };
  print $b "addr add $addr/30 dev eth0\nlink set eth0 up\nroute add default via $gw\n";
  close $b;
  print $? == 0 ? "done\n" : "failed\n";
}
`;

/** One sandbox's network namespace, ready to be joined. */
export interface SandboxNetwork {
  /** lambkin's fd of the namespace (close-on-exec): the sandbox's init inherits it and joins it with setns. */
  readonly fd: number;
  /** `nat`: the sandbox's address on `eth0`. */
  readonly address: string | undefined;
  /** `nat`: the host end's address, the sandbox's default route. */
  readonly gateway: string | undefined;
  /** `nat`: the host end's interface name. */
  readonly hostInterface: string | undefined;
  /** The ENI whose VPC this sandbox reaches (VPC functions only). */
  readonly eniId: string | undefined;
  /** Closes lambkin's fd (once the init has inherited it). Idempotent. */
  closeFd(): void;
  /** Closes the fd and removes the host end (freeing the address). Idempotent. */
  release(): Promise<void>;
}

/** Tools and syscall numbers the namespaces are made with. */
export interface SandboxNetworksOptions {
  readonly mode: SandboxNetworkMode;
  readonly perl: string;
  /** ip(8); required for `nat`. */
  readonly ip?: string;
  /** nft(8); required for `nat`. */
  readonly nft?: string;
  readonly unshareSyscall: number;
  readonly prctlSyscall: number;
  /** Default {@link DEFAULT_NETWORK_POOL}. */
  readonly pool?: number;
  /** Awaited before each background refill: resolves when no cold start is in flight. Default: at once. */
  readonly quiet?: () => Promise<void>;
  /** Default {@link DEFAULT_CLAIMS_DIR}. */
  readonly claimsDir?: string;
  readonly log?: (message: string) => void;
}

/** Why `nat` cannot work on this machine, or undefined. */
export function natUnavailable(tools: { ip?: string | undefined; nft?: string | undefined }, root: boolean): string | undefined {
  if (!root) return 'outbound NAT needs root';
  if (!tools.ip) return 'outbound NAT needs ip(8) (Debian: iproute2)';
  if (!tools.nft) return 'outbound NAT needs nft(8) (Debian: nftables)';
  return undefined;
}

function run(file: string, args: readonly string[], input?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = execFile(file, args, { env: HELPER_ENV, timeout: 10_000 }, (err, _out, stderr) => {
      if (err) reject(new Error(`${file} ${args.join(' ')}: ${stderr.trim() || err.message}`));
      else resolve();
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

function ipv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** A host-wide address block claimed by this instance. */
interface Block {
  readonly index: number;
  readonly file: string;
}

/** Owns one lambkin instance's pool of sandbox network namespaces (and, for `nat`, its nftables table). */
export class SandboxNetworks {
  readonly mode: SandboxNetworkMode;
  private readonly ready: SandboxNetwork[] = [];
  private readonly target: number;
  private filling = false;
  private closed = false;
  private block: Block | undefined;
  private readonly freeSlots: number[] = [];
  private started: Promise<void> | undefined;
  private blockReady: Promise<Block> | undefined;
  /** Attached ENIs by id. */
  private readonly enis = new Map<string, { readonly index: number; readonly hostInterface: string; readonly address: string; readonly vpcNs: string }>();
  private readonly freeEnis: number[] = Array.from({ length: ENIS }, (_, i) => i);
  /** VPC namespaces made by this instance, by VpcId. */
  private readonly vpcs = new Map<string, Promise<string>>();
  /** Holders not yet exited, with their exit (close() waits for them, so no process outlives it). */
  private readonly holders = new Map<ReturnType<typeof spawn>, Promise<void>>();

  constructor(private readonly options: SandboxNetworksOptions) {
    this.mode = options.mode;
    this.target = options.pool ?? DEFAULT_NETWORK_POOL;
    if (options.mode === 'nat') {
      const why = natUnavailable(options, process.getuid?.() === 0);
      if (why) throw new Error(`--sandbox-network nat: ${why}`);
    }
  }

  /** Claims the address block and installs the rules (`nat`), then fills the pool in the background. */
  start(): Promise<void> {
    this.started ??= (async () => {
      if (this.mode === 'nat') await this.ensureBlock();
      // A killed instance's rules and VPC namespaces go at the next start, whatever its mode.
      else if (this.enisUsable) await removeDeadClaims(this.claimsDir(), this.options.ip, this.options.nft);
      this.refill();
    })();
    return this.started;
  }

  /** Whether ENIs can be real interfaces here (ip and nft as root). */
  get enisUsable(): boolean {
    return natUnavailable(this.options, process.getuid?.() === 0) === undefined;
  }

  /** This instance's nftables table (`nat`), for tests and doctor. */
  get tableName(): string | undefined {
    return this.block ? `lambkin_${this.block.index}` : undefined;
  }

  private ensureBlock(): Promise<Block> {
    this.blockReady ??= this.claimBlock();
    return this.blockReady;
  }

  private claimsDir(): string {
    const dir = this.options.claimsDir ?? DEFAULT_CLAIMS_DIR;
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    return dir;
  }

  private async claimBlock(): Promise<Block> {
    const dir = this.claimsDir();
    await removeDeadClaims(dir, this.options.ip, this.options.nft);
    const start = Math.floor(Math.random() * BLOCKS);
    for (let i = 0; i < BLOCKS && !this.block; i++) {
      const index = (start + i) % BLOCKS;
      const file = join(dir, `block-${index}`);
      try {
        writeFileSync(file, `${process.pid}\n`, { flag: 'wx', mode: 0o600 });
        this.block = { index, file };
      } catch {
        // taken by a live instance
      }
    }
    if (!this.block) throw new Error('sandbox networks: every address block of 100.64.0.0/10 is taken by running lambkin instances');
    for (let s = 0; s < SLOTS; s++) this.freeSlots.push(s);
    writeFileSync('/proc/sys/net/ipv4/ip_forward', '1\n');
    await run(this.options.nft as string, ['-f', '-'], natRules(this.block.index, this.mode));
    return this.block;
  }

  /**
   * Attaches an ENI: a veth pair from the host into the VPC's namespace (made on first use), with
   * its routing table. Idempotent per id.
   */
  async attachEni(eniId: string, vpcId: string): Promise<void> {
    if (this.enis.has(eniId) || this.closed) return;
    const block = await this.ensureBlock();
    const index = this.freeEnis.shift();
    if (index === undefined) throw new Error(`no more than ${ENIS} ENIs per lambkin instance`);
    const vpcNs = await this.vpcNamespace(block, vpcId);
    const hostInterface = `lk${block.index}e${index}`;
    const peer = `e${index}`;
    const address = ipv4(ENI_BASE + index);
    const table = tableOf(block.index, index);
    const ip = this.options.ip as string;
    try {
      await run(ip, ['-b', '-'], [
        `link add ${hostInterface} type veth peer name ${peer} netns ${vpcNs}`,
        `addr add ${address}/16 dev ${hostInterface} noprefixroute`,
        `link set ${hostInterface} up`,
        `route replace ${VPC_CIDR} dev ${hostInterface} src ${address} table ${table}`,
        `route replace unreachable default table ${table}`,
        '',
      ].join('\n'));
      await run(ip, ['-n', vpcNs, '-b', '-'], `link set ${peer} master br0\nlink set ${peer} up\n`);
    } catch (err) {
      await run(ip, ['link', 'del', hostInterface]).catch(() => undefined);
      this.freeEnis.push(index);
      throw err;
    }
    this.enis.set(eniId, { index, hostInterface, address, vpcNs });
  }

  /** Deletes an ENI's interface and its routes (its sandboxes are gone by then). Idempotent. */
  async deleteEni(eniId: string): Promise<void> {
    const eni = this.enis.get(eniId);
    if (!eni || !this.block) return;
    this.enis.delete(eniId);
    const ip = this.options.ip as string;
    await run(ip, ['link', 'del', eni.hostInterface]).catch(() => undefined);
    await run(ip, ['route', 'flush', 'table', String(tableOf(this.block.index, eni.index))]).catch(() => undefined);
    this.freeEnis.push(eni.index);
  }

  private vpcNamespace(block: Block, vpcId: string): Promise<string> {
    let ns = this.vpcs.get(vpcId);
    if (!ns) {
      const name = `lk${block.index}-${vpcId.replace(/[^A-Za-z0-9_.-]/g, '_')}`;
      ns = (async () => {
        const ip = this.options.ip as string;
        await run(ip, ['netns', 'add', name]);
        await run(ip, ['-n', name, '-b', '-'], `link set lo up\nlink add br0 type bridge\naddr add ${VPC_ROUTER}/16 dev br0\nlink set br0 up\n`);
        return name;
      })();
      this.vpcs.set(vpcId, ns);
      ns.catch(() => this.vpcs.delete(vpcId));
    }
    return ns;
  }

  /**
   * A namespace for a sandbox: a ready one when the pool has one. Otherwise, at mode `none`,
   * undefined (the init unshares one itself, as fast as making one here); at `nat` one is made now.
   */
  async claim(signal?: AbortSignal, eniId?: string): Promise<SandboxNetwork | undefined> {
    await this.start();
    if (eniId !== undefined) return this.claimForEni(eniId, signal);
    const net = this.ready.shift();
    this.refill();
    if (net || this.mode === 'none') return net;
    signal?.throwIfAborted();
    return this.make();
  }

  /** A namespace with a veth whose traffic goes to the ENI's VPC only. */
  private async claimForEni(eniId: string, signal?: AbortSignal): Promise<SandboxNetwork> {
    const eni = this.enis.get(eniId);
    if (!eni || !this.block) throw new Error(`ENI ${eniId} is not attached`);
    let net = this.mode === 'nat' ? this.ready.shift() : undefined;
    this.refill();
    signal?.throwIfAborted();
    net ??= await this.make(true);
    const address = net.address as string;
    const table = tableOf(this.block.index, eni.index);
    const priority = rulePriority(this.block.index);
    try {
      await run(this.options.ip as string, ['rule', 'add', 'from', address, 'table', String(table), 'priority', String(priority)]);
    } catch (err) {
      await net.release();
      throw err;
    }
    const base = net;
    let released: Promise<void> | undefined;
    return {
      ...base,
      eniId,
      closeFd: () => base.closeFd(),
      release: () =>
        (released ??= (async () => {
          await run(this.options.ip as string, ['rule', 'del', 'from', address, 'table', String(table), 'priority', String(priority)]).catch(() => undefined);
          await base.release();
        })()),
    };
  }

  /** Resolves once the pool is full (benchmarks measure the cold path with it full). */
  async whenFilled(): Promise<void> {
    await this.start();
    while (!this.closed && this.ready.length < this.target) await this.makeInto();
  }

  private refill(): void {
    if (this.filling || this.closed) return;
    this.filling = true;
    void (async () => {
      try {
        while (!this.closed && this.ready.length < this.target) {
          await this.options.quiet?.();
          if (this.closed) break;
          await this.makeInto();
        }
      } catch (err) {
        this.options.log?.(`lambkin: could not prepare a sandbox network namespace: ${(err as Error).message}`);
      } finally {
        this.filling = false;
      }
    })();
  }

  private async makeInto(): Promise<void> {
    const net = await this.make();
    // A refill and whenFilled() may both have been making one: never keep more than the pool's size.
    if (this.closed || this.ready.length >= this.target) await net.release();
    else this.ready.push(net);
  }

  private async make(veth = this.mode === 'nat'): Promise<SandboxNetwork> {
    const o = this.options;
    const holder = spawn(o.perl, ['-e', HOLDER_PERL, String(o.unshareSyscall), String(o.prctlSyscall), o.ip ?? 'ip'], { env: HELPER_ENV, stdio: ['pipe', 'pipe', 'pipe'] });
    this.holders.set(holder, new Promise<void>((resolve) => holder.once('close', () => resolve())).then(() => void this.holders.delete(holder)));
    let stderr = '';
    holder.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const lines = createInterface({ input: holder.stdout })[Symbol.asyncIterator]();
    const next = async (): Promise<string> => {
      const r = await lines.next();
      if (r.done) throw new Error(`the namespace holder exited: ${stderr.trim() || 'no reason given'}`);
      return r.value;
    };
    let fd: number | undefined;
    let slot: number | undefined;
    try {
      if ((await next()) !== 'ready') throw new Error('the namespace holder answered unexpectedly');
      fd = openSync(`/proc/${holder.pid}/ns/net`, 'r');
      let address: string | undefined;
      let gateway: string | undefined;
      let hostInterface: string | undefined;
      if (veth && this.block) {
        slot = this.freeSlots.shift();
        if (slot === undefined) throw new Error('all 1,024 sandbox addresses of this instance are in use');
        const base = ((100 << 24) >>> 0) + (64 << 16) + this.block.index * 4 * SLOTS + slot * 4;
        gateway = ipv4(base + 1);
        address = ipv4(base + 2);
        hostInterface = `lk${this.block.index}x${slot}`;
        await run(o.ip as string, ['-b', '-'], `link add ${hostInterface} type veth peer name eth0 netns ${holder.pid}\naddr add ${gateway}/30 dev ${hostInterface}\nlink set ${hostInterface} up\n`);
        holder.stdin.write(`conf ${address} ${gateway}\n`);
        if ((await next()) !== 'done') throw new Error(`could not configure eth0 in a sandbox network namespace: ${stderr.trim()}`);
      }
      holder.stdin.end();
      return this.network(fd, address, gateway, hostInterface, slot);
    } catch (err) {
      if (fd !== undefined) closeSync(fd);
      if (slot !== undefined) await this.freeSlot(`lk${this.block?.index}x${slot}`, slot);
      holder.kill('SIGKILL');
      throw err;
    } finally {
      holder.stdin.end();
    }
  }

  private network(fd: number, address: string | undefined, gateway: string | undefined, hostInterface: string | undefined, slot: number | undefined): SandboxNetwork {
    let open = true;
    let released: Promise<void> | undefined;
    const closeFd = (): void => {
      if (open) closeSync(fd);
      open = false;
    };
    return {
      fd,
      address,
      gateway,
      hostInterface,
      eniId: undefined,
      closeFd,
      release: () =>
        (released ??= (async () => {
          closeFd();
          if (hostInterface !== undefined && slot !== undefined) await this.freeSlot(hostInterface, slot);
        })()),
    };
  }

  /** The address is free once its host end is gone (deleting it deletes the pair). */
  private async freeSlot(hostInterface: string, slot: number): Promise<void> {
    try {
      await run(this.options.ip as string, ['link', 'del', hostInterface]);
    } catch {
      // gone with its namespace already
    }
    this.freeSlots.push(slot);
  }

  /** Releases the ready namespaces, removes the rules and the claim. Sandboxes' own namespaces go with them. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const h of this.holders.keys()) h.kill('SIGKILL');
    await Promise.all(this.holders.values());
    await this.started?.catch(() => undefined);
    await Promise.all(this.ready.splice(0).map((n) => n.release()));
    await this.blockReady?.catch(() => undefined);
    if (this.block) {
      for (const id of [...this.enis.keys()]) await this.deleteEni(id);
      for (const ns of this.vpcs.values()) await run(this.options.ip as string, ['netns', 'del', await ns]).catch(() => undefined);
      await removeBlock(this.block.index, this.options.ip, this.options.nft);
      rmSync(this.block.file, { force: true });
    }
  }
}

/**
 * The nftables table of block `index`, replacing any table of that name (a dead instance's). At
 * mode `none` only VPC sandboxes have a veth, and they may leave only through their ENI.
 */
export function natRules(index: number, mode: SandboxNetworkMode = 'nat'): string {
  const table = `lambkin_${index}`;
  const ifs = `"lk${index}x*"`;
  const enis = `"lk${index}e*"`;
  const base = ipv4(((100 << 24) >>> 0) + (64 << 16) + index * 4 * SLOTS);
  return [
    `table ip ${table} {}`,
    `delete table ip ${table}`,
    `table ip ${table} {`,
    // Nothing of the host itself: lambkin's API, DNS or anything else listening on any address.
    `  chain input { type filter hook input priority -10; policy accept; iifname ${ifs} drop; iifname ${enis} drop; }`,
    '  chain forward { type filter hook forward priority -10; policy accept;',
    // Only VPC sandboxes are routed to an ENI (by their policy rule), and only there.
    `    iifname ${ifs} oifname ${enis} accept`,
    ...(mode === 'none' ? [`    iifname ${ifs} drop`] : []),
    `    iifname ${ifs} oifname "lk*" drop`,
    `    iifname ${ifs} ip daddr { ${UNREACHABLE_FROM_SANDBOXES.join(', ')} } drop`,
    `    oifname ${ifs} ct state established,related accept`,
    `    oifname ${ifs} drop`,
    '  }',
    `  chain postrouting { type nat hook postrouting priority 100; policy accept; ip saddr ${base}/20 oifname ${enis} masquerade; ip saddr ${base}/20 oifname != "lk*" masquerade; }`,
    '}',
    '',
  ].join('\n');
}

/** Removes claims (and their tables) of instances that no longer run. */
async function removeDeadClaims(dir: string, ip: string | undefined, nft: string | undefined): Promise<void> {
  for (const name of readdirSync(dir)) {
    const m = /^block-(\d+)$/.exec(name);
    if (!m) continue;
    let pid: number;
    try {
      pid = Number(readFileSync(join(dir, name), 'utf8').trim());
    } catch {
      continue;
    }
    if (pid === process.pid || pidAlive(pid)) continue;
    // Removed before the claim goes, so no new owner of the block can lose its fresh state to this.
    await removeBlock(Number(m[1]), ip, nft);
    rmSync(join(dir, name), { force: true });
  }
}

/** What block `index` installs on the host: its nftables table, its policy rules, its VPC namespaces. */
async function removeBlock(index: number, ip: string | undefined, nft: string | undefined): Promise<void> {
  if (nft) await run(nft, ['delete', 'table', 'ip', `lambkin_${index}`]).catch(() => undefined);
  if (!ip) return;
  // Each `ip rule del pref P` removes one rule of that priority; none are left when it fails.
  for (let i = 0; i < SLOTS; i++) {
    try {
      await run(ip, ['rule', 'del', 'pref', String(rulePriority(index))]);
    } catch {
      break;
    }
  }
  for (const ns of readdirSafe('/run/netns').filter((n) => n.startsWith(`lk${index}-`))) await run(ip, ['netns', 'del', ns]).catch(() => undefined);
}

function readdirSafe(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
