// The control plane's own cluster-level metrics, served by the live page server at /metrics (no
// token, like the page): Ready/not-ready endpoints per Service from the EndpointSlices, and how
// often a Service's slices changed (the EndpointSlice controller's writes, as a watcher sees them).
// Written as text exposition directly (format 0.0.4), labels {component="control-plane"}.
import type { Informer, KubeObject } from '@podnet/client';
import type { ClusterView } from './cluster-view.js';

const escapeLabelValue = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
const labels = (l: Record<string, string>) =>
  `{${Object.entries({ component: 'control-plane', ...l })
    .map(([k, v]) => `${k}="${escapeLabelValue(v)}"`)
    .join(',')}}`;

export function controlPlaneMetricsText(view: ClusterView, informers: Array<[string, Informer<KubeObject>]> = []): string {
  const snap = view.snapshot();
  const lines = [
    "# HELP podnet_service_endpoints Endpoints listed in a Service's EndpointSlices, by readiness.",
    '# TYPE podnet_service_endpoints gauge',
  ];
  for (const s of snap.services) {
    const ready = s.endpoints.filter((e) => e.ready).length;
    lines.push(`podnet_service_endpoints${labels({ namespace: s.namespace, service: s.name, ready: 'true' })} ${ready}`);
    lines.push(
      `podnet_service_endpoints${labels({ namespace: s.namespace, service: s.name, ready: 'false' })} ${s.endpoints.length - ready}`,
    );
  }
  lines.push(
    '# HELP podnet_service_endpoint_changes_total EndpointSlice updates and deletions seen per Service since the control plane started.',
    '# TYPE podnet_service_endpoint_changes_total counter',
  );
  for (const s of snap.services) {
    const n = view.endpointChanges.get(`${s.namespace}/${s.name}`) ?? 0;
    lines.push(`podnet_service_endpoint_changes_total${labels({ namespace: s.namespace, service: s.name })} ${n}`);
  }
  lines.push('# HELP podnet_cluster_nodes Nodes by Ready condition status.', '# TYPE podnet_cluster_nodes gauge');
  for (const status of ['True', 'False', 'Unknown'])
    lines.push(`podnet_cluster_nodes${labels({ ready: status })} ${snap.nodes.filter((n) => n.ready === status).length}`);
  lines.push('# HELP podnet_cluster_pods Pods by phase.', '# TYPE podnet_cluster_pods gauge');
  const phases = new Map<string, number>();
  for (const p of snap.pods) phases.set(p.phase, (phases.get(p.phase) ?? 0) + 1);
  for (const [phase, n] of phases) lines.push(`podnet_cluster_pods${labels({ phase })} ${n}`);
  // The controllers' informers (client-go reflector metrics in spirit: lists, watches, relists after
  // 410 Gone, watches that broke) and their cache sizes.
  const perInformer = (name: string, help: string, type: string, pick: (i: Informer<KubeObject>) => number) => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [key, inf] of informers) {
      const [resource, namespace] = key.split('|') as [string, string];
      lines.push(`${name}${labels({ resource, namespace })} ${pick(inf)}`);
    }
  };
  perInformer('podnet_controller_informer_lists_total', "LIST requests of the controllers' informers.", 'counter', (i) => i.stats.lists);
  perInformer(
    'podnet_controller_informer_watches_total',
    "WATCH requests of the controllers' informers.",
    'counter',
    (i) => i.stats.watches,
  );
  perInformer('podnet_controller_informer_relists_total', 'Relists after 410 Gone.', 'counter', (i) => i.stats.relists);
  perInformer(
    'podnet_controller_informer_watch_errors_total',
    'Watches that ended with an error and were retried.',
    'counter',
    (i) => i.stats.watchErrors,
  );
  perInformer('podnet_controller_informer_objects', 'Objects in the informer cache.', 'gauge', (i) => i.store.list().length);
  return `${lines.join('\n')}\n`;
}
