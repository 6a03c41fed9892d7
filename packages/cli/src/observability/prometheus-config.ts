// `podnet prometheus-config`: a Prometheus configuration that scrapes every component of every
// node of a process-mode cluster (DESIGN §4 ports), generated from the cluster's state directory
// (cluster.json written by `podnet up`, its kubeconfig for the CA, and the read-only `viewer`
// kubeconfig the API server writes into its data directory at every start).
//
// Targets, one job per component (labels job/instance from Prometheus; each process also labels its
// own samples {component, node}):
//   apiserver   https://127.0.0.1:<apiPort>/metrics   the viewer token (the API server's /metrics needs
//               an authenticated user; viewer may only read), cluster CA
//   node-agent  https://<transport>:10250/metrics     the same viewer token: the kubelet API checks a
//               token it does not know with a TokenReview and authorizes `get nodes/metrics` with a
//               SubjectAccessReview (kubelet --authentication-token-webhook, --authorization-mode=
//               Webhook), which viewer passes while it is refused nodes/proxy (exec, logs). The nodes'
//               own token, which may write everything, never goes into Prometheus's files. TLS
//               verification is off: older node-agents serve a self-signed certificate, newer ones one
//               signed by the cluster CA; skipping verification scrapes both (the token still
//               authenticates us).
//   kube-proxy  http://<transport>:10249/metrics
//   cni-agent   http://<transport>:9099/metrics
//   control-plane  http://127.0.0.1:<live page port, 8080>/metrics   (the live page server's cluster metrics)
import { chmodSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadKubeconfig } from '@podnet/client';
import { ClusterError, ClusterErrorCodes } from '../cluster/errors.js';
import type { ClusterRecord } from '../cluster/state.js';

export const COMPONENT_PORTS = { 'node-agent': 10250, 'kube-proxy': 10249, 'cni-agent': 9099 } as const;

export interface PrometheusConfigOptions {
  /** How often Prometheus scrapes (default 5s: the cluster's counters move fast in a demo). */
  scrapeInterval?: string;
  /** Where the token and CA files are written (they must exist for Prometheus to read them). */
  secretsDir: string;
  /** The control plane's live page port (8080; -1: the live page is off, no control-plane job). */
  livePagePort?: number;
}

export interface GeneratedPrometheusConfig {
  /** prometheus.yml text. */
  yaml: string;
  /** The read-only `viewer` token, for the API server and the kubelet API. */
  tokenFile: string;
  caFile: string;
  targets: Array<{ job: string; target: string; node?: string }>;
}

/** The files an older `podnet prometheus-config` wrote with more powerful tokens (admin, the nodes'). */
const RETIRED_SECRETS = ['apiserver-token', 'node-token'];

/** Writes <secretsDir>/viewer-token (0600) and apiserver-ca.crt and returns the configuration text. */
export function generatePrometheusConfig(record: ClusterRecord, options: PrometheusConfigOptions): GeneratedPrometheusConfig {
  if (!existsSync(record.kubeconfig)) {
    throw new ClusterError(
      ClusterErrorCodes.NOT_FOUND,
      `the cluster's kubeconfig ${record.kubeconfig} does not exist: was the state directory ${record.stateDir} moved or purged? Run \`podnet up\` again`,
    );
  }
  const viewerKubeconfig = join(record.controlPlane.dataDir, 'kubeconfig-viewer');
  if (!existsSync(viewerKubeconfig)) {
    throw new ClusterError(
      ClusterErrorCodes.NOT_FOUND,
      `the read-only viewer kubeconfig ${viewerKubeconfig} does not exist (the API server writes it when it starts), so Prometheus has no token: is the cluster running? Run \`podnet up\``,
    );
  }
  const creds = loadKubeconfig(record.kubeconfig);
  const viewer = loadKubeconfig(viewerKubeconfig);
  mkdirSync(options.secretsDir, { recursive: true });
  for (const f of RETIRED_SECRETS) rmSync(join(options.secretsDir, f), { force: true });
  const tokenFile = join(options.secretsDir, 'viewer-token');
  const caFile = join(options.secretsDir, 'apiserver-ca.crt');
  writeFileSync(tokenFile, viewer.token, { mode: 0o600 });
  chmodSync(tokenFile, 0o600);
  writeFileSync(caFile, creds.caPem);
  const interval = options.scrapeInterval ?? '5s';
  const apiTarget = new URL(record.apiUrl).host;
  const targets: GeneratedPrometheusConfig['targets'] = [{ job: 'apiserver', target: apiTarget }];
  const perNode = (component: keyof typeof COMPONENT_PORTS) =>
    record.nodes.map((n) => {
      const target = `${n.transportAddress}:${COMPONENT_PORTS[component]}`;
      targets.push({ job: component, target, node: n.name });
      return { targets: [target], labels: { node: n.name } };
    });
  const config = {
    global: { scrape_interval: interval, evaluation_interval: interval, external_labels: { cluster: record.name } },
    scrape_configs: [
      {
        job_name: 'apiserver',
        scheme: 'https',
        metrics_path: '/metrics',
        authorization: { type: 'Bearer', credentials_file: tokenFile },
        tls_config: { ca_file: caFile },
        static_configs: [{ targets: [apiTarget], labels: { node: 'control-plane' } }],
      },
      {
        job_name: 'node-agent',
        scheme: 'https',
        authorization: { type: 'Bearer', credentials_file: tokenFile },
        tls_config: { insecure_skip_verify: true },
        static_configs: perNode('node-agent'),
      },
      { job_name: 'kube-proxy', scheme: 'http', static_configs: perNode('kube-proxy') },
      { job_name: 'cni-agent', scheme: 'http', static_configs: perNode('cni-agent') },
    ],
  };
  const livePagePort = options.livePagePort ?? 8080;
  if (livePagePort >= 0) {
    const target = `127.0.0.1:${livePagePort}`;
    targets.push({ job: 'control-plane', target });
    config.scrape_configs.push({
      job_name: 'control-plane',
      scheme: 'http',
      static_configs: [{ targets: [target], labels: { node: 'control-plane' } }],
    });
  }
  const header = `# Generated by \`podnet prometheus-config\` for cluster "${record.name}" (${record.stateDir}).\n# Every component of every node; regenerate after \`podnet up\` changes the cluster.\n`;
  // JSON is YAML (YAML 1.2 §1.3; go-yaml reads flow style): no YAML library needed, and no quoting surprises.
  return { yaml: `${header}${JSON.stringify(config, null, 2)}\n`, tokenFile, caFile, targets };
}
