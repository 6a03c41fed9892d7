// The policy renderer: NetworkPolicies, pods and namespaces → one iptables-restore payload for the
// filter table of ONE node, enforcing policy for the pods that node hosts. The layout follows
// kube-router's iptables network policy controller (pkg/controllers/netpol: a top chain jumped
// from FORWARD, a firewall chain per pod selected by its IP, a chain per policy, a mark bit set on
// a match and checked after each jump, a default-deny DROP at the end of an isolated pod's chain)
// with Calico Felix's ordering ideas (conntrack RELATED,ESTABLISHED accepted first; replies never
// re-checked; the pod chains per direction "cali-tw-*" / "cali-fw-*" become PODNET-PI-* / PODNET-PE-*):
//
//   FORWARD ─(first rule)─▶ PODNET-POLICY
//     1  ctstate RELATED,ESTABLISHED → ACCEPT      (a later policy never cuts an established flow)
//     2  clear the mark bit
//     3  -s <local pod isolated for Egress>  → PODNET-PE-<pod>      (one per pod)
//     4  clear the mark bit
//     5  -d <local pod isolated for Ingress> → PODNET-PI-<pod>      (one per pod)
//     6  clear the mark bit; fall through to kube-proxy's and flannel's FORWARD rules
//   PODNET-PI/PE-<pod>:  → PODNET-PR-<policy rule> ; mark set → RETURN ; ... ; default deny → DROP
//     (a rule with a single non-named port entry carries its port match on this jump, straight to PODNET-PP)
//   PODNET-PR-<policy rule>: the rule's ports (named ports resolved on the destination pod) → PODNET-PP
//   PODNET-PP-<policy rule>: the rule's peers (pod IPs, ipBlocks) → MARK (allowed); an ipBlock with
//     except goes through PODNET-PB-*, whose `-s except -j RETURN` lines come first.
//
// Same-node pod-to-pod frames are bridged on cni0 and traverse FORWARD (br_netfilter, DESIGN §5);
// matching by pod IP covers them and routed traffic alike, so no -m physdev rule is needed: the
// ingress check runs on the destination's node, the egress check on the source's.
// Denied packets are DROPped (a TCP connect times out rather than being reset), as Calico's default
// and kube-router do; traffic from the node itself to its pods (OUTPUT, kubelet probes) and from
// pods to their node's own addresses (INPUT) is not filtered, as the API allows for node traffic.

import { blockChain, isPolicyChain, POLICY_CHAIN, peerChain, podEgressChain, podIngressChain, ruleChain } from './chain-names.js';
import { NetpolError } from './errors.js';
import {
  type CompiledPolicy,
  type CompiledRule,
  compilePolicy,
  type NamespaceInfo,
  namespaceInfo,
  type PodInfo,
  podInfo,
  policyKey,
  type ResolvedPort,
  selectsPod,
  sortIps,
} from './semantics.js';
import type { Namespace, NetworkPolicy, Pod, PolicyProtocol } from './types.js';

export type Direction = 'ingress' | 'egress';

/** Everything the renderer reads: the cluster as the informers see it, and this node's name. */
export interface PolicyState {
  node: string;
  policies: readonly NetworkPolicy[];
  pods: readonly Pod[];
  namespaces: readonly Namespace[];
}

export interface RenderOptions {
  /** Chains of this package present on the node now (from iptables-save or earlier payloads): those no longer rendered are deleted. */
  existingChains?: Iterable<string>;
  /** Insert the FORWARD jump into PODNET-POLICY (the agent does it when iptables-save shows it missing or not first). */
  jumpRule?: 'insert' | 'reinsert' | 'none';
  /** The mark bit set when a rule allows a packet (default 0x10000: above kube-proxy's 0x4000/0x8000, as Calico uses high bits). */
  markBit?: number;
}

/** Who a default-deny DROP rule of a pod's chain acts for (for the dropped-packets metric). */
export interface DropAttribution {
  pod: string;
  direction: Direction;
  /** The policies that isolate the pod in this direction (namespace/name, sorted). */
  policies: string[];
}

/** The rendered chains of one node, before they become a payload (the agent diffs them against what it wrote). */
export interface RenderedChains {
  /** The chains the node should have, sorted. */
  chains: string[];
  /** Chain → its `-A` lines, in order. */
  chainRules: ReadonlyMap<string, readonly string[]>;
  /** Number of -A rules. */
  rules: number;
  /** Default-deny chain → what it enforces. */
  drops: Map<string, DropAttribution>;
  /** Policies that could not be enforced (refused by API validation rules), with why. They are left out. */
  invalid: NetpolError[];
  /** Local pods isolated per direction (namespace/name). */
  isolated: { ingress: string[]; egress: string[] };
}

export interface RenderedPolicies extends RenderedChains {
  /** iptables-restore input for `--noflush`: only PODNET-* chains (and the FORWARD jump when asked). */
  payload: string;
  /** Chains deleted by this payload. */
  deletedChains: string[];
}

export const JUMP_COMMENT = 'podnet network policy';
export const JUMP_RULE_ARGS = ['-m', 'comment', '--comment', `"${JUMP_COMMENT}"`, '-j', POLICY_CHAIN];

/**
 * A namespace/name as it appears in a comment. xt_comment holds 255 bytes (XT_MAX_COMMENT_LEN 256
 * with the NUL) and a name can be 63 + 253 characters, so long keys are cut (with "...") to leave
 * room for the rest of the longest comment; iptables-restore would refuse the whole payload otherwise.
 */
export const MAX_KEY_IN_COMMENT = 200;
export const commentKey = (key: string): string =>
  Buffer.byteLength(key) <= MAX_KEY_IN_COMMENT
    ? key
    : `${Buffer.from(key)
        .subarray(0, MAX_KEY_IN_COMMENT - 3)
        .toString('utf8')
        .replace(/\uFFFD$/, '')}...`;

/** A rule comment naming the policy and rule index, e.g. `x/allow-b ingress rule 0`. Parsed by `decidedBy`. */
export const ruleComment = (policy: string, direction: Direction, index: number): string =>
  `${commentKey(policy)} ${direction} rule ${index}`;
export const allowComment = (policy: string, direction: Direction, index: number): string =>
  `${ruleComment(policy, direction, index)}: allow`;
export const denyComment = (pod: string, direction: Direction): string => `${commentKey(pod)} default deny ${direction}`;

const q = (s: string) => `"${s.replace(/["\\]/g, (c) => `\\${c}`)}"`;
const proto = (p: PolicyProtocol) => p.toLowerCase();
const podKey = (p: PodInfo) => `${p.namespace}/${p.name}`;

interface Chains {
  order: string[];
  rules: Map<string, string[]>;
}

function addChain(c: Chains, name: string): string[] {
  let list = c.rules.get(name);
  if (!list) {
    list = [];
    c.rules.set(name, list);
    c.order.push(name);
  }
  return list;
}

function portMatch(port: Exclude<ResolvedPort, { kind: 'all' | 'named' }>): string {
  if (port.kind === 'protocol') return `-p ${proto(port.protocol)}`;
  const p = proto(port.protocol);
  const range = port.endPort !== undefined && port.endPort !== port.port ? `${port.port}:${port.endPort}` : `${port.port}`;
  return `-p ${p} -m ${p} --dport ${range}`;
}

/** How a pod chain enters a rendered policy rule: `-A <pod chain> <match>-m comment ... -j <chain>`. */
interface RuleJump {
  chain: string;
  match: string;
}

/**
 * One policy rule's chains. `destinations` are the pods a named port resolves on: the selected
 * local pods (ingress) or every pod of the cluster (egress), each matched by `-d`.
 */
function renderRule(
  c: Chains,
  policy: CompiledPolicy,
  direction: Direction,
  rule: CompiledRule,
  destinations: readonly PodInfo[],
  mark: string,
): RuleJump | undefined {
  const key = policy.key;
  const prName = ruleChain(key, direction, rule.index);
  const ppName = peerChain(key, direction, rule.index);
  const allow = `-m comment --comment ${q(allowComment(key, direction, rule.index))} -j MARK --set-xmark ${mark}/${mark}`;
  const peerLines: string[] = [];
  /** ipBlock-with-except chains, added only if the rule is rendered at all. */
  const blocks: Array<[string, string[]]> = [];
  const addr = direction === 'ingress' ? '-s' : '-d';
  rule.peers.forEach((peer, i) => {
    if (peer.kind === 'any') peerLines.push(allow);
    else if (peer.kind === 'pods') for (const ip of peer.ips) peerLines.push(`${addr} ${ip}/32 ${allow}`);
    else if (peer.except.length === 0) peerLines.push(`${addr} ${peer.cidr} ${allow}`);
    else {
      const pb = blockChain(key, direction, rule.index, i);
      const lines: string[] = [];
      blocks.push([pb, lines]);
      for (const e of peer.except)
        lines.push(`-A ${pb} ${addr} ${e} -m comment --comment ${q(`${ruleComment(key, direction, rule.index)}: except ${e}`)} -j RETURN`);
      lines.push(`-A ${pb} ${allow}`);
      peerLines.push(`${addr} ${peer.cidr} -j ${pb}`);
    }
  });
  // A rule whose peers select nothing (no pod matches yet) allows nothing: no chains at all.
  if (peerLines.length === 0) return undefined;
  const portLines: string[] = [];
  for (const port of rule.ports) {
    if (port.kind === 'all') portLines.push(`-j ${ppName}`);
    else if (port.kind === 'named') {
      const seen = new Set<string>();
      for (const pod of destinations) {
        const number = pod.namedPorts.get(`${port.name}/${port.protocol}`);
        const line =
          number === undefined
            ? undefined
            : `-d ${pod.ip}/32 -p ${proto(port.protocol)} -m ${proto(port.protocol)} --dport ${number} -j ${ppName}`;
        if (line && !seen.has(line)) {
          seen.add(line);
          portLines.push(line);
        }
      }
    } else portLines.push(`${portMatch(port)} -j ${ppName}`);
  }
  if (portLines.length === 0) return undefined;
  const pp = addChain(c, ppName);
  for (const l of peerLines) pp.push(`-A ${ppName} ${l}`);
  for (const [name, lines] of blocks) addChain(c, name).push(...lines);
  // One port entry that is not a named port (the common case): its match goes on the pod chain's
  // jump itself, saving a chain traversal per rule for every NEW packet (kube-router does the same).
  const only = rule.ports.length === 1 ? rule.ports[0] : undefined;
  if (only && only.kind !== 'named') return { chain: ppName, match: only.kind === 'all' ? '' : `${portMatch(only)} ` };
  const pr = addChain(c, prName);
  for (const l of portLines) pr.push(`-A ${prName} ${l}`);
  return { chain: prName, match: '' };
}

const byKey = <T extends { key: string }>(a: T, b: T) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);

/**
 * Renders the filter-table chains for `state.node`. Pure: same state, same rules (policies,
 * pods and addresses are sorted). Invalid policies are reported in `invalid` and left out, so
 * one bad object never blocks the others (the API server would have refused it).
 */
export function renderPolicyChains(state: PolicyState, options: Pick<RenderOptions, 'markBit'> = {}): RenderedChains {
  const markBit = options.markBit ?? 0x10000;
  const mark = `0x${markBit.toString(16)}`;
  const namespaces = new Map<string, NamespaceInfo>();
  for (const ns of state.namespaces) namespaces.set(ns.metadata.name, namespaceInfo(ns));
  const pods: PodInfo[] = [];
  for (const p of state.pods) {
    const info = podInfo(p);
    if (info) pods.push(info);
  }
  pods.sort((a, b) => (podKey(a) < podKey(b) ? -1 : podKey(a) > podKey(b) ? 1 : 0));
  const invalid: NetpolError[] = [];
  const policies: CompiledPolicy[] = [];
  const local = pods.filter((p) => p.nodeName === state.node);
  for (const p of state.policies) {
    try {
      // Resolving peers scans every pod: do it only for policies that select a pod of this node.
      // The others are still validated (with no pods), so every node reports the same invalid ones.
      const shallow = compilePolicy(p, [], namespaces);
      if (local.some((pod) => selectsPod(shallow, pod))) policies.push(compilePolicy(p, pods, namespaces));
    } catch (e) {
      if (e instanceof NetpolError) invalid.push(e);
      else throw e;
    }
  }
  policies.sort(byKey);

  const c: Chains = { order: [], rules: new Map() };
  const top = addChain(c, POLICY_CHAIN);
  const clear = `-A ${POLICY_CHAIN} -j MARK --set-xmark 0x0/${mark}`;
  top.push(
    `-A ${POLICY_CHAIN} -m comment --comment ${q('podnet netpol: replies of allowed connections')} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`,
  );
  top.push(clear);
  const drops = new Map<string, DropAttribution>();
  const isolated = { ingress: [] as string[], egress: [] as string[] };
  const ruleChains = new Map<string, RuleJump | undefined>();
  const jumps: Record<Direction, string[]> = { ingress: [], egress: [] };

  for (const direction of ['egress', 'ingress'] as const) {
    const type = direction === 'ingress' ? 'Ingress' : 'Egress';
    for (const pod of local) {
      const selecting = policies.filter((p) => p.types.has(type) && selectsPod(p, pod));
      if (selecting.length === 0) continue;
      const key = podKey(pod);
      isolated[direction].push(key);
      const chain = direction === 'ingress' ? podIngressChain(key) : podEgressChain(key);
      jumps[direction].push(
        `-A ${POLICY_CHAIN} ${direction === 'ingress' ? '-d' : '-s'} ${pod.ip}/32 -m comment --comment ${q(`${commentKey(key)} ${direction}`)} -j ${chain}`,
      );
      const lines: string[] = [];
      for (const policy of selecting) {
        for (const rule of direction === 'ingress' ? policy.ingress : policy.egress) {
          const id = `${direction}:${policy.key}:${rule.index}`;
          if (!ruleChains.has(id)) {
            const destinations = direction === 'ingress' ? local.filter((p) => selectsPod(policy, p)) : pods;
            ruleChains.set(id, renderRule(c, policy, direction, rule, destinations, mark));
          }
          const pr = ruleChains.get(id);
          if (pr === undefined) continue;
          lines.push(`-A ${chain} ${pr.match}-m comment --comment ${q(ruleComment(policy.key, direction, rule.index))} -j ${pr.chain}`);
          lines.push(`-A ${chain} -m mark --mark ${mark}/${mark} -j RETURN`);
        }
      }
      lines.push(`-A ${chain} -m comment --comment ${q(denyComment(key, direction))} -j DROP`);
      addChain(c, chain).push(...lines);
      drops.set(chain, { pod: key, direction, policies: selecting.map((p) => p.key) });
    }
  }
  top.push(...jumps.egress, clear, ...jumps.ingress, clear);

  const chains = [...c.order].sort();
  let rules = 0;
  for (const list of c.rules.values()) rules += list.length;
  return { chains, chainRules: c.rules, rules, drops, invalid, isolated };
}

/**
 * The iptables-restore --noflush input that (re)writes `write` (each declared, so flushed, then
 * filled with its rules from `chainRules`), deletes `deleted` (declared to flush it, then -X) and
 * moves the FORWARD jump as asked; chains named in neither are left as they are. A full sync
 * writes every chain; a partial one only those whose rules changed (kube-proxy's partial restore,
 * KEP-3453: pkg/proxy/iptables/proxier.go writes a chain only when it changed since the last sync).
 */
export function policyPayload(
  chainRules: ReadonlyMap<string, readonly string[]>,
  write: readonly string[],
  deleted: readonly string[],
  jump: 'insert' | 'reinsert' | 'none' = 'none',
): string {
  const out: string[] = ['*filter'];
  for (const name of write) out.push(`:${name} - [0:0]`);
  for (const name of deleted) out.push(`:${name} - [0:0]`);
  for (const name of write) {
    const list = chainRules.get(name);
    if (list) for (const line of list) out.push(line);
  }
  if (jump === 'reinsert') out.push(`-D FORWARD ${JUMP_RULE_ARGS.join(' ')}`);
  if (jump !== 'none') out.push(`-I FORWARD 1 ${JUMP_RULE_ARGS.join(' ')}`);
  for (const name of deleted) out.push(`-X ${name}`);
  out.push('COMMIT', '');
  return out.join('\n');
}

/** Chains of `existing` (this package's only) that `chainRules` no longer has, sorted. */
export function staleChains(existing: Iterable<string>, chainRules: ReadonlyMap<string, unknown>): string[] {
  const out = new Set<string>();
  for (const name of existing) if (isPolicyChain(name) && !chainRules.has(name)) out.add(name);
  return [...out].sort();
}

/** The whole payload for `state.node` (a full sync): every chain written, stale ones deleted. */
export function renderPolicies(state: PolicyState, options: RenderOptions = {}): RenderedPolicies {
  const rendered = renderPolicyChains(state, options.markBit === undefined ? {} : { markBit: options.markBit });
  const deletedChains = staleChains(options.existingChains ?? [], rendered.chainRules);
  const payload = policyPayload(rendered.chainRules, rendered.chains, deletedChains, options.jumpRule ?? 'none');
  return { ...rendered, payload, deletedChains };
}

/** The payload that removes every chain of this package and the FORWARD jump (agent shutdown with cleanup). */
export function renderCleanup(existingChains: Iterable<string>, jumpPresent: boolean): string {
  const names = [...new Set([...existingChains].filter(isPolicyChain))].sort();
  const out = ['*filter', ...names.map((n) => `:${n} - [0:0]`)];
  if (jumpPresent) out.push(`-D FORWARD ${JUMP_RULE_ARGS.join(' ')}`);
  out.push(...names.map((n) => `-X ${n}`), 'COMMIT', '');
  return out.join('\n');
}

export { policyKey, sortIps };
