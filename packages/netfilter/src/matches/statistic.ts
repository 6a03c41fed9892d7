// -m statistic (net/netfilter/xt_statistic.c). Random mode keeps the probability as the kernel does,
// a 31-bit fixed-point number (lround(p * 2^31)), and prints it back as that number / 2^31 with
// 11 decimals, which is why kube-proxy's 0.3333333333 comes back as 0.33333333349. Nth mode keeps
// one counter per rule, so that the packet numbered --packet (from 0) matches first, then every --every-th.
import { RuleError } from '../errors.js';
import type { MatchModule } from '../rule.js';
import { bang, once, parseCount } from './options.js';

export type StatisticData =
  | { mode: 'random'; probability31: number; inverted: boolean }
  | { mode: 'nth'; every: number; packet: number; inverted: boolean };

export const statisticMatch: MatchModule<StatisticData> = {
  name: 'statistic',
  options: {
    mode: { args: 1 },
    probability: { args: 1, invertible: true },
    every: { args: 1, invertible: true },
    packet: { args: 1 },
  },
  parse(options) {
    const o = once(options, 'statistic');
    const mode = o.get('mode')?.args[0];
    if (mode === undefined) throw new RuleError('statistic: no mode specified');
    if (mode === 'random') {
      const p = o.get('probability');
      if (!p) throw new RuleError('statistic: --probability must be specified with --mode random');
      if (o.has('every') || o.has('packet')) throw new RuleError('statistic: --every and --packet apply to --mode nth only');
      const text = p.args[0] as string;
      const value = /^(\d+(\.\d*)?|\.\d+)$/.test(text) ? Number(text) : Number.NaN;
      if (!(value >= 0 && value <= 1)) {
        throw new RuleError('statistic: bad value for option "--probability", or out of range (0-1).', text);
      }
      return { mode, probability31: Math.round(value * 0x80000000), inverted: p.inverted };
    }
    if (mode === 'nth') {
      const e = o.get('every');
      if (!e) throw new RuleError('statistic: --every must be specified with --mode nth');
      if (o.has('probability')) throw new RuleError('statistic: --probability applies to --mode random only');
      const every = parseCount(e.args[0] as string, 'statistic', 'every');
      if (every === 0) throw new RuleError('statistic: bad value for option "--every", or out of range (1-4294967295).', e.args[0]);
      const packetText = o.get('packet')?.args[0] ?? '0';
      const packet = parseCount(packetText, 'statistic', 'packet');
      if (packet >= every) throw new RuleError('statistic: --packet must be smaller than --every', packetText);
      return { mode, every, packet, inverted: e.inverted };
    }
    throw new RuleError(`statistic: Bad mode "${mode}"`, mode);
  },
  save(d) {
    if (d.mode === 'random') return ` --mode random${bang(d.inverted)} --probability ${(d.probability31 / 0x80000000).toFixed(11)}`;
    return ` --mode nth${bang(d.inverted)} --every ${d.every} --packet ${d.packet}`;
  },
  compile(d) {
    if (d.mode === 'random') {
      const p = d.probability31 / 0x80000000;
      const inverted = d.inverted;
      return (_f, env) => env.chance(p) !== inverted;
    }
    // iptables stores --every n as n-1 and starts the rule's counter at (n-1) - p (libxt_statistic's
    // final check); the kernel matches when the counter it reads equals n-1, then restarts it at 0
    // (xt_statistic.c). So --every 2 --packet 0 matches the 1st, 3rd, ... packets (checked against
    // the kernel in a test namespace).
    const wrap = d.every - 1;
    let count = wrap - d.packet;
    const inverted = d.inverted;
    return () => {
      const hit = count === wrap;
      count = hit ? 0 : count + 1;
      return hit !== inverted;
    };
  },
  list: (d) =>
    d.mode === 'random'
      ? `statistic mode random${d.inverted ? ' !' : ''} probability ${(d.probability31 / 0x80000000).toFixed(11)}`
      : `statistic mode nth${d.inverted ? ' !' : ''} every ${d.every} packet ${d.packet}`,
};
