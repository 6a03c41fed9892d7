// The EndpointSlice controller (pkg/controller/endpointslice) and the Endpoints mirror
// (pkg/controller/endpoint): per Service with a selector, slices labelled
// kubernetes.io/service-name and endpointslice.kubernetes.io/managed-by, owned by the Service,
// holding the selected pods (desired-endpoints.ts), at most 100 per slice, reusing existing
// slices so that a change rewrites as few slices as possible; a Service whose pods are all gone
// keeps one empty "placeholder" slice, as the real reconciler does.
//
// endpoints.kubernetes.io/last-change-trigger-time (trigger_time_tracker.go): the time of the
// earliest change not yet written — a pod's Ready condition transition (or its deletionTimestamp
// while terminating, or the moment its deletion was seen), or the Service's creation — so
// kube-proxy's network programming latency is measured from the first change a sync reflects.

import { labelSelectorRequirements, matchesLabels } from '@podnet/api';
import { isNotFound } from '@podnet/client';
import { type EndpointSlice, type Endpoints, type Pod, podCondition, type Service } from '../kube-types.js';
import { BY_NAMESPACE, BY_SERVICE, type Controller, type ControllerContext } from '../runtime/controller-context.js';
import { WorkQueue } from '../runtime/work-queue.js';
import { canonicalJson } from '../workloads/template-hash.js';
import { type DesiredSlice, desiredSlices, desiredSubsets, portsKey } from './desired-endpoints.js';

export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
export const MANAGED_BY_LABEL = 'endpointslice.kubernetes.io/managed-by';
export const MANAGED_BY = 'endpointslice-controller.k8s.io';
export const TRIGGER_TIME = 'endpoints.kubernetes.io/last-change-trigger-time';

const svcKey = (o: { metadata: { namespace?: string; name?: string } }) => `${o.metadata.namespace}/${o.metadata.name}`;

function selects(svc: Service, pod: Pod): boolean {
  const sel = svc.spec.selector;
  if (!sel || Object.keys(sel).length === 0) return false;
  return matchesLabels(labelSelectorRequirements({ matchLabels: sel }), pod.metadata.labels);
}

/** When a pod's change happened, per the trigger time tracker (getPodTriggerTime). */
function podTriggerTime(pod: Pod): number | undefined {
  const t = Date.parse(pod.metadata.deletionTimestamp ?? podCondition(pod, 'Ready')?.lastTransitionTime ?? '');
  return Number.isFinite(t) ? t : undefined;
}

export class EndpointSliceController implements Controller {
  readonly name = 'endpointslice';
  readonly #ctx: ControllerContext;
  readonly #queue: WorkQueue;
  readonly #log;
  readonly #events;
  /** service key → earliest unwritten change, ms since the epoch */
  readonly #pendingTrigger = new Map<string, number>();
  /**
   * Slices written but maybe not yet in the cache (the endpointSliceTracker of the real
   * controller): a sync that would read a cache without them waits instead of creating
   * duplicates or updating deleted slices. service key → slice name → when written
   */
  readonly #created = new Map<string, Map<string, number>>();
  readonly #deleted = new Map<string, Map<string, number>>();

  constructor(ctx: ControllerContext) {
    this.#ctx = ctx;
    this.#log = ctx.log.child({ component: 'endpointslice-controller' });
    this.#events = ctx.recorder('endpointslice-controller');
    this.#queue = new WorkQueue((k) => this.#syncRecorded(k), this.#log, { paused: true, concurrency: 2 });
    ctx.services.addEventHandler({
      add: (s) => this.#trigger(svcKey(s), Date.parse(s.metadata.creationTimestamp ?? '') || ctx.now().getTime()),
      update: (o, s) => {
        if (canonicalJson(o.spec) !== canonicalJson(s.spec)) this.#trigger(svcKey(s), ctx.now().getTime());
        else this.#queue.add(svcKey(s));
      },
      delete: (s) => this.#queue.add(svcKey(s)),
    });
    const onPod = (p: Pod, time: number | undefined, old?: Pod) => {
      for (const s of ctx.services.store.byIndex(BY_NAMESPACE, p.metadata.namespace ?? '')) {
        if (selects(s, p) || (old && selects(s, old))) this.#trigger(svcKey(s), time);
      }
    };
    ctx.pods.addEventHandler({
      add: (p) => onPod(p, podTriggerTime(p)),
      update: (o, p) => {
        const changed =
          o.status?.podIP !== p.status?.podIP ||
          podCondition(o, 'Ready')?.status !== podCondition(p, 'Ready')?.status ||
          Boolean(o.metadata.deletionTimestamp) !== Boolean(p.metadata.deletionTimestamp) ||
          o.status?.phase !== p.status?.phase ||
          o.spec?.nodeName !== p.spec?.nodeName ||
          canonicalJson(o.metadata.labels ?? {}) !== canonicalJson(p.metadata.labels ?? {}) ||
          canonicalJson(o.spec?.containers?.map((c) => c.ports ?? []) ?? []) !==
            canonicalJson(p.spec?.containers?.map((c) => c.ports ?? []) ?? []);
        if (changed) onPod(p, podTriggerTime(p) ?? ctx.now().getTime(), o);
      },
      delete: (p) => onPod(p, ctx.now().getTime()),
    });
    const onSlice = (s: EndpointSlice) => {
      const name = s.metadata.labels?.[SERVICE_NAME_LABEL];
      if (name) this.#queue.add(`${s.metadata.namespace}/${name}`);
    };
    ctx.endpointSlices.addEventHandler({ update: (_o, s) => onSlice(s), delete: onSlice });
  }

  #trigger(key: string, time: number | undefined): void {
    if (time !== undefined) {
      const cur = this.#pendingTrigger.get(key);
      this.#pendingTrigger.set(key, cur === undefined ? time : Math.min(cur, time));
    }
    this.#queue.add(key);
  }

  start(): void {
    this.#queue.resume();
    for (const s of this.#ctx.services.store.list()) this.#queue.add(svcKey(s));
  }

  stop(): void {
    this.#queue.stop();
  }

  /** As the real controller does, a failed sync is an event on the Service (then retried). */
  async #syncRecorded(key: string): Promise<void> {
    try {
      await this.#sync(key);
    } catch (err) {
      const svc = this.#ctx.services.store.get(key);
      if (svc) {
        this.#events.event(
          { ...svc, kind: 'Service', apiVersion: 'v1' },
          'Warning',
          'FailedToUpdateEndpointSlices',
          `Error updating Endpoint Slices for Service ${key}: ${(err as Error).message}`,
        );
      }
      throw err;
    }
  }

  async #sync(key: string): Promise<void> {
    const svc = this.#ctx.services.store.get(key);
    const cached = this.#ctx.endpointSlices.store.byIndex(BY_SERVICE, key);
    const now = this.#ctx.clock.now();
    const names = new Set(cached.map((x) => x.metadata.name ?? ''));
    const created = this.#created.get(key) ?? new Map<string, number>();
    const deleted = this.#deleted.get(key) ?? new Map<string, number>();
    for (const [n, at] of created) if (names.has(n) || now - at > 30_000) created.delete(n);
    for (const [n, at] of deleted) if (!names.has(n) || now - at > 30_000) deleted.delete(n);
    if (created.size > 0) {
      this.#queue.addAfter(key, 50); // the cache has not caught up with our own writes yet
      return;
    }
    const existing = cached.filter((x) => !deleted.has(x.metadata.name ?? ''));
    this.#created.set(key, created);
    this.#deleted.set(key, deleted);
    if (!svc || svc.metadata.deletionTimestamp || !svc.spec.selector || Object.keys(svc.spec.selector).length === 0) {
      // No Service (the garbage collector will also remove owned slices) or no selector (slices are
      // then the user's business): remove what this controller made.
      for (const s of existing) {
        await this.#deleteSlice(s);
        deleted.set(s.metadata.name ?? '', now);
      }
      if (!svc) {
        this.#pendingTrigger.delete(key);
        if (deleted.size === 0) {
          this.#created.delete(key);
          this.#deleted.delete(key);
        }
        await this.#deleteEndpoints(key);
      }
      return;
    }
    // Consume the pending trigger now: changes that arrive while this sync runs start a new one.
    const trigger = this.#pendingTrigger.get(key);
    this.#pendingTrigger.delete(key);
    try {
      await this.#reconcile(key, svc, existing, created, deleted, trigger);
    } catch (err) {
      // Not written: the change stays pending for the retry the queue schedules.
      const cur = this.#pendingTrigger.get(key);
      if (trigger !== undefined) this.#pendingTrigger.set(key, cur === undefined ? trigger : Math.min(cur, trigger));
      throw err;
    }
  }

  async #reconcile(
    key: string,
    svc: Service,
    existing: EndpointSlice[],
    created: Map<string, number>,
    deleted: Map<string, number>,
    trigger: number | undefined,
  ): Promise<void> {
    const slices = this.#ctx.client.resource<EndpointSlice>('endpointslices');
    const pods = this.#ctx.pods.store.byIndex(BY_NAMESPACE, svc.metadata.namespace ?? '').filter((p) => selects(svc, p));
    let desired = desiredSlices(svc, pods);
    if (desired.length === 0) desired = [{ portsKey: '', ports: [], endpoints: [] }];
    const byPorts = new Map<string, EndpointSlice[]>();
    for (const s of [...existing].sort((a, b) => (a.metadata.name ?? '').localeCompare(b.metadata.name ?? ''))) {
      const k = portsKey(s.ports ?? []);
      byPorts.set(k, [...(byPorts.get(k) ?? []), s]);
    }
    const keep = new Set<string>();
    let changed = 0;
    for (const want of desired) {
      const reuse = byPorts.get(want.portsKey)?.shift();
      if (reuse) {
        keep.add(reuse.metadata.name ?? '');
        if (this.#sameContent(reuse, want, svc)) continue;
        await slices.update(this.#sliceObject(svc, want, trigger, reuse), { namespace: svc.metadata.namespace });
      } else {
        const made = await slices.create(this.#sliceObject(svc, want, trigger), { namespace: svc.metadata.namespace });
        keep.add(made.metadata.name ?? '');
        created.set(made.metadata.name ?? '', this.#ctx.clock.now());
      }
      changed++;
    }
    for (const s of existing) {
      if (keep.has(s.metadata.name ?? '')) continue;
      await this.#deleteSlice(s);
      deleted.set(s.metadata.name ?? '', this.#ctx.clock.now());
    }
    await this.#syncEndpoints(svc, pods, trigger);
    if (changed > 0) this.#log.debug({ service: key, slices: desired.length, changed, trigger }, 'endpoint slices updated');
  }

  #sameContent(s: EndpointSlice, want: DesiredSlice, svc: Service): boolean {
    const norm = (eps: EndpointSlice['endpoints']) =>
      (eps ?? []).map((e) => ({
        addresses: e.addresses,
        conditions: {
          ready: e.conditions?.ready ?? false,
          serving: e.conditions?.serving ?? false,
          terminating: e.conditions?.terminating ?? false,
        },
        nodeName: e.nodeName,
        targetRef: { kind: e.targetRef?.kind, namespace: e.targetRef?.namespace, name: e.targetRef?.name, uid: e.targetRef?.uid },
      }));
    return (
      canonicalJson(norm(s.endpoints)) === canonicalJson(norm(want.endpoints)) &&
      portsKey(s.ports ?? []) === want.portsKey &&
      s.metadata.ownerReferences?.[0]?.uid === svc.metadata.uid
    );
  }

  #sliceObject(svc: Service, want: DesiredSlice, trigger: number | undefined, base?: EndpointSlice): EndpointSlice {
    const annotations = { ...(base?.metadata.annotations ?? {}) };
    if (trigger !== undefined) annotations[TRIGGER_TIME] = new Date(trigger).toISOString();
    else delete annotations[TRIGGER_TIME];
    return {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: {
        ...(base
          ? { name: base.metadata.name, resourceVersion: base.metadata.resourceVersion }
          : { generateName: `${svc.metadata.name}-` }),
        namespace: svc.metadata.namespace,
        labels: { ...(svc.metadata.labels ?? {}), [SERVICE_NAME_LABEL]: svc.metadata.name ?? '', [MANAGED_BY_LABEL]: MANAGED_BY },
        annotations,
        ownerReferences: [
          {
            apiVersion: 'v1',
            kind: 'Service',
            name: svc.metadata.name ?? '',
            uid: svc.metadata.uid ?? '',
            controller: true,
            blockOwnerDeletion: true,
          },
        ],
      },
      addressType: 'IPv4',
      endpoints: want.endpoints,
      ports: want.ports,
    };
  }

  async #deleteSlice(s: EndpointSlice): Promise<void> {
    try {
      await this.#ctx.client.resource('endpointslices').delete(s.metadata.name ?? '', { namespace: s.metadata.namespace });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  async #deleteEndpoints(key: string): Promise<void> {
    const cur = this.#ctx.endpoints.store.get(key);
    if (!cur) return;
    try {
      await this.#ctx.client.resource('endpoints').delete(cur.metadata.name ?? '', { namespace: cur.metadata.namespace });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  async #syncEndpoints(svc: Service, pods: Pod[], trigger: number | undefined): Promise<void> {
    const api = this.#ctx.client.resource<Endpoints>('endpoints');
    const subsets = desiredSubsets(svc, pods);
    const cur = this.#ctx.endpoints.store.get(svcKey(svc));
    if (
      cur &&
      canonicalJson(cur.subsets ?? []) === canonicalJson(subsets) &&
      canonicalJson(cur.metadata.labels ?? {}) === canonicalJson(svc.metadata.labels ?? {})
    )
      return;
    const annotations = { ...(cur?.metadata.annotations ?? {}) };
    if (trigger !== undefined) annotations[TRIGGER_TIME] = new Date(trigger).toISOString();
    const obj: Endpoints = {
      apiVersion: 'v1',
      kind: 'Endpoints',
      metadata: {
        name: svc.metadata.name,
        namespace: svc.metadata.namespace,
        labels: { ...(svc.metadata.labels ?? {}) },
        annotations,
        ...(cur ? { resourceVersion: cur.metadata.resourceVersion } : {}),
      },
      subsets,
    };
    if (cur) await api.update(obj);
    else {
      try {
        await api.create(obj);
      } catch (err) {
        // Exists but not in the cache yet (or made by someone else): take it over.
        const existing = await api.get(svc.metadata.name ?? '', { namespace: svc.metadata.namespace });
        if (!existing) throw err;
        await api.update({ ...obj, metadata: { ...obj.metadata, resourceVersion: existing.metadata.resourceVersion } });
      }
    }
  }
}
