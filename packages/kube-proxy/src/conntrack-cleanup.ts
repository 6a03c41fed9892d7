// Stale UDP conntrack entries (pkg/proxy/conntrack/cleanup.go CleanStaleEntries). UDP has no
// connection teardown, so a client that keeps sending to a Service keeps hitting the conntrack
// entry DNATed to an endpoint that is gone, or to the REJECT of a Service that had none.
// After each successful sync kube-proxy deletes exactly those entries:
//   a removed UDP endpoint:            conntrack -D -p udp --orig-dst <svcIP> --dst-nat <epIP>
//                                      (and for the NodePort: -p udp --dport <nodePort> --dst-nat <epIP>)
//   a UDP service gaining endpoints:   conntrack -D -p udp --orig-dst <svcIP>  (and --dport <nodePort>)
//   a deleted UDP service port:        conntrack -D -p udp --orig-dst <clusterIP>
// The deletion is an injected call (the cni-agent owns conntrack); filters mirror the CLI flags.
import type { UpdateEndpointsMapResult } from './endpoints-change-tracker.js';
import type { ServicePortMap, UpdateServiceMapResult } from './service-change-tracker.js';

export interface ConntrackFilter {
  protocol: 'udp';
  /** --orig-dst: the original destination (a Service IP). */
  origDst?: string;
  /** --dst-nat: the address the entry was DNATed to (an endpoint IP). */
  dstNat?: string;
  /** --dport: the original destination port (a NodePort). */
  dport?: number;
}

/** The `conntrack` arguments of a filter, for logs and for a cni-agent that shells out. */
export function conntrackArgs(filter: ConntrackFilter): string[] {
  const args = ['-D', '-p', filter.protocol];
  if (filter.dport !== undefined) args.push('--dport', String(filter.dport));
  if (filter.origDst !== undefined) args.push('--orig-dst', filter.origDst);
  if (filter.dstNat !== undefined) args.push('--dst-nat', filter.dstNat);
  return args;
}

export function staleConntrackFilters(
  svcPortMap: ServicePortMap,
  serviceResult: UpdateServiceMapResult,
  endpointsResult: UpdateEndpointsMapResult,
): ConntrackFilter[] {
  const out: ConntrackFilter[] = [];
  const serviceIPs = new Set(serviceResult.deletedUDPClusterIPs);
  const nodePorts = new Set<number>();
  for (const key of endpointsResult.newlyActiveUDPServices) {
    const svc = svcPortMap.get(key);
    if (!svc) continue;
    serviceIPs.add(svc.clusterIP);
    for (const ip of svc.externalIPs) serviceIPs.add(ip);
    for (const ip of svc.loadBalancerVIPs) serviceIPs.add(ip);
    if (svc.nodePort !== 0) nodePorts.add(svc.nodePort);
  }
  for (const ip of [...serviceIPs].sort()) out.push({ protocol: 'udp', origDst: ip });
  for (const port of [...nodePorts].sort((a, b) => a - b)) out.push({ protocol: 'udp', dport: port });
  for (const { servicePortKey, endpoint } of endpointsResult.deletedUDPEndpoints) {
    const svc = svcPortMap.get(servicePortKey);
    if (!svc) continue; // the whole port went away: covered by deletedUDPClusterIPs
    if (svc.nodePort !== 0) out.push({ protocol: 'udp', dport: svc.nodePort, dstNat: endpoint.ip });
    out.push({ protocol: 'udp', origDst: svc.clusterIP, dstNat: endpoint.ip });
    for (const ip of svc.externalIPs) out.push({ protocol: 'udp', origDst: ip, dstNat: endpoint.ip });
    for (const ip of svc.loadBalancerVIPs) out.push({ protocol: 'udp', origDst: ip, dstNat: endpoint.ip });
  }
  return out;
}
