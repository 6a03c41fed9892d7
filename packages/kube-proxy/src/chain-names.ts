// Chain names exactly as kube-proxy computes them (pkg/proxy/iptables/proxier.go portProtoHash
// and servicePortEndpointChainName): the first 16 characters of the RFC 4648 base32 encoding
// (standard alphabet) of sha256(servicePortName + protocol [+ endpoint]), protocol lowercase.
// iptables chain names are limited to 28 characters, hence the truncated hash.
import { createHash } from 'node:crypto';

const BASE32_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** RFC 4648 §6 base32 of bytes (padding omitted: kube-proxy keeps only the first 16 characters). */
export function base32(bytes: Uint8Array): string {
  let out = '';
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32_ALPHABET[(buffer >>> (bits - 5)) & 31];
      bits -= 5;
    }
    buffer &= (1 << bits) - 1;
  }
  if (bits > 0) out += BASE32_ALPHABET[(buffer << (5 - bits)) & 31];
  return out;
}

function hash16(text: string): string {
  return base32(createHash('sha256').update(text, 'utf8').digest()).slice(0, 16);
}

/** portProtoHash(servicePortName, protocol). */
export function portProtoHash(servicePortName: string, protocol: string): string {
  return hash16(servicePortName + protocol.toLowerCase());
}

export const CHAIN_PREFIX = {
  clusterPolicy: 'KUBE-SVC-',
  localPolicy: 'KUBE-SVL-',
  firewall: 'KUBE-FW-',
  external: 'KUBE-EXT-',
  endpoint: 'KUBE-SEP-',
} as const;

/** KUBE-SVC-<hash>: dispatch to endpoints under the "Cluster" traffic policy. */
export function clusterPolicyChainName(servicePortName: string, protocol: string): string {
  return CHAIN_PREFIX.clusterPolicy + portProtoHash(servicePortName, protocol);
}

/** KUBE-SVL-<hash>: dispatch to node-local endpoints ("Local" internal or external policy). */
export function localPolicyChainName(servicePortName: string, protocol: string): string {
  return CHAIN_PREFIX.localPolicy + portProtoHash(servicePortName, protocol);
}

/** KUBE-FW-<hash>: LoadBalancerSourceRanges filtering. */
export function firewallChainName(servicePortName: string, protocol: string): string {
  return CHAIN_PREFIX.firewall + portProtoHash(servicePortName, protocol);
}

/** KUBE-EXT-<hash>: entry for external destinations (NodePort, external IPs, LB IPs). */
export function externalChainName(servicePortName: string, protocol: string): string {
  return CHAIN_PREFIX.external + portProtoHash(servicePortName, protocol);
}

/** KUBE-SEP-<hash>: one endpoint ("ip:port") of one service port. */
export function endpointChainName(servicePortName: string, protocol: string, endpoint: string): string {
  return CHAIN_PREFIX.endpoint + hash16(servicePortName + protocol.toLowerCase() + endpoint);
}

/** True for the per-service chains kube-proxy owns and may delete when unused (isServiceChainName). */
export function isServiceChainName(chain: string): boolean {
  return Object.values(CHAIN_PREFIX).some((p) => chain.startsWith(p));
}

/** The top-level chains kube-proxy owns (pkg/proxy/iptables/proxier.go constants). */
export const Chains = {
  services: 'KUBE-SERVICES',
  externalServices: 'KUBE-EXTERNAL-SERVICES',
  nodePorts: 'KUBE-NODEPORTS',
  postrouting: 'KUBE-POSTROUTING',
  markMasq: 'KUBE-MARK-MASQ',
  forward: 'KUBE-FORWARD',
  proxyFirewall: 'KUBE-PROXY-FIREWALL',
  canary: 'KUBE-PROXY-CANARY',
  /** kubelet's duplicate of the anti-martian rule (only with localhost NodePorts). */
  kubeletFirewall: 'KUBE-FIREWALL',
} as const;
