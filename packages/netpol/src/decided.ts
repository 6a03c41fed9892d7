// "Which policy decided": reads the rules a traced packet hit (netfilter TraceEvents, one node or
// several) and names, per direction, the NetworkPolicy rule that allowed it (namespace/name, rule
// index, from the comment of the MARK rule it hit), the default deny that dropped it, or that no
// policy selects the pod in that direction. This is what `podnet trace` prints for policy.
import { POLICY_CHAIN } from './chain-names.js';
import type { Direction } from './renderer.js';

/** The fields of a netfilter TraceEvent this reads (structurally compatible with @podnet/netfilter's). */
export interface PolicyTraceEvent {
  chain: string;
  kind: 'rule' | 'return' | 'policy';
  rule?: string;
  target: string;
}

export type PolicyDecision =
  | { direction: Direction; verdict: 'allowed'; policy: string; ruleIndex: number; text: string }
  | { direction: Direction; verdict: 'denied'; pod: string; text: string }
  | { direction: Direction; verdict: 'not-isolated'; text: string }
  /** Ingress after an egress default deny: the packet never got that far. */
  | { direction: Direction; verdict: 'not-evaluated'; text: string };

export interface PolicyVerdict {
  /** The packet belonged to an established connection: accepted before any policy was consulted. */
  established: boolean;
  /** Whether the packet reached PODNET-POLICY at all (the agent's chains are installed and jumped to). */
  policyChainSeen: boolean;
  egress: PolicyDecision;
  ingress: PolicyDecision;
  /** One line for people: "allowed by x/allow-b ingress rule 0; egress: no policy selects x/a". */
  summary: string;
}

const COMMENT = /--comment (?:"((?:[^"\\]|\\.)*)"|(\S+))/;

export function commentOf(rule: string | undefined): string | undefined {
  const m = rule ? COMMENT.exec(rule) : null;
  if (!m) return undefined;
  return m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2];
}

const ALLOW = /^(\S+\/\S+) (ingress|egress) rule (\d+): allow$/;
const DENY = /^(\S+\/\S+) default deny (ingress|egress)$/;

export function decidedBy(events: readonly PolicyTraceEvent[]): PolicyVerdict {
  const entered = { ingress: false, egress: false };
  const allowed: Partial<Record<Direction, { policy: string; ruleIndex: number }>> = {};
  const denied: Partial<Record<Direction, string>> = {};
  let established = false;
  let seen = false;
  for (const e of events) {
    if (e.kind !== 'rule') continue;
    if (e.chain === POLICY_CHAIN) {
      seen = true;
      if (e.target === 'ACCEPT') established = true;
      if (e.target.startsWith('PODNET-PI-')) entered.ingress = true;
      if (e.target.startsWith('PODNET-PE-')) entered.egress = true;
      continue;
    }
    const comment = commentOf(e.rule);
    if (!comment) continue;
    const allow = e.target === 'MARK' ? ALLOW.exec(comment) : null;
    if (allow) {
      const direction = allow[2] as Direction;
      allowed[direction] ??= { policy: allow[1] as string, ruleIndex: Number(allow[3]) };
      continue;
    }
    const deny = e.target === 'DROP' ? DENY.exec(comment) : null;
    if (deny) denied[deny[2] as Direction] = deny[1] as string;
  }
  const decide = (direction: Direction): PolicyDecision => {
    const a = allowed[direction];
    if (a) return { direction, verdict: 'allowed', ...a, text: `allowed by NetworkPolicy ${a.policy} ${direction} rule ${a.ruleIndex}` };
    const pod = denied[direction];
    if (pod !== undefined)
      return { direction, verdict: 'denied', pod, text: `default deny (${direction} of ${pod}: no policy rule allows it)` };
    if (entered[direction]) return { direction, verdict: 'denied', pod: '', text: `default deny (${direction})` };
    return { direction, verdict: 'not-isolated', text: `no policy selects this pod for ${direction}` };
  };
  const egress = decide('egress');
  const ingress: PolicyDecision =
    egress.verdict === 'denied' && !allowed.ingress && denied.ingress === undefined
      ? { direction: 'ingress', verdict: 'not-evaluated', text: 'not evaluated (dropped by egress policy first)' }
      : decide('ingress');
  const summary = established
    ? 'allowed: reply or packet of an established connection (conntrack), accepted before policy'
    : !seen
      ? 'no NetworkPolicy chain on the path (PODNET-POLICY not reached)'
      : `egress: ${egress.text}; ingress: ${ingress.text}`;
  return { established, policyChainSeen: seen, egress, ingress, summary };
}
