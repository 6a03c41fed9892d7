// Acceptance tests of the controllers against the real control-plane process (API server +
// controllers, packages/controllers/dist/control-plane-main.js), with three test kubelets.
import type { KubeClient } from '@podnet/client';
import type { Deployment, EndpointSlice, Endpoints, Event, Node, Pod, ReplicaSet, Service } from '@podnet/controllers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestKubelet } from '../../packages/controllers/src/testing/test-kubelet.ts';
import { type ControlPlaneProcess, startControlPlaneProcess, waitFor } from './control-plane-process.ts';

const GRACE_MS = 3000;
const EVICTION_MS = 4000;

let cp: ControlPlaneProcess;
let client: KubeClient;
const kubelets: TestKubelet[] = [];

const isReady = (p: Pod) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;

function deployment(name: string, replicas: number, image: string, strategy?: Deployment['spec']['strategy']): Deployment {
  return {
    metadata: { name, namespace: 'default' },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      ...(strategy ? { strategy } : {}),
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name: 'web', image, ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }] }] },
      },
    },
  };
}

function service(name: string): Service {
  return {
    metadata: { name, namespace: 'default', labels: { app: name } },
    spec: { selector: { app: name }, ports: [{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' }] },
  };
}

async function podsOf(app: string): Promise<Pod[]> {
  return (await client.resource<Pod>('pods').list({ namespace: 'default', labelSelector: { app } })).items;
}

async function slicesOf(svc: string): Promise<EndpointSlice[]> {
  return (
    await client
      .resource<EndpointSlice>('endpointslices')
      .list({ namespace: 'default', labelSelector: { 'kubernetes.io/service-name': svc } })
  ).items;
}

const endpointsOf = (slices: EndpointSlice[]) => slices.flatMap((s) => s.endpoints ?? []);

/** The state of an app, printed when a wait fails. */
async function describeApp(app: string): Promise<string> {
  const pods = (await podsOf(app)).map((p) => ({
    name: p.metadata.name,
    node: p.spec.nodeName,
    ip: p.status?.podIP,
    ready: isReady(p),
    deleting: p.metadata.deletionTimestamp,
  }));
  const slices = (await slicesOf(app)).map((s) => ({
    name: s.metadata.name,
    endpoints: (s.endpoints ?? []).map((e) => [e.targetRef?.name, e.addresses[0], e.nodeName, e.conditions]),
  }));
  const nodes = (await client.resource<Node>('nodes').list()).items.map((n) => [
    n.metadata.name,
    n.status?.conditions?.find((c) => c.type === 'Ready')?.status,
    (n.spec?.taints ?? []).map((t) => t.key),
  ]);
  const log = cp
    .stderr()
    .split('\n')
    .filter((l) => /evict|Lease|Unknown|Ready again|failed/.test(l))
    .slice(-20);
  const events = (await client.resource<Event>('events').list({ namespace: 'default' })).items
    .filter((e) => !['Scheduled'].includes(e.reason))
    .map((e) => `${e.lastTimestamp} ${e.involvedObject.name} ${e.reason} ${e.message} x${e.count}`);
  return JSON.stringify({ pods, slices, nodes, log, events }, null, 1);
}

async function waitApp<T>(app: string, what: string, check: () => Promise<T | undefined | false>, timeoutMs?: number): Promise<T> {
  try {
    return await waitFor(what, check, timeoutMs);
  } catch (err) {
    throw new Error(`${(err as Error).message}\nstate: ${await describeApp(app)}`);
  }
}

beforeAll(async () => {
  cp = await startControlPlaneProcess([
    '--node-monitor-grace-period-ms',
    String(GRACE_MS),
    '--node-monitor-period-ms',
    '250',
    '--pod-eviction-timeout-ms',
    String(EVICTION_MS),
  ]);
  client = cp.client();
  for (const n of ['node-1', 'node-2', 'node-3']) {
    const k = new TestKubelet({ client: cp.client(), nodeName: n, renewIntervalMs: 500, maxGraceMs: 300 });
    kubelets.push(k);
    await k.start();
  }
});

afterAll(async () => {
  for (const k of kubelets) await k.stop();
  await cp?.stop();
});

describe('node IPAM', () => {
  it('gives node-N the podCIDR 10.244.N.0/24', async () => {
    for (const n of [1, 2, 3]) {
      const node = await waitFor(`podCIDR of node-${n}`, async () => {
        const x = await client.resource<Node>('nodes').get(`node-${n}`);
        return x.spec?.podCIDR ? x : undefined;
      });
      expect(node.spec?.podCIDR).toBe(`10.244.${n}.0/24`);
      expect(node.spec?.podCIDRs).toEqual([`10.244.${n}.0/24`]);
    }
  });
});

describe('Deployment → ReplicaSet → Pods, EndpointSlices', () => {
  it('replaces a deleted pod, and the slices follow readiness', async () => {
    await client.resource<Service>('services').create(service('web'));
    await client.resource<Deployment>('deployments').create(deployment('web', 3, 'podnet/echo:1.0'));
    const ready = await waitFor('3 ready web pods', async () => {
      const pods = (await podsOf('web')).filter((p) => isReady(p) && !p.metadata.deletionTimestamp);
      return pods.length === 3 ? pods : undefined;
    });
    // Spread: one pod per node; pod IPs from the node's podCIDR; names <rs>-<5 chars>.
    expect(new Set(ready.map((p) => p.spec.nodeName)).size).toBe(3);
    for (const p of ready) {
      const n = /node-(\d)/.exec(p.spec.nodeName ?? '')![1];
      expect(p.status?.podIP?.startsWith(`10.244.${n}.`)).toBe(true);
      expect(p.metadata.name).toMatch(/^web-[bcdfghjklmnpqrstvwxz2456789]+-[a-z0-9]{5}$/);
      expect(p.metadata.ownerReferences?.[0]).toMatchObject({ kind: 'ReplicaSet', controller: true });
    }
    const slices = await waitFor('a slice with 3 ready endpoints', async () => {
      const s = await slicesOf('web');
      return endpointsOf(s).filter((e) => e.conditions?.ready).length === 3 ? s : undefined;
    });
    expect(slices[0]!.metadata.labels?.['endpointslice.kubernetes.io/managed-by']).toBe('endpointslice-controller.k8s.io');
    expect(slices[0]!.addressType).toBe('IPv4');
    expect(slices[0]!.ports).toEqual([{ name: 'http', port: 8080, protocol: 'TCP' }]);
    expect(slices[0]!.metadata.annotations?.['endpoints.kubernetes.io/last-change-trigger-time']).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(
      endpointsOf(slices)
        .map((e) => e.targetRef?.name)
        .sort(),
    ).toEqual(ready.map((p) => p.metadata.name).sort());

    // Delete one pod: a replacement comes, and the slices end with three ready endpoints without it.
    const victim = ready[0]!;
    await client.resource('pods').delete(victim.metadata.name!, { namespace: 'default' });
    const after = await waitApp('web', 'a replacement pod, ready', async () => {
      const pods = (await podsOf('web')).filter((p) => isReady(p) && !p.metadata.deletionTimestamp);
      return pods.length === 3 && !pods.some((p) => p.metadata.name === victim.metadata.name) ? pods : undefined;
    });
    await waitApp('web', 'slices without the deleted pod', async () => {
      const eps = endpointsOf(await slicesOf('web'));
      const names = eps
        .filter((e) => e.conditions?.ready)
        .map((e) => e.targetRef?.name)
        .sort();
      return JSON.stringify(names) === JSON.stringify(after.map((p) => p.metadata.name).sort()) && eps.length === 3;
    });

    // Readiness flips: the slice endpoint and the Endpoints mirror follow.
    const target = after[0]!;
    const kubelet = kubelets.find((k) => k.nodeName === target.spec.nodeName)!;
    await kubelet.setReady('default', target.metadata.name!, false);
    await waitFor('the endpoint to turn not ready', async () => {
      const ep = endpointsOf(await slicesOf('web')).find((e) => e.targetRef?.name === target.metadata.name);
      return ep?.conditions?.ready === false && ep.conditions.serving === false && ep.conditions.terminating === false;
    });
    const epObj = await waitApp('web', 'Endpoints notReadyAddresses', async () => {
      const e = await client.resource<Endpoints>('endpoints').get('web', { namespace: 'default' });
      return e.subsets?.[0]?.notReadyAddresses?.some((a) => a.ip === target.status?.podIP) ? e : undefined;
    });
    expect(epObj.subsets, `${JSON.stringify(epObj.subsets)} ${await describeApp('web')}`).toHaveLength(1);
    expect(epObj.subsets?.[0]?.addresses?.map((a) => a.ip).sort(), `${JSON.stringify(epObj.subsets)} ${await describeApp('web')}`).toEqual(
      after
        .filter((p) => p !== target)
        .map((p) => p.status?.podIP)
        .sort(),
    );
    expect(epObj.subsets?.[0]?.ports).toEqual([{ name: 'http', port: 8080, protocol: 'TCP' }]);
    await kubelet.setReady('default', target.metadata.name!, true);
    await waitFor('the endpoint to be ready again', async () => {
      const ep = endpointsOf(await slicesOf('web')).find((e) => e.targetRef?.name === target.metadata.name);
      return ep?.conditions?.ready === true;
    });

    // Status and events.
    const d = await waitFor('deployment status', async () => {
      const x = await client.resource<Deployment>('deployments').get('web', { namespace: 'default' });
      return x.status?.availableReplicas === 3 && x.status.observedGeneration === x.metadata.generation ? x : undefined;
    });
    expect(d.status?.conditions?.find((c) => c.type === 'Available')).toMatchObject({ status: 'True', reason: 'MinimumReplicasAvailable' });
    expect(d.metadata.annotations?.['deployment.kubernetes.io/revision']).toBe('1');
    const events = (await client.resource<Event>('events').list({ namespace: 'default' })).items;
    expect(events.some((e) => e.reason === 'Scheduled' && e.source?.component === 'default-scheduler')).toBe(true);
    expect(events.some((e) => e.reason === 'SuccessfulCreate' && e.involvedObject.kind === 'ReplicaSet')).toBe(true);
    expect(events.some((e) => e.reason === 'ScalingReplicaSet' && e.involvedObject.name === 'web')).toBe(true);
  });
});

describe('scale, failed pods, scheduling failures', () => {
  it('scales through the scale subresource and replaces a Failed pod', async () => {
    await client.resource('deployments').patch('web', { spec: { replicas: 5 } }, { namespace: 'default', subresource: 'scale' });
    await waitApp('web', '5 ready web pods and 5 ready endpoints', async () => {
      const live = (await podsOf('web')).filter((p) => isReady(p) && !p.metadata.deletionTimestamp);
      const eps = endpointsOf(await slicesOf('web')).filter((e) => e.conditions?.ready);
      return live.length === 5 && eps.length === 5;
    });
    const victim = (await podsOf('web')).find((p) => isReady(p))!;
    await kubelets.find((k) => k.nodeName === victim.spec.nodeName)!.fail('default', victim.metadata.name!);
    await waitApp('web', 'a replacement for the Failed pod', async () => {
      const pods = await podsOf('web');
      const live = pods.filter((p) => isReady(p) && !p.metadata.deletionTimestamp);
      const failed = pods.find((p) => p.metadata.name === victim.metadata.name);
      const eps = endpointsOf(await slicesOf('web'));
      return failed?.status?.phase === 'Failed' && live.length === 5 && !eps.some((e) => e.targetRef?.name === victim.metadata.name);
    });
    await client.resource('pods').delete(victim.metadata.name!, { namespace: 'default', gracePeriodSeconds: 0 });
    await client.resource('deployments').patch('web', { spec: { replicas: 3 } }, { namespace: 'default', subresource: 'scale' });
    await waitApp('web', 'back to 3 pods', async () => {
      const pods = await podsOf('web');
      const d = await client.resource<Deployment>('deployments').get('web', { namespace: 'default' });
      return pods.length === 3 && pods.every(isReady) && d.status?.replicas === 3 && d.status.availableReplicas === 3;
    });
    const events = (await client.resource<Event>('events').list({ namespace: 'default' })).items;
    expect(events.some((e) => e.reason === 'SuccessfulDelete' && e.involvedObject.kind === 'ReplicaSet')).toBe(true);
    expect(events.some((e) => e.reason === 'ScalingReplicaSet' && /from 5 to 3/.test(e.message))).toBe(true);
  });

  it('reports FailedScheduling for a pod no node fits, and binds it once a node fits', async () => {
    const pods = client.resource<Pod>('pods');
    await pods.create({
      metadata: { name: 'picky', namespace: 'default' },
      spec: { nodeSelector: { disk: 'ssd' }, containers: [{ name: 'c', image: 'podnet/echo:1.0' }] },
    });
    const ev = await waitFor('a FailedScheduling event', async () => {
      const list = await client.resource<Event>('events').list({ namespace: 'default', fieldSelector: { 'involvedObject.name': 'picky' } });
      return list.items.find((e) => e.reason === 'FailedScheduling');
    });
    expect(ev.type).toBe('Warning');
    expect(ev.message).toBe("0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector.");
    expect(ev.source?.component).toBe('default-scheduler');
    await client.resource('nodes').patch('node-2', { metadata: { labels: { disk: 'ssd' } } });
    const bound = await waitFor('picky bound to node-2', async () => {
      const p = await pods.get('picky', { namespace: 'default' });
      return p.spec.nodeName ? p : undefined;
    });
    expect(bound.spec.nodeName).toBe('node-2');
    await pods.delete('picky', { namespace: 'default', gracePeriodSeconds: 0 });
  });
});

describe('many endpoints', () => {
  it('packs at most 100 endpoints per slice and keeps a placeholder slice at zero pods', async () => {
    await client.resource<Service>('services').create(service('many'));
    await client.resource<Deployment>('deployments').create(deployment('many', 110, 'podnet/echo:1.0'));
    const slices = await waitApp(
      'many',
      '110 ready endpoints in two slices',
      async () => {
        const s = await slicesOf('many');
        const ready = endpointsOf(s).filter((e) => e.conditions?.ready).length;
        return ready === 110 && s.length === 2 ? s : undefined;
      },
      60_000,
    );
    expect(slices.map((s) => s.endpoints.length).sort((a, b) => a - b)).toEqual([10, 100]);
    expect(new Set(endpointsOf(slices).map((e) => e.addresses[0])).size).toBe(110);
    await client.resource('deployments').patch('many', { spec: { replicas: 0 } }, { namespace: 'default', subresource: 'scale' });
    const placeholder = await waitFor(
      'one empty slice',
      async () => {
        const s = await slicesOf('many');
        return s.length === 1 && s[0]!.endpoints.length === 0 ? s[0] : undefined;
      },
      60_000,
    );
    expect(placeholder.metadata.labels?.['kubernetes.io/service-name']).toBe('many');
    await client.resource('deployments').delete('many', { namespace: 'default' });
    await client.resource('services').delete('many', { namespace: 'default' });
  });
});

describe('progress deadline', () => {
  it('turns Progressing False with ProgressDeadlineExceeded when pods never become available', async () => {
    const d = deployment('stuck', 2, 'podnet/echo:1.0');
    d.spec.progressDeadlineSeconds = 2;
    d.spec.template.spec.nodeSelector = { 'podnet.dev/no-such-node': 'true' };
    await client.resource<Deployment>('deployments').create(d);
    const done = await waitFor('ProgressDeadlineExceeded', async () => {
      const x = await client.resource<Deployment>('deployments').get('stuck', { namespace: 'default' });
      const c = x.status?.conditions?.find((k) => k.type === 'Progressing');
      return c?.reason === 'ProgressDeadlineExceeded' ? x : undefined;
    });
    expect(done.status?.conditions?.find((k) => k.type === 'Progressing')).toMatchObject({
      status: 'False',
      message: expect.stringMatching(/^ReplicaSet "stuck-\w+" has timed out progressing\.$/),
    });
    expect(done.status?.conditions?.find((k) => k.type === 'Available')).toMatchObject({
      status: 'False',
      reason: 'MinimumReplicasUnavailable',
    });
    await client.resource('deployments').delete('stuck', { namespace: 'default', propagationPolicy: 'Foreground' });
    await waitFor('the stuck pods to go', async () => (await podsOf('stuck')).length === 0);
  });
});

describe('scaling mid-rollout', () => {
  it('spreads the change over the active ReplicaSets in proportion to their sizes', async () => {
    const strategy = { type: 'RollingUpdate' as const, rollingUpdate: { maxSurge: 2, maxUnavailable: 0 } };
    await client.resource<Deployment>('deployments').create(deployment('prop', 4, 'podnet/echo:1.0', strategy));
    await waitApp(
      'prop',
      '4 ready prop pods',
      async () => (await podsOf('prop')).filter((p) => isReady(p) && !p.metadata.deletionTimestamp).length === 4,
    );
    // A new template whose pods can never run: the rollout stops with old 4 + new 2 (maxSurge).
    await client
      .resource('deployments')
      .patch(
        'prop',
        { spec: { template: { spec: { nodeSelector: { 'podnet.dev/no-such-node': 'true' } } } } },
        { namespace: 'default', type: 'strategic' },
      );
    const rsSizes = async () => {
      const rss = (await client.resource<ReplicaSet>('replicasets').list({ namespace: 'default', labelSelector: { app: 'prop' } })).items;
      return rss
        .sort(
          (a, b) =>
            Number(a.metadata.annotations?.['deployment.kubernetes.io/revision']) -
            Number(b.metadata.annotations?.['deployment.kubernetes.io/revision']),
        )
        .map((r) => r.spec.replicas);
    };
    await waitFor('old 4, new 2', async () => JSON.stringify(await rsSizes()) === '[4,2]');
    await client.resource('deployments').patch('prop', { spec: { replicas: 8 } }, { namespace: 'default', subresource: 'scale' });
    // allowed 8+2 = 10; old 4×10/6 ≈ 7, new 2×10/6 ≈ 3 (sync.go getReplicaSetFraction).
    await waitFor('old 7, new 3', async () => JSON.stringify(await rsSizes()) === '[7,3]');
    await client.resource('deployments').delete('prop', { namespace: 'default', propagationPolicy: 'Foreground' });
    await waitFor('the prop pods to go', async () => (await podsOf('prop')).length === 0);
  });
});

describe('rolling update', () => {
  it('with maxSurge=1, maxUnavailable=0 never drops below the desired ready count (from a watch)', async () => {
    const strategy = { type: 'RollingUpdate' as const, rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } };
    await client.resource<Deployment>('deployments').create(deployment('roll', 3, 'podnet/echo:1.0', strategy));
    await waitFor(
      '3 ready roll pods',
      async () => (await podsOf('roll')).filter((p) => isReady(p) && !p.metadata.deletionTimestamp).length === 3,
    );
    const list = await client.resource<Pod>('pods').list({ namespace: 'default', labelSelector: { app: 'roll' } });
    const state = new Map(list.items.map((p) => [p.metadata.name!, p]));
    const count = () => [...state.values()].filter((p) => isReady(p) && !p.metadata.deletionTimestamp).length;
    let min = count();
    let events = 0;
    const watch = await client
      .resource<Pod>('pods')
      .watch({ namespace: 'default', labelSelector: { app: 'roll' }, resourceVersion: list.metadata.resourceVersion });
    watch.on('event', (ev) => {
      if (ev.type === 'BOOKMARK' || ev.type === 'ERROR') return;
      events++;
      if (ev.type === 'DELETED') state.delete(ev.object.metadata.name!);
      else state.set(ev.object.metadata.name!, ev.object);
      min = Math.min(min, count());
    });
    const containers = [{ name: 'web', image: 'podnet/echo:2.0', ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }] }];
    await client.resource('deployments').patch('roll', { spec: { template: { spec: { containers } } } }, { namespace: 'default' });
    const done = await waitFor(
      'the rollout to complete',
      async () => {
        const d = await client.resource<Deployment>('deployments').get('roll', { namespace: 'default' });
        const s = d.status;
        const pods = [...state.values()];
        const complete =
          s?.updatedReplicas === 3 &&
          s.availableReplicas === 3 &&
          s.replicas === 3 &&
          pods.length === 3 &&
          pods.every((p) => p.spec.containers[0]?.image === 'podnet/echo:2.0' && isReady(p));
        return complete ? d : undefined;
      },
      60_000,
    );
    watch.close();
    expect(events).toBeGreaterThan(6);
    expect(min).toBeGreaterThanOrEqual(3);
    expect(done.metadata.annotations?.['deployment.kubernetes.io/revision']).toBe('2');
    expect(done.status?.conditions?.find((c) => c.type === 'Progressing')).toMatchObject({
      status: 'True',
      reason: 'NewReplicaSetAvailable',
    });
    const rss = (await client.resource<ReplicaSet>('replicasets').list({ namespace: 'default', labelSelector: { app: 'roll' } })).items;
    expect(rss).toHaveLength(2);
    const newRs = rss.find((r) => r.spec.replicas === 3)!;
    const oldRs = rss.find((r) => r.spec.replicas === 0)!;
    expect(newRs.metadata.annotations?.['deployment.kubernetes.io/revision']).toBe('2');
    expect(oldRs.metadata.annotations?.['deployment.kubernetes.io/revision']).toBe('1');
    expect(newRs.metadata.name).toBe(`roll-${newRs.metadata.labels?.['pod-template-hash']}`);
    expect(newRs.spec.selector.matchLabels?.['pod-template-hash']).toBe(newRs.metadata.labels?.['pod-template-hash']);
  });
});

describe('Recreate', () => {
  it('removes every old pod before the first new one is created (from a watch)', async () => {
    await client.resource<Deployment>('deployments').create(deployment('rec', 2, 'podnet/echo:1.0', { type: 'Recreate' }));
    await waitApp(
      'rec',
      '2 ready rec pods',
      async () => (await podsOf('rec')).filter((p) => isReady(p) && !p.metadata.deletionTimestamp).length === 2,
    );
    const list = await client.resource<Pod>('pods').list({ namespace: 'default', labelSelector: { app: 'rec' } });
    const state = new Map(list.items.map((p) => [p.metadata.name!, p]));
    let overlap = false;
    const watch = await client
      .resource<Pod>('pods')
      .watch({ namespace: 'default', labelSelector: { app: 'rec' }, resourceVersion: list.metadata.resourceVersion });
    watch.on('event', (ev) => {
      if (ev.type === 'BOOKMARK' || ev.type === 'ERROR') return;
      if (ev.type === 'DELETED') state.delete(ev.object.metadata.name!);
      else state.set(ev.object.metadata.name!, ev.object);
      const images = new Set([...state.values()].map((p) => p.spec.containers[0]?.image));
      if (images.size > 1) overlap = true;
    });
    const containers = [{ name: 'web', image: 'podnet/echo:2.0', ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }] }];
    await client
      .resource('deployments')
      .patch('rec', { spec: { template: { spec: { containers } } } }, { namespace: 'default', type: 'strategic' });
    await waitApp('rec', '2 ready new pods', async () => {
      const pods = [...state.values()];
      return pods.length === 2 && pods.every((p) => isReady(p) && p.spec.containers[0]?.image === 'podnet/echo:2.0');
    });
    watch.close();
    expect(overlap).toBe(false);
    await client.resource('deployments').delete('rec', { namespace: 'default', propagationPolicy: 'Foreground' });
    await waitFor('the rec pods to go', async () => (await podsOf('rec')).length === 0);
  });
});

describe('node lifecycle', () => {
  it('marks a node whose Lease stops NotReady, drops its pods from slices, evicts and replaces them, and recovers', async () => {
    const pods = (await podsOf('web')).filter((p) => isReady(p) && !p.metadata.deletionTimestamp);
    const lostName = pods[0]!.spec.nodeName!;
    const lost = kubelets.find((k) => k.nodeName === lostName)!;
    const stoppedAt = Date.now();
    lost.stopRenewing();
    const node = await waitFor(`${lostName} Ready=Unknown`, async () => {
      const n = await client.resource<Node>('nodes').get(lostName);
      return n.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'Unknown' ? n : undefined;
    });
    expect(Date.now() - stoppedAt).toBeGreaterThanOrEqual(GRACE_MS - 500);
    expect(node.status?.conditions?.find((c) => c.type === 'Ready')).toMatchObject({
      reason: 'NodeStatusUnknown',
      message: 'Kubelet stopped posting node status.',
    });
    await waitFor('the unreachable NoExecute taint', async () => {
      const n = await client.resource<Node>('nodes').get(lostName);
      return n.spec?.taints?.some((t) => t.key === 'node.kubernetes.io/unreachable' && t.effect === 'NoExecute');
    });
    // Its pods leave the set of ready endpoints at once (bounded wait after the grace period).
    await waitFor(
      `no ready endpoint on ${lostName}`,
      async () => {
        const eps = endpointsOf(await slicesOf('web'));
        return eps.length > 0 && !eps.some((e) => e.nodeName === lostName && e.conditions?.ready);
      },
      10_000,
    );
    // After the eviction timeout: replaced on the other nodes, three ready again.
    await waitFor(
      `three ready web pods off ${lostName}`,
      async () => {
        const live = (await podsOf('web')).filter((p) => isReady(p) && !p.metadata.deletionTimestamp);
        return live.length === 3 && live.every((p) => p.spec.nodeName !== lostName);
      },
      EVICTION_MS + 30_000,
    );
    await waitFor(`ready slice endpoints only off ${lostName}`, async () => {
      const ready = endpointsOf(await slicesOf('web')).filter((e) => e.conditions?.ready);
      return ready.length === 3 && ready.every((e) => e.nodeName !== lostName);
    });
    const events = (await client.resource<Event>('events').list({ namespace: 'default' })).items;
    expect(events.some((e) => e.reason === 'NodeNotReady' && e.involvedObject.kind === 'Node' && e.involvedObject.name === lostName)).toBe(
      true,
    );
    expect(events.some((e) => e.reason === 'TaintManagerEviction')).toBe(true);

    // The node comes back: Ready again, taints lifted.
    lost.resumeRenewing();
    await waitFor(`${lostName} Ready and untainted`, async () => {
      const n = await client.resource<Node>('nodes').get(lostName);
      const ready = n.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
      return ready && !(n.spec?.taints ?? []).some((t) => t.key === 'node.kubernetes.io/unreachable');
    });
  });

  it('taints a node that reports Ready=False not-ready, evicts its pods after the timeout, and lifts the taint when Ready', async () => {
    const live = (await podsOf('web')).filter((p) => isReady(p) && !p.metadata.deletionTimestamp);
    const name = live[0]!.spec.nodeName!;
    const kubelet = kubelets.find((k) => k.nodeName === name)!;
    await kubelet.setNodeReady(false);
    await waitFor(`the not-ready taints on ${name}`, async () => {
      const n = await client.resource<Node>('nodes').get(name);
      const keys = (n.spec?.taints ?? [])
        .filter((t) => t.key === 'node.kubernetes.io/not-ready')
        .map((t) => t.effect)
        .sort();
      return JSON.stringify(keys) === '["NoExecute","NoSchedule"]';
    });
    await waitApp(
      'web',
      `three ready web pods off ${name}`,
      async () => {
        const pods = (await podsOf('web')).filter((p) => isReady(p) && !p.metadata.deletionTimestamp);
        const eps = endpointsOf(await slicesOf('web')).filter((e) => e.conditions?.ready);
        return pods.length === 3 && pods.every((p) => p.spec.nodeName !== name) && eps.every((e) => e.nodeName !== name);
      },
      EVICTION_MS + 30_000,
    );
    await kubelet.setNodeReady(true);
    await waitFor(`${name} without not-ready taints`, async () => {
      const n = await client.resource<Node>('nodes').get(name);
      return !(n.spec?.taints ?? []).some((t) => t.key === 'node.kubernetes.io/not-ready');
    });
  });
});

describe('control-plane restart', () => {
  it('rebuilds the podCIDR allocations from the existing nodes: no CIDR is handed out twice', async () => {
    const nodes = client.resource<Node>('nodes');
    await nodes.create({ metadata: { name: 'worker-a' } });
    const a = await waitFor('worker-a podCIDR', async () => (await nodes.get('worker-a')).spec?.podCIDR);
    expect(a).toBe('10.244.4.0/24'); // node-1..3 hold 1..3; the next free one
    await cp.kill();
    await cp.restart();
    await nodes.create({ metadata: { name: 'worker-b' } });
    const b = await waitFor('worker-b podCIDR', async () => (await nodes.get('worker-b')).spec?.podCIDR);
    expect(b).toBe('10.244.5.0/24');
    const all = (await nodes.list()).items.map((n) => n.spec?.podCIDR);
    expect(new Set(all).size).toBe(all.length);
    // The workloads are still served after the restart.
    await waitFor(
      'three ready web endpoints after the restart',
      async () => endpointsOf(await slicesOf('web')).filter((e) => e.conditions?.ready).length === 3,
    );
  });
});
