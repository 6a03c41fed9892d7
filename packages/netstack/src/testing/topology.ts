// Test topologies other packages' tests build on (the TCP helper's tests, e2e): namespaces joined
// by veths and a bridge, addressed as a node's CNI bridge plugin would (DESIGN §4).
import type { NetfilterHooks } from '@podnet/netfilter';
import { type Clock, formatIpv4, macFromIpv4, parseIpv4, SeededRng } from '@podnet/wire';
import { BridgeLink } from '../links/bridge.js';
import { VethLink } from '../links/veth.js';
import { Namespace } from '../namespace.js';

export interface Pod {
  ns: Namespace;
  /** The pod's IP as text. */
  ip: string;
  /** The host end of its veth (a port of cni0). */
  hostVeth: VethLink;
  eth0: VethLink;
}

export interface BridgeTopology {
  host: Namespace;
  bridge: BridgeLink;
  gateway: string;
  pods: Pod[];
  close(): Promise<void>;
}

export interface BridgeTopologyOptions {
  clock?: Clock;
  /** Hooks of the host namespace (where kube-proxy's rules live). */
  hooks?: NetfilterHooks;
  /** The node's podCIDR as its first three octets; '10.244.1' by default. */
  subnet?: string;
  seed?: number;
  podMtu?: number;
}

/** Adds a pod (namespace + veth into the bridge) with IP <subnet>.<index+2>. */
export function addPod(
  topology: Omit<BridgeTopology, 'close'>,
  name: string,
  ip: string,
  options: { clock?: Clock; seed?: number; mtu?: number } = {},
): Pod {
  const ns = new Namespace({ name, rng: new SeededRng(options.seed ?? parseIpv4(ip)), ...(options.clock ? { clock: options.clock } : {}) });
  const address = parseIpv4(ip);
  const index = topology.pods.length;
  const [eth0, hostVeth] = VethLink.pair(
    { name: 'eth0', mac: macFromIpv4(address), mtu: options.mtu ?? 1500 },
    {
      name: `veth${index}${name.slice(0, 6).replace(/[^A-Za-z0-9]/g, '')}`.slice(0, 15),
      mac: 0x0e0000000000 + address,
      mtu: options.mtu ?? 1500,
    },
  );
  ns.addLink(eth0);
  ns.addAddress('eth0', `${ip}/24`);
  ns.addRoute({ dst: 'default', via: topology.gateway, dev: 'eth0' });
  topology.host.addLink(hostVeth);
  topology.bridge.addPort(hostVeth);
  const pod: Pod = { ns, ip, hostVeth, eth0 };
  topology.pods.push(pod);
  return pod;
}

/** A node's host namespace with cni0 (<subnet>.1/24, ip_forward on) and `count` pods on it. */
export function podsOnBridge(count: number, options: BridgeTopologyOptions = {}): BridgeTopology {
  const subnet = options.subnet ?? '10.244.1';
  const gateway = `${subnet}.1`;
  const host = new Namespace({
    name: 'host',
    ipForward: true,
    rng: new SeededRng(options.seed ?? 1),
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.hooks ? { hooks: options.hooks } : {}),
  });
  const bridge = host.addLink(
    new BridgeLink({ name: 'cni0', mac: macFromIpv4(parseIpv4(gateway)), ...(options.clock ? { clock: options.clock } : {}) }),
  );
  host.addAddress('cni0', `${gateway}/24`);
  const topology: BridgeTopology = {
    host,
    bridge,
    gateway,
    pods: [],
    close: async () => {
      await Promise.all([host.close(), ...topology.pods.map((p) => p.ns.close())]);
    },
  };
  for (let i = 0; i < count; i++) {
    const ip = formatIpv4(parseIpv4(`${subnet}.${i + 2}`));
    addPod(topology, `pod-${String.fromCharCode(97 + i)}`, ip, {
      ...(options.clock ? { clock: options.clock } : {}),
      ...(options.podMtu ? { mtu: options.podMtu } : {}),
    });
  }
  return topology;
}

/** Acceptance topology 1: two pods (10.244.1.2 and .3) on one node's cni0 bridge. */
export function twoPodsOnBridge(options: BridgeTopologyOptions = {}): BridgeTopology & { a: Pod; b: Pod } {
  const t = podsOnBridge(2, options);
  return Object.assign(t, { a: t.pods[0] as Pod, b: t.pods[1] as Pod });
}
