// The kernel as the oracle: every payload podnet's kube-proxy renders is applied by the real
// iptables-restore in a network namespace this test creates, exactly as the cni-agent will
// apply it (one atomic restore, --noflush), together with the jump-rules payload; then
// iptables-save must show every chain with the same number of rules. A partial sync applies on
// top of a full one, and stale service chains disappear from the kernel.
import { spawnSync } from 'node:child_process';
import { afterAll, expect, it } from 'vitest';
import { makeService, makeSlice, tcpPort } from '../../packages/kube-proxy/src/testing/fixtures.ts';
import { describeInterop } from '../support/interop.ts';
import { load, makeHarness, scenarios } from './scenarios.ts';

const prefix = `podnet-kp-${process.pid}`;
const namespaces: string[] = [];

function sh(args: string[], input?: string): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(args[0]!, args.slice(1), { input, encoding: 'utf8', timeout: 30_000 });
  return { status: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

function makeNamespace(tag: string): string {
  const name = `${prefix}-${tag}`;
  const r = sh(['ip', 'netns', 'add', name]);
  if (r.status !== 0) throw new Error(`ip netns add ${name}: ${r.stderr}`);
  namespaces.push(name);
  return name;
}

/** apply() as the cni-agent will implement it: iptables-restore in the node's namespace. */
function kernelApply(ns: string) {
  return async (payload: string, options: { noflush: boolean }) => {
    const r = sh(['ip', 'netns', 'exec', ns, 'iptables-restore', ...(options.noflush ? ['--noflush'] : [])], payload);
    if (r.status !== 0) throw new Error(`iptables-restore exited ${r.status}: ${r.stderr.trim()}`);
  };
}

/** Rules per chain, from `-A` lines (payload or iptables-save output), for one table. */
function rulesPerChain(text: string, table: string): Map<string, number> {
  const out = new Map<string, number>();
  let current = '';
  for (const line of text.split('\n')) {
    if (line.startsWith('*')) current = line.slice(1);
    if (current !== table) continue;
    if (line.startsWith(':')) {
      const chain = line.slice(1).split(' ')[0]!;
      if (!out.has(chain)) out.set(chain, 0);
    }
    if (line.startsWith('-A ')) {
      const chain = line.split(' ')[1]!;
      out.set(chain, (out.get(chain) ?? 0) + 1);
    }
  }
  return out;
}

function kubeChains(counts: Map<string, number>): Map<string, number> {
  return new Map([...counts].filter(([c]) => c.startsWith('KUBE-')).sort(([a], [b]) => (a < b ? -1 : 1)));
}

function save(ns: string): string {
  const r = sh(['ip', 'netns', 'exec', ns, 'iptables-save']);
  if (r.status !== 0) throw new Error(`iptables-save: ${r.stderr}`);
  return r.stdout;
}

describeInterop(
  'kube-proxy payloads in the real iptables-restore',
  { commands: ['ip', 'iptables-restore', 'iptables-save'], root: true },
  () => {
    afterAll(() => {
      for (const ns of namespaces) sh(['ip', 'netns', 'del', ns]);
    });

    scenarios.forEach((scenario, i) => {
      it(`${scenario.name}: the kernel accepts the full payload and the jump rules`, async () => {
        const ns = makeNamespace(String(i));
        const { proxier, applied } = makeHarness(scenario.config, kernelApply(ns));
        load(proxier, scenario);
        const outcome = await proxier.syncProxyRules();
        expect(outcome.error?.message).toBeUndefined();
        expect(outcome.ok).toBe(true);
        const saved = save(ns);
        for (const table of ['filter', 'nat']) {
          expect(kubeChains(rulesPerChain(saved, table))).toEqual(kubeChains(rulesPerChain(applied[0]!.payload, table)));
        }
        expect(saved).toContain(':KUBE-PROXY-CANARY - [0:0]');
        // The jump rules are in the built-in chains, once each.
        expect(saved.match(/-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES/g)).toHaveLength(1);
        expect(saved.match(/-j KUBE-PROXY-FIREWALL/g)).toHaveLength(3);
        expect(saved.match(/-j KUBE-FIREWALL/g) ?? []).toHaveLength(scenario.config?.localhostNodePorts ? 2 : 0);
      });
    });

    it('a partial (--noflush) payload applies on top of a full one; stale chains are deleted in the kernel', async () => {
      const ns = makeNamespace('partial');
      const { proxier, applied } = makeHarness({}, kernelApply(ns));
      const scenario = scenarios.find((s) => s.name === 'udp-dns-two-slices')!;
      const web = makeService('default', 'web', (s) => {
        s.spec.clusterIP = '10.96.0.20';
        s.spec.ports = [{ name: 'http', port: 80, protocol: 'TCP' }];
      });
      const webSlice = makeSlice('default', 'web', 1, [{ addresses: ['10.244.1.5'], nodeName: 'node-1' }], [tcpPort('http', 8080)]);
      load(proxier, { services: [...scenario.services, web], slices: [...scenario.slices, webSlice] });
      expect((await proxier.syncProxyRules()).full).toBe(true);

      // Scale web to two endpoints: only web's chains are rewritten.
      proxier.endpointsChanges.endpointSliceUpdate(
        makeSlice(
          'default',
          'web',
          1,
          [
            { addresses: ['10.244.1.5'], nodeName: 'node-1' },
            { addresses: ['10.244.2.6'], nodeName: 'node-2' },
          ],
          [tcpPort('http', 8080)],
        ),
        false,
      );
      const partial = await proxier.syncProxyRules();
      expect(partial.ok).toBe(true);
      expect(partial.full).toBe(false);
      const partialPayload = applied.at(-1)!.payload;
      expect(partialPayload).not.toContain('kube-dns:dns ->');
      expect(partialPayload).toContain('default/web:http -> 10.244.2.6:8080');
      let saved = save(ns);
      // kube-dns's chains survived untouched; web's SVC has two endpoints now.
      expect(saved).toContain('-A KUBE-SEP-Z6M7ZHWCTBNMPLD7');
      expect(saved.match(/-A KUBE-SVC-CDGGSHYLG3RE2FKL .*-j KUBE-SEP-/g)).toHaveLength(2);

      // Delete web: its SVC and SEP chains are flushed and removed (-X) by the next partial sync.
      proxier.serviceChanges.update(web, undefined);
      proxier.endpointsChanges.endpointSliceUpdate(webSlice, true);
      const removal = await proxier.syncProxyRules();
      expect(removal.ok).toBe(true);
      expect(removal.rendered?.deletedChains.sort()).toEqual(
        ['KUBE-SVC-CDGGSHYLG3RE2FKL', 'KUBE-SEP-AFGSLHOD2HFNCBX4', 'KUBE-SEP-3OLK2YUW6LHBC4UX'].sort(),
      );
      saved = save(ns);
      expect(saved).not.toContain('KUBE-SVC-CDGGSHYLG3RE2FKL');
      expect(saved).not.toContain('KUBE-SEP-3OLK2YUW6LHBC4UX');
      expect(saved).toContain(':KUBE-SVC-TCOU7JCQXEZGVUNU');
      // The jump rules were applied once, on the first full sync only.
      expect(saved.match(/-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES/g)).toHaveLength(1);
    });

    it("with the kernel's iptables-save: a restarted kube-proxy adds no duplicate jumps and removes stale chains; a flush is repaired", async () => {
      const ns = makeNamespace('restart');
      const iptablesSave = async () => save(ns);
      const clusterIP = scenarios.find((s) => s.name === 'clusterip-3-endpoints')!;
      const sticky = scenarios.find((s) => s.name === 'session-affinity')!;
      const first = makeHarness({ iptablesSave }, kernelApply(ns));
      load(first.proxier, { services: [...clusterIP.services, ...sticky.services], slices: [...clusterIP.slices, ...sticky.slices] });
      expect((await first.proxier.syncProxyRules()).ok).toBe(true);
      expect(save(ns)).toContain(':KUBE-SVC-T2ECBIYT2WDZZK45');

      // A new process; the sticky Service was deleted while kube-proxy was down.
      const second = makeHarness({ iptablesSave }, kernelApply(ns));
      load(second.proxier, clusterIP);
      const outcome = await second.proxier.syncProxyRules();
      expect(outcome.ok).toBe(true);
      expect(outcome.rendered?.deletedChains).toContain('KUBE-SVC-T2ECBIYT2WDZZK45');
      expect(second.applied).toHaveLength(1); // every jump rule was already there
      let saved = save(ns);
      expect(saved).not.toContain('KUBE-SVC-T2ECBIYT2WDZZK45');
      expect(saved.match(/-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES/g)).toHaveLength(1);
      expect(saved.match(/-j KUBE-PROXY-FIREWALL/g)).toHaveLength(3);

      // Someone flushes everything (iptables -F; iptables -X in every table).
      for (const table of ['filter', 'nat', 'mangle']) {
        expect(sh(['ip', 'netns', 'exec', ns, 'iptables', '-t', table, '-F']).status).toBe(0);
        expect(sh(['ip', 'netns', 'exec', ns, 'iptables', '-t', table, '-X']).status).toBe(0);
      }
      expect(await second.proxier.checkCanary()).toBe(false);
      second.proxier.stop();
      const repaired = await second.proxier.syncProxyRules();
      expect(repaired).toMatchObject({ ok: true, full: true });
      saved = save(ns);
      expect(saved).toContain(':KUBE-PROXY-CANARY - [0:0]');
      expect(saved).toContain('-A KUBE-SVC-CDGGSHYLG3RE2FKL');
      expect(saved.match(/-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES/g)).toHaveLength(1);
      expect(saved.match(/-j KUBE-PROXY-FIREWALL/g)).toHaveLength(3);
    });

    it('a payload the kernel rejects fails the sync cleanly, and the next sync is full and succeeds', async () => {
      const ns = makeNamespace('reject');
      let breakNext = true;
      const apply = kernelApply(ns);
      const { proxier } = makeHarness({}, async (payload, options) => {
        // A real failure from the real tool: a rule jumping to a chain that does not exist.
        if (breakNext) {
          breakNext = false;
          return apply(payload.replace('-j KUBE-NODEPORTS\n', '-j KUBE-NO-SUCH-CHAIN\n'), options);
        }
        return apply(payload, options);
      });
      load(proxier, scenarios[0]!);
      const failed = await proxier.syncProxyRules();
      expect(failed.ok).toBe(false);
      expect(failed.error?.code).toBe('PODNET_ERR_KUBE_PROXY_APPLY');
      expect(failed.error?.message).toMatch(/iptables-restore exited/);
      // Atomic: nothing of the failed payload is in the kernel.
      expect(save(ns)).not.toContain('KUBE-SVC-');
      const retried = await proxier.syncProxyRules();
      expect(retried.ok).toBe(true);
      expect(retried.full).toBe(true);
      expect(save(ns)).toContain('-A KUBE-SVC-CDGGSHYLG3RE2FKL');
    });
  },
);
