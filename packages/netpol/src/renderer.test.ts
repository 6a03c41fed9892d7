import { describe, expect, it } from 'vitest';
import { Netfilter } from '../../netfilter/src/index.js';
import { isPolicyChain, POLICY_CHAIN } from './chain-names.js';
import { renderPolicies } from './renderer.js';
import type { NetworkPolicy, Pod } from './types.js';

const pod = (namespace: string, name: string, ip: string, node: string, labels: Record<string, string> = { pod: name }): Pod => ({
  metadata: { namespace, name, labels },
  spec: {
    nodeName: node,
    containers: [
      {
        name: 'c',
        ports: [
          { name: 'web', containerPort: 8080 },
          { name: 'dns', containerPort: 53, protocol: 'UDP' },
        ],
      },
    ],
  },
  status: { phase: 'Running', podIP: ip },
});
const pods = [pod('x', 'a', '10.244.1.10', 'node-1'), pod('x', 'b', '10.244.1.11', 'node-1'), pod('y', 'a', '10.244.2.10', 'node-2')];
const namespaces = [{ metadata: { name: 'x' } }, { metadata: { name: 'y' } }];
const policies: NetworkPolicy[] = [
  {
    metadata: { namespace: 'x', name: 'web' },
    spec: {
      podSelector: { matchLabels: { pod: 'a' } },
      ingress: [
        { from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'y' } } }], ports: [{ port: 'web' }] },
        {
          from: [{ ipBlock: { cidr: '192.168.0.0/16', except: ['192.168.1.0/24'] } }],
          ports: [{ port: 9000, endPort: 9010, protocol: 'UDP' }],
        },
      ],
      egress: [{ to: [{ podSelector: {} }], ports: [{ port: 'dns', protocol: 'UDP' }] }],
    },
  },
  { metadata: { namespace: 'x', name: 'deny' }, spec: { podSelector: {}, policyTypes: ['Ingress'] } },
];
const state = { node: 'node-1', policies, pods, namespaces };

describe('renderPolicies', () => {
  it('is deterministic: the same state in any order gives the same payload', () => {
    const a = renderPolicies(state).payload;
    const b = renderPolicies({
      node: 'node-1',
      policies: [...policies].reverse(),
      pods: [...pods].reverse(),
      namespaces: [...namespaces].reverse(),
    }).payload;
    expect(b).toBe(a);
  });

  it('writes only PODNET chains of legal length, accepts established packets first and ends isolated chains with DROP', () => {
    const r = renderPolicies(state, { jumpRule: 'insert' });
    const lines = r.payload.split('\n');
    expect(lines[0]).toBe('*filter');
    expect(lines.at(-2)).toBe('COMMIT');
    for (const l of lines.filter((x) => x.startsWith(':'))) {
      const name = l.slice(1).split(' ')[0] as string;
      expect(isPolicyChain(name)).toBe(true);
      expect(name.length).toBeLessThanOrEqual(28);
    }
    expect(r.payload).not.toMatch(/KUBE-|FLANNEL-/);
    const top = lines.filter((l) => l.startsWith(`-A ${POLICY_CHAIN} `));
    expect(top[0]).toMatch(/--ctstate RELATED,ESTABLISHED -j ACCEPT$/);
    expect(r.isolated).toEqual({ ingress: ['x/a', 'x/b'], egress: ['x/a'] });
    expect(lines).toContain('-I FORWARD 1 -m comment --comment "podnet network policy" -j PODNET-POLICY');
    // The named port resolves on the destination pod (ingress: x/a's own "web" port).
    expect(r.payload).toMatch(/-d 10\.244\.1\.10\/32 -p tcp -m tcp --dport 8080 -j PODNET-PP-/);
    // Egress named port: resolved on every pod that has it with that protocol.
    expect(r.payload).toMatch(/-d 10\.244\.2\.10\/32 -p udp -m udp --dport 53 -j PODNET-PP-/);
    // A rule with one non-named port entry: the match sits on the pod chain's jump, no PODNET-PR chain.
    expect(r.payload).toMatch(
      /-A PODNET-PI-\S+ -p udp -m udp --dport 9000:9010 -m comment --comment "x\/web ingress rule 1" -j PODNET-PP-/,
    );
    expect(r.payload).toMatch(/-s 192\.168\.1\.0\/24 -m comment --comment "x\/web ingress rule 1: except 192\.168\.1\.0\/24" -j RETURN/);
    expect(r.payload).toContain('-s 10.244.2.10/32 -m comment --comment "x/web ingress rule 0: allow" -j MARK --set-xmark 0x10000/0x10000');
    const drops = [...r.drops.values()];
    expect(drops.find((d) => d.pod === 'x/a' && d.direction === 'ingress')?.policies).toEqual(['x/deny', 'x/web']);
    expect(drops.find((d) => d.pod === 'x/a' && d.direction === 'egress')?.policies).toEqual(['x/web']);
  });

  it('renders nothing for pods of other nodes, and deletes chains that are no longer needed', () => {
    const before = renderPolicies(state);
    const other = renderPolicies({ ...state, node: 'node-2' });
    expect(other.chains).toEqual([POLICY_CHAIN]);
    const after = renderPolicies({ ...state, policies: [] }, { existingChains: [...before.chains, 'KUBE-SVC-XYZ', 'FLANNEL-FWD'] });
    expect(after.deletedChains).toEqual(before.chains.filter((c) => c !== POLICY_CHAIN));
    for (const c of after.deletedChains) expect(after.payload).toContain(`-X ${c}`);
    expect(after.payload).not.toContain('KUBE-SVC-XYZ');
    expect(after.payload).not.toContain('FLANNEL');
  });

  it('leaves out an invalid policy with a coded error and still renders the others', () => {
    const bad: NetworkPolicy = {
      metadata: { namespace: 'x', name: 'bad' },
      spec: { podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.0/8', except: ['11.0.0.0/24'] } }] }] },
    };
    const r = renderPolicies({ ...state, policies: [...policies, bad] });
    expect(r.invalid).toHaveLength(1);
    expect(r.invalid[0]?.code).toBe('PODNET_ERR_NETPOL_INVALID_POLICY');
    expect(r.invalid[0]?.message).toBe(
      'NetworkPolicy x/bad: spec.ingress[0].from[0].ipBlock.except[0]: "11.0.0.0/24" must be a strict subset of cidr "10.0.0.0/8"',
    );
    expect(r.isolated.ingress).toEqual(['x/a', 'x/b']);
    // A node with no pod the policy selects reports it too (every node agrees on what is invalid).
    expect(renderPolicies({ ...state, node: 'node-2', policies: [bad] }).invalid.map((e) => e.message)).toEqual([r.invalid[0]?.message]);
  });

  it('re-inserts the jump after deleting the old one when asked', () => {
    const r = renderPolicies(state, { jumpRule: 'reinsert' });
    const lines = r.payload.split('\n');
    const d = lines.indexOf('-D FORWARD -m comment --comment "podnet network policy" -j PODNET-POLICY');
    const i = lines.indexOf('-I FORWARD 1 -m comment --comment "podnet network policy" -j PODNET-POLICY');
    expect(d).toBeGreaterThan(0);
    expect(i).toBe(d + 1);
  });

  it('cuts long namespace/name keys in comments so the kernel accepts them (xt_comment: 255 bytes)', () => {
    const long = 'n'.repeat(253);
    const ns = 'm'.repeat(63);
    const r = renderPolicies({
      node: 'node-1',
      policies: [
        {
          metadata: { namespace: ns, name: long },
          spec: { podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.0/8', except: ['10.255.255.255/32'] } }] }] },
        },
      ],
      pods: [pod(ns, long, '10.244.1.50', 'node-1')],
      namespaces: [{ metadata: { name: ns } }],
    });
    const comments = [...r.payload.matchAll(/--comment "([^"]*)"/g)].map((m) => m[1] as string);
    expect(comments.length).toBeGreaterThan(4);
    for (const c of comments) expect(Buffer.byteLength(c)).toBeLessThanOrEqual(255);
    expect(comments).toContain(`${`${ns}/${long}`.slice(0, 197)}... ingress rule 0: except 10.255.255.255/32`);
    new Netfilter().restore(r.payload, { noflush: true });
  });

  it('renders no chain for a rule that can allow nothing (a named port no destination has)', () => {
    const r = renderPolicies({
      ...state,
      policies: [
        {
          metadata: { namespace: 'x', name: 'nowhere' },
          spec: {
            podSelector: { matchLabels: { pod: 'a' } },
            ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.0/8', except: ['10.1.0.0/16'] } }], ports: [{ port: 'nope' }] }],
          },
        },
      ],
    });
    expect(r.chains.filter((c) => /^PODNET-P[RPB]-/.test(c))).toEqual([]);
    expect(r.payload).toContain('-m comment --comment "x/a default deny ingress" -j DROP');
  });
});
