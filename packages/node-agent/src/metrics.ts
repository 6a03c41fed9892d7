// The node-agent's Prometheus metrics (prom-client, one registry per agent; labels
// {component: "node-agent", node}). Names follow the kubelet's where one exists
// (kubelet_running_pods, prober_probe_total, kubelet_run_podsandbox_duration_seconds).
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export class NodeAgentMetrics {
  readonly registry = new Registry();
  readonly podsByPhase: Gauge<'phase'>;
  readonly runningPods: Gauge;
  readonly restarts: Counter;
  readonly probes: Counter<'probe_type' | 'result'>;
  readonly sandboxSetup: Histogram;

  constructor(node: string, options: { defaultMetrics?: boolean } = {}) {
    this.registry.setDefaultLabels({ component: 'node-agent', node });
    if (options.defaultMetrics) collectDefaultMetrics({ register: this.registry });
    this.podsByPhase = new Gauge({
      name: 'node_agent_pods',
      help: 'Pods on this node by phase.',
      labelNames: ['phase'],
      registers: [this.registry],
    });
    this.runningPods = new Gauge({
      name: 'kubelet_running_pods',
      help: 'Number of pods that have a running pod sandbox.',
      registers: [this.registry],
    });
    this.restarts = new Counter({
      name: 'node_agent_container_restarts_total',
      help: 'Container restarts (restartPolicy and liveness).',
      registers: [this.registry],
    });
    this.probes = new Counter({
      name: 'prober_probe_total',
      help: 'Cumulative number of a readiness or liveness probe results.',
      labelNames: ['probe_type', 'result'],
      registers: [this.registry],
    });
    this.sandboxSetup = new Histogram({
      name: 'kubelet_run_podsandbox_duration_seconds',
      help: 'Duration of pod sandbox setup (CNI ADD and eth0 attach), seconds.',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [this.registry],
    });
  }
}
