// -m limit (net/netfilter/xt_limit.c): a token bucket refilled at --limit per unit, holding at most
// --limit-burst tokens (default 5), on the injected clock. The rate is kept as the kernel keeps it,
// XT_LIMIT_SCALE * seconds-per-unit / count, so that iptables-save prints it back the same way
// libxt_limit's print_rate does.
import { RuleError } from '../errors.js';
import type { MatchModule } from '../rule.js';
import { once, parseCount } from './options.js';

const XT_LIMIT_SCALE = 10000;
const UNITS: ReadonlyArray<readonly [string, number]> = [
  ['day', 86400],
  ['hour', 3600],
  ['min', 60],
  ['sec', 1],
];

export interface LimitData {
  /** Average interval between packets, in 1/XT_LIMIT_SCALE seconds. */
  avg: number;
  burst: number;
}

function parseRate(text: string): number {
  const m = /^(\d+)(?:\/([a-z]+))?$/i.exec(text);
  if (!m) throw new RuleError(`limit: bad rate "${text}"`, text);
  const count = Number(m[1]);
  let mult = 1;
  if (m[2] !== undefined) {
    const unit = m[2].toLowerCase();
    // libxt_limit accepts any prefix of second/minute/hour/day.
    const found = [
      ['second', 1],
      ['minute', 60],
      ['hour', 3600],
      ['day', 86400],
    ].find(([n]) => (n as string).startsWith(unit));
    if (!found) throw new RuleError(`limit: bad rate "${text}"`, text);
    mult = found[1] as number;
  }
  if (count === 0) throw new RuleError(`limit: bad rate "${text}"`, text);
  if (count > mult * XT_LIMIT_SCALE) throw new RuleError(`limit: Rate too fast "${text}"`, text);
  return Math.floor((XT_LIMIT_SCALE * mult) / count);
}

function formatRate(avg: number): string {
  let i = 1;
  for (; i < UNITS.length; i++) {
    const mult = (UNITS[i] as readonly [string, number])[1] * XT_LIMIT_SCALE;
    if (avg > mult || Math.floor(mult / avg) < mult % avg) break;
  }
  const [name, secs] = UNITS[i - 1] as readonly [string, number];
  return `${Math.floor((secs * XT_LIMIT_SCALE) / avg)}/${name}`;
}

export const limitMatch: MatchModule<LimitData> = {
  name: 'limit',
  options: { limit: { args: 1 }, 'limit-burst': { args: 1 } },
  parse(options) {
    const o = once(options, 'limit');
    const rate = o.get('limit')?.args[0] ?? '3/hour';
    const burstText = o.get('limit-burst')?.args[0];
    const burst = burstText === undefined ? 5 : parseCount(burstText, 'limit', 'limit-burst', 10000);
    if (burst === 0) throw new RuleError('limit: bad value for option "--limit-burst", or out of range (1-10000).', burstText);
    return { avg: parseRate(rate), burst };
  },
  save: (d) => ` --limit ${formatRate(d.avg)}${d.burst === 5 ? '' : ` --limit-burst ${d.burst}`}`,
  compile(d, services) {
    const clock = services.clock;
    const intervalMs = d.avg / 10; // avg is in 1/10000 s
    let tokens = d.burst;
    let last = clock.now();
    return () => {
      const now = clock.now();
      tokens = Math.min(d.burst, tokens + (now - last) / intervalMs);
      last = now;
      if (tokens >= 1) {
        tokens -= 1;
        return true;
      }
      return false;
    };
  },
  list: (d) => `limit: avg ${formatRate(d.avg)} burst ${d.burst}`,
};
