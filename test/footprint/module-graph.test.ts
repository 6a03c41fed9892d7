// What each node process loads at start-up. A node's memory budget (issue 9: under 256 MiB for
// node-agent, cni-agent and kube-proxy with ten pods) is mostly code and the heap it fills: a
// control-plane process that pulls in the data plane through a package index (kube-proxy once
// loaded netstack, netfilter and netpol only to reach CniAgentClient) costs every node ~10 MiB.
// The built mains (dist/) are loaded under a module hook that records every file module, exactly
// as `podnet up` starts them; the static import graph is loaded before any code runs, so an
// unknown flag (exit 1 after parsing) is enough.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'podnet-footprint-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

writeFileSync(
  join(dir, 'hooks.mjs'),
  `import { appendFileSync } from 'node:fs';
export async function load(url, context, next) {
  const r = await next(url, context);
  if (url.startsWith('file:')) appendFileSync(process.env.PODNET_FOOTPRINT_OUT, url + '\\n');
  return r;
}
`,
);
writeFileSync(join(dir, 'register.mjs'), `import { register } from 'node:module';\nregister('./hooks.mjs', import.meta.url);\n`);

/** The podnet packages (by directory) and npm packages a built main loads before it runs. */
async function loadedBy(pkg: string): Promise<{ podnet: Set<string>; npm: Set<string>; files: string[] }> {
  const out = join(dir, `${pkg}.txt`);
  writeFileSync(out, '');
  await execa(process.execPath, ['--import', join(dir, 'register.mjs'), join(REPO, `packages/${pkg}/dist/main.js`), '--no-such-flag'], {
    env: { PODNET_FOOTPRINT_OUT: out },
    reject: false,
    timeout: 30_000,
  });
  const files = readFileSync(out, 'utf8').split('\n').filter(Boolean);
  const podnet = new Set(files.map((u) => /\/packages\/([a-z-]+)\/dist\//.exec(u)?.[1]).filter((x): x is string => x !== undefined));
  const npm = new Set(files.map((u) => /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(u)?.[1]).filter((x): x is string => x !== undefined));
  return { podnet, npm, files };
}

describe('start-up module graph of the node processes', () => {
  it('kube-proxy loads the API client and the control-socket client, not the data plane or the API server', async () => {
    const { podnet, npm, files } = await loadedBy('kube-proxy');
    expect(podnet.has('kube-proxy')).toBe(true);
    expect(podnet.has('client')).toBe(true);
    for (const heavy of ['netstack', 'netfilter', 'netpol', 'apiserver', 'controllers', 'node-agent'])
      expect(podnet.has(heavy), heavy).toBe(false);
    // From the cni-agent only the control client and what it needs (its protocol and errors).
    const cni = files.filter((u) => u.includes('/packages/cni-agent/dist/')).map((u) => u.replace(/.*\/packages\/cni-agent\/dist\//, ''));
    expect(cni.sort()).toEqual(['control/client.js', 'control/protocol.js', 'errors.js']);
    expect(npm.has('fastify')).toBe(false);
  });

  it('node-agent loads netstack for its pods and only the hook interface of netfilter', async () => {
    const { podnet, npm, files } = await loadedBy('node-agent');
    expect(podnet.has('netstack')).toBe(true);
    const netfilter = files
      .filter((u) => u.includes('/packages/netfilter/dist/'))
      .map((u) => u.replace(/.*\/packages\/netfilter\/dist\//, ''));
    expect(netfilter).toEqual(['hook.js']);
    for (const heavy of ['netpol', 'apiserver', 'controllers', 'kube-proxy']) expect(podnet.has(heavy), heavy).toBe(false);
    expect(npm.has('fastify')).toBe(false);
  });
});
