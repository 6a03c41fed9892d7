// flannel's masquerade and forward rules (flannel pkg/trafficmngr/iptables/iptables.go,
// MasqRules and ForwardRules), installed with --noflush so they live beside kube-proxy's KUBE-*
// chains (kube-proxy's payloads are --noflush too and never name FLANNEL-* chains):
//   traffic kube-proxy marked for masquerade (0x4000) is left to KUBE-POSTROUTING,
//   pod ↔ pod inside the cluster CIDR is not masqueraded,
//   traffic from outside to this node's pods keeps its source (externalTrafficPolicy: Local),
//   pod traffic leaving the cluster CIDR (but not multicast) is masqueraded, --random-fully.
import type { Netfilter } from '@podnet/netfilter';

export function masqueradePayload(clusterCidr: string, podCidr: string): string {
  const c = '-m comment --comment "flanneld masq"';
  const f = '-m comment --comment "flanneld forward"';
  return [
    '*nat',
    ':FLANNEL-POSTRTG - [0:0]',
    `-A FLANNEL-POSTRTG -m mark --mark 0x4000/0x4000 ${c} -j RETURN`,
    `-A FLANNEL-POSTRTG -s ${podCidr} -d ${clusterCidr} ${c} -j RETURN`,
    `-A FLANNEL-POSTRTG -s ${clusterCidr} -d ${podCidr} ${c} -j RETURN`,
    `-A FLANNEL-POSTRTG ! -s ${clusterCidr} -d ${podCidr} ${c} -j RETURN`,
    `-A FLANNEL-POSTRTG -s ${clusterCidr} ! -d 224.0.0.0/4 ${c} -j MASQUERADE --random-fully`,
    `-A FLANNEL-POSTRTG ! -s ${clusterCidr} -d ${clusterCidr} ${c} -j MASQUERADE --random-fully`,
    'COMMIT',
    '*filter',
    ':FLANNEL-FWD - [0:0]',
    `-A FLANNEL-FWD -s ${clusterCidr} ${f} -j ACCEPT`,
    `-A FLANNEL-FWD -d ${clusterCidr} ${f} -j ACCEPT`,
    'COMMIT',
    '',
  ].join('\n');
}

const JUMPS: Array<{ table: 'nat' | 'filter'; chain: string; rule: string[] }> = [
  { table: 'nat', chain: 'POSTROUTING', rule: ['-m', 'comment', '--comment', 'flanneld masq', '-j', 'FLANNEL-POSTRTG'] },
  { table: 'filter', chain: 'FORWARD', rule: ['-m', 'comment', '--comment', 'flanneld forward', '-j', 'FLANNEL-FWD'] },
];

/**
 * Ensures the chains and their jumps exist (flannel re-checks them on every resync and rewrites
 * them when someone flushed them). Returns true when something had to be (re)installed.
 */
export function ensureMasquerade(netfilter: Netfilter, clusterCidr: string, podCidr: string): boolean {
  const payload = masqueradePayload(clusterCidr, podCidr);
  const nat = netfilter.save({ table: 'nat' });
  const filter = netfilter.save({ table: 'filter' });
  const expected = payload.split('\n').filter((l) => l.startsWith('-A '));
  const have = `${nat}\n${filter}`;
  let changed = false;
  if (!expected.every((l) => have.includes(l))) {
    netfilter.restore(payload, { noflush: true });
    changed = true;
  }
  for (const j of JUMPS) {
    const text = j.table === 'nat' ? netfilter.save({ table: 'nat' }) : netfilter.save({ table: 'filter' });
    if (!text.includes(`-A ${j.chain} -m comment --comment "${j.rule[3]}" -j ${j.rule[5]}`)) {
      netfilter.iptables(['-t', j.table, '-A', j.chain, ...j.rule]);
      changed = true;
    }
  }
  return changed;
}
