// Node lifecycle (pkg/controller/nodelifecycle/node_lifecycle_controller.go):
// - health comes from the node's Lease in kube-node-lease: each time its spec.renewTime changes
//   the controller notes the local time (`nodeHealth.probeTimestamp`); a node not renewed within
//   the grace period (node-monitor-grace-period) gets its Ready, MemoryPressure, DiskPressure and
//   PIDPressure conditions set to Unknown, reason NodeStatusUnknown, message "Kubelet stopped
//   posting node status." (`tryUpdateNodeHealth`), and the taints node.kubernetes.io/unreachable
//   NoExecute (`markNodeForTainting`) and NoSchedule (TaintNodesByCondition);
// - its pods lose readiness at once (`MarkPodsNotReady`: the Ready condition False), so the
//   EndpointSlice controller drops them from Services;
// - pods that do not tolerate the NoExecute taint are deleted after the eviction timeout (the
//   taint eviction controller, with the default toleration's tolerationSeconds, here
//   podEvictionTimeoutMs unless the pod states its own); as no kubelet is there to confirm the
//   deletion, they are deleted with grace 0 once their grace period passed (as pod GC does for
//   pods of unreachable nodes), so their replacements are not kept waiting;
// - a kubelet that reports Ready=False gets the same treatment with the
//   node.kubernetes.io/not-ready taints;
// - when the kubelet reports Ready=True again, the taints are removed.
// The kubelet (node-agent) owns the Ready=True condition: it re-posts it when it finds its Node
// not Ready, as the real kubelet's status loop does.
import { isConflict, isNotFound } from '@podnet/client';
import { type Lease, type Node, nodeCondition, type Pod, type Taint } from '../kube-types.js';
import { BY_NODE, type Controller, type ControllerContext, timestamp } from '../runtime/controller-context.js';
import { tolerates } from '../scheduler/choose-node.js';

export const UNREACHABLE_TAINT = 'node.kubernetes.io/unreachable';
export const NOT_READY_TAINT = 'node.kubernetes.io/not-ready';
const PRESSURE_CONDITIONS = ['MemoryPressure', 'DiskPressure', 'PIDPressure'];

interface Health {
  renewTime: string | undefined;
  /** clock time when renewTime last changed (or the node was first seen) */
  probeTime: number;
  /** the taint the node carries for being NotReady, and since when (clock time) */
  notReady?: { taint: string; since: number };
  /** pods already marked not ready / evicted in this outage */
  markedPods: Set<string>;
  evictedPods: Map<string, number>;
}

export class NodeLifecycleController implements Controller {
  readonly name = 'nodelifecycle';
  readonly #ctx: ControllerContext;
  readonly #log;
  readonly #events;
  readonly #health = new Map<string, Health>();
  #timer: ReturnType<ControllerContext['clock']['setTimeout']> | undefined;
  #stopped = false;
  #running = false;

  constructor(ctx: ControllerContext) {
    this.#ctx = ctx;
    this.#log = ctx.log.child({ component: 'node-lifecycle-controller' });
    this.#events = ctx.recorder('node-controller');
    const onLease = (l: Lease) => {
      const name = l.metadata.name ?? '';
      const h = this.#healthOf(name);
      if (l.spec?.renewTime !== h.renewTime) {
        h.renewTime = l.spec?.renewTime;
        h.probeTime = ctx.clock.now();
      }
    };
    ctx.leases.addEventHandler({ add: onLease, update: (_o, l) => onLease(l) });
    ctx.nodes.addEventHandler({
      add: (n) => this.#healthOf(n.metadata.name ?? ''),
      delete: (n) => this.#health.delete(n.metadata.name ?? ''),
    });
  }

  #healthOf(name: string): Health {
    let h = this.#health.get(name);
    if (!h) {
      // A node seen for the first time (or at start-up) gets a full grace period.
      h = { renewTime: undefined, probeTime: this.#ctx.clock.now(), markedPods: new Set(), evictedPods: new Map() };
      this.#health.set(name, h);
    }
    return h;
  }

  start(): void {
    const tick = () => {
      if (this.#stopped) return;
      void this.#monitor().finally(() => {
        if (!this.#stopped) this.#timer = this.#ctx.clock.setTimeout(tick, this.#ctx.options.nodeMonitorPeriodMs);
      });
    };
    this.#timer = this.#ctx.clock.setTimeout(tick, this.#ctx.options.nodeMonitorPeriodMs);
  }

  stop(): void {
    this.#stopped = true;
    this.#ctx.clock.clearTimeout(this.#timer);
  }

  /** One pass over all nodes (`monitorNodeHealth`); passes never overlap. */
  async #monitor(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    try {
      for (const node of this.#ctx.nodes.store.list()) {
        try {
          await this.#check(node);
        } catch (err) {
          if (!isConflict(err) && !isNotFound(err))
            this.#log.warn({ node: node.metadata.name, err: (err as Error).message }, 'node health check failed');
        }
      }
    } finally {
      this.#running = false;
    }
  }

  async #check(node: Node): Promise<void> {
    const name = node.metadata.name ?? '';
    const h = this.#healthOf(name);
    const now = this.#ctx.clock.now();
    const ready = nodeCondition(node, 'Ready');
    const expired = now - h.probeTime > this.#ctx.options.nodeMonitorGracePeriodMs;
    if (expired && ready?.status !== 'Unknown') await this.#markUnknown(name, ready === undefined);
    const status = expired ? 'Unknown' : ready?.status;
    if (status === 'Unknown' || status === 'False') {
      // Unknown (no Lease renewals) taints unreachable; False (the kubelet says so) taints
      // not-ready (processTaintBaseEviction). Switching from one to the other restarts the clock.
      const key = status === 'Unknown' ? UNREACHABLE_TAINT : NOT_READY_TAINT;
      if (h.notReady?.taint !== key) {
        if (!h.notReady && status === 'False') {
          this.#events.event(
            { ...node, kind: 'Node', apiVersion: 'v1' },
            'Normal',
            'NodeNotReady',
            `Node ${name} status is now: NodeNotReady`,
          );
        }
        h.notReady = { taint: key, since: now };
      }
      await this.#taint(name, key);
      await this.#markPodsNotReady(name, h);
      await this.#evict(name, h, now);
      return;
    }
    // Ready again (the kubelet re-posts Ready=True once it renews): lift the taints.
    if (
      status === 'True' &&
      (h.notReady !== undefined || this.#hasTaint(node, UNREACHABLE_TAINT) || this.#hasTaint(node, NOT_READY_TAINT))
    ) {
      await this.#taint(name, undefined);
      if (h.notReady !== undefined) {
        this.#events.event({ ...node, kind: 'Node', apiVersion: 'v1' }, 'Normal', 'NodeReady', `Node ${name} status is now: NodeReady`);
        this.#log.info({ node: name }, 'node is Ready again');
      }
      h.notReady = undefined;
      h.markedPods.clear();
      h.evictedPods.clear();
    }
  }

  #hasTaint(node: Node, key: string): boolean {
    return (node.spec?.taints ?? []).some((t) => t.key === key);
  }

  async #markUnknown(name: string, neverPosted: boolean): Promise<void> {
    const nodes = this.#ctx.client.resource<Node>('nodes');
    const node = await nodes.get(name);
    const ts = timestamp(this.#ctx.now());
    const [reason, message] = neverPosted
      ? ['NodeStatusNeverUpdated', 'Kubelet never posted node status.']
      : ['NodeStatusUnknown', 'Kubelet stopped posting node status.'];
    const conditions = [...(node.status?.conditions ?? [])];
    for (const type of ['Ready', ...PRESSURE_CONDITIONS]) {
      const i = conditions.findIndex((c) => c.type === type);
      const prev = conditions[i];
      if (!prev && type !== 'Ready') continue;
      const next = {
        ...(prev ?? { type }),
        type,
        status: 'Unknown' as const,
        reason,
        message,
        lastTransitionTime: ts,
        lastHeartbeatTime: prev?.lastHeartbeatTime ?? ts,
      };
      if (i >= 0) conditions[i] = next;
      else conditions.push(next);
    }
    await nodes.updateStatus({ ...node, status: { ...(node.status ?? {}), conditions } });
    this.#log.warn({ node: name, reason }, 'node stopped renewing its Lease: Ready=Unknown');
    this.#events.event({ ...node, kind: 'Node', apiVersion: 'v1' }, 'Normal', 'NodeNotReady', `Node ${name} status is now: NodeNotReady`);
  }

  /**
   * Gives the node the NoExecute and NoSchedule taints of `key` (unreachable or not-ready) and
   * removes those of the other; with no key, removes both.
   */
  async #taint(name: string, key: string | undefined): Promise<void> {
    const managed = (k: string) => k === UNREACHABLE_TAINT || k === NOT_READY_TAINT;
    const wanted = (t: Taint[]) =>
      key === undefined
        ? !t.some((x) => managed(x.key))
        : t
            .filter((x) => managed(x.key))
            .map((x) => `${x.key}:${x.effect}`)
            .sort()
            .join() === `${key}:NoExecute,${key}:NoSchedule`;
    if (wanted(this.#ctx.nodes.store.get(name)?.spec?.taints ?? [])) return;
    const nodes = this.#ctx.client.resource<Node>('nodes');
    const node = await nodes.get(name);
    if (wanted(node.spec?.taints ?? [])) return;
    const others = (node.spec?.taints ?? []).filter((t) => !managed(t.key));
    const ts = timestamp(this.#ctx.now());
    const taints: Taint[] =
      key === undefined ? others : [...others, { key, effect: 'NoSchedule', timeAdded: ts }, { key, effect: 'NoExecute', timeAdded: ts }];
    await nodes.update({ ...node, spec: { ...(node.spec ?? {}), taints } });
  }

  async #markPodsNotReady(name: string, h: Health): Promise<void> {
    const api = this.#ctx.client.resource<Pod>('pods');
    for (const cached of this.#ctx.pods.store.byIndex(BY_NODE, name)) {
      const key = `${cached.metadata.namespace}/${cached.metadata.name}`;
      if (h.markedPods.has(key)) continue;
      const ready = cached.status?.conditions?.find((c) => c.type === 'Ready');
      if (ready?.status === 'False') {
        h.markedPods.add(key);
        continue;
      }
      try {
        const pod = await api.get(cached.metadata.name ?? '', { namespace: cached.metadata.namespace });
        const ts = timestamp(this.#ctx.now());
        const conditions = (pod.status?.conditions ?? []).map((c) =>
          c.type === 'Ready' && c.status !== 'False' ? { ...c, status: 'False' as const, lastTransitionTime: ts } : c,
        );
        if (!conditions.some((c) => c.type === 'Ready')) conditions.push({ type: 'Ready', status: 'False', lastTransitionTime: ts });
        await api.updateStatus({ ...pod, status: { ...(pod.status ?? {}), conditions } });
        h.markedPods.add(key);
        this.#events.event({ ...pod, kind: 'Pod', apiVersion: 'v1' }, 'Warning', 'NodeNotReady', 'Node is not ready');
      } catch (err) {
        if (isNotFound(err)) h.markedPods.add(key);
        else throw err;
      }
    }
  }

  async #evict(name: string, h: Health, now: number): Promise<void> {
    const api = this.#ctx.client.resource<Pod>('pods');
    if (!h.notReady) return;
    const taint: Taint = { key: h.notReady.taint, effect: 'NoExecute' };
    for (const pod of this.#ctx.pods.store.byIndex(BY_NODE, name)) {
      const key = `${pod.metadata.namespace}/${pod.metadata.name}`;
      const toleration = (pod.spec.tolerations ?? []).find((t) => tolerates(t, taint));
      if (toleration && toleration.tolerationSeconds === undefined) continue; // tolerates it forever
      const after =
        toleration?.tolerationSeconds !== undefined ? toleration.tolerationSeconds * 1000 : this.#ctx.options.podEvictionTimeoutMs;
      if (now - h.notReady.since < after) continue;
      const evictedAt = h.evictedPods.get(key);
      try {
        if (evictedAt === undefined && !pod.metadata.deletionTimestamp) {
          await api.delete(pod.metadata.name ?? '', { namespace: pod.metadata.namespace, preconditions: { uid: pod.metadata.uid } });
          h.evictedPods.set(key, now);
          this.#log.info({ node: name, pod: key, taint: taint.key }, 'evicting pod from a NotReady node');
          this.#events.event(
            { ...pod, kind: 'Pod', apiVersion: 'v1' },
            'Normal',
            'TaintManagerEviction',
            `Marking for deletion Pod ${key}`,
          );
        } else if (h.notReady.taint === UNREACHABLE_TAINT) {
          // Terminating on a node that cannot confirm: force the deletion once its grace period is over.
          const graceMs = (pod.metadata.deletionGracePeriodSeconds ?? pod.spec.terminationGracePeriodSeconds ?? 30) * 1000;
          const since = evictedAt ?? now;
          if (evictedAt === undefined) h.evictedPods.set(key, since);
          if (now - since >= graceMs) {
            await api.delete(pod.metadata.name ?? '', {
              namespace: pod.metadata.namespace,
              gracePeriodSeconds: 0,
              preconditions: { uid: pod.metadata.uid },
            });
            this.#log.info({ node: name, pod: key }, 'force-deleted a terminating pod of a NotReady node');
          }
        }
      } catch (err) {
        if (!isNotFound(err) && !isConflict(err)) throw err;
      }
    }
  }
}
