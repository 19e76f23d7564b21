/**
 * `lambkin doctor`: what this machine supports (cgroup version and controllers, namespaces, user,
 * the launcher's tools, KVM) and what lambkin will enforce with `--isolation auto`.
 */
import { detectScratchSupport } from '../fleet/isolation/scratch-disk-host.js';
import { natUnavailable } from '../fleet/isolation/sandbox-networks.js';
import {
  detectCapabilities,
  guarantees,
  missingGuarantees,
  type IsolationFeatures,
  resolveIsolationLevel,
  type HostCapabilities,
  type IsolationLevel,
} from '../fleet/isolation/capabilities.js';

const yes = (b: boolean): string => (b ? 'yes' : 'no');

/** Prints the report line by line through `out`; returns the level `serve --isolation auto` would use. */
export function runDoctor(
  out: (line: string) => void,
  caps: HostCapabilities = detectCapabilities(),
  features: IsolationFeatures = { scratchDisks: detectScratchSupport().usable },
): IsolationLevel {
  const { level, reason } = resolveIsolationLevel('auto', caps);
  out(`platform:    ${caps.platform} (${caps.cores} core${caps.cores === 1 ? '' : 's'})`);
  out(`user:        uid ${caps.uid ?? 'n/a'}${caps.root ? ' (root)' : ''}`);
  const cg = caps.cgroup;
  out(`cgroups:     ${cg.version ? `v${cg.version}` : 'none'}${cg.controllers.length ? `, controllers: ${cg.controllers.join(' ')}` : ''}`);
  if (cg.version === 1) {
    const own = cg.ownPaths['memory'];
    if (own) out(`             lambkin's memory cgroup: ${own}`);
  } else if (cg.version === 2) {
    out(`             lambkin's cgroup: ${cg.ownPaths[''] ?? '/'}`);
  }
  const ns = caps.namespaces;
  out(`namespaces:  pid ${yes(ns.pid)}, mount ${yes(ns.mount)}, net ${yes(ns.net)}, user ${yes(ns.user)}`);
  const tools = (['perl', 'ip', 'nft'] as const).map((t) => `${t} ${caps.tools[t] ?? 'missing'}`);
  out(`tools:       ${tools.join(', ')}`);
  out(`kvm:         ${caps.kvm.present ? `/dev/kvm present${caps.kvm.accessible ? '' : ' (not accessible to this user)'}` : 'no /dev/kvm'} (not used yet)`);
  out('');
  out(`isolation:   ${level}${reason ? ` — ${reason}` : ''}`);
  for (const g of guarantees(level, features)) out(`  ${g.enforced ? 'enforced:' : 'MISSING: '} ${g.text}`);
  if (level === 'none') for (const m of missingGuarantees(level, features).filter((x) => !x.startsWith('not enforced'))) out(`  note:     ${m}`);
  const nat = level === 'cgroups+namespaces' ? natUnavailable(caps.tools, caps.root) : 'needs full isolation';
  out(`  outbound:  --sandbox-network none (default): nothing beyond lambkin's endpoints; nat: ${nat ? `unavailable (${nat})` : "available (the internet; never the host, other sandboxes, private or link-local networks)"}`);
  out(`  VPC ENIs:  ${nat ? `counted by the placement core only, not interfaces (${nat})` : "real interfaces (veth) into each VPC's namespace; VPC functions reach their VPC only"}`);
  out('  not done:  microVMs (KVM)');
  return level;
}
