// The node-agent: the kubelet of a podnet node (DESIGN §2). Registers the Node, renews its Lease,
// posts NodeStatus, runs the pods bound to it (informer with fieldSelector spec.nodeName), serves
// the kubelet API on the transport address, and supervises the cni-agent and kube-proxy.
import { release } from 'node:os';
import { join } from 'node:path';
import { componentLogger, Informer, isNotFound, type KubeClient, type KubeObject, type Logger } from '@podnet/client';
import { obtainServingCert } from './certs.js';
import type { CniPlugin } from './cni/types.js';
import type { Lease, Node, NodeCondition, Pod } from './kube-types.js';
import { microTime, rfc3339 } from './kube-types.js';
import { NodeAgentMetrics } from './metrics.js';
import { type BackoffConfig, KUBELET_BACKOFF } from './runtime/backoff.js';
import { EventRecorder } from './runtime/events.js';
import { PodRuntime } from './runtime/pod-runtime.js';
import { Sandbox } from './runtime/sandbox.js';
import { SocketScope } from './runtime/socket-scope.js';
import { WebhookAuth, type WebhookAuthTtls } from './server/kubelet-auth.js';
import { KubeletServer } from './server/kubelet-server.js';

export const KUBELET_VERSION = 'v1.32.4-podnet';
export const TRANSPORT_ADDRESS_ANNOTATION = 'podnet.dev/transport-address';

export interface NodeAgentOptions {
  client: KubeClient;
  nodeName: string;
  transportAddress: string;
  nodeIp: string;
  dataDir: string;
  /** The CNI plugin, or a factory given the Node's podCIDR once it is assigned. */
  cni: CniPlugin | ((podCidr: string) => CniPlugin | Promise<CniPlugin>);
  /** Kubelet server port (10250). 0 picks a free one. */
  port?: number;
  leaseDurationSeconds?: number;
  /** Lease renewal interval (the kubelet renews every leaseDuration/4 = 10 s). */
  leaseRenewIntervalMs?: number;
  /** NodeStatus post interval (nodeStatusUpdateFrequency, 10 s). */
  statusIntervalMs?: number;
  backoff?: BackoffConfig;
  /** Tokens accepted by the control entries on the TCP port. */
  controlTokens?: string[];
  /** Control socket path (default <data-dir>/node-agent.sock). */
  controlSocket?: string;
  labels?: Record<string, string>;
  capacity?: { cpu?: string; memory?: string; pods?: string };
  logger?: Logger;
  /** Called on `podnet kill node` (the process exits there). */
  onKillNode?: () => void;
  /**
   * The kubelet API's review cache lifetimes (kubelet-auth.ts): other bearer tokens than the
   * node's are checked with TokenReview and SubjectAccessReview, as the kubelet's webhook modes.
   */
  kubeletAuth?: WebhookAuthTtls;
}

export class NodeAgent {
  readonly nodeName: string;
  readonly metrics: NodeAgentMetrics;
  readonly log: Logger;
  readonly #o: NodeAgentOptions;
  readonly #client: KubeClient;
  readonly #pods = new Map<string, PodRuntime>();
  readonly #statusTimers = new Map<string, NodeJS.Timeout>();
  readonly #statusChains = new Map<string, Promise<void>>();
  readonly #events: EventRecorder;
  #cni: CniPlugin | undefined;
  #informer: Informer<Pod & KubeObject> | undefined;
  #server: KubeletServer | undefined;
  #leaseTimer: NodeJS.Timeout | undefined;
  #statusTimer: NodeJS.Timeout | undefined;
  #prober: { sandbox: Sandbox; scope: SocketScope } | undefined;
  #readySince = rfc3339(new Date());
  #stopped = false;
  podCidr: string | undefined;

  constructor(o: NodeAgentOptions) {
    this.#o = o;
    this.#client = o.client;
    this.nodeName = o.nodeName;
    this.log = o.logger ?? componentLogger('node-agent', { node: o.nodeName });
    this.metrics = new NodeAgentMetrics(o.nodeName, { defaultMetrics: false });
    this.#events = new EventRecorder(o.client, o.nodeName, this.log);
  }

  get port(): number {
    return this.#server?.port ?? 0;
  }

  get cni(): CniPlugin | undefined {
    return this.#cni;
  }

  /** Registers the Node and Lease, starts the kubelet server, waits for the podCIDR, then runs pods. */
  async start(): Promise<void> {
    const tls = await obtainServingCert(join(this.#o.dataDir, 'pki'), this.nodeName, this.#o.transportAddress, this.#client.transport);
    const ownToken = this.#client.transport.token;
    this.#server = new KubeletServer({
      host: this.#o.transportAddress,
      port: this.#o.port ?? 10250,
      tls,
      controlSocket: this.#o.controlSocket ?? join(this.#o.dataDir, 'node-agent.sock'),
      log: this.log,
      // Reviews go to the API server with this agent's own identity (allowed to create them).
      webhook: new WebhookAuth({
        ...this.#o.kubeletAuth,
        post: (path, body, signal) => this.#client.transport.json({ method: 'POST', path, body, signal }),
      }),
      backend: {
        node: this.nodeName,
        findPod: (ns, name) => [...this.#pods.values()].find((p) => p.namespace === ns && p.name === name),
        pods: () => [...this.#pods.values()],
        killPod: (ns, name) => this.killPod(ns, name),
        killNode: () => this.#o.onKillNode?.(),
        registry: this.metrics.registry,
        controlTokens: this.#o.controlTokens ?? [],
        // The shared node token (this agent's own bearer token) also opens the kubelet API.
        apiTokens: [...(this.#o.controlTokens ?? []), ...(ownToken ? [ownToken] : [])],
      },
    });
    await this.#server.start();
    await this.#register();
    await this.#renewLease();
    const leaseMs = this.#o.leaseRenewIntervalMs ?? 10_000;
    this.#leaseTimer = setInterval(
      () => void this.#renewLease().catch((e) => this.log.warn({ err: (e as Error).message }, 'lease renewal failed')),
      leaseMs,
    );
    this.#statusTimer = setInterval(
      () => void this.#postNodeStatus().catch((e) => this.log.warn({ err: (e as Error).message }, 'node status update failed')),
      this.#o.statusIntervalMs ?? 10_000,
    );
    this.podCidr = await this.#waitForPodCidr();
    this.#cni = typeof this.#o.cni === 'function' ? await this.#o.cni(this.podCidr) : this.#o.cni;
    void this.#setUpProber();
    this.#informer = new Informer<Pod & KubeObject>(this.#client.resource<Pod & KubeObject>('pods'), {
      fieldSelector: `spec.nodeName=${this.nodeName}`,
      logger: this.log,
      component: 'node-agent',
    });
    this.#informer.addEventHandler({
      add: (p) => this.#sync(p),
      update: (_o, p) => this.#sync(p),
      delete: (p) => this.#forget(p),
    });
    this.#informer.start();
    await this.#informer.waitForSync();
    this.log.info({ port: this.port, podCidr: this.podCidr, cni: this.#cni.name }, 'node-agent ready');
  }

  // ---- Node, Lease, NodeStatus -----------------------------------------------------------------

  #nodeObject(): Node {
    const cap = {
      cpu: this.#o.capacity?.cpu ?? '2',
      memory: this.#o.capacity?.memory ?? '8148564Ki',
      pods: this.#o.capacity?.pods ?? '110',
      'ephemeral-storage': '61202244Ki',
    };
    return {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: {
        name: this.nodeName,
        labels: {
          'kubernetes.io/hostname': this.nodeName,
          'kubernetes.io/os': 'linux',
          'kubernetes.io/arch': 'amd64',
          'beta.kubernetes.io/os': 'linux',
          'beta.kubernetes.io/arch': 'amd64',
          ...this.#o.labels,
        },
        annotations: {
          [TRANSPORT_ADDRESS_ANNOTATION]: this.#o.transportAddress,
          'node.alpha.kubernetes.io/ttl': '0',
          'volumes.kubernetes.io/controller-managed-attach-detach': 'true',
        },
      },
      spec: {},
      status: {
        addresses: [
          { type: 'InternalIP', address: this.#o.nodeIp },
          { type: 'Hostname', address: this.nodeName },
        ],
        capacity: cap,
        allocatable: cap,
        conditions: this.#conditions(),
        nodeInfo: {
          machineID: this.nodeName,
          systemUUID: this.nodeName,
          bootID: String(process.pid),
          kernelVersion: release(),
          osImage: 'podnet emulated node',
          containerRuntimeVersion: 'podnet://0.1.0',
          kubeletVersion: KUBELET_VERSION,
          kubeProxyVersion: KUBELET_VERSION,
          operatingSystem: 'linux',
          architecture: 'amd64',
        },
        daemonEndpoints: { kubeletEndpoint: { Port: this.port } },
      },
    };
  }

  #conditions(): NodeCondition[] {
    const now = rfc3339(new Date());
    const c = (type: string, status: 'True' | 'False', reason: string, message: string): NodeCondition => ({
      type,
      status,
      reason,
      message,
      lastHeartbeatTime: now,
      lastTransitionTime: this.#readySince,
    });
    return [
      c('MemoryPressure', 'False', 'KubeletHasSufficientMemory', 'kubelet has sufficient memory available'),
      c('DiskPressure', 'False', 'KubeletHasNoDiskPressure', 'kubelet has no disk pressure'),
      c('PIDPressure', 'False', 'KubeletHasSufficientPID', 'kubelet has sufficient PID available'),
      c('Ready', 'True', 'KubeletReady', 'kubelet is posting ready status'),
    ];
  }

  async #register(): Promise<void> {
    const nodes = this.#client.resource<Node & KubeObject>('nodes');
    const want = this.#nodeObject();
    try {
      await nodes.create(want as Node & KubeObject);
      this.log.info({ nodeIp: this.#o.nodeIp, transportAddress: this.#o.transportAddress }, 'registered node');
    } catch (e) {
      if ((e as { reason?: string }).reason !== 'AlreadyExists') throw e;
      // kubelet_node_status.go tryRegisterWithAPIServer: an existing Node is reconciled, not replaced.
      await nodes.patch(
        this.nodeName,
        { metadata: { labels: want.metadata.labels, annotations: want.metadata.annotations } },
        { type: 'merge' },
      );
    }
    await this.#postNodeStatus();
  }

  async #postNodeStatus(): Promise<void> {
    if (this.#stopped) return;
    const n = this.#nodeObject();
    await this.#client
      .resource<Node & KubeObject>('nodes')
      .patch(this.nodeName, { status: n.status }, { type: 'merge', subresource: 'status' });
  }

  async #renewLease(): Promise<void> {
    if (this.#stopped) return;
    const leases = this.#client.resource<Lease & KubeObject>('leases');
    const now = microTime(new Date());
    try {
      await leases.patch(
        this.nodeName,
        { spec: { renewTime: now, holderIdentity: this.nodeName } },
        { namespace: 'kube-node-lease', type: 'merge' },
      );
    } catch (e) {
      if (!isNotFound(e)) throw e;
      await leases.create(
        {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name: this.nodeName, namespace: 'kube-node-lease' },
          spec: {
            holderIdentity: this.nodeName,
            leaseDurationSeconds: this.#o.leaseDurationSeconds ?? 40,
            renewTime: now,
            acquireTime: now,
          },
        } as Lease & KubeObject,
        { namespace: 'kube-node-lease' },
      );
    }
  }

  async #waitForPodCidr(): Promise<string> {
    const nodes = this.#client.resource<Node & KubeObject>('nodes');
    for (let i = 0; !this.#stopped; i++) {
      const n = await nodes.get(this.nodeName);
      const cidr = n.spec?.podCIDR;
      if (cidr) return cidr;
      if (i === 10) this.log.warn('waiting for spec.podCIDR (is the node IPAM controller running?)');
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error('stopped');
  }

  /**
   * The node's prober: a sandbox of its own on cni0, from which network probes leave (as the
   * kubelet's from the host). Retried in the background until the CNI answers (the cni-agent may
   * still be starting).
   */
  async #setUpProber(): Promise<void> {
    const cni = this.#cni as CniPlugin;
    const sandbox = new Sandbox(cni, {
      namespace: 'kube-system',
      name: `node-agent-prober-${this.nodeName}`,
      uid: `prober-${this.nodeName}`,
    });
    for (let wait = 200; !this.#stopped; wait = Math.min(wait * 2, 5000)) {
      try {
        await sandbox.setUp();
        this.#prober = { sandbox, scope: new SocketScope(sandbox.ns) };
        return;
      } catch (e) {
        this.log.warn({ err: (e as Error).message, retryMs: wait }, 'cannot attach the prober to cni0 yet: network probes wait for it');
        await new Promise((r) => setTimeout(r, wait));
      }
    }
  }

  // ---- pods -----------------------------------------------------------------------------------

  #key(p: Pod): string {
    return `${p.metadata.namespace}/${p.metadata.name}/${p.metadata.uid}`;
  }

  #sync(pod: Pod): void {
    if (this.#stopped) return;
    const key = this.#key(pod);
    let rt = this.#pods.get(key);
    if (!rt) {
      if (pod.metadata.deletionTimestamp) {
        // Never started here (or started by an earlier incarnation of this agent): nothing runs, confirm.
        void this.#confirmDeletion(pod);
        return;
      }
      if (pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') return;
      rt = new PodRuntime(pod, {
        node: this.nodeName,
        nodeIp: this.#o.nodeIp,
        dataDir: this.#o.dataDir,
        cni: this.#cni as CniPlugin,
        events: this.#events,
        log: this.log,
        backoff: this.#o.backoff ?? KUBELET_BACKOFF,
        prober: () => this.#prober?.scope,
        statusChanged: (r) => this.#scheduleStatus(r),
        postStatusNow: (r) => this.#flushStatus(r),
        metrics: {
          restart: () => this.metrics.restarts.inc(),
          probe: (kind, ok) => this.metrics.probes.inc({ probe_type: kind, result: ok ? 'successful' : 'failed' }),
          sandboxSetup: (s) => this.metrics.sandboxSetup.observe(s),
        },
      });
      this.#pods.set(key, rt);
      this.log.info({ pod: rt.key }, 'starting pod');
      rt.start();
      this.#updatePodMetrics();
      return;
    }
    rt.pod = pod;
    if (pod.metadata.deletionTimestamp && !rt.terminating) {
      this.log.info({ pod: rt.key, grace: pod.metadata.deletionGracePeriodSeconds }, 'terminating pod');
      void rt.terminate().then(async () => {
        await this.#flushStatus(rt as PodRuntime);
        await this.#confirmDeletion(pod);
        this.#pods.delete(key);
        this.#updatePodMetrics();
      });
    }
  }

  async #confirmDeletion(pod: Pod): Promise<void> {
    try {
      await this.#client.resource<Pod & KubeObject>('pods').delete(pod.metadata.name, {
        namespace: pod.metadata.namespace,
        gracePeriodSeconds: 0,
        ...(pod.metadata.uid ? { preconditions: { uid: pod.metadata.uid } } : {}),
      });
    } catch (e) {
      if (!isNotFound(e))
        this.log.warn({ pod: `${pod.metadata.namespace}/${pod.metadata.name}`, err: (e as Error).message }, 'cannot confirm deletion');
    }
  }

  #forget(pod: Pod): void {
    const key = this.#key(pod);
    const rt = this.#pods.get(key);
    if (!rt) return;
    this.#pods.delete(key);
    clearTimeout(this.#statusTimers.get(key));
    void rt.stop();
    this.#updatePodMetrics();
  }

  #scheduleStatus(rt: PodRuntime): void {
    const key = `${rt.namespace}/${rt.name}/${rt.uid}`;
    if (this.#statusTimers.has(key) || this.#stopped) return;
    this.#statusTimers.set(
      key,
      setTimeout(() => {
        this.#statusTimers.delete(key);
        void this.#flushStatus(rt);
      }, 20),
    );
  }

  /** Posts the pod's status (serialized per pod, so posts never overtake each other). */
  #flushStatus(rt: PodRuntime): Promise<void> {
    const key = `${rt.namespace}/${rt.name}/${rt.uid}`;
    const prev = this.#statusChains.get(key) ?? Promise.resolve();
    const next = prev.then(async () => {
      if (this.#stopped) return;
      try {
        await this.#client
          .resource<Pod & KubeObject>('pods')
          .patch(rt.name, { status: rt.status() }, { namespace: rt.namespace, type: 'merge', subresource: 'status' });
      } catch (e) {
        if (isNotFound(e)) this.#forget(rt.pod);
        else this.log.warn({ pod: rt.key, err: (e as Error).message }, 'pod status update failed');
      }
      this.#updatePodMetrics();
    });
    this.#statusChains.set(key, next);
    return next;
  }

  #updatePodMetrics(): void {
    const counts: Record<string, number> = { Pending: 0, Running: 0, Succeeded: 0, Failed: 0 };
    for (const p of this.#pods.values()) {
      const phase = p.status().phase ?? 'Pending';
      counts[phase] = (counts[phase] ?? 0) + 1;
    }
    for (const [phase, n] of Object.entries(counts)) this.metrics.podsByPhase.set({ phase }, n);
    this.metrics.runningPods.set(this.#pods.size);
  }

  /** `podnet kill pod`: the pod's containers die at once; restartPolicy decides what follows. */
  killPod(namespace: string, name: string): number {
    let n = 0;
    for (const p of this.#pods.values()) if (p.namespace === namespace && p.name === name) n += p.kill();
    this.log.info({ pod: `${namespace}/${name}`, containers: n }, 'killed pod containers');
    return n;
  }

  pod(namespace: string, name: string): PodRuntime | undefined {
    return [...this.#pods.values()].find((p) => p.namespace === namespace && p.name === name);
  }

  /**
   * After a cni-agent restart: CNI ADD again for every pod (idempotent: the same IP) and reattach
   * each eth0 to the re-created host veth, retrying until the new cni-agent answers.
   */
  async resyncPods(): Promise<void> {
    const targets: Array<{ key: string; resync: () => Promise<void> }> = [...this.#pods.values()].map((p) => ({
      key: p.key,
      resync: () => p.resync(),
    }));
    const prober = this.#prober;
    if (prober) targets.push({ key: 'prober', resync: () => prober.sandbox.resync() });
    const deadline = Date.now() + 120_000;
    await Promise.all(
      targets.map(async (t) => {
        for (let wait = 200; !this.#stopped; wait = Math.min(wait * 2, 3000)) {
          try {
            await t.resync();
            return;
          } catch (e) {
            if (Date.now() > deadline) {
              this.log.error({ pod: t.key, err: (e as Error).message }, 'pod resync after cni-agent restart failed; giving up');
              return;
            }
            await new Promise((r) => setTimeout(r, wait));
          }
        }
      }),
    );
    this.log.info({ pods: targets.length }, 'resynchronised pods after cni-agent restart');
  }

  /** Stops everything (pods killed without posting; the Node stays registered). */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#leaseTimer);
    clearInterval(this.#statusTimer);
    for (const t of this.#statusTimers.values()) clearTimeout(t);
    await this.#informer?.stop();
    await Promise.all([...this.#pods.values()].map((p) => p.stop()));
    this.#pods.clear();
    this.#prober?.scope.close();
    await this.#prober?.sandbox.tearDown().catch(() => undefined);
    await this.#server?.close();
    await this.#cni?.close();
  }
}
