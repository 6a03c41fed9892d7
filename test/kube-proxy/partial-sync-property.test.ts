// Partial syncs are only correct if the kernel ends up exactly where one full sync of the final
// state would put it. fast-check drives random sequences of Service / EndpointSlice changes
// through a proxier whose payloads (mostly partial) go into the real iptables-restore of one test
// netns; a fresh proxier then renders the final state in one full sync into a second netns; the
// two `iptables-save` outputs must be identical. Bounded: 25 runs of 4-10 steps (a deliberately
// broken stale-chain deletion is caught within about 15 runs).
import { spawnSync } from 'node:child_process';
import fc from 'fast-check';
import { expect, it } from 'vitest';
import type { EndpointSlice, Service } from '../../packages/kube-proxy/src/index.ts';
import { makeService, makeSlice, tcpPort } from '../../packages/kube-proxy/src/testing/fixtures.ts';
import { describeInterop } from '../support/interop.ts';
import { load, makeHarness } from './scenarios.ts';

function sh(args: string[], input?: string) {
  const r = spawnSync(args[0]!, args.slice(1), { input, encoding: 'utf8', timeout: 30_000 });
  return { status: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

const apply = (ns: string) => async (payload: string, options: { noflush: boolean }) => {
  const r = sh(['ip', 'netns', 'exec', ns, 'iptables-restore', ...(options.noflush ? ['--noflush'] : [])], payload);
  if (r.status !== 0) throw new Error(`iptables-restore: ${r.stderr}`);
};

/** iptables-save without the timestamp comments and the (traffic-dependent) counters. */
function save(ns: string): string {
  const r = sh(['ip', 'netns', 'exec', ns, 'iptables-save']);
  if (r.status !== 0) throw new Error(r.stderr);
  return r.stdout
    .split('\n')
    .filter((l) => !l.startsWith('#'))
    .join('\n');
}

const NAMES = ['alpha', 'beta', 'gamma'];
const IPS = ['10.244.1.10', '10.244.1.11', '10.244.2.10', '10.244.2.11'];

const serviceArb = fc.record({
  name: fc.constantFrom(...NAMES),
  nodePort: fc.boolean(),
  local: fc.boolean(),
  affinity: fc.boolean(),
  port: fc.constantFrom(80, 8080),
});
const sliceArb = fc.record({
  name: fc.constantFrom(...NAMES),
  endpoints: fc.subarray(IPS.map((ip, i) => ({ ip, node: i < 2 ? 'node-1' : 'node-2' }))),
  ready: fc.boolean(),
});
const stepArb = fc.oneof(
  fc.record({ kind: fc.constant('service' as const), svc: serviceArb }),
  fc.record({ kind: fc.constant('delete-service' as const), name: fc.constantFrom(...NAMES) }),
  fc.record({ kind: fc.constant('slice' as const), slice: sliceArb }),
  fc.record({ kind: fc.constant('delete-slice' as const), name: fc.constantFrom(...NAMES) }),
);

function buildService(s: { name: string; nodePort: boolean; local: boolean; affinity: boolean; port: number }): Service {
  const index = NAMES.indexOf(s.name);
  return makeService('default', s.name, (svc) => {
    svc.spec.type = s.nodePort ? 'NodePort' : 'ClusterIP';
    svc.spec.clusterIP = `10.96.0.${100 + index}`;
    if (s.nodePort && s.local) svc.spec.externalTrafficPolicy = 'Local';
    if (s.affinity) svc.spec.sessionAffinity = 'ClientIP';
    svc.spec.ports = [{ name: 'http', port: s.port, protocol: 'TCP', ...(s.nodePort ? { nodePort: 30200 + index } : {}) }];
  });
}

function buildSlice(s: { name: string; endpoints: { ip: string; node: string }[]; ready: boolean }): EndpointSlice {
  return makeSlice(
    'default',
    s.name,
    1,
    s.endpoints.map((e) => ({ addresses: [e.ip], nodeName: e.node, conditions: { ready: s.ready, serving: true, terminating: !s.ready } })),
    [tcpPort('http', 9000)],
  );
}

let run = 0;

describeInterop(
  'partial syncs converge to the full sync (real iptables-restore)',
  { commands: ['ip', 'iptables-restore', 'iptables-save'], root: true },
  () => {
    it('any sequence of changes, synced partially, leaves the same kernel state as one full sync', async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(stepArb, { minLength: 4, maxLength: 10 }), async (steps) => {
          const nsA = `podnet-kpp-${process.pid}-${run}a`;
          const nsB = `podnet-kpp-${process.pid}-${run++}b`;
          for (const ns of [nsA, nsB]) expect(sh(['ip', 'netns', 'add', ns]).status).toBe(0);
          try {
            const services = new Map<string, Service>();
            const slices = new Map<string, EndpointSlice>();
            const a = makeHarness({}, apply(nsA));
            load(a.proxier, { services: [], slices: [] });
            expect((await a.proxier.syncProxyRules()).ok).toBe(true);
            for (const step of steps) {
              if (step.kind === 'service') {
                const svc = buildService(step.svc);
                a.proxier.onServiceChange(services.get(step.svc.name), svc);
                services.set(step.svc.name, svc);
              } else if (step.kind === 'delete-service') {
                const old = services.get(step.name);
                if (old) a.proxier.onServiceDelete(old);
                services.delete(step.name);
              } else if (step.kind === 'slice') {
                const slice = buildSlice(step.slice);
                a.proxier.onEndpointSliceAdd(slice);
                slices.set(step.slice.name, slice);
              } else {
                const old = slices.get(step.name);
                if (old) a.proxier.onEndpointSliceDelete(old);
                slices.delete(step.name);
              }
              a.proxier.stop();
              const outcome = await a.proxier.syncProxyRules();
              expect(outcome.error?.message).toBeUndefined();
            }
            const b = makeHarness({}, apply(nsB));
            load(b.proxier, { services: [...services.values()], slices: [...slices.values()] });
            expect((await b.proxier.syncProxyRules()).full).toBe(true);
            expect(save(nsA)).toBe(save(nsB));
          } finally {
            for (const ns of [nsA, nsB]) sh(['ip', 'netns', 'del', ns]);
          }
        }),
        { numRuns: 25, seed: 20261201 },
      );
    });
  },
);
