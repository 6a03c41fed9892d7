// The rendered rules on real frames: one node's host namespace (packages/netstack) with the cni0
// bridge, three pod namespaces on veth pairs, and the node's netfilter (rule engine + conntrack +
// NAT) holding a kube-proxy payload and the policy payload. Same-node pods talk over cni0, so
// their frames are bridged and cross FORWARD as with br_netfilter. Real TCP sockets of the
// emulated stacks: an allowed connection exchanges data, a denied one times out — DROP, no RST,
// no ICMP, as on Calico and kube-router — and an established connection outlives a later deny.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Conntrack, Nat, Netfilter } from '../../packages/netfilter/src/index.ts';
import { type NetworkPolicy, type Pod, renderPolicies } from '../../packages/netpol/src/index.ts';
import { BridgeLink, Namespace, VethLink } from '../../packages/netstack/src/index.ts';
import { macFromIpv4, parseIpv4, SeededRng, systemClock } from '../../packages/wire/src/index.ts';

const kubeProxy = readFileSync(
  join(import.meta.dirname, '..', '..', 'packages', 'netfilter', 'fixtures', 'kube-proxy', 'clusterip.rules'),
  'utf8',
);

interface TestPod {
  key: string;
  ip: string;
  ns: Namespace;
  object: Pod;
}

function node() {
  const conntrack = new Conntrack({ clock: systemClock, gcIntervalMs: 0 });
  const nf = new Netfilter({ clock: systemClock, conntrack, nat: new Nat(conntrack, { rng: new SeededRng(1) }), rng: new SeededRng(2) });
  nf.restore(kubeProxy);
  const host = new Namespace({ name: `netpol-host-${process.pid}`, ipForward: true, hooks: nf });
  const cni0 = host.addLink(new BridgeLink({ name: 'cni0', mac: macFromIpv4(parseIpv4('10.244.1.1')) })) as BridgeLink;
  host.addAddress('cni0', '10.244.1.1/24');
  const pods: TestPod[] = [];
  let n = 10;
  for (const key of ['x/a', 'x/b', 'y/a']) {
    const ip = `10.244.1.${n++}`;
    const ns = new Namespace({ name: `netpol-${key.replace('/', '-')}-${process.pid}` });
    const [eth0, veth] = VethLink.pair(
      { name: 'eth0', mac: macFromIpv4(parseIpv4(ip)), mtu: 1450 },
      { name: `veth${n}`, mac: 0x0e0000000000 + n, mtu: 1450 },
    );
    ns.addLink(eth0);
    ns.addAddress('eth0', `${ip}/24`);
    ns.addRoute({ dst: 'default', via: '10.244.1.1', dev: 'eth0' });
    host.addLink(veth);
    cni0.addPort(veth);
    const [namespace, name] = key.split('/') as [string, string];
    pods.push({
      key,
      ip,
      ns,
      object: {
        metadata: { namespace, name, labels: { pod: name } },
        spec: { nodeName: 'node-1', containers: [{ name: 'c', ports: [{ name: 'serve-80-tcp', containerPort: 80 }] }] },
        status: { phase: 'Running', podIP: ip },
      },
    });
  }
  let chains: string[] = [];
  let jump = false;
  const apply = (policies: NetworkPolicy[]) => {
    const r = renderPolicies(
      {
        node: 'node-1',
        policies,
        pods: pods.map((p) => p.object),
        namespaces: [{ metadata: { name: 'x', labels: { ns: 'x' } } }, { metadata: { name: 'y', labels: { ns: 'y' } } }],
      },
      { existingChains: chains, jumpRule: jump ? 'none' : 'insert' },
    );
    nf.restore(r.payload, { noflush: true });
    chains = r.chains;
    jump = true;
  };
  const close = () => {
    for (const p of pods) p.ns.close();
    host.close();
  };
  return { nf, host, pods, apply, close, pod: (key: string) => pods.find((p) => p.key === key) as TestPod };
}

function echoServer(pod: TestPod, port: number): void {
  pod.ns.tcp
    .createServer((s) => {
      s.on('data', (d: Buffer) => s.write(Buffer.concat([Buffer.from('echo:'), d])));
      s.on('end', () => s.end());
    })
    .listen(port);
}

/** 'connected', an errno code ('ECONNREFUSED', ...), or 'timeout' when nothing came back within ms. */
function connectOutcome(from: TestPod, ip: string, port: number, ms: number): Promise<string> {
  return new Promise((resolve) => {
    const s = from.ns.tcp.connect({ host: ip, port });
    const timer = setTimeout(() => {
      s.destroy();
      resolve('timeout');
    }, ms);
    s.on('connect', () => {
      clearTimeout(timer);
      s.destroy();
      resolve('connected');
    });
    s.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve(e.code ?? e.message);
    });
  });
}

let cleanup: (() => void) | undefined;
afterEach(() => {
  cleanup?.();
  cleanup = undefined;
});

describe('policy payload on real frames through the netstack bridge', () => {
  it('allowed pods connect over cni0; a denied connect times out (DROP: no RST, no ICMP)', async () => {
    const n = node();
    cleanup = n.close;
    echoServer(n.pod('x/a'), 80);
    expect(await connectOutcome(n.pod('x/b'), n.pod('x/a').ip, 80, 5000)).toBe('connected');
    n.apply([
      {
        metadata: { namespace: 'x', name: 'a-from-x-b' },
        spec: {
          podSelector: { matchLabels: { pod: 'a' } },
          ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'b' } } }], ports: [{ port: 'serve-80-tcp' }] }],
        },
      },
    ]);
    expect(await connectOutcome(n.pod('x/b'), n.pod('x/a').ip, 80, 5000)).toBe('connected');
    // y/a is not allowed: its SYN is dropped, so the connect neither completes nor fails within 1.5 s.
    expect(await connectOutcome(n.pod('y/a'), n.pod('x/a').ip, 80, 1500)).toBe('timeout');
    // Without a policy the closed port answers with a RST at once: the difference DROP makes.
    expect(await connectOutcome(n.pod('x/a'), n.pod('y/a').ip, 81, 5000)).toBe('ECONNREFUSED');
    const dropped = n.nf
      .save({ table: 'filter', counters: true })
      .split('\n')
      .find((l) => l.includes('x/a default deny ingress'));
    expect(dropped).toMatch(/^\[[1-9]\d*:\d+\]/);
  });

  it('an established connection keeps working after a deny-all policy; new ones time out', async () => {
    const n = node();
    cleanup = n.close;
    echoServer(n.pod('x/a'), 80);
    const s = n.pod('y/a').ns.tcp.connect({ host: n.pod('x/a').ip, port: 80 });
    let got = '';
    s.on('data', (d: Buffer) => {
      got += d.toString();
    });
    await new Promise<void>((resolve, reject) => {
      s.on('connect', () => resolve());
      s.on('error', reject);
    });
    s.write('one');
    await waitFor(() => got === 'echo:one');
    n.apply([{ metadata: { namespace: 'x', name: 'deny-all' }, spec: { podSelector: {}, policyTypes: ['Ingress', 'Egress'] } }]);
    s.write('two');
    await waitFor(() => got === 'echo:oneecho:two');
    s.destroy();
    expect(await connectOutcome(n.pod('y/a'), n.pod('x/a').ip, 80, 1500)).toBe('timeout');
  });
});

async function waitFor(cond: () => boolean, ms = 5000): Promise<void> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
