// The iptables rules for a set of service ports and their endpoints, as ONE iptables-restore
// payload (filter + nat, and the mangle canary on full syncs). This mirrors syncProxyRules in
// pkg/proxy/iptables/proxier.go rule for rule — chain layout, names, comments, argument order —
// so the payload a podnet node applies reads like a real node's `iptables-save`.
// It is a pure function of its input: the Proxier owns state, metrics and the apply.
import { categorizeEndpoints } from './categorize.js';
import { Chains, isServiceChainName } from './chain-names.js';
import type { EndpointInfo } from './endpoints-change-tracker.js';
import { cidrContains, parseIPv4, parseIPv4Cidr } from './ip.js';
import { chainLine, DiscardLineBuffer, LineBuffer, quoteComment as q, type Word } from './line-buffer.js';
import { externallyAccessible, type ServicePortInfo, usesClusterEndpoints, usesLocalEndpoints } from './service-info.js';

/** Above this many endpoints kube-proxy drops per-endpoint comments to shrink the payload. */
export const LARGE_CLUSTER_ENDPOINTS_THRESHOLD = 1000;

export interface RenderConfig {
  /**
   * The cluster CIDR of the "local traffic detector" (--cluster-cidr; DESIGN §4: 10.244.0.0/16).
   * Traffic from outside it to a cluster IP is masqueraded; pod traffic to external destinations
   * short-circuits. Undefined disables both, as LocalTrafficDetector.IsImplemented() false does.
   */
  clusterCIDR?: string;
  /** --masquerade-all: masquerade all traffic to cluster IPs. */
  masqueradeAll?: boolean;
  /** The mark bit for masquerade (--iptables-masquerade-bit, default 14 → 0x4000). */
  masqueradeBit?: number;
  /** The node's IP (LoadBalancerSourceRanges that contain it also admit the LB IPs themselves). */
  nodeIP?: string;
  /**
   * --iptables-localhost-nodeports. Default false in podnet: NodePorts are reached on the node's
   * emulated IP; a loopback NodePort needs route_localnet and kubelet's KUBE-FIREWALL guard.
   */
  localhostNodePorts?: boolean;
  /** iptables has --random-fully (MASQUERADE port randomisation). */
  randomFully?: boolean;
  /** net.netfilter.nf_conntrack_tcp_be_liberal is set: no DROP of INVALID packets. */
  conntrackTCPLiberal?: boolean;
}

export interface RenderInput {
  /** Every programmed service port, in a stable order. */
  services: readonly ServicePortInfo[];
  endpoints: (servicePortKey: string) => readonly EndpointInfo[];
  /** Service keys ("ns/name") whose chains a partial sync rewrites; undefined = full sync. */
  changedServices?: ReadonlySet<string> | undefined;
  /** Chains that may exist in nat (from earlier payloads): the unused service chains get `-X`. */
  existingNatChains: Iterable<string>;
}

export interface RenderedPayload {
  payload: string;
  full: boolean;
  /** The nat chains the rules use (written now or kept from earlier syncs). */
  activeNatChains: Set<string>;
  /** Service chains deleted by this payload. */
  deletedChains: string[];
  /** Rules written per table, and nat rules owned in total (metrics: iptables_last / iptables_total). */
  rulesLast: { filter: number; nat: number };
  rulesTotal: { filter: number; nat: number };
  noLocalEndpoints: { internal: number; external: number };
}

function probability(n: number): string {
  // Go's %0.10f rounds half to even; toFixed rounds ties up. A tie needs 1/n to end in a 5 right
  // after the 10th decimal (n = 2048): check the exact expansion and round half to even there.
  const exact = (1 / n).toFixed(100);
  const cut = exact.indexOf('.') + 11;
  if (/^50*$/.test(exact.slice(cut))) {
    const truncated = exact.slice(0, cut);
    const last = Number(truncated.at(-1));
    if (last % 2 === 0) return truncated;
  }
  return (1 / n).toFixed(10);
}

export function renderIptables(input: RenderInput, config: RenderConfig = {}): RenderedPayload {
  const full = input.changedServices === undefined;
  const mark = `0x${(1 << (config.masqueradeBit ?? 14)).toString(16)}`;
  const clusterCIDR = config.clusterCIDR;
  const nodeIP = config.nodeIP === undefined ? undefined : parseIPv4(config.nodeIP);

  const filterChains = new LineBuffer();
  const filterRules = new LineBuffer();
  const natChains = new LineBuffer();
  const natRules = new LineBuffer();
  const skippedNatChains = new DiscardLineBuffer();
  const skippedNatRules = new DiscardLineBuffer();

  for (const c of [Chains.services, Chains.externalServices, Chains.forward, Chains.nodePorts, Chains.proxyFirewall]) {
    filterChains.write(chainLine(c));
  }
  for (const c of [Chains.services, Chains.nodePorts, Chains.postrouting, Chains.markMasq]) natChains.write(chainLine(c));

  // KUBE-POSTROUTING: masquerade only marked packets, and clear the mark first so a packet that
  // re-traverses the stack is not masqueraded twice.
  natRules.write('-A', Chains.postrouting, '-m', 'mark', '!', '--mark', `${mark}/${mark}`, '-j', 'RETURN');
  natRules.write('-A', Chains.postrouting, '-j', 'MARK', '--xor-mark', mark);
  natRules.write(
    '-A',
    Chains.postrouting,
    '-m',
    'comment',
    '--comment',
    q('kubernetes service traffic requiring SNAT'),
    '-j',
    'MASQUERADE',
    config.randomFully ? ['--random-fully'] : [],
  );
  natRules.write('-A', Chains.markMasq, '-j', 'MARK', '--or-mark', mark);

  if (config.localhostNodePorts) {
    // route_localnet makes 127/8 routable; kubelet's (and kube-proxy's copy of) KUBE-FIREWALL
    // drops martian localnet traffic that was not DNATed (https://issue.k8s.io/90259).
    filterChains.write(chainLine(Chains.kubeletFirewall));
    filterRules.write(
      '-A',
      Chains.kubeletFirewall,
      '-m',
      'comment',
      '--comment',
      q('block incoming localnet connections'),
      '-d',
      '127.0.0.0/8',
      '!',
      '-s',
      '127.0.0.0/8',
      '-m',
      'conntrack',
      '!',
      '--ctstate',
      'RELATED,ESTABLISHED,DNAT',
      '-j',
      'DROP',
    );
  }

  const activeNatChains = new Set<string>();
  let totalEndpoints = 0;
  for (const svc of input.services) totalEndpoints += input.endpoints(portKeyOf(svc)).length;
  const largeClusterMode = totalEndpoints > LARGE_CLUSTER_ENDPOINTS_THRESHOLD;
  const serviceComment = (text: string): Word[] => (largeClusterMode ? [] : ['-m', 'comment', '--comment', q(text)]);

  let noLocalInternal = 0;
  let noLocalExternal = 0;

  for (const svc of input.services) {
    const proto = svc.protocol.toLowerCase();
    const name = svc.nameString;
    const port = String(svc.port);
    const { clusterEndpoints, localEndpoints, allLocallyReachableEndpoints, hasAnyEndpoints } = categorizeEndpoints(
      input.endpoints(portKeyOf(svc)),
      svc,
    );
    const hasEndpoints = hasAnyEndpoints;
    const clusterPolicyChain = svc.clusterPolicyChain;
    const usesClusterPolicyChain = clusterEndpoints.length > 0 && usesClusterEndpoints(svc);
    const localPolicyChain = svc.localPolicyChain;
    const usesLocalPolicyChain = localEndpoints.length > 0 && usesLocalEndpoints(svc);

    let internalTrafficChain = clusterPolicyChain;
    let hasInternalEndpoints = hasEndpoints;
    if (svc.internalPolicyLocal) {
      internalTrafficChain = localPolicyChain;
      if (localEndpoints.length === 0) hasInternalEndpoints = false;
    }
    let externalPolicyChain = clusterPolicyChain;
    let hasExternalEndpoints = hasEndpoints;
    if (svc.externalPolicyLocal) {
      externalPolicyChain = localPolicyChain;
      if (localEndpoints.length === 0) hasExternalEndpoints = false;
    }
    const externalTrafficChain = svc.externalChain;
    // Based on hasEndpoints, not hasExternalEndpoints: the short-circuit rules for pod and host
    // traffic are needed even when no endpoint takes external traffic.
    const usesExternalTrafficChain = hasEndpoints && externallyAccessible(svc);
    const fwChain = svc.firewallChain;
    const usesFWChain = hasEndpoints && svc.loadBalancerVIPs.length > 0 && svc.loadBalancerSourceRanges.length > 0;
    const loadBalancerTrafficChain = usesFWChain ? fwChain : externalTrafficChain;

    let internalFilterTarget = '';
    let internalFilterComment = '';
    let externalFilterTarget = '';
    let externalFilterComment = '';
    if (!hasEndpoints) {
      internalFilterTarget = 'REJECT';
      internalFilterComment = `${name} has no endpoints`;
      externalFilterTarget = 'REJECT';
      externalFilterComment = internalFilterComment;
    } else {
      if (!hasInternalEndpoints) {
        internalFilterTarget = 'DROP';
        internalFilterComment = `${name} has no local endpoints`;
        noLocalInternal++;
      }
      if (!hasExternalEndpoints) {
        externalFilterTarget = 'DROP';
        externalFilterComment = `${name} has no local endpoints`;
        noLocalExternal++;
      }
    }

    const dst = (ip: string): Word[] => ['-m', proto, '-p', proto, '-d', ip, '--dport', port];

    // Capture the cluster IP.
    if (hasInternalEndpoints) {
      natRules.write(
        '-A',
        Chains.services,
        '-m',
        'comment',
        '--comment',
        q(`${name} cluster IP`),
        dst(svc.clusterIP),
        '-j',
        internalTrafficChain,
      );
    } else {
      filterRules.write(
        '-A',
        Chains.services,
        '-m',
        'comment',
        '--comment',
        q(internalFilterComment),
        dst(svc.clusterIP),
        '-j',
        internalFilterTarget,
      );
    }
    // Capture external IPs.
    for (const ip of svc.externalIPs) {
      if (hasEndpoints) {
        natRules.write('-A', Chains.services, '-m', 'comment', '--comment', q(`${name} external IP`), dst(ip), '-j', externalTrafficChain);
      }
      if (!hasExternalEndpoints) {
        filterRules.write(
          '-A',
          Chains.externalServices,
          '-m',
          'comment',
          '--comment',
          q(externalFilterComment),
          dst(ip),
          '-j',
          externalFilterTarget,
        );
      }
    }
    // Capture load-balancer ingress IPs.
    for (const ip of svc.loadBalancerVIPs) {
      if (hasEndpoints) {
        natRules.write(
          '-A',
          Chains.services,
          '-m',
          'comment',
          '--comment',
          q(`${name} loadbalancer IP`),
          dst(ip),
          '-j',
          loadBalancerTrafficChain,
        );
      }
      if (usesFWChain) {
        filterRules.write(
          '-A',
          Chains.proxyFirewall,
          '-m',
          'comment',
          '--comment',
          q(`${name} traffic not accepted by ${fwChain}`),
          dst(ip),
          '-j',
          'DROP',
        );
      }
    }
    if (!hasExternalEndpoints) {
      for (const ip of svc.loadBalancerVIPs) {
        filterRules.write(
          '-A',
          Chains.externalServices,
          '-m',
          'comment',
          '--comment',
          q(externalFilterComment),
          dst(ip),
          '-j',
          externalFilterTarget,
        );
      }
    }
    // Capture node ports (not subject to loadBalancerSourceRanges, as upstream).
    if (svc.nodePort !== 0) {
      const np = String(svc.nodePort);
      if (hasEndpoints) {
        natRules.write(
          '-A',
          Chains.nodePorts,
          '-m',
          'comment',
          '--comment',
          q(name),
          '-m',
          proto,
          '-p',
          proto,
          '--dport',
          np,
          '-j',
          externalTrafficChain,
        );
      }
      if (!hasExternalEndpoints) {
        filterRules.write(
          '-A',
          Chains.externalServices,
          '-m',
          'comment',
          '--comment',
          q(externalFilterComment),
          '-m',
          'addrtype',
          '--dst-type',
          'LOCAL',
          '-m',
          proto,
          '-p',
          proto,
          '--dport',
          np,
          '-j',
          externalFilterTarget,
        );
      }
    }
    // Health check node ports are accepted whether or not there are local endpoints.
    if (svc.healthCheckNodePort !== 0) {
      filterRules.write(
        '-A',
        Chains.nodePorts,
        '-m',
        'comment',
        '--comment',
        q(`${name} health check node port`),
        '-m',
        'tcp',
        '-p',
        'tcp',
        '--dport',
        String(svc.healthCheckNodePort),
        '-j',
        'ACCEPT',
      );
    }

    // A partial sync leaves the per-service chains of unchanged services as they are: it still
    // computes their rules (for the rule-count metrics) but writes them nowhere.
    const serviceKey = `${svc.name.namespace}/${svc.name.name}`;
    const skip = !full && !input.changedServices?.has(serviceKey);
    const chains = skip ? skippedNatChains : natChains;
    const rules = skip ? skippedNatRules : natRules;

    // Internal traffic: masquerade off-cluster sources, so a reply from an endpoint on another
    // node comes back through this node (a static route to the Service CIDR via any node works).
    if (hasInternalEndpoints) {
      const args: Word[] = ['-m', 'comment', '--comment', q(`${name} cluster IP`), dst(svc.clusterIP)];
      if (config.masqueradeAll) rules.write('-A', internalTrafficChain, args, '-j', Chains.markMasq);
      else if (clusterCIDR) rules.write('-A', internalTrafficChain, args, '!', '-s', clusterCIDR, '-j', Chains.markMasq);
    }

    if (usesExternalTrafficChain) {
      chains.write(chainLine(externalTrafficChain));
      activeNatChains.add(externalTrafficChain);
      if (!svc.externalPolicyLocal) {
        // Cluster policy may pick an endpoint on another node: masquerade so replies return here.
        rules.write(
          '-A',
          externalTrafficChain,
          '-m',
          'comment',
          '--comment',
          q(`masquerade traffic for ${name} external destinations`),
          '-j',
          Chains.markMasq,
        );
      } else {
        // Pod → external IP of a Local-policy service: as if it went out to the LB and came back.
        if (clusterCIDR) {
          rules.write(
            '-A',
            externalTrafficChain,
            '-m',
            'comment',
            '--comment',
            q(`pod traffic for ${name} external destinations`),
            '-s',
            clusterCIDR,
            '-j',
            clusterPolicyChain,
          );
        }
        // The host's own traffic has a local (LB/node) source address: masquerade it and use Cluster policy.
        rules.write(
          '-A',
          externalTrafficChain,
          '-m',
          'comment',
          '--comment',
          q(`masquerade LOCAL traffic for ${name} external destinations`),
          '-m',
          'addrtype',
          '--src-type',
          'LOCAL',
          '-j',
          Chains.markMasq,
        );
        rules.write(
          '-A',
          externalTrafficChain,
          '-m',
          'comment',
          '--comment',
          q(`route LOCAL traffic for ${name} external destinations`),
          '-m',
          'addrtype',
          '--src-type',
          'LOCAL',
          '-j',
          clusterPolicyChain,
        );
      }
      if (hasExternalEndpoints) rules.write('-A', externalTrafficChain, '-j', externalPolicyChain);
    }

    if (usesFWChain) {
      chains.write(chainLine(fwChain));
      activeNatChains.add(fwChain);
      const args: Word[] = ['-A', fwChain, '-m', 'comment', '--comment', q(`${name} loadbalancer IP`)];
      let allowFromNode = false;
      for (const range of svc.loadBalancerSourceRanges) {
        rules.write(args, '-s', range, '-j', externalTrafficChain);
        const cidr = parseIPv4Cidr(range);
        if (nodeIP !== undefined && cidr && cidrContains(cidr, nodeIP)) allowFromNode = true;
      }
      // A VIP-like LB IP is often a local address: a request from this node to it loops back with
      // the VIP as source, so the VIPs themselves are admitted when the node is in range.
      if (allowFromNode) for (const ip of svc.loadBalancerVIPs) rules.write(args, '-s', ip, '-j', externalTrafficChain);
      // Anything reaching the end was not DNATed: KUBE-PROXY-FIREWALL drops it in filter.
      rules.write('-A', fwChain, '-m', 'comment', '--comment', q(`other traffic to ${name} will be dropped by KUBE-PROXY-FIREWALL`));
    }

    if (usesClusterPolicyChain) {
      chains.write(chainLine(clusterPolicyChain));
      activeNatChains.add(clusterPolicyChain);
      writeServiceToEndpointRules(rules, svc, clusterPolicyChain, clusterEndpoints, serviceComment);
    }
    if (usesLocalPolicyChain) {
      chains.write(chainLine(localPolicyChain));
      activeNatChains.add(localPolicyChain);
      writeServiceToEndpointRules(rules, svc, localPolicyChain, localEndpoints, serviceComment);
    }

    for (const ep of allLocallyReachableEndpoints) {
      chains.write(chainLine(ep.chain));
      activeNatChains.add(ep.chain);
      const args: Word[] = ['-A', ep.chain, serviceComment(name)];
      // Hairpin: an endpoint reaching its own Service may be DNATed to itself; masquerade so the
      // reply goes back through the stack rather than straight to the pod.
      rules.write(args, '-s', ep.ip, '-j', Chains.markMasq);
      const affinity: Word[] = svc.sessionAffinity === 'ClientIP' ? ['-m', 'recent', '--name', ep.chain, '--set'] : [];
      rules.write(args, affinity, '-m', proto, '-p', proto, '-j', 'DNAT', '--to-destination', ep.endpoint);
    }
  }

  // Delete service chains that no rule uses any more. A chain line flushes it first (iptables
  // refuses to delete a non-empty chain); then -X removes it.
  const deletedChains: string[] = [];
  for (const chain of [...new Set(input.existingNatChains)].sort()) {
    if (activeNatChains.has(chain) || !isServiceChainName(chain)) continue;
    natChains.write(chainLine(chain));
    natRules.write('-X', chain);
    deletedChains.push(chain);
  }

  // The NodePorts jump must be the last rule in KUBE-SERVICES: a cluster IP rule never matches
  // a NodePort by accident. Loopback destinations are excluded unless localhost NodePorts are on.
  natRules.write(
    '-A',
    Chains.services,
    '-m',
    'comment',
    '--comment',
    q('kubernetes service nodeports; NOTE: this must be the last rule in this chain'),
    '-m',
    'addrtype',
    '--dst-type',
    'LOCAL',
    config.localhostNodePorts ? [] : ['!', '-d', '127.0.0.0/8'],
    '-j',
    Chains.nodePorts,
  );

  // KUBE-FORWARD: drop INVALID (spurious RSTs reset connections, kubernetes#74839), accept marked
  // (NodePort) traffic even with a DROP FORWARD policy, and its replies.
  if (!config.conntrackTCPLiberal) filterRules.write('-A', Chains.forward, '-m', 'conntrack', '--ctstate', 'INVALID', '-j', 'DROP');
  filterRules.write(
    '-A',
    Chains.forward,
    '-m',
    'comment',
    '--comment',
    q('kubernetes forwarding rules'),
    '-m',
    'mark',
    '--mark',
    `${mark}/${mark}`,
    '-j',
    'ACCEPT',
  );
  filterRules.write(
    '-A',
    Chains.forward,
    '-m',
    'comment',
    '--comment',
    q('kubernetes forwarding conntrack rule'),
    '-m',
    'conntrack',
    '--ctstate',
    'RELATED,ESTABLISHED',
    '-j',
    'ACCEPT',
  );

  let payload = '';
  // The canary is an empty chain a monitor checks for: if it is gone, someone flushed the
  // tables and a full resync (with the jump rules) is due (utiliptables Monitor).
  if (full) payload += `*mangle\n${chainLine(Chains.canary)}\nCOMMIT\n`;
  payload += `*filter\n${filterChains.text()}${filterRules.text()}COMMIT\n`;
  payload += `*nat\n${natChains.text()}${natRules.text()}COMMIT\n`;

  return {
    payload,
    full,
    activeNatChains,
    deletedChains,
    rulesLast: { filter: filterRules.lines, nat: natRules.lines - deletedChains.length },
    rulesTotal: { filter: filterRules.lines, nat: natRules.lines + skippedNatRules.lines - deletedChains.length },
    noLocalEndpoints: { internal: noLocalInternal, external: noLocalExternal },
  };
}

function portKeyOf(svc: ServicePortInfo): string {
  return `${svc.nameString}/${svc.protocol}`;
}

/** Session affinity checks, then the statistic cascade: 1/n, 1/(n-1), …, the last unconditional. */
function writeServiceToEndpointRules(
  rules: LineBuffer,
  svc: ServicePortInfo,
  chain: string,
  endpoints: readonly EndpointInfo[],
  serviceComment: (text: string) => Word[],
): void {
  if (svc.sessionAffinity === 'ClientIP') {
    for (const ep of endpoints) {
      rules.write(
        '-A',
        chain,
        serviceComment(`${svc.nameString} -> ${ep.endpoint}`),
        '-m',
        'recent',
        '--name',
        ep.chain,
        '--rcheck',
        '--seconds',
        String(svc.stickyMaxAgeSeconds),
        '--reap',
        '-j',
        ep.chain,
      );
    }
  }
  const n = endpoints.length;
  endpoints.forEach((ep, i) => {
    const stat: Word[] = i < n - 1 ? ['-m', 'statistic', '--mode', 'random', '--probability', probability(n - i)] : [];
    rules.write('-A', chain, serviceComment(`${svc.nameString} -> ${ep.endpoint}`), stat, '-j', ep.chain);
  });
}

export { probability as formatProbability };
