// The cni-agent's command line: --netpol-min-sync-period takes a duration as kube-proxy's
// --min-sync-period does (Go units ms/s/m, a bare number is milliseconds) and refuses anything
// else with the usage error's code and the flag named.
import { describe, expect, it } from 'vitest';
import { NETPOL_MAX_MIN_SYNC_PERIOD_MS, parseArgs, parseMinSyncPeriod } from './args.js';
import { CniAgentErrorCodes } from './errors.js';

const REQUIRED = [
  '--node',
  'node-1',
  '--kubeconfig',
  '/tmp/kubeconfig',
  '--transport-address',
  '127.0.1.1',
  '--node-ip',
  '172.18.0.2',
  '--control-socket',
  '/tmp/cni.sock',
  '--data-dir',
  '/tmp/cni',
  '--backend',
  'vxlan',
];

describe('cni-agent --netpol-min-sync-period', () => {
  it('is absent unless given (the policy agent keeps its 100 ms default)', () => {
    expect(parseArgs(REQUIRED).netpolMinSyncPeriodMs).toBeUndefined();
  });

  it('takes 0, bare milliseconds and Go-style units, with = or as the next word', () => {
    for (const [text, ms] of [
      ['0', 0],
      ['10ms', 10],
      ['250', 250],
      ['1.5s', 1500],
      ['1s', 1000],
      ['0.5m', 30_000],
    ] as const) {
      expect(parseArgs([...REQUIRED, '--netpol-min-sync-period', text]).netpolMinSyncPeriodMs, text).toBe(ms);
      expect(parseArgs([...REQUIRED, `--netpol-min-sync-period=${text}`]).netpolMinSyncPeriodMs, text).toBe(ms);
    }
  });

  it('refuses what is not a duration, a negative one and one longer than the periodic sync', () => {
    for (const [text, message] of [
      ['fast', '--netpol-min-sync-period "fast" is not a duration (examples: 0, 10ms, 100ms, 1s)'],
      ['-5ms', '--netpol-min-sync-period "-5ms" is not a duration'],
      ['10us', '--netpol-min-sync-period "10us" is not a duration'],
      ['31s', '--netpol-min-sync-period "31s" is longer than the policy agent\'s periodic sync (30s)'],
    ] as const) {
      let caught: unknown;
      try {
        parseArgs([...REQUIRED, '--netpol-min-sync-period', text]);
      } catch (error) {
        caught = error;
      }
      expect(caught, text).toMatchObject({ code: CniAgentErrorCodes.USAGE });
      expect((caught as Error).message, text).toContain(message);
      expect((caught as Error).message, text).toContain('usage: cni-agent');
    }
    expect(() => parseArgs([...REQUIRED, '--netpol-min-sync-period'])).toThrow('--netpol-min-sync-period needs a value');
    expect(parseMinSyncPeriod(`${NETPOL_MAX_MIN_SYNC_PERIOD_MS}ms`)).toBe(NETPOL_MAX_MIN_SYNC_PERIOD_MS);
  });
});

describe('cni-agent --netpol-sync-period', () => {
  const usageError = (args: string[]): Error => {
    try {
      parseArgs([...REQUIRED, ...args]);
    } catch (error) {
      expect(error).toMatchObject({ code: CniAgentErrorCodes.USAGE });
      return error as Error;
    }
    throw new Error(`parseArgs accepted ${args.join(' ')}`);
  };

  it('is absent unless given, and takes Go-style durations (kube-proxy --sync-period)', () => {
    expect(parseArgs(REQUIRED).netpolSyncPeriodMs).toBeUndefined();
    for (const [text, ms] of [
      ['10s', 10_000],
      ['1.5m', 90_000],
      ['1h', 3_600_000],
      ['500', 500],
    ] as const) {
      expect(parseArgs([...REQUIRED, '--netpol-sync-period', text]).netpolSyncPeriodMs, text).toBe(ms);
      expect(parseArgs([...REQUIRED, `--netpol-sync-period=${text}`]).netpolSyncPeriodMs, text).toBe(ms);
    }
  });

  it('bounds --netpol-min-sync-period, whichever comes first', () => {
    const both = parseArgs([...REQUIRED, '--netpol-min-sync-period', '45s', '--netpol-sync-period', '1m']);
    expect(both).toMatchObject({ netpolMinSyncPeriodMs: 45_000, netpolSyncPeriodMs: 60_000 });
    expect(usageError(['--netpol-sync-period', '5s', '--netpol-min-sync-period', '6s']).message).toContain(
      '--netpol-min-sync-period "6s" is longer than the policy agent\'s periodic sync (5s); use 0 to 5s',
    );
    expect(parseArgs([...REQUIRED, '--netpol-sync-period', '50ms', '--netpol-min-sync-period', '0']).netpolSyncPeriodMs).toBe(50);
    expect(usageError(['--netpol-sync-period', '50ms']).message).toContain(
      'shorter than the default --netpol-min-sync-period (100ms); pass a smaller --netpol-min-sync-period too',
    );
  });

  it('refuses 0, what is not a duration and more than a day', () => {
    for (const text of ['0', 'soon', '-1s', '25h'])
      expect(usageError(['--netpol-sync-period', text]).message, text).toContain(
        `--netpol-sync-period "${text}" is not a duration from 1ms to 24h (examples: 10s, 30s, 5m)`,
      );
    expect(usageError(['--netpol-sync-period']).message).toContain('--netpol-sync-period needs a value');
  });
});
