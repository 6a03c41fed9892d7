// kube-proxy rendering cost: one iptables-restore payload for 1000 Service ports with 5 endpoints
// each (5000 KUBE-SEP chains; above 1000 endpoints kube-proxy's large-cluster mode drops per-endpoint comments), next to the
// bare cost of producing the same text from its finished lines (join), measured in the same run.
// And a partial sync (1 of the 1000 Services changed) against the full render: upstream's
// MinimizeIPTablesRestore still computes every rule (for the rule-count metrics) but writes only
// the changed Services' chains, so the win is in payload size and kernel work more than CPU here.
import { endpointsFromSlices, renderIptables, serviceToServicePorts } from '@podnet/kube-proxy';
import { timePaired } from '../lib/measure.js';

const SERVICES = 1000;
const ENDPOINTS = 5;

function buildState() {
  const services = [];
  const endpoints = new Map();
  for (let i = 0; i < SERVICES; i++) {
    const name = `svc-${i}`;
    const svc = {
      metadata: { namespace: 'bench', name },
      spec: {
        type: i % 10 === 0 ? 'NodePort' : 'ClusterIP',
        clusterIP: `10.96.${i >> 8}.${i & 255}`,
        ports: [{ name: 'http', port: 80, protocol: 'TCP', ...(i % 10 === 0 ? { nodePort: 30000 + i } : {}) }],
      },
    };
    services.push(...serviceToServicePorts(svc).values());
    const slice = {
      metadata: { namespace: 'bench', name: `${name}-1`, labels: { 'kubernetes.io/service-name': name } },
      addressType: 'IPv4',
      endpoints: Array.from({ length: ENDPOINTS }, (_, e) => ({
        addresses: [`10.244.${((i * ENDPOINTS + e) >> 8) & 255}.${(i * ENDPOINTS + e) & 255}`],
        nodeName: `node-${e}`,
      })),
      ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    };
    for (const [key, eps] of endpointsFromSlices('bench', name, [slice], 'node-1')) endpoints.set(key, eps.endpoints);
  }
  services.sort((a, b) => (a.nameString < b.nameString ? -1 : 1));
  return { services, endpoints: (key) => endpoints.get(key) ?? [] };
}

export async function run({ smoke }) {
  const state = buildState();
  const config = { clusterCIDR: '10.244.0.0/16', nodeIP: '172.18.0.2' };
  const full = () => renderIptables({ ...state, existingNatChains: [] }, config);
  const partial = () => renderIptables({ ...state, changedServices: new Set(['bench/svc-500']), existingNatChains: [] }, config);
  const reference = full();
  const lines = reference.payload.split('\n');
  const changed = state.services.find((s) => s.nameString === 'bench/svc-500:http');
  const other = state.services.find((s) => s.nameString === 'bench/svc-501:http');
  const partialPayload = partial().payload;
  if (!partialPayload.includes(`:${changed.clusterPolicyChain} `) || partialPayload.includes(`:${other.clusterPolicyChain} `)) {
    throw new Error('the partial render must write the changed Service chains and only those');
  }
  const repetitions = smoke ? 1 : 9;
  const iterations = smoke ? 1 : 10;
  let sink = 0;
  const fullVsJoin = timePaired(
    (n) => {
      for (let i = 0; i < n; i++) sink += full().payload.length;
    },
    (n) => {
      for (let i = 0; i < n; i++) sink += lines.join('\n').length;
    },
    { iterations, referenceIterations: iterations * 10, repetitions },
  );
  const partialVsFull = timePaired(
    (n) => {
      for (let i = 0; i < n; i++) sink += partial().payload.length;
    },
    (n) => {
      for (let i = 0; i < n; i++) sink += full().payload.length;
    },
    { iterations, repetitions },
  );
  if (sink === 0) throw new Error('nothing rendered');
  const ms = (m, referenceName) => ({
    unit: 'ms',
    decimals: 2,
    value: m.subject.median / 1e6,
    min: m.subject.min / 1e6,
    max: m.subject.max / 1e6,
    reference: { name: referenceName, value: m.reference.median / 1e6, min: m.reference.min / 1e6, max: m.reference.max / 1e6 },
    ratio: m.ratio.median,
    ratioMin: m.ratio.min,
    ratioMax: m.ratio.max,
  });
  return {
    title: `kube-proxy: rendering the iptables-restore payload (${SERVICES} Service ports × ${ENDPOINTS} endpoints)`,
    description: `A full-sync payload of ${lines.length} lines (${(reference.payload.length / 1024).toFixed(0)} KiB, ${reference.rulesLast.nat} nat rules) rendered from the service and endpoints maps, against joining its finished lines; and a partial sync with one Service changed, against the full render.`,
    notes: [
      'The partial payload still carries every KUBE-SERVICES/KUBE-NODEPORTS rule (those chains are rewritten on every sync, as upstream does);',
      "it skips the other Services' KUBE-SVC/KUBE-SEP chains. Upstream kube-proxy needs about the same work per rule in Go.",
    ],
    figures: [
      { name: 'full sync render: time per payload', ...ms(fullVsJoin, 'join of the finished lines') },
      { name: 'partial sync render (1 Service changed): time per payload', ...ms(partialVsFull, 'full sync render') },
    ],
  };
}
