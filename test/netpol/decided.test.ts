// "Which policy decided", read from the traces of real packets through the nodes' rule engines
// (what `podnet trace` will print), including SCTP packets (the issue checks SCTP policies by trace).
import { describe, expect, it } from 'vitest';
import { decidedBy } from '../../packages/netpol/src/index.ts';
import { Cluster } from './model.ts';

function traced(c: Cluster, from: string, to: string, port: number, protocol: 'TCP' | 'UDP' | 'SCTP') {
  c.events = [];
  const ok = c.probe(from, to, port, protocol, true);
  return { ok, verdict: decidedBy(c.events) };
}

describe('decidedBy on real traces', () => {
  it('names the policy and rule index that allowed, the default deny that dropped, or no policy', () => {
    const c = new Cluster();
    c.apply({
      metadata: { namespace: 'x', name: 'allow-y' },
      spec: {
        podSelector: { matchLabels: { pod: 'a' } },
        ingress: [
          { from: [{ podSelector: { matchLabels: { pod: 'c' } } }] },
          { from: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }], ports: [{ port: 80 }] },
        ],
      },
    });
    const allowed = traced(c, 'y/b', 'x/a', 80, 'TCP');
    expect(allowed.ok).toBe(true);
    expect(allowed.verdict.ingress).toMatchObject({ verdict: 'allowed', policy: 'x/allow-y', ruleIndex: 1 });
    expect(allowed.verdict.egress.verdict).toBe('not-isolated');
    expect(allowed.verdict.summary).toBe(
      'egress: no policy selects this pod for egress; ingress: allowed by NetworkPolicy x/allow-y ingress rule 1',
    );

    const denied = traced(c, 'y/b', 'x/a', 81, 'TCP');
    expect(denied.ok).toBe(false);
    expect(denied.verdict.ingress).toMatchObject({ verdict: 'denied', pod: 'x/a' });
    expect(denied.verdict.ingress.text).toBe('default deny (ingress of x/a: no policy rule allows it)');

    const free = traced(c, 'x/a', 'z/c', 80, 'UDP');
    expect(free.ok).toBe(true);
    expect(free.verdict.ingress.verdict).toBe('not-isolated');
  });

  it('shows SCTP isolation by trace: a policy for SCTP 80 allows SCTP 80 only', () => {
    const c = new Cluster();
    c.apply({
      metadata: { namespace: 'x', name: 'sctp-80' },
      spec: { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ ports: [{ protocol: 'SCTP', port: 80 }] }] },
    });
    const sctp = traced(c, 'z/b', 'x/a', 80, 'SCTP');
    expect(sctp.ok).toBe(true);
    expect(sctp.verdict.ingress).toMatchObject({ verdict: 'allowed', policy: 'x/sctp-80', ruleIndex: 0 });
    const tcp = traced(c, 'z/b', 'x/a', 80, 'TCP');
    expect(tcp.ok).toBe(false);
    expect(tcp.verdict.ingress.verdict).toBe('denied');
    expect(c.events.some((e) => e.chain.startsWith('PODNET-PI-') && e.target === 'DROP')).toBe(true);
  });

  it('egress deny first: ingress is reported as not evaluated; established packets say so', () => {
    const c = new Cluster();
    c.apply({
      metadata: { namespace: 'x', name: 'no-egress' },
      spec: { podSelector: { matchLabels: { pod: 'a' } }, policyTypes: ['Egress'] },
    });
    const out = traced(c, 'x/a', 'y/a', 80, 'TCP');
    expect(out.ok).toBe(false);
    expect(out.verdict.egress).toMatchObject({ verdict: 'denied', pod: 'x/a' });
    expect(out.verdict.ingress.verdict).toBe('not-evaluated');
    expect(
      decidedBy([{ chain: 'PODNET-POLICY', kind: 'rule', target: 'ACCEPT', rule: '-A PODNET-POLICY ... -j ACCEPT' }]).established,
    ).toBe(true);
    expect(decidedBy([]).summary).toBe('no NetworkPolicy chain on the path (PODNET-POLICY not reached)');
  });
});
