// -m physdev (net/netfilter/xt_physdev.c): the bridge ports a frame came in and goes out by, for
// frames bridged with br_netfilter (net.bridge.bridge-nf-call-iptables=1). Names take the `+`
// wildcard as -i/-o do.
import { RuleError } from '../errors.js';
import { interfaceMatches, parseInterface } from '../interface.js';
import type { InterfaceMatch, MatchModule } from '../rule.js';
import { bang, once } from './options.js';

export interface PhysdevData {
  in?: InterfaceMatch;
  out?: InterfaceMatch;
  isIn?: boolean;
  isOut?: boolean;
  isBridged?: boolean;
}

const name = (i: InterfaceMatch) => `${i.name}${i.wildcard ? '+' : ''}`;

export const physdevMatch: MatchModule<PhysdevData> = {
  name: 'physdev',
  options: {
    'physdev-in': { args: 1, invertible: true },
    'physdev-out': { args: 1, invertible: true },
    'physdev-is-in': { args: 0, invertible: true },
    'physdev-is-out': { args: 0, invertible: true },
    'physdev-is-bridged': { args: 0, invertible: true },
  },
  parse(options) {
    const o = once(options, 'physdev');
    if (o.size === 0) throw new RuleError('PHYSDEV: no physdev option specified');
    const d: PhysdevData = {};
    const i = o.get('physdev-in');
    const u = o.get('physdev-out');
    if (i) d.in = parseInterface(i.args[0] as string, i.inverted);
    if (u) d.out = parseInterface(u.args[0] as string, u.inverted);
    // Stored as "inverted?" for the flag options: true = must be, false = must not be.
    const flag = (k: string) => (o.has(k) ? !(o.get(k)?.inverted ?? false) : undefined);
    const isIn = flag('physdev-is-in');
    const isOut = flag('physdev-is-out');
    const isBridged = flag('physdev-is-bridged');
    if (isIn !== undefined) d.isIn = isIn;
    if (isOut !== undefined) d.isOut = isOut;
    if (isBridged !== undefined) d.isBridged = isBridged;
    return d;
  },
  save(d) {
    let s = '';
    if (d.isIn !== undefined) s += `${bang(!d.isIn)} --physdev-is-in`;
    if (d.in) s += `${bang(d.in.inverted)} --physdev-in ${name(d.in)}`;
    if (d.isOut !== undefined) s += `${bang(!d.isOut)} --physdev-is-out`;
    if (d.out) s += `${bang(d.out.inverted)} --physdev-out ${name(d.out)}`;
    if (d.isBridged !== undefined) s += `${bang(!d.isBridged)} --physdev-is-bridged`;
    return s;
  },
  compile(d) {
    return (_f, env) => {
      const c = env.context;
      if (d.isBridged !== undefined && c.bridged !== d.isBridged) return false;
      if (d.isIn !== undefined && (c.physInInterface !== undefined) !== d.isIn) return false;
      if (d.isOut !== undefined && (c.physOutInterface !== undefined) !== d.isOut) return false;
      // xt_physdev: a name test on a frame without that port fails unless inverted.
      if (d.in && (c.physInInterface === undefined ? !d.in.inverted : !interfaceMatches(d.in, c.physInInterface))) return false;
      if (d.out && (c.physOutInterface === undefined ? !d.out.inverted : !interfaceMatches(d.out, c.physOutInterface))) return false;
      return true;
    };
  },
  list: (d) => `PHYSDEV match${physdevMatch.save(d)}`,
};
