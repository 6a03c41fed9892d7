// Chain names: a fixed prefix and 16 characters of base32(sha256(key)), the way kube-proxy names
// KUBE-SVC-* chains (pkg/proxy/iptables/proxier.go portProtoHash), so names are stable across
// restarts and nodes and fit iptables' 28-character limit (XT_EXTENSION_MAXNAMELEN - 1).
import { createHash } from 'node:crypto';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

function base32(bytes: Uint8Array): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += ALPHABET[(value << (5 - bits)) & 31];
  return out;
}

/**
 * Names are pure functions of their keys and every sync renders the same few hundred again, so
 * they are remembered (a sha256 per chain per sync was a tenth of the render); the memo is
 * dropped when it grows past MEMO_LIMIT, so deleted objects' names do not pile up.
 */
const memo = new Map<string, string>();
const MEMO_LIMIT = 50_000;
export const hash16 = (key: string): string => {
  let name = memo.get(key);
  if (name === undefined) {
    name = base32(createHash('sha256').update(key).digest()).slice(0, 16);
    if (memo.size >= MEMO_LIMIT) memo.clear();
    memo.set(key, name);
  }
  return name;
};

/** The top chain, jumped to from FORWARD before kube-proxy's KUBE-* jumps. */
export const POLICY_CHAIN = 'PODNET-POLICY';
/** Every chain this package writes starts with this. */
export const CHAIN_PREFIX = 'PODNET-P';

/** A pod's ingress chain (its IP as destination). Key: namespace/name. */
export const podIngressChain = (pod: string): string => `PODNET-PI-${hash16(`ingress:${pod}`)}`;
/** A pod's egress chain (its IP as source). */
export const podEgressChain = (pod: string): string => `PODNET-PE-${hash16(`egress:${pod}`)}`;
/** One rule of one policy (ports part). */
export const ruleChain = (policy: string, direction: 'ingress' | 'egress', index: number): string =>
  `PODNET-PR-${hash16(`${direction}:${policy}:${index}`)}`;
/** The peers of one rule of one policy. */
export const peerChain = (policy: string, direction: 'ingress' | 'egress', index: number): string =>
  `PODNET-PP-${hash16(`${direction}:${policy}:${index}`)}`;
/** One ipBlock peer with except ranges. */
export const blockChain = (policy: string, direction: 'ingress' | 'egress', index: number, peer: number): string =>
  `PODNET-PB-${hash16(`${direction}:${policy}:${index}:${peer}`)}`;

/** Whether a chain is one this package owns (never KUBE-* or FLANNEL-*). */
export const isPolicyChain = (name: string): boolean => /^PODNET-(POLICY|P[IEPRB]-[A-Z2-7]{16})$/.test(name);
