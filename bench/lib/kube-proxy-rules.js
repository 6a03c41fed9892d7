// Emits iptables-restore input in exactly the layout the real kube-proxy (pkg/proxy/iptables/proxier.go,
// v1.28+) writes: the same chains, chain names (KUBE-SVC-<16 chars of base32(sha256)>), comments,
// argument order and statistic probabilities. Used by the netfilter benchmark (1,000 and 10,000
// Services) and to write the netfilter package's kube-proxy fixtures.
import { createHash } from 'node:crypto';

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** base32 (RFC 4648, no padding) of sha256(text), first 16 characters: kube-proxy's portProtoHash. */
export function portProtoHash(text) {
  const digest = createHash('sha256').update(text).digest();
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of digest) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5 && out.length < 16) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
    if (out.length >= 16) break;
  }
  return out;
}

const chain = (prefix, svcPortName, protocol) => `${prefix}-${portProtoHash(svcPortName + protocol)}`;
const sepChain = (svcPortName, protocol, endpoint) => `KUBE-SEP-${portProtoHash(svcPortName + protocol + endpoint)}`;

/** kube-proxy's probability text: 1/(n-i) with 10 decimals (proxier.go computeProbability). */
const probability = (n) => (1 / n).toFixed(10);

/**
 * @typedef {object} Endpoint
 * @property {string} ip
 * @property {number} port
 * @property {boolean} [local] on this node
 * @typedef {object} Service
 * @property {string} namespace
 * @property {string} name
 * @property {string} [portName] default "p<port>"
 * @property {'tcp'|'udp'|'sctp'} [protocol] default tcp
 * @property {string} clusterIP
 * @property {number} port
 * @property {number} [nodePort]
 * @property {string[]} [loadBalancerIPs]
 * @property {string[]} [loadBalancerSourceRanges]
 * @property {string[]} [externalIPs]
 * @property {boolean} [externalTrafficLocal] externalTrafficPolicy: Local
 * @property {number} [affinitySeconds] sessionAffinity: ClientIP timeout
 * @property {Endpoint[]} endpoints
 */

/**
 * @param {{ services: Service[], clusterCIDR: string, builtins?: boolean }} options
 *   builtins: also declare the built-in chains and the jumps into kube-proxy's chains (what a whole
 *   node's iptables-save shows); kube-proxy itself restores with --noflush and installs those jumps apart.
 * @returns {string}
 */
export function renderKubeProxyRules({ services, clusterCIDR, builtins = true }) {
  const filterChains = [
    'KUBE-NODEPORTS',
    'KUBE-SERVICES',
    'KUBE-EXTERNAL-SERVICES',
    'KUBE-FIREWALL',
    'KUBE-FORWARD',
    'KUBE-PROXY-FIREWALL',
  ];
  const filterRules = [];
  const natChains = ['KUBE-SERVICES', 'KUBE-NODEPORTS', 'KUBE-POSTROUTING', 'KUBE-MARK-MASQ'];
  const natRules = [];
  const svcRules = [];
  const nodePortRules = [];

  for (const svc of services) {
    const protocol = svc.protocol ?? 'tcp';
    const svcPortName = `${svc.namespace}/${svc.name}:${svc.portName ?? `p${svc.port}`}`;
    const svcChain = chain('KUBE-SVC', svcPortName, protocol);
    const svlChain = chain('KUBE-SVL', svcPortName, protocol);
    const extChain = chain('KUBE-EXT', svcPortName, protocol);
    const fwChain = chain('KUBE-FW', svcPortName, protocol);
    const hasExternal = svc.nodePort !== undefined || (svc.loadBalancerIPs?.length ?? 0) > 0 || (svc.externalIPs?.length ?? 0) > 0;
    const eps = svc.endpoints;
    const localEps = eps.filter((e) => e.local);
    const p = `-m ${protocol} -p ${protocol}`;

    if (eps.length === 0) {
      filterRules.push(
        `-A KUBE-SERVICES -m comment --comment "${svcPortName} has no endpoints" ${p} -d ${svc.clusterIP} --dport ${svc.port} -j REJECT`,
      );
      for (const ip of svc.loadBalancerIPs ?? []) {
        filterRules.push(
          `-A KUBE-EXTERNAL-SERVICES -m comment --comment "${svcPortName} has no endpoints" ${p} -d ${ip} --dport ${svc.port} -j REJECT`,
        );
      }
      if (svc.nodePort !== undefined) {
        filterRules.push(
          `-A KUBE-EXTERNAL-SERVICES -m comment --comment "${svcPortName} has no endpoints" -m addrtype --dst-type LOCAL ${p} --dport ${svc.nodePort} -j REJECT`,
        );
      }
      continue;
    }
    natChains.push(svcChain);
    // Cluster IP.
    natRules.push(
      `-A KUBE-SERVICES -m comment --comment "${svcPortName} cluster IP" ${p} -d ${svc.clusterIP} --dport ${svc.port} -j ${svcChain}`,
    );
    const externalTarget = svc.externalTrafficLocal || svc.nodePort !== undefined || svc.loadBalancerIPs ? extChain : svcChain;
    for (const ip of svc.externalIPs ?? []) {
      natRules.push(
        `-A KUBE-SERVICES -m comment --comment "${svcPortName} external IP" ${p} -d ${ip} --dport ${svc.port} -j ${externalTarget}`,
      );
    }
    const hasSourceRanges = (svc.loadBalancerSourceRanges?.length ?? 0) > 0;
    for (const ip of svc.loadBalancerIPs ?? []) {
      natRules.push(
        `-A KUBE-SERVICES -m comment --comment "${svcPortName} loadbalancer IP" ${p} -d ${ip} --dport ${svc.port} -j ${hasSourceRanges ? fwChain : extChain}`,
      );
      if (hasSourceRanges) {
        filterRules.push(
          `-A KUBE-PROXY-FIREWALL -m comment --comment "${svcPortName} traffic not accepted by ${fwChain}" ${p} -d ${ip} --dport ${svc.port} -j DROP`,
        );
      }
    }
    if (svc.nodePort !== undefined) {
      nodePortRules.push(`-A KUBE-NODEPORTS -m comment --comment ${svcPortName} ${p} --dport ${svc.nodePort} -j ${extChain}`);
    }
    if (svc.externalTrafficLocal && localEps.length === 0 && hasExternal) {
      filterRules.push(
        `-A KUBE-EXTERNAL-SERVICES -m comment --comment "${svcPortName} has no local endpoints" -m addrtype --dst-type LOCAL ${p} --dport ${svc.nodePort} -j DROP`,
      );
    }

    // KUBE-SVC: masquerade off-cluster sources, affinity, then the statistic chain.
    svcRules.push(
      `-A ${svcChain} -m comment --comment "${svcPortName} cluster IP" ${p} -d ${svc.clusterIP} --dport ${svc.port} ! -s ${clusterCIDR} -j KUBE-MARK-MASQ`,
    );
    const endpointRules = (ch, list) => {
      if (svc.affinitySeconds) {
        for (const e of list) {
          const ep = `${e.ip}:${e.port}`;
          const sep = sepChain(svcPortName, protocol, ep);
          svcRules.push(
            `-A ${ch} -m comment --comment "${svcPortName} -> ${ep}" -m recent --name ${sep} --rcheck --seconds ${svc.affinitySeconds} --reap -j ${sep}`,
          );
        }
      }
      list.forEach((e, i) => {
        const ep = `${e.ip}:${e.port}`;
        const sep = sepChain(svcPortName, protocol, ep);
        const n = list.length - i;
        svcRules.push(
          n > 1
            ? `-A ${ch} -m comment --comment "${svcPortName} -> ${ep}" -m statistic --mode random --probability ${probability(n)} -j ${sep}`
            : `-A ${ch} -m comment --comment "${svcPortName} -> ${ep}" -j ${sep}`,
        );
      });
    };
    endpointRules(svcChain, eps);

    if (hasExternal) {
      natChains.push(extChain);
      if (svc.externalTrafficLocal) {
        svcRules.push(
          `-A ${extChain} -m comment --comment "pod traffic for ${svcPortName} external destinations" -s ${clusterCIDR} -j ${svcChain}`,
        );
        svcRules.push(
          `-A ${extChain} -m comment --comment "masquerade LOCAL traffic for ${svcPortName} external destinations" -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ`,
        );
        svcRules.push(
          `-A ${extChain} -m comment --comment "route LOCAL traffic for ${svcPortName} external destinations" -m addrtype --src-type LOCAL -j ${svcChain}`,
        );
        svcRules.push(`-A ${extChain} -j ${svlChain}`);
        natChains.push(svlChain);
        // No local endpoint: the chain stays empty, so nothing is DNATed and the filter table's
        // KUBE-EXTERNAL-SERVICES rule drops the packet.
        endpointRules(svlChain, localEps);
      } else {
        svcRules.push(
          `-A ${extChain} -m comment --comment "masquerade traffic for ${svcPortName} external destinations" -j KUBE-MARK-MASQ`,
        );
        svcRules.push(`-A ${extChain} -j ${svcChain}`);
      }
    }
    if (hasSourceRanges) {
      natChains.push(fwChain);
      for (const range of svc.loadBalancerSourceRanges) {
        svcRules.push(`-A ${fwChain} -m comment --comment "${svcPortName} loadbalancer IP" -s ${range} -j ${extChain}`);
      }
      svcRules.push(`-A ${fwChain} -m comment --comment "other traffic to ${svcPortName} will be dropped by KUBE-PROXY-FIREWALL"`);
    }

    for (const e of eps) {
      const ep = `${e.ip}:${e.port}`;
      const sep = sepChain(svcPortName, protocol, ep);
      natChains.push(sep);
      svcRules.push(`-A ${sep} -m comment --comment ${svcPortName} -s ${e.ip} -j KUBE-MARK-MASQ`);
      svcRules.push(
        svc.affinitySeconds
          ? `-A ${sep} -m comment --comment ${svcPortName} -m recent --name ${sep} --set ${p} -j DNAT --to-destination ${ep}`
          : `-A ${sep} -m comment --comment ${svcPortName} ${p} -j DNAT --to-destination ${ep}`,
      );
    }
  }

  const out = [];
  out.push('*filter');
  if (builtins) out.push(':INPUT ACCEPT [0:0]', ':FORWARD ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]');
  for (const c of filterChains) out.push(`:${c} - [0:0]`);
  if (builtins) {
    out.push(
      '-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL',
      '-A INPUT -m comment --comment "kubernetes health check service ports" -j KUBE-NODEPORTS',
      '-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES',
      '-A INPUT -j KUBE-FIREWALL',
      '-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL',
      '-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD',
      '-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
      '-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES',
      '-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL',
      '-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
      '-A OUTPUT -j KUBE-FIREWALL',
    );
  }
  for (const r of filterRules) out.push(r);
  out.push(
    '-A KUBE-FIREWALL -m comment --comment "block incoming localnet connections" -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP',
    '-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP',
    '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT',
    '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
    'COMMIT',
  );
  out.push('*nat');
  if (builtins) out.push(':PREROUTING ACCEPT [0:0]', ':INPUT ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]', ':POSTROUTING ACCEPT [0:0]');
  for (const c of natChains) out.push(`:${c} - [0:0]`);
  if (builtins) {
    out.push(
      '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
      '-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
      '-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING',
    );
  }
  out.push(
    '-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN',
    '-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000',
    '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully',
    '-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000',
  );
  for (const r of natRules) out.push(r);
  out.push(
    '-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS',
  );
  // Loops, not spreads: 10,000 Services make several hundred thousand lines.
  for (const r of nodePortRules) out.push(r);
  for (const r of svcRules) out.push(r);
  out.push('COMMIT', '');
  return out.join('\n');
}

/** n Services of `endpoints` endpoints each, ClusterIPs from 10.96.0.0/12 and pods from 10.244.0.0/16. */
export function syntheticServices(n, endpoints = 10) {
  const services = [];
  for (let i = 0; i < n; i++) {
    const ip = 0x0a600000 + 10 + i;
    const eps = [];
    for (let k = 0; k < endpoints; k++) {
      const pod = 0x0af40000 + ((i * endpoints + k) % 65000) + 2;
      eps.push({ ip: `10.244.${(pod >>> 8) & 0xff}.${pod & 0xff}`, port: 8080, local: k === 0 });
    }
    services.push({
      namespace: `ns${i % 50}`,
      name: `svc-${i}`,
      clusterIP: `10.${(ip >>> 16) & 0xff}.${(ip >>> 8) & 0xff}.${ip & 0xff}`,
      port: 80,
      ...(i % 10 === 0 ? { nodePort: 30000 + (i % 2000) } : {}),
      endpoints: eps,
    });
  }
  return services;
}
