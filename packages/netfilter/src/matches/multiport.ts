// -m multiport --dports/--sports/--ports (xt_multiport revision 1: up to 15 ports, ranges as a:b,
// each counting two). Userspace refuses it unless -p is tcp, udp, udplite, sctp or dccp.
import { formatPortRange, parsePortRange } from '../address.js';
import { RuleError } from '../errors.js';
import type { MatchModule } from '../rule.js';
import { bang, once } from './options.js';

const MAX_PORTS = 15;
const PORT_PROTOCOLS = new Set([6, 17, 132, 136, 33]);

export interface MultiportData {
  which: 'sports' | 'dports' | 'ports';
  ranges: Array<[number, number]>;
  inverted: boolean;
}

export const multiportMatch: MatchModule<MultiportData> = {
  name: 'multiport',
  options: {
    sports: { args: 1, invertible: true },
    'source-ports': { args: 1, invertible: true },
    dports: { args: 1, invertible: true },
    'destination-ports': { args: 1, invertible: true },
    ports: { args: 1, invertible: true },
  },
  parse(options, rule) {
    if (!PORT_PROTOCOLS.has(rule.protocol) || rule.protocolInverted) {
      throw new RuleError("multiport needs `-p tcp', `-p udp', `-p udplite', `-p sctp' or `-p dccp'");
    }
    const normalized = options.map((o) => ({
      ...o,
      name: o.name === 'source-ports' ? 'sports' : o.name === 'destination-ports' ? 'dports' : o.name,
    }));
    if (normalized.length !== 1) throw new RuleError('multiport can only have one option', `--${normalized[1]?.name ?? ''}`);
    once(normalized, 'multiport');
    const o = normalized[0];
    if (!o) throw new RuleError('multiport: one of --sports, --dports or --ports is required');
    const ranges = (o.args[0] as string).split(',').map(parsePortRange);
    const slots = ranges.reduce((n, [lo, hi]) => n + (lo === hi ? 1 : 2), 0);
    if (slots > MAX_PORTS) throw new RuleError('too many ports specified', o.args[0]);
    return { which: o.name as MultiportData['which'], ranges, inverted: o.inverted };
  },
  save: (d) => `${bang(d.inverted)} --${d.which} ${d.ranges.map(([lo, hi]) => formatPortRange(lo, hi)).join(',')}`,
  compile(d) {
    const { ranges, inverted, which } = d;
    const hit = (port: number) => ranges.some(([lo, hi]) => port >= lo && port <= hi);
    return (f) => {
      if (!f.hasL4) return false;
      const m = which === 'sports' ? hit(f.srcPort) : which === 'dports' ? hit(f.dstPort) : hit(f.srcPort) || hit(f.dstPort);
      return m !== inverted;
    };
  },
  list: (d) => `multiport ${d.which} ${d.inverted ? '! ' : ''}${d.ranges.map(([lo, hi]) => formatPortRange(lo, hi)).join(',')}`,
};
