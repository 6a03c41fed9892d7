// The `podnet up --demo` app: a 3-replica agnhost netexec web Deployment (the Kubernetes e2e
// image; /hostname names the replica that answered), its NodePort Service, and podnet's load
// generator calling the Service's ClusterIP from inside the cluster. Objects are applied as
// create-or-keep, so `up --demo` on a reused state directory does not fail on AlreadyExists.
import { AlreadyExistsError, type KubeClient } from '@podnet/client';
import type { Output } from '../pcap-read.js';
import { ClusterError, ClusterErrorCodes } from './errors.js';
import { waitFor } from './spawn.js';

export const AGNHOST_IMAGE = 'registry.k8s.io/e2e-test-images/agnhost:2.53';
export const LOADGEN_IMAGE = 'podnet/loadgen';

export function webDeployment(name = 'web', replicas = 3): Record<string, unknown> {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: 'default', labels: { app: name } },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          containers: [
            {
              name: 'agnhost',
              image: AGNHOST_IMAGE,
              args: ['netexec', '--http-port=8080', '--udp-port=8081'],
              ports: [
                { name: 'http', containerPort: 8080, protocol: 'TCP' },
                { name: 'udp', containerPort: 8081, protocol: 'UDP' },
              ],
              readinessProbe: { httpGet: { path: '/healthz', port: 8080 }, periodSeconds: 1, failureThreshold: 1 },
            },
          ],
        },
      },
    },
  };
}

export function webService(name = 'web', externalTrafficPolicy: 'Cluster' | 'Local' = 'Cluster'): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: 'default', labels: { app: name } },
    spec: {
      type: 'NodePort',
      selector: { app: name },
      externalTrafficPolicy,
      ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }],
    },
  };
}

export function loadgenDeployment(url: string, rate = 5): Record<string, unknown> {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'loadgen', namespace: 'default', labels: { app: 'loadgen' } },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: 'loadgen' } },
      template: {
        metadata: { labels: { app: 'loadgen' } },
        spec: { containers: [{ name: 'loadgen', image: LOADGEN_IMAGE, args: ['--url', url, '--rate', String(rate), '--port', '9090'] }] },
      },
    },
  };
}

async function createOrKeep(client: KubeClient, resource: 'deployments' | 'services', object: Record<string, unknown>): Promise<void> {
  try {
    await client.resource(resource).create(object as never);
  } catch (error) {
    if (!(error instanceof AlreadyExistsError)) throw error;
  }
}

interface PodLike {
  status?: { phase?: string; conditions?: Array<{ type?: string; status?: string }> };
}

export async function deployDemo(client: KubeClient, io: Output, timeoutMs: number): Promise<{ nodePort: number; clusterIP: string }> {
  await createOrKeep(client, 'deployments', webDeployment());
  await createOrKeep(client, 'services', webService());
  const svc = (await client.resource('services').get('web', { namespace: 'default' } as never)) as {
    spec?: { clusterIP?: string; ports?: Array<{ nodePort?: number }> };
  };
  const clusterIP = svc.spec?.clusterIP ?? '';
  const nodePort = svc.spec?.ports?.[0]?.nodePort ?? 0;
  await createOrKeep(client, 'deployments', loadgenDeployment(`http://${clusterIP}:80/hostname`));
  const ready = await waitFor(
    async () => {
      const pods = (await client.resource('pods').list({ namespace: 'default', labelSelector: { app: 'web' } })).items as PodLike[];
      const n = pods.filter((p) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')).length;
      return n >= 3 ? n : undefined;
    },
    timeoutMs,
    500,
  );
  if (ready === undefined) {
    throw new ClusterError(
      ClusterErrorCodes.START,
      `podnet: the demo's web pods did not all become Ready within ${Math.round(timeoutMs / 1000)} s; see \`kubectl get pods -o wide\` and \`kubectl describe pod -l app=web\` (the cluster keeps running)`,
    );
  }
  io.out(`  demo ready: 3 web replicas behind ${clusterIP}:80 (NodePort ${nodePort}), loadgen calling it`);
  return { nodePort, clusterIP };
}
