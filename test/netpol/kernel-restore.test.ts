// Interop: the Linux kernel as a second oracle for the rendered payloads. In a network namespace
// this test creates, a kube-proxy payload (packages/netfilter's ClusterIP fixture) is restored,
// then the policy payloads of the upstream e2e model, with the real iptables-restore --noflush,
// exactly as the agent applies them: they must be accepted; the kernel's iptables-save of the
// filter table must equal podnet's rule engine given the same inputs; kube-proxy's KUBE-* chains
// must come out untouched; and a later payload must delete the stale PODNET-* chains.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Netfilter } from '../../packages/netfilter/src/index.ts';
import { type NetworkPolicy, renderPolicies } from '../../packages/netpol/src/index.ts';
import { arbitraryPolicies } from '../../packages/netpol/src/testing/arbitrary-policies.ts';
import { describeInterop } from '../support/interop.ts';
import { hasCommand } from '../support/tools.ts';
import { Cluster } from './model.ts';

const legacy = hasCommand('iptables-legacy-restore');
const RESTORE = legacy ? 'iptables-legacy-restore' : 'iptables-restore';
const SAVE = legacy ? 'iptables-legacy-save' : 'iptables-save';
const ns = `podnet-netpol-${process.pid}`;
const kubeProxy = readFileSync(
  join(import.meta.dirname, '..', '..', 'packages', 'netfilter', 'fixtures', 'kube-proxy', 'clusterip.rules'),
  'utf8',
);

const clean = (text: string) =>
  text
    .split('\n')
    .filter((l) => l !== '' && !l.startsWith('#'))
    .join('\n');

async function kernelRestore(payload: string, noflush: boolean): Promise<void> {
  const r = await execa('ip', ['netns', 'exec', ns, RESTORE, ...(noflush ? ['--noflush'] : [])], { input: payload, reject: false });
  if (r.exitCode !== 0) throw new Error(`${RESTORE} refused the payload: ${r.stderr}\n${payload}`);
}
const kernelSave = async () => clean((await execa('ip', ['netns', 'exec', ns, SAVE, '-t', 'filter'])).stdout);
const kubeLines = (saved: string) => saved.split('\n').filter((l) => /KUBE-/.test(l));

const POLICIES: NetworkPolicy[] = [
  { metadata: { namespace: 'x', name: 'deny-all' }, spec: { podSelector: {}, policyTypes: ['Ingress', 'Egress'] } },
  {
    metadata: { namespace: 'x', name: 'mixed' },
    spec: {
      podSelector: { matchLabels: { pod: 'a' } },
      ingress: [
        {
          from: [
            {
              namespaceSelector: { matchExpressions: [{ key: 'ns', operator: 'NotIn', values: ['x'] }] },
              podSelector: { matchLabels: { pod: 'b' } },
            },
          ],
        },
        {
          ports: [
            { port: 'serve-81-udp', protocol: 'UDP' },
            { port: 80, endPort: 81 },
            { protocol: 'SCTP', port: 80 },
          ],
        },
        { from: [{ ipBlock: { cidr: '10.244.0.0/16', except: ['10.244.2.0/24', '10.244.1.11/32'] } }] },
      ],
      egress: [{ to: [{ ipBlock: { cidr: '0.0.0.0/0' } }], ports: [{ port: 'serve-80-tcp' }, { protocol: 'UDP', port: 53 }] }],
    },
  },
  { metadata: { namespace: 'y', name: 'allow-all' }, spec: { podSelector: {}, ingress: [{}], egress: [{}] } },
  // The longest name the API allows: its comments are cut to fit xt_comment's 255 bytes.
  {
    metadata: { namespace: 'x', name: 'l'.repeat(253) },
    spec: { podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.0/8', except: ['10.255.255.255/32'] } }] }] },
  },
];

describeInterop('netpol payloads in the real iptables-restore', { commands: ['ip', RESTORE, SAVE], root: true }, () => {
  beforeAll(async () => {
    await execa('ip', ['netns', 'add', ns]);
  });
  afterAll(async () => {
    await execa('ip', ['netns', 'del', ns], { reject: false });
  });

  it(`accepts every node's payload with --noflush on top of kube-proxy's rules, prints it as podnet does, and deletes stale chains (${RESTORE})`, async () => {
    const model = new Cluster();
    const podnet = new Netfilter();
    await kernelRestore(kubeProxy, false);
    podnet.restore(kubeProxy);
    const kubeBefore = kubeLines(await kernelSave());
    expect(kubeBefore.length).toBeGreaterThan(5);
    let chains: string[] = [];
    const steps: NetworkPolicy[][] = [POLICIES, POLICIES.slice(1), []];
    for (const [i, policies] of steps.entries()) {
      const rendered = renderPolicies(
        { node: 'node-1', policies, pods: [...model.pods.values()], namespaces: [...model.namespaces.values()] },
        { existingChains: chains, jumpRule: i === 0 ? 'insert' : i === 1 ? 'reinsert' : 'none' },
      );
      expect(rendered.invalid).toEqual([]);
      await kernelRestore(rendered.payload, true);
      podnet.restore(rendered.payload, { noflush: true });
      const kernel = await kernelSave();
      expect(kernel).toBe(clean(podnet.save({ table: 'filter' })));
      expect(kubeLines(kernel)).toEqual(kubeBefore);
      const kernelChains = kernel
        .split('\n')
        .filter((l) => l.startsWith(':PODNET-'))
        .map((l) => l.slice(1).split(' ')[0]);
      expect(kernelChains).toEqual(rendered.chains);
      expect(kernel.split('\n').filter((l) => l.includes('-j PODNET-POLICY'))).toEqual([
        '-A FORWARD -m comment --comment "podnet network policy" -j PODNET-POLICY',
      ]);
      expect(kernel.split('\n').find((l) => l.startsWith('-A FORWARD'))).toContain('PODNET-POLICY');
      if (i === 0) expect(rendered.rules).toBeGreaterThan(40);
      chains = rendered.chains;
    }
    expect(chains).toEqual(['PODNET-POLICY']);
  });

  it('accepts random valid policy sets one after another, each printed by the kernel as podnet prints it', async () => {
    const model = new Cluster();
    const podnet = new Netfilter();
    await kernelRestore(kubeProxy, false);
    podnet.restore(kubeProxy);
    let chains: string[] = [];
    let jump = false;
    await fc.assert(
      fc.asyncProperty(arbitraryPolicies(5), async (policies) => {
        const rendered = renderPolicies(
          { node: 'node-2', policies, pods: [...model.pods.values()], namespaces: [...model.namespaces.values()] },
          { existingChains: chains, jumpRule: jump ? 'none' : 'insert' },
        );
        await kernelRestore(rendered.payload, true);
        podnet.restore(rendered.payload, { noflush: true });
        expect(await kernelSave()).toBe(clean(podnet.save({ table: 'filter' })));
        chains = rendered.chains;
        jump = true;
      }),
      { numRuns: 25, seed: 11 },
    );
  });
});
