// The scheduler: binds each unscheduled pod (spec.nodeName empty, not terminating, for the
// default scheduler) to a node chosen by chooseNode, through the pods/binding subresource as
// kube-scheduler does (pkg/scheduler/framework/plugins/defaultbinder). Bindings made but not yet
// seen in the pod cache are "assumed" (the scheduler cache's AssumePod), so pods scheduled in
// quick succession still spread. A pod that fits nowhere gets a FailedScheduling event and is
// retried when nodes change, and every few seconds (the unschedulable queue's flush).
import { type ApiError, isNotFound, NotFoundError } from '@podnet/client';
import type { Pod } from '../kube-types.js';
import type { Controller, ControllerContext } from '../runtime/controller-context.js';
import { WorkQueue } from '../runtime/work-queue.js';
import { chooseNode } from './choose-node.js';

const RETRY_UNSCHEDULABLE_MS = 5000;
const ASSUME_TTL_MS = 30_000;

function wantsScheduling(p: Pod): boolean {
  return !p.spec?.nodeName && !p.metadata.deletionTimestamp && (p.spec?.schedulerName ?? 'default-scheduler') === 'default-scheduler';
}

const key = (p: Pod) => `${p.metadata.namespace}/${p.metadata.name}`;

export class Scheduler implements Controller {
  readonly name = 'scheduler';
  readonly #ctx: ControllerContext;
  readonly #queue: WorkQueue;
  readonly #log;
  readonly #events;
  /** pod key → {node, uid, at}: bound by us, maybe not yet in the cache. */
  readonly #assumed = new Map<string, { node: string; uid: string; at: number }>();
  #useBinding = true;

  constructor(ctx: ControllerContext) {
    this.#ctx = ctx;
    this.#log = ctx.log.child({ component: 'scheduler' });
    this.#events = ctx.recorder('default-scheduler');
    this.#queue = new WorkQueue((k) => this.#sync(k), this.#log, { paused: true });
    ctx.pods.addEventHandler({
      add: (p) => wantsScheduling(p) && this.#queue.add(key(p)),
      update: (_o, p) => {
        if (wantsScheduling(p)) this.#queue.add(key(p));
        else if (p.spec?.nodeName) this.#assumed.delete(key(p));
      },
      delete: (p) => this.#assumed.delete(key(p)),
    });
    const requeueAll = () => {
      for (const p of ctx.pods.store.list()) if (wantsScheduling(p)) this.#queue.add(key(p));
    };
    ctx.nodes.addEventHandler({ add: requeueAll, update: requeueAll });
  }

  start(): void {
    this.#queue.resume();
  }

  stop(): void {
    this.#queue.stop();
  }

  async #sync(k: string): Promise<void> {
    const pod = this.#ctx.pods.store.get(k);
    if (!pod || !wantsScheduling(pod)) return;
    const assumed = this.#assumed.get(k);
    if (assumed && assumed.uid === pod.metadata.uid && this.#ctx.clock.now() - assumed.at < ASSUME_TTL_MS) return;
    const bound = this.#ctx.pods.store.list().filter((p) => p.spec?.nodeName);
    for (const [ak, a] of this.#assumed) {
      if (this.#ctx.clock.now() - a.at > ASSUME_TTL_MS) this.#assumed.delete(ak);
      else {
        const p = this.#ctx.pods.store.get(ak);
        if (p && !p.spec?.nodeName) bound.push({ ...p, spec: { ...p.spec, nodeName: a.node } });
      }
    }
    const result = chooseNode(pod, this.#ctx.nodes.store.list(), bound);
    if (result.node === undefined) {
      this.#log.info({ pod: k, message: result.message }, 'pod is unschedulable');
      this.#events.event({ ...pod, kind: 'Pod', apiVersion: 'v1' }, 'Warning', 'FailedScheduling', result.message);
      this.#queue.addAfter(k, RETRY_UNSCHEDULABLE_MS);
      return;
    }
    try {
      await this.#bind(pod, result.node);
    } catch (err) {
      if (isNotFound(err) && !(await this.#exists(pod))) return; // deleted meanwhile
      throw err;
    }
    this.#assumed.set(k, { node: result.node, uid: pod.metadata.uid ?? '', at: this.#ctx.clock.now() });
    this.#log.info({ pod: k, node: result.node }, 'bound pod');
    this.#events.event({ ...pod, kind: 'Pod', apiVersion: 'v1' }, 'Normal', 'Scheduled', `Successfully assigned ${k} to ${result.node}`);
  }

  async #bind(pod: Pod, node: string): Promise<void> {
    const pods = this.#ctx.client.resource<Pod>('pods');
    const ns = pod.metadata.namespace;
    const name = pod.metadata.name ?? '';
    if (this.#useBinding) {
      try {
        await pods.createSubresource(
          name,
          'binding',
          {
            apiVersion: 'v1',
            kind: 'Binding',
            metadata: { name, namespace: ns, uid: pod.metadata.uid },
            target: { apiVersion: 'v1', kind: 'Node', name: node },
          },
          { namespace: ns },
        );
        return;
      } catch (err) {
        // A server without pods/binding answers 404 (no such route) or 405 while the pod exists.
        const status = (err as ApiError).httpStatus;
        const missingRoute = (status === 404 && (await this.#exists(pod))) || status === 405;
        if (!missingRoute) throw err;
        this.#useBinding = false;
        this.#log.warn('the API server has no pods/binding subresource; binding by setting spec.nodeName');
      }
    }
    const fresh = await pods.get(name, { namespace: ns });
    if (fresh.metadata.uid !== pod.metadata.uid) throw new NotFoundError('PODNET_ERR_NOT_FOUND', 404, { reason: 'NotFound' }, 'bind');
    if (fresh.spec.nodeName) return;
    await pods.update({ ...fresh, spec: { ...fresh.spec, nodeName: node } });
  }

  async #exists(pod: Pod): Promise<boolean> {
    try {
      const p = await this.#ctx.client.resource<Pod>('pods').get(pod.metadata.name ?? '', { namespace: pod.metadata.namespace });
      return p.metadata.uid === pod.metadata.uid;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }
}
