// Node IPAM (pkg/controller/nodeipam, the RangeAllocator): every Node gets spec.podCIDR and
// spec.podCIDRs from the cluster CIDR (cidr-allocator.ts). The allocator is rebuilt from the
// Nodes in the cache before the first allocation, so a restarted controller never hands out a
// CIDR twice; a Node's CIDR returns to the pool when the Node is deleted. podCIDR is immutable
// once set (core/v1 validation), so a Node that has one keeps it.
import type { Node } from '../kube-types.js';
import type { Controller, ControllerContext } from '../runtime/controller-context.js';
import { WorkQueue } from '../runtime/work-queue.js';
import { CidrAllocator } from './cidr-allocator.js';

export class NodeIpamController implements Controller {
  readonly name = 'nodeipam';
  readonly #ctx: ControllerContext;
  readonly #queue: WorkQueue;
  readonly #log;
  readonly #events;
  readonly allocator: CidrAllocator;
  #rebuilt = false;

  constructor(ctx: ControllerContext) {
    this.#ctx = ctx;
    this.#log = ctx.log.child({ component: 'node-ipam-controller' });
    this.#events = ctx.recorder('node-ipam-controller');
    this.allocator = new CidrAllocator(ctx.options.clusterCIDR, ctx.options.nodeCIDRMaskSize);
    this.#queue = new WorkQueue((k) => this.#sync(k), this.#log, { paused: true });
    ctx.nodes.addEventHandler({
      add: (n) => this.#queue.add(n.metadata.name ?? ''),
      update: (_o, n) => this.#queue.add(n.metadata.name ?? ''),
      delete: (n) => {
        if (this.#rebuilt) this.allocator.release(n.metadata.name ?? '');
      },
    });
  }

  start(): void {
    this.#rebuild();
    this.#queue.resume();
  }

  stop(): void {
    this.#queue.stop();
  }

  #rebuild(): void {
    if (this.#rebuilt) return;
    this.#rebuilt = true;
    for (const n of this.#ctx.nodes.store.list()) this.#occupy(n);
  }

  #occupy(n: Node): void {
    const name = n.metadata.name ?? '';
    const cidr = n.spec?.podCIDR;
    if (!cidr || this.allocator.cidrOf(name) === cidr) return;
    if (!this.allocator.occupy(name, cidr)) {
      this.#log.error({ node: name, podCIDR: cidr }, 'node holds a podCIDR outside the cluster CIDR or already held by another node');
      this.#events.event(
        { ...n, kind: 'Node', apiVersion: 'v1' },
        'Warning',
        'CIDRNotAvailable',
        `Node ${name} status is now: CIDRNotAvailable`,
      );
    }
  }

  async #sync(name: string): Promise<void> {
    const node = this.#ctx.nodes.store.get(name);
    if (!node || node.metadata.deletionTimestamp) return;
    if (node.spec?.podCIDR) {
      this.#occupy(node);
      return;
    }
    const cidr = this.allocator.allocate(name);
    if (!cidr) {
      this.#log.error({ node: name, clusterCIDR: this.#ctx.options.clusterCIDR }, 'no podCIDR left in the cluster CIDR');
      this.#events.event(
        { ...node, kind: 'Node', apiVersion: 'v1' },
        'Warning',
        'CIDRNotAvailable',
        `Node ${name} status is now: CIDRNotAvailable`,
      );
      return;
    }
    try {
      await this.#ctx.client.resource<Node>('nodes').patch(name, { spec: { podCIDR: cidr, podCIDRs: [cidr] } });
    } catch (err) {
      this.allocator.release(name);
      throw err;
    }
    this.#log.info({ node: name, podCIDR: cidr }, 'assigned podCIDR');
    this.#events.event({ ...node, kind: 'Node', apiVersion: 'v1' }, 'Normal', 'CIDRAssigned', `Node ${name} was assigned podCIDR ${cidr}`);
  }
}
