import { applyDefaults, RESOURCES } from '@podnet/api';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  duplicateFields,
  duplicateFieldsOfBody,
  fieldValidationOf,
  goValueString,
  outsideUnknown,
  strictBodyMessage,
  strictErrors,
  strictPatchError,
  unknownFields,
} from './fields.js';
import { ApiError } from './status.js';

// biome-ignore lint/suspicious/noExplicitAny: manifests are open-ended JSON
type Obj = Record<string, any>;

const T = '2026-12-01T10:00:00Z';
const meta = (name: string, extra: Obj = {}) => ({
  name,
  namespace: 'default',
  uid: '0b7c1f52-7f0e-4a43-9d8a-1c0b1d7a0b11',
  resourceVersion: '42',
  generation: 2,
  creationTimestamp: T,
  labels: { app: name, 'app.kubernetes.io/part-of': 'podnet' },
  annotations: { 'deployment.kubernetes.io/revision': '1', 'any/key with spaces': 'x' },
  ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: `${name}-1`, uid: 'u', controller: true, blockOwnerDeletion: true }],
  finalizers: ['kubernetes'],
  managedFields: [
    {
      manager: 'kubectl-client-side-apply',
      operation: 'Update',
      apiVersion: 'v1',
      time: T,
      fieldsType: 'FieldsV1',
      // FieldsV1 is free-form: its keys are field-set paths, not field names.
      fieldsV1: { 'f:metadata': { 'f:labels': { '.': {}, 'f:app': {} } }, 'k:{"port":80}': {} },
    },
  ],
  ...extra,
});

const container = {
  name: 'echo',
  image: 'podnet/echo:1.0',
  imagePullPolicy: 'IfNotPresent',
  args: ['--port', '8080'],
  command: ['/echo'],
  ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP', hostPort: 0 }],
  env: [
    { name: 'MODE', value: 'echo' },
    { name: 'POD_IP', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'status.podIP' } } },
  ],
  resources: { limits: { cpu: '500m', memory: '128Mi' }, requests: { cpu: '100m', 'example.com/gpu': '1' } },
  readinessProbe: { httpGet: { path: '/healthz', port: 'http', scheme: 'HTTP' }, periodSeconds: 5, failureThreshold: 3 },
  livenessProbe: { tcpSocket: { port: 8080 }, initialDelaySeconds: 1 },
  securityContext: { capabilities: { add: ['NET_ADMIN'] }, runAsUser: 1000 },
  terminationMessagePath: '/dev/termination-log',
  terminationMessagePolicy: 'File',
  volumeMounts: [{ name: 'data', mountPath: '/data' }],
};

const podSpec = {
  containers: [container],
  initContainers: [{ name: 'init', image: 'busybox', restartPolicy: 'Always' }],
  restartPolicy: 'Always',
  terminationGracePeriodSeconds: 30,
  dnsPolicy: 'ClusterFirst',
  nodeSelector: { 'kubernetes.io/os': 'linux' },
  nodeName: 'node-1',
  schedulerName: 'default-scheduler',
  serviceAccountName: 'default',
  securityContext: {},
  tolerations: [{ key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 }],
  affinity: {
    podAntiAffinity: {
      preferredDuringSchedulingIgnoredDuringExecution: [
        { weight: 100, podAffinityTerm: { topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: { app: 'web' } } } },
      ],
    },
  },
  topologySpreadConstraints: [
    {
      maxSkew: 1,
      topologyKey: 'zone',
      whenUnsatisfiable: 'ScheduleAnyway',
      labelSelector: { matchExpressions: [{ key: 'app', operator: 'In', values: ['web'] }] },
    },
  ],
  volumes: [{ name: 'data', emptyDir: { sizeLimit: '1Gi' } }],
};

/** One object per served kind, with every part a podnet component or kubectl writes. */
const SAMPLES: Record<string, Obj> = {
  Namespace: {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: meta('team-a'),
    spec: { finalizers: ['kubernetes'] },
    status: { phase: 'Active' },
  },
  Node: {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: meta('node-1', { annotations: { 'podnet.dev/transport-address': '127.0.1.1', 'node.alpha.kubernetes.io/ttl': '0' } }),
    spec: { podCIDR: '10.244.1.0/24', podCIDRs: ['10.244.1.0/24'], taints: [{ key: 'k', value: 'v', effect: 'NoSchedule', timeAdded: T }] },
    status: {
      addresses: [
        { type: 'InternalIP', address: '172.18.0.2' },
        { type: 'Hostname', address: 'node-1' },
      ],
      capacity: { cpu: '4', memory: '8Gi', pods: '110' },
      allocatable: { cpu: '4', memory: '8Gi', pods: '110' },
      conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'ok', lastHeartbeatTime: T, lastTransitionTime: T }],
      nodeInfo: {
        machineID: 'node-1',
        systemUUID: 'node-1',
        bootID: '1',
        kernelVersion: '6.1.0',
        osImage: 'podnet emulated node',
        containerRuntimeVersion: 'podnet://0.1.0',
        kubeletVersion: 'v1.32.0',
        kubeProxyVersion: 'v1.32.0',
        operatingSystem: 'linux',
        architecture: 'amd64',
      },
      daemonEndpoints: { kubeletEndpoint: { Port: 10250 } },
    },
  },
  Pod: {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: meta('web-1'),
    spec: podSpec,
    status: {
      phase: 'Running',
      podIP: '10.244.1.7',
      podIPs: [{ ip: '10.244.1.7' }],
      hostIP: '172.18.0.2',
      hostIPs: [{ ip: '172.18.0.2' }],
      startTime: T,
      qosClass: 'Burstable',
      conditions: [{ type: 'Ready', status: 'True', lastProbeTime: null, lastTransitionTime: T }],
      containerStatuses: [
        {
          name: 'echo',
          ready: true,
          started: true,
          restartCount: 0,
          image: 'podnet/echo:1.0',
          imageID: 'podnet://echo',
          containerID: 'podnet://abc',
          state: { running: { startedAt: T } },
          lastState: { terminated: { exitCode: 137, reason: 'Error', startedAt: T, finishedAt: T } },
        },
      ],
    },
  },
  Service: {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: meta('web'),
    spec: {
      type: 'NodePort',
      selector: { app: 'web' },
      ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 'http', nodePort: 30080, appProtocol: 'http' }],
      clusterIP: '10.96.0.20',
      clusterIPs: ['10.96.0.20'],
      ipFamilies: ['IPv4'],
      ipFamilyPolicy: 'SingleStack',
      sessionAffinity: 'ClientIP',
      sessionAffinityConfig: { clientIP: { timeoutSeconds: 10800 } },
      externalTrafficPolicy: 'Local',
      internalTrafficPolicy: 'Cluster',
    },
    status: { loadBalancer: { ingress: [{ ip: '203.0.113.10', ports: [{ port: 80, protocol: 'TCP' }] }] } },
  },
  Endpoints: {
    apiVersion: 'v1',
    kind: 'Endpoints',
    metadata: meta('web'),
    subsets: [
      {
        addresses: [{ ip: '10.244.1.7', nodeName: 'node-1', targetRef: { kind: 'Pod', name: 'web-1', namespace: 'default', uid: 'u' } }],
        notReadyAddresses: [{ ip: '10.244.2.3' }],
        ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
      },
    ],
  },
  Event: {
    apiVersion: 'v1',
    kind: 'Event',
    metadata: meta('web-1.17a'),
    involvedObject: { kind: 'Pod', name: 'web-1', namespace: 'default', uid: 'u', apiVersion: 'v1', fieldPath: 'spec.containers{echo}' },
    reason: 'Started',
    message: 'Started container echo',
    source: { component: 'kubelet', host: 'node-1' },
    firstTimestamp: T,
    lastTimestamp: T,
    count: 1,
    type: 'Normal',
    eventTime: null,
    reportingComponent: 'kubelet',
    reportingInstance: 'node-1',
    series: { count: 2, lastObservedTime: T },
  },
  Deployment: {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: meta('web'),
    spec: {
      replicas: 3,
      selector: { matchLabels: { app: 'web' } },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: 1 } },
      revisionHistoryLimit: 10,
      progressDeadlineSeconds: 600,
      template: { metadata: { labels: { app: 'web' }, annotations: { a: 'b' } }, spec: podSpec },
    },
    status: {
      observedGeneration: 2,
      replicas: 3,
      updatedReplicas: 3,
      readyReplicas: 3,
      availableReplicas: 3,
      conditions: [{ type: 'Available', status: 'True', reason: 'MinimumReplicasAvailable', lastUpdateTime: T, lastTransitionTime: T }],
    },
  },
  ReplicaSet: {
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: meta('web-1'),
    spec: { replicas: 3, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: podSpec } },
    status: { replicas: 3, fullyLabeledReplicas: 3, readyReplicas: 3, availableReplicas: 3, observedGeneration: 1 },
  },
  EndpointSlice: {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: meta('web-abcde', { labels: { 'kubernetes.io/service-name': 'web' } }),
    addressType: 'IPv4',
    endpoints: [
      {
        addresses: ['10.244.1.7'],
        conditions: { ready: true, serving: true, terminating: false },
        nodeName: 'node-1',
        zone: 'a',
        hints: { forZones: [{ name: 'a' }] },
        targetRef: { kind: 'Pod', name: 'web-1', namespace: 'default', uid: 'u' },
      },
    ],
    ports: [{ name: 'http', port: 8080, protocol: 'TCP', appProtocol: 'http' }],
  },
  NetworkPolicy: {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: meta('deny'),
    spec: {
      podSelector: { matchLabels: { app: 'web' } },
      policyTypes: ['Ingress', 'Egress'],
      ingress: [
        {
          from: [
            { ipBlock: { cidr: '10.0.0.0/8', except: ['10.1.0.0/16'] } },
            { namespaceSelector: {}, podSelector: { matchLabels: { role: 'fe' } } },
          ],
          ports: [{ protocol: 'TCP', port: 'http', endPort: 9000 }],
        },
      ],
      egress: [{ to: [{ podSelector: {} }], ports: [{ port: 53, protocol: 'UDP' }] }],
    },
  },
  Lease: {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: meta('node-1', { namespace: 'kube-node-lease' }),
    spec: {
      holderIdentity: 'node-1',
      leaseDurationSeconds: 40,
      renewTime: '2026-12-01T10:00:00.000000Z',
      acquireTime: T,
      leaseTransitions: 0,
    },
  },
};

describe('unknownFields walks the type table', () => {
  it('accepts a full sample of every served kind (maps, Quantity, IntOrString and FieldsV1 are free-form)', () => {
    expect(Object.keys(SAMPLES).sort()).toEqual(RESOURCES.map((r) => r.kind).sort());
    for (const [kind, sample] of Object.entries(SAMPLES)) expect([kind, unknownFields(kind, sample)]).toEqual([kind, []]);
  });

  it('finds nothing unknown in what API server defaulting adds to each sample and to a bare object', () => {
    for (const [kind, sample] of Object.entries(SAMPLES)) {
      for (const o of [structuredClone(sample), { apiVersion: sample.apiVersion, kind, metadata: { name: 'x' }, spec: {} }]) {
        if (kind === 'Event' || kind === 'Endpoints' || kind === 'EndpointSlice') delete (o as Obj).spec;
        applyDefaults(kind, o);
        expect([kind, unknownFields(kind, o)]).toEqual([kind, []]);
      }
    }
  });

  it('finds nested typos at the path the real server reports', () => {
    const svc = structuredClone(SAMPLES.Service as Obj);
    svc.spec.ports[0].targetPrt = 8080;
    expect(unknownFields('Service', svc)).toEqual(['spec.ports[0].targetPrt']);
    const d = structuredClone(SAMPLES.Deployment as Obj);
    d.spec.template.spec.containers.push({ name: 'b', image: 'b', imagePullPolcy: 'Always' });
    d.spec.template.spec.containers[0].readinessProbe.httpGet.prt = 1;
    d.spec.template.metadata.containers = [];
    d.spec.template.spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm.topologyKye = 'x';
    d.metadata.labelz = {};
    d.metadata.managedFields[0].fieldz = 1;
    d.status.conditions[0].lastProbeTime = T;
    d.extra = true;
    expect(unknownFields('Deployment', d)).toEqual([
      'metadata.managedFields[0].fieldz',
      'metadata.labelz',
      'spec.template.metadata.containers',
      'spec.template.spec.containers[0].readinessProbe.httpGet.prt',
      'spec.template.spec.containers[1].imagePullPolcy',
      'spec.template.spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm.topologyKye',
      'status.conditions[0].lastProbeTime',
      'extra',
    ]);
  });

  it('checks the top level of kinds without spec (Event, Endpoints, EndpointSlice) and field names case-sensitively', () => {
    expect(unknownFields('Event', { ...SAMPLES.Event, spec: {} })).toEqual(['spec']);
    expect(unknownFields('Endpoints', { ...SAMPLES.Endpoints, status: {} })).toEqual(['status']);
    expect(unknownFields('EndpointSlice', { ...SAMPLES.EndpointSlice, endpoints: [{ addresses: [], nodename: 'n' }] })).toEqual([
      'endpoints[0].nodename',
    ]);
    expect(unknownFields('Lease', { spec: { HolderIdentity: 'x' } })).toEqual(['spec.HolderIdentity']);
  });

  it('leaves values of the wrong JSON type to validation (they are not unknown fields)', () => {
    expect(unknownFields('Pod', { spec: { containers: 'x', volumes: [1, null, 'a'], nodeSelector: ['a'] }, metadata: null })).toEqual([]);
  });

  it('prunes the unknown fields and keeps everything else', () => {
    const d = structuredClone(SAMPLES.Deployment as Obj);
    d.spec.template.spec.containers[0].imagePullPolcy = 'Always';
    d.spec.foo = { bar: 1 };
    expect(unknownFields('Deployment', d, true)).toEqual(['spec.template.spec.containers[0].imagePullPolcy', 'spec.foo']);
    expect(d).toEqual(SAMPLES.Deployment);
    expect(unknownFields('Deployment', d)).toEqual([]);
  });

  it('checks nothing for a kind podnet does not serve', () => {
    expect(unknownFields('Widget', { anything: 1 })).toEqual([]);
  });
});

describe('duplicateFields', () => {
  it('reports every repeated key of one object by path, in document order', () => {
    expect(duplicateFields('{"a":1,"a":2}')).toEqual(['a']);
    expect(
      duplicateFields(
        '{"metadata":{"name":"x","labels":{"app":"a","app":"b"}},"spec":{"replicas":1,"ports":[{"port":1},{"port":2,"port":3}],"replicas":2}}',
      ),
    ).toEqual(['metadata.labels.app', 'spec.ports[1].port', 'spec.replicas']);
    expect(duplicateFields(' [ {"a":1} , {"b":1, "b" : 2} ] ')).toEqual(['[1].b']);
    expect(duplicateFields('{"l":[[1,2],[{"x":1,"x":1}]]}')).toEqual(['l[1][0].x']);
  });

  it('reads keys with escapes, and strings that look like JSON are not keys', () => {
    expect(duplicateFields('{"a\\"b":1,"a\\u0022b":2}')).toEqual(['a"b']);
    expect(duplicateFields('{"v":"{\\"a\\":1,\\"a\\":2}","w":["a:","a:"],"x":"}"}')).toEqual([]);
    expect(duplicateFields('{"a":{"k":1},"b":{"k":1}}')).toEqual([]);
  });

  it('never reports a duplicate in what JSON.stringify writes (property)', () => {
    fc.assert(fc.property(fc.jsonValue(), (v) => duplicateFields(JSON.stringify(v, null, 1)).length === 0));
  });

  it('finds a repeated key whatever the key and the values around it (property)', () => {
    fc.assert(
      fc.property(fc.oneof(fc.constant('y'), fc.string()), fc.jsonValue(), (key, v) => {
        const k = JSON.stringify(key);
        const text = `{"x":[1,{${k}:${JSON.stringify(v)},"y":"\\\\",${k}:null}]}`;
        expect(duplicateFields(text)).toEqual(key === 'y' ? ['x[1].y', 'x[1].y'] : [`x[1].${key}`]);
      }),
    );
  });

  it('reads JSON bodies only (YAML refuses duplicate keys when it is parsed)', () => {
    const body = Buffer.from('{"a":1,"a":2}');
    expect(duplicateFieldsOfBody(body, 'application/json; charset=utf-8')).toEqual(['a']);
    expect(duplicateFieldsOfBody(body, 'application/strategic-merge-patch+json')).toEqual(['a']);
    expect(duplicateFieldsOfBody(body, 'application/yaml')).toEqual([]);
    expect(duplicateFieldsOfBody(undefined, 'application/json')).toEqual([]);
  });

  it('ignores duplicates inside an unknown field (the typed decode skips its value)', () => {
    expect(outsideUnknown(['foo', 'foo.a', 'foo[0].b', 'food', 'spec.x'], ['foo'])).toEqual(['food', 'spec.x']);
  });
});

describe('messages', () => {
  it('words strict errors as the real server does', () => {
    const errors = strictErrors(['spec.replicas', 'spec.replicas'], ['spec.ports[0].targetPrt', 'spec.foo']);
    expect(errors).toEqual(['duplicate field "spec.replicas"', 'unknown field "spec.ports[0].targetPrt"', 'unknown field "spec.foo"']);
    expect(strictBodyMessage('Deployment', 'v1', errors.slice(1))).toBe(
      'Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: unknown field "spec.ports[0].targetPrt", unknown field "spec.foo"',
    );
    expect(
      strictErrors(
        [],
        Array.from({ length: 150 }, (_, i) => `f${i}`),
      ),
    ).toHaveLength(100);
  });

  it('a patch fails with 422 Invalid on `patch`, showing the patch as Go prints a map', () => {
    const shown = goValueString({ spec: { b: [1, 'x', true, null], a: { z: {} } } });
    expect(shown).toBe('map[spec:map[a:map[z:map[]] b:[1 x true <nil>]]]');
    const e = strictPatchError(shown, ['unknown field "spec.b"']);
    expect(e.code).toBe(422);
    expect(e.message).toBe(` "" is invalid: patch: Invalid value: "${shown}": strict decoding error: unknown field "spec.b"`);
    expect(e.details?.causes).toEqual([
      { reason: 'FieldValueInvalid', field: 'patch', message: `Invalid value: "${shown}": strict decoding error: unknown field "spec.b"` },
    ]);
  });

  it('fieldValidation defaults to Warn and refuses other values with 422 naming the supported ones', () => {
    expect(fieldValidationOf(undefined, 'CreateOptions')).toBe('Warn');
    expect(fieldValidationOf('', 'PatchOptions')).toBe('Warn');
    for (const v of ['Strict', 'Warn', 'Ignore']) expect(fieldValidationOf(v, 'UpdateOptions')).toBe(v);
    let err: unknown;
    try {
      fieldValidationOf('strict', 'CreateOptions');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).code).toBe(422);
    expect((err as ApiError).message).toBe(
      'CreateOptions.meta.k8s.io "" is invalid: fieldValidation: Unsupported value: "strict": supported values: "", "Ignore", "Strict", "Warn"',
    );
  });
});
