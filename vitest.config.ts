import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

export default defineConfig({
  resolve: {
    // Tests run against the TypeScript sources; child processes (the CLI) run the built dist/.
    alias: {
      '@podnet/wire': here('./packages/wire/src/index.ts'),
      // A subpath goes before its package: an alias also matches '@podnet/netfilter/…'.
      '@podnet/netfilter/hook': here('./packages/netfilter/src/hook.ts'),
      '@podnet/netfilter': here('./packages/netfilter/src/index.ts'),
      '@podnet/netstack': here('./packages/netstack/src/index.ts'),
      '@podnet/api': here('./packages/api/src/index.ts'),
      '@podnet/apiserver': here('./packages/apiserver/src/index.ts'),
      '@podnet/client': here('./packages/client/src/index.ts'),
      '@podnet/controllers': here('./packages/controllers/src/index.ts'),
      '@podnet/kube-proxy': here('./packages/kube-proxy/src/index.ts'),
      '@podnet/netpol': here('./packages/netpol/src/index.ts'),
      '@podnet/cni-agent/control-client': here('./packages/cni-agent/src/control/client.ts'),
      '@podnet/cni-agent': here('./packages/cni-agent/src/index.ts'),
      '@podnet/node-agent': here('./packages/node-agent/src/index.ts'),
    },
  },
  test: {
    include: ['packages/*/src/**/*.test.ts', 'test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    setupFiles: ['test/support/setup.ts'],
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 300_000,
    reporters: ['default', './test/support/summary-reporter.ts'],
  },
});
