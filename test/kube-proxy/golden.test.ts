// Golden tests: each scenario's rendered payload equals a committed file. The files were
// checked line by line against the chain layout in /work/shared/notes/kube-proxy.md and the
// expectations of upstream pkg/proxy/iptables/proxier_test.go (see README "Golden files").
// PODNET_UPDATE_GOLDEN=1 rewrites them (then review the diff as carefully as code).
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderJumpRules } from '@podnet/kube-proxy';
import { describe, expect, it } from 'vitest';
import { load, makeHarness, scenarios } from './scenarios.ts';

const dir = join(import.meta.dirname, 'fixtures');
const update = process.env.PODNET_UPDATE_GOLDEN === '1';

function golden(name: string, actual: string): void {
  const file = join(dir, `${name}.iptables`);
  if (update || !existsSync(file)) {
    if (!update) throw new Error(`golden file ${file} is missing: run with PODNET_UPDATE_GOLDEN=1 and review it`);
    writeFileSync(file, actual);
  }
  expect(actual).toBe(readFileSync(file, 'utf8'));
}

describe('kube-proxy golden payloads', () => {
  for (const scenario of scenarios) {
    it(`${scenario.name}: the full-sync payload is exactly the golden file`, async () => {
      const { proxier, applied } = makeHarness(scenario.config);
      load(proxier, scenario);
      const outcome = await proxier.syncProxyRules();
      expect(outcome.ok).toBe(true);
      expect(outcome.full).toBe(true);
      // The main payload, then the jump rules (first full sync of the process).
      expect(applied.map((a) => a.options.noflush)).toEqual([true, true]);
      golden(scenario.name, applied[0]!.payload);
      expect(applied[1]!.payload).toBe(renderJumpRules({ localhostNodePorts: scenario.config?.localhostNodePorts }));
    });
  }

  it('jump rules: the built-in chain jumps, in kube-proxy order', () => {
    golden('jump-rules', renderJumpRules());
  });
});
