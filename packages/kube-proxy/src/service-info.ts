// One Service port as the proxier renders it (pkg/proxy/serviceport.go BaseServicePortInfo plus
// the chain names pkg/proxy/iptables caches in servicePortInfo). Everything the renderer reads
// is here and nothing else, so "did this Service change?" is "did any ServicePortInfo change?"
// and a no-op update (a label, an annotation, a status condition) is dropped by the tracker.
import { clusterPolicyChainName, externalChainName, firewallChainName, localPolicyChainName } from './chain-names.js';
import { KubeProxyError, KubeProxyErrorCodes } from './errors.js';
import { parseIPv4, parseIPv4Cidr } from './ip.js';
import { type ServicePortName, servicePortKey, servicePortNameString } from './service-port-name.js';
import type { Protocol, Service } from './types.js';

/** Default ClientIP affinity timeout: 3 hours (core/v1 DefaultClientIPServiceAffinitySeconds). */
export const DEFAULT_CLIENT_IP_AFFINITY_SECONDS = 10800;

export interface ServicePortInfo {
  readonly name: ServicePortName;
  /** "ns/name:port": comments and hashes. */
  readonly nameString: string;
  readonly clusterIP: string;
  readonly port: number;
  readonly protocol: Protocol;
  /** 0 when the port has no NodePort. */
  readonly nodePort: number;
  readonly externalIPs: readonly string[];
  /** status.loadBalancer.ingress[].ip in VIP mode (the "LoadBalancerVIPs"). */
  readonly loadBalancerVIPs: readonly string[];
  /** Valid source ranges as masked CIDR text; invalid entries are ignored, as upstream does. */
  readonly loadBalancerSourceRanges: readonly string[];
  readonly sessionAffinity: 'None' | 'ClientIP';
  /** StickyMaxAgeSeconds (only meaningful with ClientIP affinity). */
  readonly stickyMaxAgeSeconds: number;
  readonly externalPolicyLocal: boolean;
  readonly internalPolicyLocal: boolean;
  /** 0 unless eTP=Local on a LoadBalancer Service. */
  readonly healthCheckNodePort: number;
  readonly clusterPolicyChain: string;
  readonly localPolicyChain: string;
  readonly firewallChain: string;
  readonly externalChain: string;
}

/** Services with this label are handled by another proxy, not kube-proxy (pkg/proxy/apis LabelServiceProxyName). */
export const LABEL_SERVICE_PROXY_NAME = 'service.kubernetes.io/service-proxy-name';

const PROTOCOLS = new Set<string>(['TCP', 'UDP', 'SCTP']);
const isPort = (n: unknown): boolean => Number.isInteger(n) && (n as number) >= 1 && (n as number) <= 65535;

/** NodePort, external IPs or LB VIPs: the port takes "external" traffic (ExternallyAccessible). */
export function externallyAccessible(svc: ServicePortInfo): boolean {
  return svc.nodePort !== 0 || svc.loadBalancerVIPs.length > 0 || svc.externalIPs.length > 0;
}

/** Traffic ever goes to "Cluster"-policy endpoints (even eTP=Local needs them to short-circuit). */
export function usesClusterEndpoints(svc: ServicePortInfo): boolean {
  return !svc.internalPolicyLocal || externallyAccessible(svc);
}

/** Traffic ever goes to "Local"-policy endpoints. */
export function usesLocalEndpoints(svc: ServicePortInfo): boolean {
  return svc.internalPolicyLocal || (svc.externalPolicyLocal && externallyAccessible(svc));
}

function serviceExternallyAccessible(service: Service): boolean {
  const type = service.spec?.type ?? 'ClusterIP';
  return type === 'LoadBalancer' || type === 'NodePort' || (type === 'ClusterIP' && (service.spec?.externalIPs?.length ?? 0) > 0);
}

const ipv4Only = (ips: readonly (string | undefined)[]): string[] =>
  ips.filter((ip): ip is string => ip !== undefined && parseIPv4(ip.trim()) !== undefined).map((ip) => ip.trim());

/**
 * The ports of a Service the proxier programs, keyed by servicePortKey. Headless Services
 * (clusterIP None or empty) and ExternalName Services have none (pkg/proxy servicechangetracker
 * serviceToServiceMap), nor do non-IPv4 cluster IPs on this IPv4-only proxier.
 */
export function serviceToServicePorts(
  service: Service | undefined,
  onInvalid?: (error: KubeProxyError) => void,
): Map<string, ServicePortInfo> {
  const out = new Map<string, ServicePortInfo>();
  if (!service) return out;
  const spec = service.spec ?? {};
  const clusterIP = spec.clusterIP ?? '';
  if (spec.type === 'ExternalName' || clusterIP === '' || clusterIP === 'None' || parseIPv4(clusterIP) === undefined) return out;
  // A Service claimed by another proxy (kube-proxy's informers select `!service.kubernetes.io/service-proxy-name`).
  if (service.metadata.labels?.[LABEL_SERVICE_PROXY_NAME] !== undefined) return out;
  const namespace = service.metadata.namespace ?? 'default';
  const name = service.metadata.name ?? '';
  const externallyAccessibleService = serviceExternallyAccessible(service);
  const externalPolicyLocal = externallyAccessibleService && spec.externalTrafficPolicy === 'Local';
  const internalPolicyLocal = spec.internalTrafficPolicy === 'Local';
  const sessionAffinity = spec.sessionAffinity === 'ClientIP' ? 'ClientIP' : 'None';
  const stickyMaxAgeSeconds =
    sessionAffinity === 'ClientIP' ? (spec.sessionAffinityConfig?.clientIP?.timeoutSeconds ?? DEFAULT_CLIENT_IP_AFFINITY_SECONDS) : 0;
  const externalIPs = ipv4Only(spec.externalIPs ?? []);
  const loadBalancerVIPs = ipv4Only((service.status?.loadBalancer?.ingress ?? []).filter((i) => i.ipMode !== 'Proxy').map((i) => i.ip));
  const loadBalancerSourceRanges = (spec.loadBalancerSourceRanges ?? [])
    .map((r) => parseIPv4Cidr(r)?.text)
    .filter((r): r is string => r !== undefined);
  const healthCheckNodePort = spec.type === 'LoadBalancer' && externalPolicyLocal ? (spec.healthCheckNodePort ?? 0) : 0;

  for (const port of spec.ports ?? []) {
    const protocol: Protocol = port.protocol ?? 'TCP';
    // The API server validates these; a port the rules cannot express is skipped (and reported)
    // rather than failing the whole payload for every other Service.
    const problem = !isPort(port.port)
      ? `port ${port.port} is not in 1..65535`
      : port.nodePort !== undefined && port.nodePort !== 0 && !isPort(port.nodePort)
        ? `nodePort ${port.nodePort} is not in 1..65535`
        : !PROTOCOLS.has(protocol)
          ? `protocol "${protocol}" is not TCP, UDP or SCTP`
          : undefined;
    if (problem) {
      onInvalid?.(
        new KubeProxyError(
          KubeProxyErrorCodes.INVALID_OBJECT,
          `Service ${namespace}/${name} port "${port.name ?? ''}" ignored: ${problem}; fix the Service spec`,
        ),
      );
      continue;
    }
    const spn: ServicePortName = { namespace, name, port: port.name ?? '', protocol };
    const nameString = servicePortNameString(spn);
    const proto = protocol.toLowerCase();
    out.set(servicePortKey(spn), {
      name: spn,
      nameString,
      clusterIP,
      port: port.port,
      protocol,
      nodePort: port.nodePort ?? 0,
      externalIPs,
      loadBalancerVIPs,
      loadBalancerSourceRanges,
      sessionAffinity,
      stickyMaxAgeSeconds,
      externalPolicyLocal,
      internalPolicyLocal,
      healthCheckNodePort,
      clusterPolicyChain: clusterPolicyChainName(nameString, proto),
      localPolicyChain: localPolicyChainName(nameString, proto),
      firewallChain: firewallChainName(nameString, proto),
      externalChain: externalChainName(nameString, proto),
    });
  }
  return out;
}

/** Deep equality of two port maps: what the tracker uses to drop no-op changes. */
export function servicePortMapsEqual(a: ReadonlyMap<string, ServicePortInfo>, b: ReadonlyMap<string, ServicePortInfo>): boolean {
  if (a.size !== b.size) return false;
  for (const [key, info] of a) {
    const other = b.get(key);
    if (!other || JSON.stringify(info) !== JSON.stringify(other)) return false;
  }
  return true;
}
