import { describe, expect, it } from 'vitest';
import { parseDurationMs, parseKubeProxyArgs } from './process-args.js';

const base = ['--node', 'node-1', '--kubeconfig', '/k', '--control-socket', '/s.sock', '--metrics-address', '127.0.1.1:10249'];

describe('kube-proxy process flags', () => {
  it('reads the required flags and applies the defaults', () => {
    expect(parseKubeProxyArgs(base)).toEqual({
      node: 'node-1',
      kubeconfig: '/k',
      controlSocket: '/s.sock',
      metricsHost: '127.0.1.1',
      metricsPort: 10249,
      minSyncPeriodMs: 10,
      syncPeriodMs: 30_000,
      clusterCIDR: '10.244.0.0/16',
      logLevel: process.env.PODNET_LOG_LEVEL ?? 'info',
    });
  });

  it('takes Go durations and --flag=value', () => {
    const a = parseKubeProxyArgs([...base, '--min-sync-period=1s', '--sync-period', '1m', '--node-ip', '172.18.0.2']);
    expect(a).toMatchObject({ minSyncPeriodMs: 1000, syncPeriodMs: 60_000, nodeIP: '172.18.0.2' });
    expect(parseDurationMs('250', 'x')).toBe(250);
    expect(parseDurationMs('1.5s', 'x')).toBe(1500);
  });

  it('refuses bad input with PODNET_ERR_KUBE_PROXY_CONFIG and the usage', () => {
    const cases: Array<[string[], RegExp]> = [
      [base.slice(2), /--node is required/],
      [[...base, '--frob', '1'], /unknown flag "--frob"/],
      [[...base, 'extra'], /unexpected argument "extra"/],
      [[...base.slice(0, 6), '--metrics-address', 'localhost'], /is not IPv4:PORT/],
      [[...base, '--min-sync-period', 'soon'], /is not a duration/],
      [[...base, '--min-sync-period', '2m'], /must not exceed --sync-period/],
      [[...base, '--cluster-cidr', '10.244.0.0'], /is not an IPv4 CIDR/],
      [[...base, '--node-ip'], /--node-ip needs a value/],
    ];
    for (const [argv, message] of cases) {
      expect(() => parseKubeProxyArgs(argv), argv.join(' ')).toThrow(message);
      try {
        parseKubeProxyArgs(argv);
      } catch (error) {
        expect((error as { code: string }).code).toBe('PODNET_ERR_KUBE_PROXY_CONFIG');
        expect((error as Error).message).toContain('usage: kube-proxy');
      }
    }
  });
});
