// One pod on this node, as the kubelet's pod worker syncs it (pkg/kubelet/pod_workers.go,
// kuberuntime_manager.go SyncPod): sandbox first, then every container; restarts by
// restartPolicy with the crash-loop back-off; probes; status computed as kubelet_pods.go
// (getPhase, generateAPIPodStatus); graceful termination on deletion.
import type { Logger } from '@podnet/client';
import type { CniPlugin } from '../cni/types.js';
import { type BuiltinImage, containerArgv, findImage, imageMain, supportedImagesText } from '../images/index.js';
import type { Container, ContainerState, ContainerStatus, Pod, PodCondition, PodStatus } from '../kube-types.js';
import { rfc3339 } from '../kube-types.js';
import { runCommand } from '../toolbox/index.js';
import { type BackoffConfig, RestartBackoff } from './backoff.js';
import { type ContainerExit, ContainerProcess } from './container.js';
import { containerLogPath } from './cri-log.js';
import type { EventRecorder } from './events.js';
import { type ProbeTarget, ProbeWorker } from './prober.js';
import type { ProcessContext, ProcessIo } from './process.js';
import { Sandbox } from './sandbox.js';
import { SocketScope } from './socket-scope.js';

export interface PodRuntimeDeps {
  node: string;
  nodeIp: string;
  dataDir: string;
  cni: CniPlugin;
  events: EventRecorder;
  log: Logger;
  backoff: BackoffConfig;
  /** The node's prober scope (network probes leave from the node). */
  prober: () => SocketScope | undefined;
  /** Called whenever the status may have changed. */
  statusChanged: (rt: PodRuntime) => void;
  /** Posts the status now (before an immediate restart, so the API sees the container die). */
  postStatusNow?: (rt: PodRuntime) => Promise<void>;
  metrics?: { restart(): void; probe(kind: string, ok: boolean): void; sandboxSetup(seconds: number): void };
}

interface ContainerSlot {
  spec: Container;
  image: BuiltinImage | undefined;
  process: ContainerProcess | undefined;
  restartCount: number;
  state: ContainerState;
  lastState: ContainerState;
  ready: boolean;
  started: boolean;
  backoff: RestartBackoff;
  pullBackoff: RestartBackoff;
  timer: NodeJS.Timeout | undefined;
  probes: ProbeWorker[];
  containerId: string;
}

export class PodRuntime {
  pod: Pod;
  readonly key: string;
  readonly uid: string;
  readonly sandbox: Sandbox;
  readonly #deps: PodRuntimeDeps;
  readonly #slots = new Map<string, ContainerSlot>();
  readonly #conditionTimes = new Map<string, { status: string; time: string }>();
  #startTime: string | undefined;
  #sandboxReady = false;
  #terminating: Promise<void> | undefined;
  #stopped = false;
  #sandboxTimer: NodeJS.Timeout | undefined;
  #sandboxBackoff: RestartBackoff;

  constructor(pod: Pod, deps: PodRuntimeDeps) {
    this.pod = pod;
    this.#deps = deps;
    this.uid = pod.metadata.uid ?? '';
    this.key = `${pod.metadata.namespace}/${pod.metadata.name}`;
    this.sandbox = new Sandbox(deps.cni, { namespace: pod.metadata.namespace ?? 'default', name: pod.metadata.name, uid: this.uid });
    this.#sandboxBackoff = new RestartBackoff({ initialMs: Math.min(1000, deps.backoff.initialMs), maxMs: deps.backoff.maxMs });
    for (const c of pod.spec.containers) {
      // A restarted node-agent finds the pod's earlier status: its containers ran before, so
      // they continue counting (a running one is restarted now, which counts once more).
      const prev = pod.status?.containerStatuses?.find((s) => s.name === c.name);
      const restartCount = prev ? prev.restartCount + (prev.state.running || prev.state.terminated ? 1 : 0) : 0;
      this.#slots.set(c.name, {
        spec: c,
        image: undefined,
        process: undefined,
        restartCount,
        state: { waiting: { reason: 'ContainerCreating' } },
        lastState: {},
        ready: false,
        started: false,
        backoff: new RestartBackoff(deps.backoff),
        pullBackoff: new RestartBackoff(deps.backoff),
        timer: undefined,
        probes: [],
        containerId: '',
      });
    }
  }

  get name(): string {
    return this.pod.metadata.name;
  }
  get namespace(): string {
    return this.pod.metadata.namespace ?? 'default';
  }
  get terminating(): boolean {
    return this.#terminating !== undefined;
  }

  #target() {
    return { name: this.name, namespace: this.namespace, uid: this.uid };
  }

  start(): void {
    this.#startTime = rfc3339(new Date());
    void this.#setUpSandbox();
  }

  async #setUpSandbox(): Promise<void> {
    if (this.#stopped || this.#terminating) return;
    const t0 = performance.now();
    try {
      await this.sandbox.setUp();
    } catch (e) {
      const wait = Math.max(this.#sandboxBackoff.next(0), 500);
      this.#deps.events.record(
        this.#target(),
        'Warning',
        'FailedCreatePodSandBox',
        `Failed to create pod sandbox: ${(e as Error).message}`,
      );
      this.#deps.log.warn({ pod: this.key, err: (e as Error).message, retryMs: wait }, 'sandbox setup failed');
      this.#sandboxTimer = setTimeout(() => void this.#setUpSandbox(), wait);
      return;
    }
    if (this.#stopped || this.#terminating) return;
    this.#deps.metrics?.sandboxSetup((performance.now() - t0) / 1000);
    this.#sandboxReady = true;
    this.#changed();
    for (const slot of this.#slots.values()) this.#pullAndStart(slot);
  }

  /** "Pulls" the image (finds the built-in one) and starts the container, or reports ErrImagePull. */
  #pullAndStart(slot: ContainerSlot): void {
    if (this.#stopped || this.#terminating) return;
    const image = findImage(slot.spec.image);
    const fieldPath = `spec.containers{${slot.spec.name}}`;
    if (!image) {
      const msg = `failed to pull and unpack image "${slot.spec.image}": podnet runs only its built-in images, and none matches "${slot.spec.image}". Supported images: ${supportedImagesText()}`;
      slot.state = { waiting: { reason: 'ErrImagePull', message: msg } };
      this.#deps.events.record(this.#target(), 'Normal', 'Pulling', `Pulling image "${slot.spec.image}"`, fieldPath);
      this.#deps.events.record(this.#target(), 'Warning', 'Failed', `Failed to pull image "${slot.spec.image}": ${msg}`, fieldPath);
      this.#deps.events.record(this.#target(), 'Warning', 'Failed', 'Error: ErrImagePull', fieldPath);
      this.#changed();
      // kubelet image back-off: ErrImagePull, then ImagePullBackOff until the next attempt.
      const wait = Math.max(slot.pullBackoff.next(0), Math.min(1000, this.#deps.backoff.initialMs));
      slot.timer = setTimeout(() => {
        if (this.#stopped || this.#terminating) return;
        slot.state = { waiting: { reason: 'ImagePullBackOff', message: `Back-off pulling image "${slot.spec.image}"` } };
        this.#deps.events.record(this.#target(), 'Normal', 'BackOff', `Back-off pulling image "${slot.spec.image}"`, fieldPath);
        this.#deps.events.record(this.#target(), 'Warning', 'Failed', 'Error: ImagePullBackOff', fieldPath);
        this.#changed();
        slot.timer = setTimeout(() => this.#pullAndStart(slot), Math.max(slot.pullBackoff.next(0), 1000));
      }, wait);
      return;
    }
    if (!slot.image)
      this.#deps.events.record(
        this.#target(),
        'Normal',
        'Pulled',
        `Container image "${slot.spec.image}" already present on machine`,
        fieldPath,
      );
    slot.image = image;
    this.#startContainer(slot);
  }

  #startContainer(slot: ContainerSlot): void {
    const image = slot.image as BuiltinImage;
    const fieldPath = `spec.containers{${slot.spec.name}}`;
    const env: Record<string, string> = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', HOSTNAME: this.name };
    for (const e of slot.spec.env ?? []) env[e.name] = e.value ?? '';
    const argv = containerArgv(image, slot.spec.command, slot.spec.args);
    const process = new ContainerProcess({
      ns: this.sandbox.ns,
      main: imageMain(image),
      argv: argv.map((a) => a.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, n: string) => env[n] ?? m)),
      env,
      hostname: this.pod.spec.hostname ?? this.name,
      podKey: this.key,
      logPath: containerLogPath(this.#deps.dataDir, this.namespace, this.name, this.uid, slot.spec.name, slot.restartCount),
    });
    slot.process = process;
    slot.containerId = `podnet://${this.sandbox.id.slice(0, 12)}-${slot.spec.name}-${slot.restartCount}`;
    slot.state = { running: { startedAt: rfc3339(process.startedAt) } };
    slot.started = true;
    slot.ready = !slot.spec.readinessProbe;
    this.#deps.events.record(this.#target(), 'Normal', 'Created', `Created container: ${slot.spec.name}`, fieldPath);
    this.#deps.events.record(this.#target(), 'Normal', 'Started', `Started container ${slot.spec.name}`, fieldPath);
    this.#startProbes(slot, process);
    this.#changed();
    void process.exited.then((exit) => this.#exited(slot, process, exit));
  }

  #probeTarget(slot: ContainerSlot): ProbeTarget | undefined {
    const ip = this.sandbox.ip;
    if (!ip) return undefined;
    return {
      podIp: ip,
      // Resolved at each probe: a container may start before the node's prober is attached to cni0,
      // and its probes must begin as soon as it is (they wait without counting until then).
      prober: this.#deps.prober,
      ports: slot.spec.ports ?? [],
      exec: (argv, timeoutMs) => this.exec(slot.spec.name, argv, undefined, timeoutMs),
    };
  }

  #startProbes(slot: ContainerSlot, process: ContainerProcess): void {
    const target = this.#probeTarget(slot);
    const fieldPath = `spec.containers{${slot.spec.name}}`;
    if (!target) return;
    const m = this.#deps.metrics;
    if (slot.spec.readinessProbe) {
      const w = new ProbeWorker(
        'readiness',
        slot.spec.readinessProbe,
        target,
        (ok, output) => {
          if (slot.process !== process) return;
          slot.ready = ok;
          if (!ok) this.#deps.events.record(this.#target(), 'Warning', 'Unhealthy', `Readiness probe failed: ${output}`, fieldPath);
          this.#changed();
        },
        (ok) => m?.probe('Readiness', ok),
      );
      slot.probes.push(w);
      w.start();
    }
    if (slot.spec.livenessProbe) {
      const w = new ProbeWorker(
        'liveness',
        slot.spec.livenessProbe,
        target,
        (ok, output) => {
          if (ok || slot.process !== process || !process.running) return;
          this.#deps.events.record(this.#target(), 'Warning', 'Unhealthy', `Liveness probe failed: ${output}`, fieldPath);
          this.#deps.events.record(
            this.#target(),
            'Normal',
            'Killing',
            `Container ${slot.spec.name} failed liveness probe, will be restarted`,
            fieldPath,
          );
          void process.terminate(this.#graceMs());
        },
        (ok) => m?.probe('Liveness', ok),
      );
      slot.probes.push(w);
      w.start();
    }
  }

  #stopProbes(slot: ContainerSlot): void {
    for (const p of slot.probes) p.stop();
    slot.probes = [];
  }

  #graceMs(): number {
    return (this.pod.metadata.deletionGracePeriodSeconds ?? this.pod.spec.terminationGracePeriodSeconds ?? 30) * 1000;
  }

  #exited(slot: ContainerSlot, process: ContainerProcess, exit: ContainerExit): void {
    this.#stopProbes(slot);
    slot.ready = false;
    const terminated = {
      exitCode: exit.exitCode,
      ...(exit.exitCode > 128 ? { signal: exit.exitCode - 128 } : {}),
      reason: exit.exitCode === 0 ? 'Completed' : 'Error',
      ...(exit.exitCode !== 0 && exit.tail ? { message: exit.tail } : {}),
      startedAt: rfc3339(exit.startedAt),
      finishedAt: rfc3339(exit.finishedAt),
      containerID: slot.containerId,
    };
    slot.state = { terminated };
    this.#deps.log.info({ pod: this.key, container: slot.spec.name, exitCode: exit.exitCode, killed: exit.killed }, 'container exited');
    if (this.#stopped || this.#terminating || slot.process !== process) {
      this.#changed();
      return;
    }
    const policy = this.pod.spec.restartPolicy ?? 'Always';
    const restart = policy === 'Always' || (policy === 'OnFailure' && exit.exitCode !== 0);
    if (!restart) {
      this.#changed();
      return;
    }
    const wait = slot.backoff.next(exit.finishedAt.getTime() - exit.startedAt.getTime());
    slot.lastState = { terminated };
    const restartNow = () => {
      if (this.#stopped || this.#terminating) return;
      slot.restartCount++;
      this.#deps.metrics?.restart();
      this.#startContainer(slot);
    };
    if (wait === 0) {
      // As the kubelet's PLEG would: the death is reported (Ready=False, terminated) before
      // the next sync restarts the container, so endpoints see the pod go unready.
      const posted = this.#deps.postStatusNow?.(this) ?? Promise.resolve();
      void posted.then(restartNow, restartNow);
      return;
    }
    const msg = `back-off ${Math.round(wait / 1000)}s restarting failed container=${slot.spec.name} pod=${this.name}_${this.namespace}(${this.uid})`;
    slot.state = { waiting: { reason: 'CrashLoopBackOff', message: msg } };
    this.#deps.events.record(
      this.#target(),
      'Warning',
      'BackOff',
      `Back-off restarting failed container ${slot.spec.name} in pod ${this.name}_${this.namespace}(${this.uid})`,
      `spec.containers{${slot.spec.name}}`,
    );
    this.#changed();
    slot.timer = setTimeout(restartNow, wait);
  }

  /** `podnet kill pod`: every container dies at once (SIGKILL); restarts follow restartPolicy. */
  kill(): number {
    let n = 0;
    for (const slot of this.#slots.values()) {
      if (slot.process?.running) {
        slot.process.kill();
        n++;
      }
    }
    return n;
  }

  /** Graceful termination (kubelet killPod): SIGTERM, grace period, SIGKILL; then the sandbox goes. */
  terminate(): Promise<void> {
    if (this.#terminating) return this.#terminating;
    this.#terminating = (async () => {
      clearTimeout(this.#sandboxTimer);
      const grace = this.#graceMs();
      const waits: Promise<unknown>[] = [];
      for (const slot of this.#slots.values()) {
        clearTimeout(slot.timer);
        this.#stopProbes(slot);
        slot.ready = false;
        if (slot.process?.running) {
          this.#deps.events.record(
            this.#target(),
            'Normal',
            'Killing',
            `Stopping container ${slot.spec.name}`,
            `spec.containers{${slot.spec.name}}`,
          );
          waits.push(slot.process.terminate(grace));
        } else if (!slot.state.terminated) {
          slot.state = {
            terminated: {
              exitCode: 0,
              reason: 'ContainerStatusUnknown',
              message: 'The container could not be located when the pod was terminated',
            },
          };
        }
      }
      this.#changed();
      await Promise.all(waits);
      this.#sandboxReady = false;
      try {
        await this.sandbox.tearDown();
      } catch (e) {
        this.#deps.log.warn({ pod: this.key, err: (e as Error).message }, 'sandbox teardown failed');
      }
      this.#changed();
    })();
    return this.#terminating;
  }

  /** The node is going away (or the pod vanished from the API): stop everything without posting. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#sandboxTimer);
    for (const slot of this.#slots.values()) {
      clearTimeout(slot.timer);
      this.#stopProbes(slot);
      slot.process?.kill();
    }
    await this.sandbox.tearDown().catch(() => undefined);
  }

  /** Re-run CNI ADD and reattach eth0 (after a cni-agent restart). */
  async resync(): Promise<void> {
    if (!this.#sandboxReady || this.#terminating) return;
    await this.sandbox.resync();
  }

  /** Runs a toolbox command in a container's namespace (kubectl exec, exec probes). -1: timed out. */
  async exec(container: string, argv: string[], io?: ProcessIo, timeoutMs?: number): Promise<{ status: number; output: string }> {
    const slot = this.#slots.get(container);
    if (!slot?.process?.running) return { status: 126, output: `container ${container} is not running` };
    const scope = new SocketScope(this.sandbox.ns);
    const kill = new AbortController();
    const term = new AbortController();
    let output = '';
    const ctx: ProcessContext = {
      net: scope,
      hostname: this.pod.spec.hostname ?? this.name,
      env: { PATH: '/usr/bin:/bin', HOSTNAME: this.name, ...Object.fromEntries((slot.spec.env ?? []).map((e) => [e.name, e.value ?? ''])) },
      killed: kill.signal,
      terminated: term.signal,
      podKey: this.key,
      stdout: (t) => {
        if (io) io.stdout(t);
        else if (output.length < 10_000) output += t.toString();
      },
      stderr: (t) => {
        if (io) io.stderr(t);
        else if (output.length < 10_000) output += t.toString();
      },
      ...(io?.stdin ? { stdin: io.stdin } : {}),
    };
    // The exec'd process dies with its container (same cgroup in a real runtime).
    const onContainerExit = () => kill.abort(new Error('container exited'));
    void slot.process.exited.then(onContainerExit);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<number>((resolve) => {
      if (timeoutMs !== undefined)
        timer = setTimeout(() => {
          kill.abort(new Error('timeout'));
          resolve(-1);
        }, timeoutMs);
    });
    try {
      const status = await Promise.race([runCommand(argv, ctx), timeout]);
      return { status, output: output.trim() };
    } finally {
      clearTimeout(timer);
      scope.close();
    }
  }

  containerNames(): string[] {
    return [...this.#slots.keys()];
  }

  /** Which log file holds the container's current (or previous) instance. */
  logInfo(container: string): { restartCount: number; running: boolean; process: ContainerProcess | undefined } | undefined {
    const s = this.#slots.get(container);
    if (!s) return undefined;
    return { restartCount: s.restartCount, running: s.process?.running ?? false, process: s.process };
  }

  logPath(container: string, restartCount: number): string {
    return containerLogPath(this.#deps.dataDir, this.namespace, this.name, this.uid, container, restartCount);
  }

  #changed(): void {
    this.#deps.statusChanged(this);
  }

  #condition(type: string, ok: boolean, reason?: string): PodCondition {
    const status = ok ? 'True' : 'False';
    const prev = this.#conditionTimes.get(type);
    const existing = this.pod.status?.conditions?.find((c) => c.type === type);
    let time = prev?.status === status ? prev.time : undefined;
    if (time === undefined && existing?.status === status && existing.lastTransitionTime) time = existing.lastTransitionTime;
    time ??= rfc3339(new Date());
    this.#conditionTimes.set(type, { status, time });
    return { type, status, lastProbeTime: null, lastTransitionTime: time, ...(reason && !ok ? { reason } : {}) };
  }

  /** generateAPIPodStatus: phase (getPhase), conditions, IPs and container statuses. */
  status(): PodStatus {
    const statuses: ContainerStatus[] = [];
    let running = 0;
    let waiting = 0;
    let stopped = 0;
    let succeeded = 0;
    for (const s of this.#slots.values()) {
      statuses.push({
        name: s.spec.name,
        image: s.spec.image,
        imageID: s.image ? `podnet-builtin://${s.spec.image}` : '',
        ...(s.containerId ? { containerID: s.containerId } : {}),
        ready: s.ready && s.state.running !== undefined,
        started: s.state.running !== undefined,
        restartCount: s.restartCount,
        state: s.state,
        lastState: s.lastState,
      });
      if (s.state.running) running++;
      else if (s.state.terminated) {
        stopped++;
        if (s.state.terminated.exitCode === 0) succeeded++;
      } else if (s.lastState.terminated) stopped++;
      else waiting++;
    }
    const policy = this.pod.spec.restartPolicy ?? 'Always';
    let phase: PodStatus['phase'];
    if (waiting > 0) phase = 'Pending';
    else if (running > 0) phase = 'Running';
    else if (stopped > 0) {
      if (policy === 'Always') phase = 'Running';
      else if (stopped === succeeded) phase = 'Succeeded';
      else if (policy === 'Never') phase = 'Failed';
      else phase = 'Running';
    } else phase = 'Pending';
    if (this.#terminating && running === 0 && !this.#sandboxReady) phase = stopped === succeeded ? 'Succeeded' : 'Failed';
    const allReady = statuses.length > 0 && statuses.every((c) => c.ready);
    const notReadyNames = statuses.filter((c) => !c.ready).map((c) => c.name);
    const containersReady = this.#condition('ContainersReady', allReady, 'ContainersNotReady');
    if (!allReady) containersReady.message = `containers with unready status: [${notReadyNames.join(' ')}]`;
    const ready = this.#condition('Ready', allReady && !this.#terminating, allReady ? 'PodCompleted' : 'ContainersNotReady');
    if (!allReady) ready.message = `containers with unready status: [${notReadyNames.join(' ')}]`;
    const ip = this.sandbox.ip;
    return {
      phase,
      conditions: [
        this.#condition('PodReadyToStartContainers', this.#sandboxReady),
        this.#condition('Initialized', true),
        ready,
        containersReady,
        this.#condition('PodScheduled', true),
      ],
      hostIP: this.#deps.nodeIp,
      hostIPs: [{ ip: this.#deps.nodeIp }],
      ...(ip ? { podIP: ip, podIPs: [{ ip }] } : {}),
      ...(this.#startTime ? { startTime: this.#startTime } : {}),
      containerStatuses: statuses,
    };
  }
}
