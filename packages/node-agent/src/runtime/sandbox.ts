// The pod sandbox (the `pause` container of a real runtime): it holds the pod's network namespace
// (lo + eth0), which every container of the pod shares (DESIGN §1). eth0 is the pod end of a
// unix-socket veth whose host end the CNI plugin put on cni0; address, routes and MTU come from
// the CNI ADD result (SPEC.md §5).
import { createHash } from 'node:crypto';
import { Namespace, UnixSocketVeth } from '@podnet/netstack';
import { parseMac } from '@podnet/wire';
import type { CniCallArgs, CniPlugin, SandboxNetwork } from '../cni/types.js';

export class Sandbox {
  readonly id: string;
  readonly ns: Namespace;
  network: SandboxNetwork | undefined;
  readonly #cni: CniPlugin;
  readonly args: CniCallArgs;

  constructor(cni: CniPlugin, pod: { namespace: string; name: string; uid: string }) {
    // Derived from the pod's uid, so a restarted node-agent asks CNI ADD for the same container
    // id and gets the same IP back (ADD is idempotent), instead of leaking the old allocation.
    this.id = createHash('sha256').update(`podnet-sandbox/${pod.uid}`).digest('hex');
    this.#cni = cni;
    const netns = `cni-${this.id.slice(0, 8)}-${pod.namespace}-${pod.name}`;
    this.ns = new Namespace({ name: netns });
    this.args = { containerId: this.id, netns, ifname: 'eth0', podNamespace: pod.namespace, podName: pod.name, podUid: pod.uid };
  }

  get ip(): string | undefined {
    return this.network?.address.split('/')[0];
  }

  /** CNI ADD (idempotent on the plugin side), then eth0 connected and configured. */
  async setUp(): Promise<SandboxNetwork> {
    const net = await this.#cni.add(this.args);
    await this.#attach(net);
    this.network = net;
    return net;
  }

  async #attach(net: SandboxNetwork): Promise<void> {
    if (this.ns.link('eth0')) await this.ns.removeLink('eth0');
    const eth0 = await UnixSocketVeth.connect({ name: 'eth0', mac: parseMac(net.mac), mtu: net.mtu, path: net.socketPath });
    this.ns.addLink(eth0);
    this.ns.addAddress('eth0', net.address);
    for (const r of net.routes) {
      const dst = r.dst === '0.0.0.0/0' ? 'default' : r.dst;
      this.ns.addRoute({ dst, ...(r.gw ? { via: r.gw } : {}), dev: 'eth0' });
    }
  }

  /** After a cni-agent restart: ADD again (idempotent: the same IP) and reconnect eth0. */
  async resync(): Promise<void> {
    const net = await this.#cni.add(this.args);
    await this.#attach(net);
    this.network = net;
  }

  /** CNI DEL and the namespace closed (its sockets end). */
  async tearDown(): Promise<void> {
    try {
      await this.#cni.del(this.args);
    } finally {
      await this.ns.close();
    }
  }
}
