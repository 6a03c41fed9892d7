// -m addrtype (net/netfilter/xt_addrtype.c, revision 1). The kernel asks the routing table for the
// address's route type; podnet's stack answers LOCAL through HookContext.isLocalAddress, and the
// remaining types follow from the address itself (224.0.0.0/4 MULTICAST, 255.255.255.255 BROADCAST,
// other addresses UNICAST). With --limit-iface-in/out the kernel restricts LOCAL to the packet's
// interface; podnet treats any local address as local (HookContext has no per-interface addresses).
import { RuleError } from '../errors.js';
import type { HookContext, HookName } from '../hook.js';
import type { MatchModule } from '../rule.js';
import { bang, once } from './options.js';

// Print order and bits of libxt_addrtype rtn_names (1 << RTN_*).
const TYPES: ReadonlyArray<readonly [string, number]> = [
  ['UNSPEC', 1 << 0],
  ['UNICAST', 1 << 1],
  ['LOCAL', 1 << 2],
  ['BROADCAST', 1 << 3],
  ['ANYCAST', 1 << 4],
  ['MULTICAST', 1 << 5],
  ['BLACKHOLE', 1 << 6],
  ['UNREACHABLE', 1 << 7],
  ['PROHIBIT', 1 << 8],
  ['THROW', 1 << 9],
  ['NAT', 1 << 10],
  ['XRESOLVE', 1 << 11],
];

function parseTypes(text: string): number {
  let bits = 0;
  for (const word of text.split(',')) {
    const t = TYPES.find(([n]) => n === word.toUpperCase());
    if (!t) throw new RuleError(`addrtype: bad type "${word}"`, word);
    bits |= t[1];
  }
  return bits;
}
const formatTypes = (bits: number) =>
  TYPES.filter(([, b]) => bits & b)
    .map(([n]) => n)
    .join(',');

/** The route type bit of an address, as seen from this namespace. */
export function addressTypeBit(address: number, context: HookContext): number {
  if (context.isLocalAddress(address)) return 1 << 2;
  if (address === 0xffffffff) return 1 << 3;
  if (address >>> 28 === 0xe) return 1 << 5;
  if (address === 0) return 1 << 0;
  return 1 << 1;
}

export interface AddrtypeData {
  src?: { bits: number; inverted: boolean };
  dst?: { bits: number; inverted: boolean };
  limitIn: boolean;
  limitOut: boolean;
}

export const addrtypeMatch: MatchModule<AddrtypeData> = {
  name: 'addrtype',
  options: {
    'src-type': { args: 1, invertible: true },
    'dst-type': { args: 1, invertible: true },
    'limit-iface-in': { args: 0 },
    'limit-iface-out': { args: 0 },
  },
  parse(options) {
    const o = once(options, 'addrtype');
    const d: AddrtypeData = { limitIn: o.has('limit-iface-in'), limitOut: o.has('limit-iface-out') };
    const s = o.get('src-type');
    const t = o.get('dst-type');
    if (s) d.src = { bits: parseTypes(s.args[0] as string), inverted: s.inverted };
    if (t) d.dst = { bits: parseTypes(t.args[0] as string), inverted: t.inverted };
    if (!s && !t) throw new RuleError('addrtype: you must specify --src-type or --dst-type');
    if (d.limitIn && d.limitOut) throw new RuleError("addrtype: you can't specify both --limit-iface-in and --limit-iface-out");
    return d;
  },
  save(d) {
    let s = '';
    if (d.src) s += `${bang(d.src.inverted)} --src-type ${formatTypes(d.src.bits)}`;
    if (d.dst) s += `${bang(d.dst.inverted)} --dst-type ${formatTypes(d.dst.bits)}`;
    if (d.limitIn) s += ' --limit-iface-in';
    if (d.limitOut) s += ' --limit-iface-out';
    return s;
  },
  hooks(d): readonly HookName[] | undefined {
    if (d.limitIn) return ['PREROUTING', 'INPUT', 'FORWARD'];
    if (d.limitOut) return ['OUTPUT', 'FORWARD', 'POSTROUTING'];
    return undefined;
  },
  compile(d) {
    const { src, dst } = d;
    return (f, env) => {
      if (src && ((addressTypeBit(f.src, env.context) & src.bits) !== 0) === src.inverted) return false;
      if (dst && ((addressTypeBit(f.dst, env.context) & dst.bits) !== 0) === dst.inverted) return false;
      return true;
    };
  },
  list(d) {
    const parts = ['ADDRTYPE match'];
    if (d.src) parts.push(`src-type ${d.src.inverted ? '!' : ''}${formatTypes(d.src.bits)}`);
    if (d.dst) parts.push(`dst-type ${d.dst.inverted ? '!' : ''}${formatTypes(d.dst.bits)}`);
    if (d.limitIn) parts.push('limit-in');
    if (d.limitOut) parts.push('limit-out');
    return parts.join(' ');
  },
};
