// -j NOTRACK and -j CT --notrack (net/netfilter/xt_CT.c, raw table only): the packet skips
// connection tracking and is UNTRACKED to -m conntrack. Other CT options (zones, helpers,
// timeouts) are not emulated and are refused.
import { RuleError } from '../errors.js';
import type { TargetModule } from '../rule.js';

export const notrackTarget: TargetModule<Record<string, never>> = {
  name: 'NOTRACK',
  listName: 'CT',
  terminal: false,
  tables: ['raw'],
  options: {},
  parse: () => ({}),
  save: () => '',
  compile: (_d, services) => (_f, env) => {
    services.conntrack?.untrack(env.state);
    env.ctChanged();
    return undefined;
  },
  list: () => 'NOTRACK',
};

export const ctTarget: TargetModule<{ notrack: true }> = {
  name: 'CT',
  terminal: false,
  tables: ['raw'],
  options: { notrack: { args: 0 } },
  parse(options) {
    if (options.length === 0) throw new RuleError('CT: podnet supports only `-j CT --notrack`', 'CT');
    return { notrack: true };
  },
  save: () => ' --notrack',
  compile: (_d, services) => (_f, env) => {
    services.conntrack?.untrack(env.state);
    env.ctChanged();
    return undefined;
  },
  list: () => 'CT notrack',
};
