// The ReplicaSet controller (pkg/controller/replicaset/replica_set.go): keeps spec.replicas
// active pods (not terminating, not Succeeded/Failed) per ReplicaSet, creating them from the
// template with `generateName: <rs>-` (the API server adds the 5-character suffix, as
// `names.SimpleNameGenerator` does) and an ownerReference with controller=true, deleting the
// least valuable ones first (`controller.ActivePods` order), and writing status. Creations and
// deletions not yet seen in the pod cache are counted as done ("expectations",
// controller_utils.go `ControllerExpectations`: the count of creations is raised before the
// requests go out, since the pod's ADDED event may arrive before the create's response; deletions
// are tracked by name, `UIDTrackingControllerExpectations`), so a lagging cache never causes
// double creation or double deletion.
import { isNotFound } from '@podnet/client';
import { controllerOf, isPodActive, isPodReady, type Pod, podCondition, type ReplicaSet } from '../kube-types.js';
import { BY_OWNER, type Controller, type ControllerContext } from '../runtime/controller-context.js';
import { WorkQueue } from '../runtime/work-queue.js';

const EXPECTATION_TTL_MS = 30_000;
/** client-go's slow start: create 1, then 2, 4, … pods per round (`slowStartBatch`). */
const SLOW_START_INITIAL = 1;
/** `burstReplicas` of kube-controller-manager. */
const BURST_REPLICAS = 500;

interface Expectations {
  /** creations requested and not yet seen as ADDED */
  creates: number;
  /** pods whose deletion was requested and not yet seen */
  deletes: Set<string>;
  at: number;
}

const rsKey = (ns: string | undefined, name: string | undefined) => `${ns}/${name}`;

/** Pods that are ready and have been for minReadySeconds (podutil.IsPodAvailable). */
export function isPodAvailable(pod: Pod, minReadySeconds: number, now: Date): boolean {
  if (!isPodReady(pod)) return false;
  if (minReadySeconds <= 0) return true;
  const since = Date.parse(podCondition(pod, 'Ready')?.lastTransitionTime ?? '');
  return Number.isFinite(since) && since + minReadySeconds * 1000 <= now.getTime();
}

/** Deletion order (controller_utils.go ActivePods Less): the cheapest pod to lose first. */
export function deletionOrder(a: Pod, b: Pod): number {
  const assigned = (p: Pod) => (p.spec?.nodeName ? 1 : 0);
  const phaseRank = (p: Pod) => ({ Pending: 0, Unknown: 1, Running: 2 })[p.status?.phase ?? 'Pending'] ?? 0;
  const ready = (p: Pod) => (isPodReady(p) ? 1 : 0);
  const created = (p: Pod) => Date.parse(p.metadata.creationTimestamp ?? '') || 0;
  return (
    assigned(a) - assigned(b) ||
    phaseRank(a) - phaseRank(b) ||
    ready(a) - ready(b) ||
    created(b) - created(a) || // newer pods go first
    (b.metadata.name ?? '').localeCompare(a.metadata.name ?? '')
  );
}

export class ReplicaSetController implements Controller {
  readonly name = 'replicaset';
  readonly #ctx: ControllerContext;
  readonly #queue: WorkQueue;
  readonly #log;
  readonly #events;
  readonly #expectations = new Map<string, Expectations>();

  constructor(ctx: ControllerContext) {
    this.#ctx = ctx;
    this.#log = ctx.log.child({ component: 'replicaset-controller' });
    this.#events = ctx.recorder('replicaset-controller');
    this.#queue = new WorkQueue((k) => this.#sync(k), this.#log, { paused: true, concurrency: 2 });
    const enqueueRs = (rs: ReplicaSet) => this.#queue.add(rsKey(rs.metadata.namespace, rs.metadata.name));
    ctx.replicaSets.addEventHandler({
      add: enqueueRs,
      update: (_o, n) => enqueueRs(n),
      delete: (rs) => this.#expectations.delete(rsKey(rs.metadata.namespace, rs.metadata.name)),
    });
    const onPod = (p: Pod, kind: 'add' | 'update' | 'delete') => {
      const owner = controllerOf(p);
      if (owner?.kind !== 'ReplicaSet') return;
      const k = rsKey(p.metadata.namespace, owner.name);
      const exp = this.#expectations.get(k);
      if (exp) {
        if (kind === 'add') exp.creates = Math.max(0, exp.creates - 1);
        if (kind === 'delete' || p.metadata.deletionTimestamp) exp.deletes.delete(p.metadata.name ?? '');
      }
      this.#queue.add(k);
    };
    ctx.pods.addEventHandler({ add: (p) => onPod(p, 'add'), update: (_o, p) => onPod(p, 'update'), delete: (p) => onPod(p, 'delete') });
  }

  start(): void {
    this.#queue.resume();
  }

  stop(): void {
    this.#queue.stop();
  }

  /** Pods this ReplicaSet controls, from the cache. */
  ownedPods(rs: ReplicaSet): Pod[] {
    return this.#ctx.pods.store.byIndex(BY_OWNER, rs.metadata.uid ?? '');
  }

  async #sync(k: string): Promise<void> {
    const rs = this.#ctx.replicaSets.store.get(k);
    if (!rs || rs.metadata.deletionTimestamp) return;
    const owned = this.ownedPods(rs);
    const active = owned.filter(isPodActive);
    const exp = this.#expectations.get(k);
    const now = this.#ctx.clock.now();
    let pendingCreates = 0;
    let pendingDeletes = new Set<string>();
    if (exp && now - exp.at < EXPECTATION_TTL_MS) {
      pendingCreates = exp.creates;
      pendingDeletes = exp.deletes;
    } else if (exp) {
      this.#expectations.delete(k);
    }
    const counted = active.filter((p) => !pendingDeletes.has(p.metadata.name ?? ''));
    const want = rs.spec.replicas ?? 1;
    const diff = counted.length + pendingCreates - want;
    if (diff < 0) await this.#createPods(k, rs, Math.min(-diff, BURST_REPLICAS));
    else if (diff > 0) await this.#deletePods(k, rs, [...counted].sort(deletionOrder).slice(0, Math.min(diff, BURST_REPLICAS)));
    await this.#updateStatus(rs, active);
  }

  #expect(k: string): Expectations {
    let e = this.#expectations.get(k);
    if (!e || this.#ctx.clock.now() - e.at >= EXPECTATION_TTL_MS) {
      e = { creates: 0, deletes: new Set(), at: this.#ctx.clock.now() };
      this.#expectations.set(k, e);
    }
    e.at = this.#ctx.clock.now();
    return e;
  }

  async #createPods(k: string, rs: ReplicaSet, count: number): Promise<void> {
    const pods = this.#ctx.client.resource<Pod>('pods');
    const tmpl = rs.spec.template;
    const body = (): Pod => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        generateName: `${rs.metadata.name}-`,
        namespace: rs.metadata.namespace,
        labels: { ...(tmpl.metadata?.labels ?? {}) },
        ...(tmpl.metadata?.annotations ? { annotations: { ...tmpl.metadata.annotations } } : {}),
        ownerReferences: [
          {
            apiVersion: 'apps/v1',
            kind: 'ReplicaSet',
            name: rs.metadata.name ?? '',
            uid: rs.metadata.uid ?? '',
            controller: true,
            blockOwnerDeletion: true,
          },
        ],
      },
      spec: structuredClone(tmpl.spec),
    });
    let remaining = count;
    let batch = SLOW_START_INITIAL;
    while (remaining > 0) {
      const n = Math.min(batch, remaining);
      this.#expect(k).creates += n;
      const results = await Promise.allSettled(Array.from({ length: n }, () => pods.create(body(), { namespace: rs.metadata.namespace })));
      let failed: unknown;
      for (const r of results) {
        if (r.status === 'fulfilled') {
          this.#events.event(
            { ...rs, kind: 'ReplicaSet', apiVersion: 'apps/v1' },
            'Normal',
            'SuccessfulCreate',
            `Created pod: ${r.value.metadata.name}`,
          );
        } else {
          failed ??= r.reason;
          const e = this.#expect(k);
          e.creates = Math.max(0, e.creates - 1); // never coming
        }
      }
      if (failed) {
        this.#events.event(
          { ...rs, kind: 'ReplicaSet', apiVersion: 'apps/v1' },
          'Warning',
          'FailedCreate',
          `Error creating: ${(failed as Error).message}`,
        );
        throw failed;
      }
      remaining -= n;
      batch *= 2;
    }
  }

  async #deletePods(k: string, rs: ReplicaSet, victims: Pod[]): Promise<void> {
    const pods = this.#ctx.client.resource<Pod>('pods');
    for (const p of victims) {
      this.#expect(k).deletes.add(p.metadata.name ?? '');
      try {
        await pods.delete(p.metadata.name ?? '', { namespace: p.metadata.namespace, preconditions: { uid: p.metadata.uid } });
      } catch (err) {
        if (!isNotFound(err)) {
          this.#events.event(
            { ...rs, kind: 'ReplicaSet', apiVersion: 'apps/v1' },
            'Warning',
            'FailedDelete',
            `Error deleting: ${(err as Error).message}`,
          );
          throw err;
        }
      }
      this.#events.event(
        { ...rs, kind: 'ReplicaSet', apiVersion: 'apps/v1' },
        'Normal',
        'SuccessfulDelete',
        `Deleted pod: ${p.metadata.name}`,
      );
    }
  }

  async #updateStatus(rs: ReplicaSet, active: Pod[]): Promise<void> {
    const labels = rs.spec.template.metadata?.labels ?? {};
    const now = this.#ctx.now();
    const status = {
      replicas: active.length,
      fullyLabeledReplicas: active.filter((p) => Object.entries(labels).every(([lk, lv]) => p.metadata.labels?.[lk] === lv)).length,
      readyReplicas: active.filter(isPodReady).length,
      availableReplicas: active.filter((p) => isPodAvailable(p, rs.spec.minReadySeconds ?? 0, now)).length,
      observedGeneration: rs.metadata.generation ?? 0,
    };
    const cur = rs.status ?? {};
    if (
      cur.replicas === status.replicas &&
      cur.fullyLabeledReplicas === status.fullyLabeledReplicas &&
      cur.readyReplicas === status.readyReplicas &&
      cur.availableReplicas === status.availableReplicas &&
      cur.observedGeneration === status.observedGeneration
    ) {
      return;
    }
    try {
      await this.#ctx.client.resource<ReplicaSet>('replicasets').updateStatus({ ...rs, status: { ...cur, ...status } });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }
}
