// The second oracle: podnet's own netfilter (packages/netfilter, the rule engine the cni-agent
// applies kube-proxy's output to) accepts every payload kube-proxy renders — each golden full
// payload with its jump rules, and a partial payload on top — and ends with exactly the chains
// and rule counts the payloads describe. With root, the same payloads also go into the kernel
// (legacy backend, as packages/netfilter's own kernel tests compare) and podnet's `iptables-save`
// must equal the kernel's, table by table.
import { spawnSync } from 'node:child_process';
import { RuleSet, restore, save } from '@podnet/netfilter';
import { afterAll, describe, expect, it } from 'vitest';
import type { ApplyOptions } from '../../packages/kube-proxy/src/index.ts';
import { makeSlice, tcpPort } from '../../packages/kube-proxy/src/testing/fixtures.ts';
import { describeInterop } from '../support/interop.ts';
import { load, makeHarness, type Scenario, scenarios } from './scenarios.ts';

/** Rules per KUBE-* chain in one table, from `-A` lines. */
function rulesPerChain(text: string, table: string): Map<string, number> {
  const out = new Map<string, number>();
  let current = '';
  for (const line of text.split('\n')) {
    if (line.startsWith('*')) current = line.slice(1);
    if (current !== table) continue;
    const chain = line.startsWith(':') ? line.slice(1).split(' ')[0]! : line.startsWith('-A ') ? line.split(' ')[1]! : undefined;
    if (chain?.startsWith('KUBE-')) out.set(chain, (out.get(chain) ?? 0) + (line.startsWith('-A ') ? 1 : 0));
  }
  return new Map([...out].sort(([a], [b]) => (a < b ? -1 : 1)));
}

const sh = (args: string[], input?: string) => {
  const r = spawnSync(args[0]!, args.slice(1), { input, encoding: 'utf8', timeout: 30_000 });
  return { status: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
};

/** Full sync (payload + jump rules), then a partial sync adding an endpoint; returns podnet's rule set. */
async function runScenario(scenario: Scenario, alsoApply?: (payload: string, options: ApplyOptions) => void): Promise<RuleSet> {
  let ruleSet = new RuleSet();
  const { proxier, applied } = makeHarness(scenario.config, async (payload, options) => {
    ruleSet = restore(ruleSet, payload, { noflush: options.noflush }).ruleSet;
    alsoApply?.(payload, options);
  });
  load(proxier, scenario);
  const full = await proxier.syncProxyRules();
  expect(full.error?.message).toBeUndefined();
  expect(applied.map((a) => a.options.noflush)).toEqual([true, true]);
  for (const table of ['filter', 'nat']) {
    expect(rulesPerChain(save(ruleSet), table)).toEqual(rulesPerChain(applied[0]!.payload, table));
  }
  const first = scenario.services[0]!;
  const port = first.spec?.ports?.[0];
  proxier.endpointsChanges.endpointSliceUpdate(
    makeSlice(
      first.metadata.namespace!,
      first.metadata.name!,
      99,
      [{ addresses: ['10.244.3.99'], nodeName: 'node-1' }],
      [{ ...tcpPort(port?.name ?? '', 8080), protocol: port?.protocol ?? 'TCP' }],
    ),
    false,
  );
  const partial = await proxier.syncProxyRules();
  expect(partial.error?.message).toBeUndefined();
  expect(partial.full).toBe(false);
  expect(save(ruleSet)).toContain('--to-destination 10.244.3.99:8080');
  return ruleSet;
}

describe("podnet's netfilter restores every kube-proxy payload", () => {
  for (const scenario of scenarios) {
    it(`${scenario.name}: full payload + jump rules, then a partial payload`, async () => {
      await runScenario(scenario);
    });
  }
});

const namespaces: string[] = [];

describeInterop(
  "podnet's iptables-save equals the kernel's after the same kube-proxy payloads",
  { commands: ['ip', 'iptables-legacy-restore', 'iptables-legacy-save'], root: true },
  () => {
    afterAll(() => {
      for (const ns of namespaces) sh(['ip', 'netns', 'del', ns]);
    });
    scenarios.forEach((scenario, i) => {
      it(scenario.name, async () => {
        const ns = `podnet-kpn-${process.pid}-${i}`;
        expect(sh(['ip', 'netns', 'add', ns]).stderr).toBe('');
        namespaces.push(ns);
        const ruleSet = await runScenario(scenario, (payload, options) => {
          const r = sh(['ip', 'netns', 'exec', ns, 'iptables-legacy-restore', ...(options.noflush ? ['--noflush'] : [])], payload);
          expect(r.stderr).toBe('');
          expect(r.status).toBe(0);
        });
        // Table by table: the kernel lists only the tables that were loaded, in load order.
        const tables = (t: string) =>
          new Map(
            t
              .split(/^\*/m)
              .slice(1)
              .map((section) => [
                section.split('\n')[0]!,
                section
                  .split('\n')
                  .filter((l) => !l.startsWith('#'))
                  .join('\n'),
              ]),
          );
        const kernel = tables(sh(['ip', 'netns', 'exec', ns, 'iptables-legacy-save']).stdout);
        expect([...kernel.keys()].sort()).toEqual(['filter', 'mangle', 'nat']);
        const ours = tables(save(ruleSet));
        for (const [name, text] of kernel) expect(ours.get(name), `table ${name}`).toBe(text);
      });
    });
  },
);
