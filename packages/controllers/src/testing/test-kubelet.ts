// A small kubelet for tests: for one node it registers the Node (InternalIP, Hostname, the
// podnet.dev/transport-address annotation, Ready=True), renews its Lease in kube-node-lease (as
// the kubelet's nodelease controller does, pkg/kubelet/nodelease), "runs" the pods bound to it
// (status Running, a pod IP from the node's podCIDR, Ready as commanded), confirms deletions
// (deletes with grace 0 once the pod's grace period is over, capped by `maxGraceMs`), and can be
// told to stop renewing, as a node that lost its network would.
import { componentLogger, Informer, isConflict, isNotFound, type KubeClient, type Logger } from '@podnet/client';
import type { Condition, Lease, Node, Pod } from '../kube-types.js';

export interface TestKubeletOptions {
  client: KubeClient;
  nodeName: string;
  /** Emulated node IP (InternalIP). Default 172.18.0.<N+1> for node-N. */
  nodeIP?: string;
  /** Real transport address (annotation podnet.dev/transport-address). Default 127.0.1.<N>. */
  transportAddress?: string;
  /** Lease renewal interval, ms. Default 1000. */
  renewIntervalMs?: number;
  /** Lease duration, s. Default 40 (the kubelet's default). */
  leaseDurationSeconds?: number;
  /** Longest wait before confirming a deletion, ms. Default 1000. */
  maxGraceMs?: number;
  labels?: Record<string, string>;
  logger?: Logger;
}

/** Runs `fn` again on 409 Conflict, as client-go's retry.RetryOnConflict does (5 tries). */
async function retryOnConflict<T>(fn: () => Promise<T>): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if (!isConflict(err) || i >= 4) throw err;
      await new Promise((r) => setTimeout(r, 10 * (i + 1)));
    }
  }
}

const micro = (d: Date) => d.toISOString().replace(/Z$/, '000Z');
const seconds = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

export class TestKubelet {
  readonly nodeName: string;
  readonly nodeIP: string;
  readonly transportAddress: string;
  readonly #client: KubeClient;
  readonly #opts: TestKubeletOptions;
  readonly #log: Logger;
  readonly #ready = new Map<string, boolean>();
  readonly #ips = new Map<string, string>();
  readonly #deleting = new Set<string>();
  readonly #failed = new Set<string>();
  #informer: Informer<Pod> | undefined;
  #renewTimer: NodeJS.Timeout | undefined;
  #renewing = false;
  #nodeReady = true;
  #stopped = false;
  #chain: Promise<void> = Promise.resolve();

  constructor(opts: TestKubeletOptions) {
    this.#opts = opts;
    this.#client = opts.client;
    this.nodeName = opts.nodeName;
    const n = Number(/^node-(\d+)$/.exec(opts.nodeName)?.[1] ?? 1);
    this.nodeIP = opts.nodeIP ?? `172.18.0.${n + 1}`;
    this.transportAddress = opts.transportAddress ?? `127.0.1.${n}`;
    this.#log = (opts.logger ?? componentLogger('test-kubelet')).child({ node: opts.nodeName });
  }

  /** Registers the Node and its Lease, then starts renewing and running pods. */
  async start(): Promise<void> {
    await this.#register();
    await this.#renew();
    this.resumeRenewing();
    this.#informer = new Informer<Pod>(this.#client.resource<Pod>('pods'), {
      fieldSelector: `spec.nodeName=${this.nodeName}`,
      logger: this.#log,
    });
    this.#informer.addEventHandler({ add: (p) => this.#enqueue(p), update: (_o, p) => this.#enqueue(p) });
    this.#informer.start();
    await this.#informer.waitForSync();
  }

  /** Stops renewing the Lease and reconciling status (a node cut off from the API server). */
  stopRenewing(): void {
    this.#renewing = false;
    clearInterval(this.#renewTimer);
  }

  /** Renews again; re-posts Ready=True on the Node and the pods' readiness, as a kubelet coming back does. */
  resumeRenewing(): void {
    if (this.#renewing) return;
    this.#renewing = true;
    const ms = this.#opts.renewIntervalMs ?? 1000;
    this.#renewTimer = setInterval(() => {
      void this.#renew().catch((err) => this.#log.warn({ err: (err as Error).message }, 'lease renewal failed'));
    }, ms);
    this.#renewTimer.unref();
    void this.#renew().then(
      () => this.#resync(),
      () => undefined,
    );
  }

  /** Reports the node Ready=True or False (reason KubeletNotReady), Lease renewals going on. */
  async setNodeReady(ready: boolean): Promise<void> {
    this.#nodeReady = ready;
    await this.#postNodeStatus();
  }

  /** Sets a pod's readiness (the result of its readiness probe). */
  async setReady(namespace: string, name: string, ready: boolean): Promise<void> {
    this.#ready.set(`${namespace}/${name}`, ready);
    const pod = await this.#client.resource<Pod>('pods').get(name, { namespace });
    // Serialized with the informer-driven syncs, so two status writes never race each other.
    const run = this.#chain.then(() => retryOnConflict(() => this.#reconcile(pod)));
    this.#chain = run.catch(() => undefined);
    await run;
  }

  /** Makes a pod's containers exit with code 1: phase Failed (restartPolicy aside), as a crashed pod. */
  async fail(namespace: string, name: string): Promise<void> {
    const key = `${namespace}/${name}`;
    this.#failed.add(key);
    const pods = this.#client.resource<Pod>('pods');
    await retryOnConflict(async () => {
      const pod = await pods.get(name, { namespace });
      const now = seconds(new Date());
      const conditions = (pod.status?.conditions ?? []).map((c) =>
        c.type === 'Ready' || c.type === 'ContainersReady'
          ? { ...c, status: 'False' as const, reason: 'PodFailed', lastTransitionTime: now }
          : c,
      );
      await pods.updateStatus({
        ...pod,
        status: {
          ...(pod.status ?? {}),
          phase: 'Failed',
          conditions,
          containerStatuses: pod.spec.containers.map((c) => ({
            name: c.name,
            image: c.image,
            imageID: '',
            ready: false,
            started: false,
            restartCount: 0,
            state: { terminated: { exitCode: 1, reason: 'Error', finishedAt: now } },
          })),
        },
      });
    });
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.stopRenewing();
    await this.#informer?.stop();
    await this.#chain;
  }

  #enqueue(p: Pod): void {
    if (this.#stopped) return;
    this.#chain = this.#chain
      .then(() => retryOnConflict(() => this.#reconcile(p)))
      .catch((err) => {
        if (!isNotFound(err) && !isConflict(err)) this.#log.warn({ pod: p.metadata.name, err: (err as Error).message }, 'pod sync failed');
      });
  }

  async #resync(): Promise<void> {
    if (!this.#informer) return;
    const node = await this.#client.resource<Node>('nodes').get(this.nodeName);
    const want = this.#nodeReady ? 'True' : 'False';
    if (node.status?.conditions?.find((c) => c.type === 'Ready')?.status !== want) await this.#postNodeStatus();
    for (const p of this.#informer.store.list()) this.#enqueue(p);
  }

  async #register(): Promise<void> {
    const nodes = this.#client.resource<Node>('nodes');
    const body: Node = {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: {
        name: this.nodeName,
        labels: {
          'kubernetes.io/hostname': this.nodeName,
          'kubernetes.io/os': 'linux',
          'kubernetes.io/arch': 'amd64',
          ...(this.#opts.labels ?? {}),
        },
        annotations: { 'podnet.dev/transport-address': this.transportAddress },
      },
      spec: {},
    };
    try {
      await nodes.create(body);
    } catch (err) {
      if ((err as { reason?: string }).reason !== 'AlreadyExists') throw err;
    }
    await this.#postNodeStatus();
  }

  async #postNodeStatus(): Promise<void> {
    await retryOnConflict(async () => this.#postNodeStatusOnce(await this.#client.resource<Node>('nodes').get(this.nodeName)));
  }

  async #postNodeStatusOnce(node: Node): Promise<void> {
    const now = seconds(new Date());
    const prev = node.status?.conditions?.find((c) => c.type === 'Ready');
    const status = this.#nodeReady ? 'True' : 'False';
    const ready: Condition = {
      type: 'Ready',
      status,
      reason: this.#nodeReady ? 'KubeletReady' : 'KubeletNotReady',
      message: this.#nodeReady ? 'kubelet is posting ready status' : 'container runtime network not ready: NetworkReady=false',
      lastHeartbeatTime: now,
      lastTransitionTime: prev?.status === status ? (prev.lastTransitionTime ?? now) : now,
    };
    await this.#client.resource<Node>('nodes').updateStatus({
      ...node,
      status: {
        ...(node.status ?? {}),
        addresses: [
          { type: 'InternalIP', address: this.nodeIP },
          { type: 'Hostname', address: this.nodeName },
        ],
        conditions: [ready],
        nodeInfo: {
          kubeletVersion: 'v1.32.0-podnet',
          operatingSystem: 'linux',
          architecture: 'amd64',
          containerRuntimeVersion: 'podnet://0.1',
        },
      },
    });
  }

  async #renew(): Promise<void> {
    const leases = this.#client.resource<Lease>('leases');
    const now = micro(new Date());
    try {
      await retryOnConflict(async () => {
        const l = await leases.get(this.nodeName, { namespace: 'kube-node-lease' });
        await leases.update({ ...l, spec: { ...(l.spec ?? {}), holderIdentity: this.nodeName, renewTime: now } });
      });
    } catch (err) {
      if (!isNotFound(err)) throw err;
      await leases.create({
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name: this.nodeName, namespace: 'kube-node-lease' },
        spec: {
          holderIdentity: this.nodeName,
          leaseDurationSeconds: this.#opts.leaseDurationSeconds ?? 40,
          renewTime: now,
          acquireTime: now,
        },
      });
    }
  }

  #podIP(node: Node, key: string): string | undefined {
    const have = this.#ips.get(key);
    if (have) return have;
    const cidr = node.spec?.podCIDR;
    if (!cidr) return undefined;
    const [base] = cidr.split('/');
    const prefix = base!.split('.').slice(0, 3).join('.');
    const used = new Set(this.#ips.values());
    // .1 is the bridge (cni0) as flannel's subnet.env says; pods from .2.
    for (let i = 2; i < 255; i++) {
      const ip = `${prefix}.${i}`;
      if (!used.has(ip)) {
        this.#ips.set(key, ip);
        return ip;
      }
    }
    return undefined;
  }

  async #reconcile(cached: Pod): Promise<void> {
    if (this.#stopped || !this.#renewing) return;
    const key = `${cached.metadata.namespace}/${cached.metadata.name}`;
    const pods = this.#client.resource<Pod>('pods');
    if (cached.metadata.deletionTimestamp) {
      if (this.#deleting.has(key)) return;
      this.#deleting.add(key);
      const grace = Math.min((cached.metadata.deletionGracePeriodSeconds ?? 0) * 1000, this.#opts.maxGraceMs ?? 1000);
      setTimeout(() => {
        void pods
          .delete(cached.metadata.name ?? '', {
            namespace: cached.metadata.namespace,
            gracePeriodSeconds: 0,
            preconditions: { uid: cached.metadata.uid },
          })
          .catch((err) => {
            if (!isNotFound(err)) this.#log.warn({ pod: key, err: (err as Error).message }, 'could not confirm deletion');
          })
          .finally(() => {
            this.#deleting.delete(key);
            this.#failed.delete(key);
            this.#ips.delete(key);
            this.#ready.delete(key);
          });
      }, grace).unref();
      return;
    }
    if (this.#failed.has(key)) return; // terminal: a failed pod is not started again
    const pod = await pods.get(cached.metadata.name ?? '', { namespace: cached.metadata.namespace });
    if (pod.metadata.uid !== cached.metadata.uid || pod.metadata.deletionTimestamp) return;
    const node = await this.#client.resource<Node>('nodes').get(this.nodeName);
    const ip = this.#podIP(node, key);
    if (!ip) {
      this.#log.info({ pod: key }, 'node has no podCIDR yet; the pod waits');
      setTimeout(() => this.#enqueue(cached), 200).unref();
      return;
    }
    const ready = this.#ready.get(key) ?? true;
    const now = seconds(new Date());
    const want = ready ? 'True' : 'False';
    const cond = (type: string, status: 'True' | 'False'): Condition => {
      const prev = pod.status?.conditions?.find((c) => c.type === type);
      return {
        type,
        status,
        lastProbeTime: undefined,
        lastTransitionTime: prev?.status === status ? (prev.lastTransitionTime ?? now) : now,
      };
    };
    const conditions: Condition[] = [
      cond('Initialized', 'True'),
      cond('Ready', want),
      cond('ContainersReady', want),
      cond('PodScheduled', 'True'),
    ];
    const status = {
      ...(pod.status ?? {}),
      phase: 'Running',
      hostIP: this.nodeIP,
      hostIPs: [{ ip: this.nodeIP }],
      podIP: ip,
      podIPs: [{ ip }],
      startTime: pod.status?.startTime ?? now,
      conditions,
      containerStatuses: pod.spec.containers.map((c) => ({
        name: c.name,
        image: c.image,
        imageID: '',
        containerID: `podnet://${pod.metadata.uid}/${c.name}`,
        ready,
        started: true,
        restartCount: 0,
        state: { running: { startedAt: pod.status?.startTime ?? now } },
      })),
    };
    const same =
      pod.status?.phase === 'Running' &&
      pod.status?.podIP === ip &&
      JSON.stringify(pod.status?.conditions?.map((c) => [c.type, c.status])) === JSON.stringify(conditions.map((c) => [c.type, c.status]));
    if (same) return;
    await pods.updateStatus({ ...pod, status });
  }
}
