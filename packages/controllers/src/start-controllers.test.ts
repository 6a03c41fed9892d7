import { describe, expect, it } from 'vitest';
import { ControllerError } from './errors.js';
import { validateControllerOptions } from './start-controllers.js';

describe('validateControllerOptions', () => {
  it('accepts the defaults and sane values', () => {
    expect(() => validateControllerOptions({})).not.toThrow();
    expect(() =>
      validateControllerOptions({ clusterCIDR: '10.100.0.0/16', nodeCIDRMaskSize: 26, controllers: ['scheduler'] }),
    ).not.toThrow();
  });
  it('refuses bad options with PODNET_ERR_CONTROLLER_CONFIG, naming what is wrong', () => {
    const bad: [Parameters<typeof validateControllerOptions>[0], RegExp][] = [
      [{ clusterCIDR: '10.244.0.0' }, /"10\.244\.0\.0" is not an IPv4 CIDR/],
      [{ nodeCIDRMaskSize: 8 }, /between the cluster prefix \/16 and \/30/],
      [{ nodeMonitorGracePeriodMs: 0 }, /nodeMonitorGracePeriodMs must be a positive number/],
      [{ controllers: ['nope'] }, /unknown controller "nope"; known: scheduler, /],
    ];
    for (const [opts, msg] of bad) {
      let err: unknown;
      try {
        validateControllerOptions(opts);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ControllerError);
      expect((err as ControllerError).code).toBe('PODNET_ERR_CONTROLLER_CONFIG');
      expect((err as Error).message).toMatch(msg);
    }
  });
});
