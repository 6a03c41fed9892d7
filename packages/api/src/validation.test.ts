import { describe, expect, it } from 'vitest';
import { applyDefaults, defaultPullPolicy } from './defaults.ts';
import { formatFieldError, validateObject, validateUpdate } from './validation.ts';

// biome-ignore lint/suspicious/noExplicitAny: Kubernetes objects are open-ended JSON
type Obj = Record<string, any>;

describe('defaults', () => {
  it('defaults a Service (type, protocol, targetPort, affinity, policies, families)', () => {
    const s: Obj = { metadata: { name: 's' }, spec: { type: 'NodePort', ports: [{ port: 80 }] } };
    applyDefaults('Service', s);
    expect(s.spec).toMatchObject({
      type: 'NodePort',
      sessionAffinity: 'None',
      internalTrafficPolicy: 'Cluster',
      externalTrafficPolicy: 'Cluster',
      ipFamilies: ['IPv4'],
      ports: [{ port: 80, protocol: 'TCP', targetPort: 80 }],
    });
  });
  it('defaults pods, deployments and namespaces', () => {
    const d: Obj = {
      metadata: { name: 'd' },
      spec: { template: { spec: { containers: [{ name: 'c', image: 'x:latest' }] } } },
    };
    applyDefaults('Deployment', d);
    expect(d.spec).toMatchObject({
      replicas: 1,
      revisionHistoryLimit: 10,
      progressDeadlineSeconds: 600,
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } },
    });
    expect(d.spec.template.spec).toMatchObject({ restartPolicy: 'Always', dnsPolicy: 'ClusterFirst', terminationGracePeriodSeconds: 30 });
    expect(d.spec.template.spec.containers[0]).toMatchObject({ imagePullPolicy: 'Always', terminationMessagePath: '/dev/termination-log' });
    const n: Obj = { metadata: { name: 'team-a' } };
    applyDefaults('Namespace', n);
    expect(n.metadata.labels).toEqual({ 'kubernetes.io/metadata.name': 'team-a' });
    expect(defaultPullPolicy('registry:5000/a/b:1.2')).toBe('IfNotPresent');
    expect(defaultPullPolicy('registry:5000/a/b')).toBe('Always');
  });
});

describe('validation', () => {
  it('reports every invalid field of a Service with its path', () => {
    const s: Obj = {
      metadata: { name: 'Bad_Name', labels: { 'a/b/c': 'x' } },
      spec: { type: 'ClusterIP', ports: [{ port: 70000, protocol: 'ICMP' }, { port: 80 }] },
    };
    applyDefaults('Service', s);
    const fields = validateObject('Service', s, true).map((e) => e.field);
    expect(fields).toEqual(
      expect.arrayContaining([
        'metadata.name',
        'metadata.labels',
        'spec.ports[0].port',
        'spec.ports[0].protocol',
        'spec.ports[0].name',
        'spec.ports[1].name',
      ]),
    );
  });
  it('checks that a Deployment selector matches its template labels', () => {
    const d: Obj = {
      metadata: { name: 'd' },
      spec: {
        selector: { matchLabels: { app: 'a' } },
        template: { metadata: { labels: { app: 'b' } }, spec: { containers: [{ name: 'c', image: 'i' }] } },
      },
    };
    const errs = validateObject('Deployment', d, true);
    expect(errs).toHaveLength(1);
    expect(formatFieldError(errs[0] as never)).toBe(
      'spec.template.metadata.labels: Invalid value: {"app":"b"}: `selector` does not match template `labels`',
    );
  });
  it('requires containers with names and images, unique names', () => {
    const fields = validateObject(
      'Pod',
      { metadata: { name: 'p' }, spec: { containers: [{ name: 'a' }, { name: 'a', image: 'x' }] } },
      true,
    ).map((e) => `${e.type} ${e.field}`);
    expect(fields).toEqual(['Required spec.containers[0].image', 'Duplicate spec.containers[1].name']);
    expect(validateObject('Pod', { metadata: { name: 'p' }, spec: {} }, true).map((e) => e.field)).toEqual(['spec.containers']);
  });
  it('forbids changing immutable fields: clusterIP, pod spec except image, selectors', () => {
    expect(validateUpdate('Service', { spec: { clusterIP: '10.96.0.9' } }, { spec: { clusterIP: '10.96.0.8' } })).toHaveLength(1);
    const pod = { spec: { nodeName: 'n', containers: [{ name: 'c', image: 'a' }] } };
    expect(validateUpdate('Pod', { spec: { nodeName: 'n', containers: [{ name: 'c', image: 'b' }] } }, pod)).toEqual([]);
    expect(validateUpdate('Pod', { spec: { nodeName: 'n', containers: [{ name: 'c', image: 'a', args: ['x'] }] } }, pod)[0]?.type).toBe(
      'Forbidden',
    );
    expect(
      validateUpdate(
        'Pod',
        { spec: { nodeName: 'n2', containers: [{ name: 'c', image: 'a' }] } },
        { spec: { containers: [{ name: 'c', image: 'a' }] } },
      ),
    ).toEqual([]);
    expect(
      validateUpdate(
        'Deployment',
        { spec: { selector: { matchLabels: { a: '2' } } } },
        { spec: { selector: { matchLabels: { a: '1' } } } },
      ),
    ).toHaveLength(1);
  });
});
