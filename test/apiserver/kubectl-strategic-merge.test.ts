// The real kubectl (1.32) patching by merge keys and strategies the server both publishes
// (/openapi/v3, from which kubectl apply computes its patch) and applies (@podnet/api patch.ts),
// from the one table in @podnet/api patch-tags.ts: PodSpec.topologySpreadConstraints merges by
// topologyKey, and DeploymentSpec.strategy is retainKeys, so switching to Recreate drops the
// rollingUpdate the server defaulted (apimachinery applyRetainKeysDirective).
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeInterop } from '../support/interop.ts';
import { api, credentials, type ServerProcess, startServer, stopServer } from './support.ts';

const deployment = (strategy: string, zoneSkew: number) => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: spread
spec:
  replicas: 1
  selector:
    matchLabels: {app: spread}
  strategy:
    type: ${strategy}
  template:
    metadata:
      labels: {app: spread}
    spec:
      topologySpreadConstraints:
      - topologyKey: topology.kubernetes.io/zone
        maxSkew: ${zoneSkew}
        whenUnsatisfiable: DoNotSchedule
        labelSelector:
          matchLabels: {app: spread}
      containers:
      - name: web
        image: podnet/echo:1.0
`;

describeInterop('kubectl patches by the strategic-merge metadata the server publishes and applies', { commands: ['kubectl'] }, () => {
  let dir: string;
  let home: string;
  let server: ServerProcess;
  let ca: string;
  let token: string;
  const kubectl = (args: string[]) =>
    execa('kubectl', args, {
      env: { HOME: home, KUBECONFIG: join(dir, 'kubeconfig') },
      extendEnv: true,
      reject: false,
      timeout: 60_000,
    });
  const manifest = (text: string) => {
    writeFileSync(join(dir, 'deploy.yaml'), text);
    return join(dir, 'deploy.yaml');
  };
  const spec = async () => (await api(server.url, ca, token, 'GET', '/apis/apps/v1/namespaces/default/deployments/spread')).body.spec;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), `podnet-kubectl-smp-${process.pid}-`));
    home = mkdtempSync(join(tmpdir(), `podnet-home-smp-${process.pid}-`));
    server = await startServer(dir);
    ({ ca, token } = credentials(dir));
  });
  afterAll(() => stopServer(server, dir, home));

  it('apply creates the Deployment; the server defaults strategy.rollingUpdate', async () => {
    const r = await kubectl(['apply', '-f', manifest(deployment('RollingUpdate', 1))]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toBe('deployment.apps/spread created');
    expect((await spec()).strategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '25%', maxSurge: '25%' } });
  });

  it('patch --type=strategic adds a topologySpreadConstraint beside the applied one (merged by topologyKey)', async () => {
    const patch = {
      spec: {
        template: {
          spec: { topologySpreadConstraints: [{ topologyKey: 'kubernetes.io/hostname', maxSkew: 2, whenUnsatisfiable: 'ScheduleAnyway' }] },
        },
      },
    };
    const r = await kubectl(['patch', 'deployment', 'spread', '--type=strategic', '-p', JSON.stringify(patch)]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toBe('deployment.apps/spread patched');
    expect((await spec()).template.spec.topologySpreadConstraints).toEqual([
      {
        topologyKey: 'topology.kubernetes.io/zone',
        maxSkew: 1,
        whenUnsatisfiable: 'DoNotSchedule',
        labelSelector: { matchLabels: { app: 'spread' } },
      },
      { topologyKey: 'kubernetes.io/hostname', maxSkew: 2, whenUnsatisfiable: 'ScheduleAnyway' },
    ]);
  });

  it('re-apply (maxSkew 3, Recreate): kubectl sends $retainKeys and a keyed element; the server keeps the patched constraint and drops rollingUpdate', async () => {
    const r = await kubectl(['apply', '-f', manifest(deployment('Recreate', 3)), '-v=9']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toBe('deployment.apps/spread configured');
    // The patch kubectl computed from the served /openapi/v3 schema.
    const bodies = [...r.stderr.matchAll(/"Request Body" body="((?:[^"\\]|\\.)*)"/g)].map((m) => JSON.parse(`"${m[1]}"`) as string);
    const sent = bodies.find((b) => b.includes('$retainKeys'));
    expect(sent, r.stderr).toBeDefined();
    const sentSpec = JSON.parse(sent as string).spec;
    expect(sentSpec.strategy).toEqual({ $retainKeys: ['type'], type: 'Recreate' });
    expect(sentSpec.template.spec.topologySpreadConstraints).toEqual([{ topologyKey: 'topology.kubernetes.io/zone', maxSkew: 3 }]);
    const s = await spec();
    expect(s.strategy).toEqual({ type: 'Recreate' });
    expect(s.template.spec.topologySpreadConstraints).toEqual([
      {
        topologyKey: 'topology.kubernetes.io/zone',
        maxSkew: 3,
        whenUnsatisfiable: 'DoNotSchedule',
        labelSelector: { matchLabels: { app: 'spread' } },
      },
      { topologyKey: 'kubernetes.io/hostname', maxSkew: 2, whenUnsatisfiable: 'ScheduleAnyway' },
    ]);
  });
});
