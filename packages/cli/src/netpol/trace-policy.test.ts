// The "policy:" lines of `podnet trace`, from decidedBy over trace events written with the
// renderer's own comment functions (the cluster path is test/netpol-e2e/trace.test.ts).
import { allowComment, decidedBy, denyComment, POLICY_CHAIN } from '@podnet/netpol';
import { describe, expect, it } from 'vitest';
import { formatTracePolicy } from './trace-policy.js';

const rule = (chain: string, target: string, comment?: string) => ({
  chain,
  kind: 'rule' as const,
  target,
  ...(comment ? { rule: `-A ${chain} -m comment --comment "${comment}" -j ${target}` } : {}),
});

describe('formatTracePolicy', () => {
  it('names the isolating policies for a default deny, and the allowing rule otherwise', () => {
    const denied = decidedBy([
      rule(POLICY_CHAIN, 'PODNET-PI-AAAAAAAAAAAAAAAA'),
      rule('PODNET-PI-AAAAAAAAAAAAAAAA', 'DROP', denyComment('x/b', 'ingress')),
    ]);
    expect(formatTracePolicy({ verdict: denied, isolatedBy: { ingress: ['x/deny-all', 'x/other'] } })).toEqual([
      'policy:',
      '    egress: no policy selects this pod for egress',
      '    ingress: default deny (ingress of x/b: no policy rule allows it); isolated by NetworkPolicy x/deny-all, x/other',
    ]);
    const allowed = decidedBy([
      rule(POLICY_CHAIN, 'PODNET-PI-AAAAAAAAAAAAAAAA'),
      rule('PODNET-PP-BBBBBBBBBBBBBBBB', 'MARK', allowComment('x/allow', 'ingress', 2)),
    ]);
    expect(formatTracePolicy({ verdict: allowed, isolatedBy: {} })[2]).toBe('    ingress: allowed by NetworkPolicy x/allow ingress rule 2');
  });

  it('says so when the packet never reached the policy chain or was established', () => {
    expect(formatTracePolicy({ verdict: decidedBy([]), isolatedBy: {} })).toEqual([
      'policy:',
      '    no NetworkPolicy chain on the path (PODNET-POLICY not reached)',
    ]);
    expect(formatTracePolicy({ verdict: decidedBy([rule(POLICY_CHAIN, 'ACCEPT')]), isolatedBy: {} })[1]).toMatch(/established connection/);
  });
});
