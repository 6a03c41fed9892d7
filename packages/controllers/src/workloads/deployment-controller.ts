// The Deployment controller (pkg/controller/deployment): one ReplicaSet per pod template,
// named <deployment>-<pod-template-hash> and selecting that hash label; rolling updates with
// maxSurge/maxUnavailable (rolling.ts) or Recreate; revision annotations
// (deployment.kubernetes.io/revision on the ReplicaSets and the Deployment, desired-replicas and
// max-replicas on the ReplicaSets, which drive proportional scaling when a Deployment is scaled
// mid-rollout); old ReplicaSets beyond revisionHistoryLimit removed once the
// rollout completes; and status with observedGeneration and the Available and Progressing
// conditions worded as util/deployment_util.go words them, Progressing turning False with
// ProgressDeadlineExceeded when nothing progressed for progressDeadlineSeconds. Availability is counted from the pod
// cache (ready for minReadySeconds), which the ReplicaSet controller shares.
import { isAlreadyExists, isNotFound } from '@podnet/client';
import {
  type Condition,
  controllerOf,
  type Deployment,
  isPodActive,
  isPodReady,
  type Pod,
  type PodTemplateSpec,
  type ReplicaSet,
} from '../kube-types.js';
import { BY_OWNER, type Controller, type ControllerContext, timestamp } from '../runtime/controller-context.js';
import { WorkQueue } from '../runtime/work-queue.js';
import { isPodAvailable } from './replicaset-controller.js';
import { type Fenceposts, proportionalScale, type RsState, resolveFenceposts, rollingStep } from './rolling.js';
import { computeTemplateHash } from './template-hash.js';

export const HASH_LABEL = 'pod-template-hash';
export const REVISION = 'deployment.kubernetes.io/revision';
export const DESIRED_REPLICAS = 'deployment.kubernetes.io/desired-replicas';
export const MAX_REPLICAS = 'deployment.kubernetes.io/max-replicas';

const dKey = (d: { metadata: { namespace?: string; name?: string } }) => `${d.metadata.namespace}/${d.metadata.name}`;

function revisionOf(rs: ReplicaSet): number {
  return Number(rs.metadata.annotations?.[REVISION] ?? 0) || 0;
}

function withoutHash(t: PodTemplateSpec): PodTemplateSpec {
  const labels = { ...(t.metadata?.labels ?? {}) };
  delete labels[HASH_LABEL];
  return { ...t, metadata: { ...(t.metadata ?? {}), labels } };
}

export class DeploymentController implements Controller {
  readonly name = 'deployment';
  readonly #ctx: ControllerContext;
  readonly #queue: WorkQueue;
  readonly #log;
  readonly #events;

  constructor(ctx: ControllerContext) {
    this.#ctx = ctx;
    this.#log = ctx.log.child({ component: 'deployment-controller' });
    this.#events = ctx.recorder('deployment-controller');
    this.#queue = new WorkQueue((k) => this.#sync(k), this.#log, { paused: true });
    const enqueue = (d: Deployment) => this.#queue.add(dKey(d));
    ctx.deployments.addEventHandler({ add: enqueue, update: (_o, d) => enqueue(d) });
    const viaRs = (rs: ReplicaSet) => {
      const owner = controllerOf(rs);
      if (owner?.kind === 'Deployment') this.#queue.add(`${rs.metadata.namespace}/${owner.name}`);
    };
    ctx.replicaSets.addEventHandler({ add: viaRs, update: (_o, rs) => viaRs(rs), delete: viaRs });
    const viaPod = (p: Pod) => {
      const owner = controllerOf(p);
      if (owner?.kind !== 'ReplicaSet') return;
      const rs = ctx.replicaSets.store.get(`${p.metadata.namespace}/${owner.name}`);
      if (rs) viaRs(rs);
    };
    ctx.pods.addEventHandler({ add: viaPod, update: (_o, p) => viaPod(p), delete: viaPod });
  }

  start(): void {
    this.#queue.resume();
  }

  stop(): void {
    this.#queue.stop();
  }

  #podsOf(rs: ReplicaSet): Pod[] {
    return this.#ctx.pods.store.byIndex(BY_OWNER, rs.metadata.uid ?? '').filter(isPodActive);
  }

  #state(rs: ReplicaSet, minReady: number): RsState {
    const now = this.#ctx.now();
    return {
      name: rs.metadata.name ?? '',
      replicas: rs.spec.replicas ?? 0,
      available: this.#podsOf(rs).filter((p) => isPodAvailable(p, minReady, now)).length,
      created: Date.parse(rs.metadata.creationTimestamp ?? '') || 0,
    };
  }

  async #sync(k: string): Promise<void> {
    let d = this.#ctx.deployments.store.get(k);
    if (!d || d.metadata.deletionTimestamp) return;
    const rsList = this.#ctx.replicaSets.store.byIndex(BY_OWNER, d.metadata.uid ?? '').filter((rs) => !rs.metadata.deletionTimestamp);
    const hash = computeTemplateHash(d.spec.template, d.status?.collisionCount);
    let newRs = rsList.find((rs) => rs.metadata.labels?.[HASH_LABEL] === hash);
    const oldRs = rsList.filter((rs) => rs !== newRs);
    const desired = d.spec.replicas ?? 1;
    const rolling = (d.spec.strategy?.type ?? 'RollingUpdate') === 'RollingUpdate';
    const fp: Fenceposts = rolling
      ? resolveFenceposts(d.spec.strategy?.rollingUpdate?.maxSurge, d.spec.strategy?.rollingUpdate?.maxUnavailable, desired)
      : { maxSurge: 0, maxUnavailable: desired };
    const maxOldRevision = Math.max(0, ...oldRs.map(revisionOf));

    let created = false;
    if (!newRs) {
      newRs = await this.#createReplicaSet(d, hash, oldRs, desired, fp, rolling, maxOldRevision + 1);
      if (!newRs) return;
      created = true;
    } else if (revisionOf(newRs) <= maxOldRevision) {
      // A rollback to an older template: its ReplicaSet becomes the newest revision again.
      newRs = await this.#patchRs(newRs, { metadata: { annotations: { [REVISION]: String(maxOldRevision + 1) } } });
    }
    const revision = String(revisionOf(newRs));
    if (d.metadata.annotations?.[REVISION] !== revision) {
      // Continue with the patched object, so the status write below is not refused as stale.
      d = await this.#ctx.client
        .resource<Deployment>('deployments')
        .patch(d.metadata.name ?? '', { metadata: { annotations: { [REVISION]: revision } } }, { namespace: d.metadata.namespace });
    }

    const activeAll = [...oldRs, newRs].filter((rs) => (rs.spec.replicas ?? 0) > 0);
    const scalingEvent = activeAll.some((rs) => rs.metadata.annotations?.[DESIRED_REPLICAS] !== String(desired));
    if (!d.spec.paused && rolling && scalingEvent && activeAll.length > 1) {
      // Scaled in the middle of a rollout: spread the change over the active ReplicaSets (sync.go
      // `sync` → `scale`), then let the next syncs carry on rolling.
      const sizes = proportionalScale(
        desired,
        fp.maxSurge,
        activeAll.map((rs) => ({
          name: rs.metadata.name ?? '',
          replicas: rs.spec.replicas ?? 0,
          created: Date.parse(rs.metadata.creationTimestamp ?? '') || 0,
          maxReplicasAnnotation: Number(rs.metadata.annotations?.[MAX_REPLICAS]) || undefined,
        })),
      );
      for (const rs of activeAll) await this.#scale(d, rs, sizes.get(rs.metadata.name ?? '') ?? 0, desired + fp.maxSurge);
    } else if (!d.spec.paused) {
      const minReady = d.spec.minReadySeconds ?? 0;
      const activeOld = oldRs.filter((rs) => (rs.spec.replicas ?? 0) > 0);
      if (rolling) {
        const step = rollingStep(
          desired,
          fp,
          this.#state(newRs, minReady),
          activeOld.map((rs) => this.#state(rs, minReady)),
        );
        if (step.kind === 'scale') {
          for (const t of step.targets) {
            const rs = t.name === newRs.metadata.name ? newRs : oldRs.find((r) => r.metadata.name === t.name);
            if (rs) await this.#scale(d, rs, t.replicas, desired + fp.maxSurge);
          }
        }
      } else {
        // Recreate (recreate.go): old pods all gone before the new ReplicaSet scales up.
        for (const rs of activeOld) await this.#scale(d, rs, 0, desired);
        const oldPods = oldRs.flatMap((rs) => this.#ctx.pods.store.byIndex(BY_OWNER, rs.metadata.uid ?? ''));
        if (activeOld.length === 0 && oldPods.length === 0 && (newRs.spec.replicas ?? 0) !== desired)
          await this.#scale(d, newRs, desired, desired);
      }
    }
    await this.#cleanup(d, newRs, oldRs);
    await this.#updateStatus(d, newRs, rsList.includes(newRs) ? rsList : [...rsList, newRs], desired, fp, created);
  }

  async #createReplicaSet(
    d: Deployment,
    hash: string,
    oldRs: ReplicaSet[],
    desired: number,
    fp: Fenceposts,
    rolling: boolean,
    revision: number,
  ): Promise<ReplicaSet | undefined> {
    const template = withoutHash(structuredClone(d.spec.template));
    template.metadata = { ...template.metadata, labels: { ...(template.metadata?.labels ?? {}), [HASH_LABEL]: hash } };
    // NewRSNewReplicas: room left under desired + maxSurge (Recreate starts at 0 while old pods exist).
    const current = oldRs.reduce((s, rs) => s + (rs.spec.replicas ?? 0), 0);
    const replicas = rolling ? Math.max(0, Math.min(desired, desired + fp.maxSurge - current)) : current > 0 ? 0 : desired;
    const name = `${d.metadata.name}-${hash}`;
    const rs: ReplicaSet = {
      apiVersion: 'apps/v1',
      kind: 'ReplicaSet',
      metadata: {
        name,
        namespace: d.metadata.namespace,
        labels: { ...(template.metadata.labels ?? {}) },
        annotations: { [REVISION]: String(revision), [DESIRED_REPLICAS]: String(desired), [MAX_REPLICAS]: String(desired + fp.maxSurge) },
        ownerReferences: [
          {
            apiVersion: 'apps/v1',
            kind: 'Deployment',
            name: d.metadata.name ?? '',
            uid: d.metadata.uid ?? '',
            controller: true,
            blockOwnerDeletion: true,
          },
        ],
      },
      spec: {
        replicas,
        minReadySeconds: d.spec.minReadySeconds ?? 0,
        selector: {
          ...d.spec.selector,
          matchLabels: { ...(d.spec.selector.matchLabels ?? {}), [HASH_LABEL]: hash },
        },
        template,
      },
    };
    try {
      const created = await this.#ctx.client.resource<ReplicaSet>('replicasets').create(rs, { namespace: d.metadata.namespace });
      this.#events.event(
        { ...d, kind: 'Deployment', apiVersion: 'apps/v1' },
        'Normal',
        'ScalingReplicaSet',
        `Scaled up replica set ${name} from 0 to ${replicas}`,
      );
      return created;
    } catch (err) {
      if (isAlreadyExists(err)) {
        // Ours, not yet in the cache: the next sync (its add event) finds it. Someone else's with
        // the same name: a hash collision, resolved by bumping status.collisionCount (sync.go).
        const existing = await this.#ctx.client.resource<ReplicaSet>('replicasets').get(name, { namespace: d.metadata.namespace });
        if (controllerOf(existing)?.uid !== d.metadata.uid) {
          await this.#ctx.client
            .resource<Deployment>('deployments')
            .updateStatus({ ...d, status: { ...(d.status ?? {}), collisionCount: (d.status?.collisionCount ?? 0) + 1 } });
        }
        return undefined;
      }
      throw err;
    }
  }

  async #patchRs(rs: ReplicaSet, patch: unknown): Promise<ReplicaSet> {
    return this.#ctx.client.resource<ReplicaSet>('replicasets').patch(rs.metadata.name ?? '', patch, { namespace: rs.metadata.namespace });
  }

  async #scale(d: Deployment, rs: ReplicaSet, replicas: number, maxReplicas: number): Promise<void> {
    const from = rs.spec.replicas ?? 0;
    if (from === replicas && rs.metadata.annotations?.[DESIRED_REPLICAS] === String(d.spec.replicas ?? 1)) return;
    await this.#patchRs(rs, {
      metadata: { annotations: { [DESIRED_REPLICAS]: String(d.spec.replicas ?? 1), [MAX_REPLICAS]: String(maxReplicas) } },
      spec: { replicas },
    });
    if (from !== replicas) {
      const dir = replicas > from ? 'up' : 'down';
      this.#log.info({ deployment: dKey(d), replicaSet: rs.metadata.name, from, to: replicas }, `scaled ${dir}`);
      this.#events.event(
        { ...d, kind: 'Deployment', apiVersion: 'apps/v1' },
        'Normal',
        'ScalingReplicaSet',
        `Scaled ${dir} replica set ${rs.metadata.name} from ${from} to ${replicas}`,
      );
    }
  }

  /** Old ReplicaSets beyond revisionHistoryLimit, with no replicas and no pods, oldest first (sync.go cleanupDeployment). */
  async #cleanup(d: Deployment, newRs: ReplicaSet, oldRs: ReplicaSet[]): Promise<void> {
    const limit = d.spec.revisionHistoryLimit ?? 10;
    const idle = oldRs
      .filter((rs) => (rs.spec.replicas ?? 0) === 0 && (rs.status?.replicas ?? 0) === 0 && rs !== newRs)
      .sort((a, b) => revisionOf(a) - revisionOf(b));
    const excess = idle.length - limit;
    for (const rs of idle.slice(0, Math.max(0, excess))) {
      if (this.#ctx.pods.store.byIndex(BY_OWNER, rs.metadata.uid ?? '').length > 0) continue;
      try {
        await this.#ctx.client
          .resource('replicasets')
          .delete(rs.metadata.name ?? '', { namespace: rs.metadata.namespace, preconditions: { uid: rs.metadata.uid } });
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
  }

  /** util.DeploymentProgressing: more updated, ready or available pods, fewer old ones, or a new spec. */
  #progressed(d: Deployment, next: NonNullable<Deployment['status']>): boolean {
    const cur = d.status ?? {};
    return (
      (cur.observedGeneration ?? 0) < (d.metadata.generation ?? 0) ||
      (next.updatedReplicas ?? 0) > (cur.updatedReplicas ?? 0) ||
      (next.replicas ?? 0) - (next.updatedReplicas ?? 0) < (cur.replicas ?? 0) - (cur.updatedReplicas ?? 0) ||
      (next.readyReplicas ?? 0) > (cur.readyReplicas ?? 0) ||
      (next.availableReplicas ?? 0) > (cur.availableReplicas ?? 0)
    );
  }

  async #updateStatus(
    d: Deployment,
    newRs: ReplicaSet,
    all: ReplicaSet[],
    desired: number,
    fp: Fenceposts,
    createdRs: boolean,
  ): Promise<void> {
    const now = this.#ctx.now();
    const minReady = d.spec.minReadySeconds ?? 0;
    const pods = all.flatMap((rs) => this.#podsOf(rs));
    const newPods = this.#podsOf(newRs);
    const available = pods.filter((p) => isPodAvailable(p, minReady, now)).length;
    const status: NonNullable<Deployment['status']> = {
      ...(d.status ?? {}),
      observedGeneration: d.metadata.generation ?? 0,
      replicas: pods.length,
      updatedReplicas: newPods.length,
      readyReplicas: pods.filter(isPodReady).length,
      availableReplicas: available,
      unavailableReplicas: Math.max(0, desired - available),
    };
    const ts = timestamp(now);
    const conditions = [...(d.status?.conditions ?? [])];
    const setCondition = (c: Condition, touch = false) => {
      const i = conditions.findIndex((x) => x.type === c.type);
      const prev = conditions[i];
      if (!touch && prev && prev.status === c.status && prev.reason === c.reason && prev.message === c.message) return;
      const next = { ...c, lastUpdateTime: ts, lastTransitionTime: prev && prev.status === c.status ? prev.lastTransitionTime : ts };
      if (i >= 0) conditions[i] = next;
      else conditions.push(next);
    };
    if (available >= desired - fp.maxUnavailable) {
      setCondition({
        type: 'Available',
        status: 'True',
        reason: 'MinimumReplicasAvailable',
        message: 'Deployment has minimum availability.',
      });
    } else {
      setCondition({
        type: 'Available',
        status: 'False',
        reason: 'MinimumReplicasUnavailable',
        message: 'Deployment does not have minimum availability.',
      });
    }
    const newAvailable = newPods.filter((p) => isPodAvailable(p, minReady, now)).length;
    const complete = newPods.length === desired && newAvailable === desired && pods.length === desired;
    const rsName = newRs.metadata.name;
    if (complete) {
      setCondition({
        type: 'Progressing',
        status: 'True',
        reason: 'NewReplicaSetAvailable',
        message: `ReplicaSet "${rsName}" has successfully progressed.`,
      });
    } else if (createdRs || !conditions.some((c) => c.type === 'Progressing')) {
      setCondition(
        { type: 'Progressing', status: 'True', reason: 'NewReplicaSetCreated', message: `Created new replica set "${rsName}"` },
        true,
      );
    } else if (this.#progressed(d, status)) {
      setCondition(
        { type: 'Progressing', status: 'True', reason: 'ReplicaSetUpdated', message: `ReplicaSet "${rsName}" is progressing.` },
        true,
      );
    } else {
      // No progress since the condition was last touched: past progressDeadlineSeconds the
      // rollout has timed out (progress.go syncRolloutStatus, util DeploymentTimedOut).
      const cond = conditions.find((c) => c.type === 'Progressing');
      const deadline = d.spec.progressDeadlineSeconds;
      if (
        cond &&
        deadline !== undefined &&
        !d.spec.paused &&
        cond.reason !== 'NewReplicaSetAvailable' &&
        cond.reason !== 'ProgressDeadlineExceeded'
      ) {
        const left = Date.parse(cond.lastUpdateTime ?? '') + deadline * 1000 - now.getTime();
        if (left <= 0) {
          setCondition({
            type: 'Progressing',
            status: 'False',
            reason: 'ProgressDeadlineExceeded',
            message: `ReplicaSet "${rsName}" has timed out progressing.`,
          });
          this.#events.event(
            { ...d, kind: 'Deployment', apiVersion: 'apps/v1' },
            'Warning',
            'ProgressDeadlineExceeded',
            `Deployment "${d.metadata.name}" exceeded its progress deadline`,
          );
        } else if (Number.isFinite(left)) {
          this.#queue.addAfter(dKey(d), left + 50);
        }
      }
    }
    status.conditions = conditions;
    if (JSON.stringify(status) === JSON.stringify(d.status ?? {})) return;
    try {
      await this.#ctx.client.resource<Deployment>('deployments').updateStatus({ ...d, status });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }
}
