// -m conntrack (net/netfilter/xt_conntrack.c, revision 3) and the older -m state (xt_state.c).
// A packet with no conntrack entry is INVALID, one marked by NOTRACK is UNTRACKED; SNAT and DNAT
// are the entry's IPS_SRC_NAT / IPS_DST_NAT status bits, added to the packet's own state.
import { formatAddressMask, formatPortRange, parseAddressMask, parsePortRange } from '../address.js';
import type { CtInfo } from '../conntrack/contract.js';
import { RuleError } from '../errors.js';
import type { EvalEnv, MatchModule, ParsedOption } from '../rule.js';
import { bang, once } from './options.js';

// Print order of libxt_conntrack print_state.
const STATE_BITS: ReadonlyArray<readonly [string, number]> = [
  ['INVALID', 1],
  ['NEW', 2],
  ['RELATED', 4],
  ['ESTABLISHED', 8],
  ['UNTRACKED', 16],
  ['SNAT', 32],
  ['DNAT', 64],
];
const BIT: Record<string, number> = Object.fromEntries(STATE_BITS);

function parseStates(text: string, allowNat: boolean, module: string): number {
  let bits = 0;
  for (const word of text.split(',')) {
    const bit = BIT[word.toUpperCase()];
    if (bit === undefined || (!allowNat && bit >= 32)) throw new RuleError(`${module}: Bad ctstate "${word}"`, word);
    bits |= bit;
  }
  return bits;
}
const formatStates = (bits: number) =>
  STATE_BITS.filter(([, b]) => bits & b)
    .map(([n]) => n)
    .join(',');

/** The packet's state bits as xt_conntrack computes them. */
export function stateBits(ct: CtInfo | undefined, env: EvalEnv): number {
  if (!ct) return BIT.INVALID as number;
  let bits = BIT[ct.state] as number;
  if (ct.snat) bits |= 32;
  if (ct.dnat) bits |= 64;
  void env;
  return bits;
}

interface AddrOpt {
  address: number;
  mask: number;
  inverted: boolean;
}
interface PortOpt {
  lo: number;
  hi: number;
  inverted: boolean;
}
export interface ConntrackData {
  state?: { bits: number; inverted: boolean };
  origsrc?: AddrOpt;
  origdst?: AddrOpt;
  replsrc?: AddrOpt;
  repldst?: AddrOpt;
  origsrcport?: PortOpt;
  origdstport?: PortOpt;
  dir?: 'ORIGINAL' | 'REPLY';
}

const ADDR_KEYS = ['origsrc', 'origdst', 'replsrc', 'repldst'] as const;
const PORT_KEYS = ['origsrcport', 'origdstport'] as const;

function addrOf(o: ParsedOption): AddrOpt {
  const { address, mask } = parseAddressMask(o.args[0] as string, true);
  return { address, mask, inverted: o.inverted };
}
// libxt_conntrack prints addresses bare when the mask is /32.
const saveAddr = (a: AddrOpt) =>
  a.mask === 0xffffffff ? formatAddressMask(a.address, a.mask).replace(/\/32$/, '') : formatAddressMask(a.address, a.mask);

export const conntrackMatch: MatchModule<ConntrackData> = {
  name: 'conntrack',
  options: {
    ctstate: { args: 1, invertible: true },
    ctorigsrc: { args: 1, invertible: true },
    ctorigdst: { args: 1, invertible: true },
    ctreplsrc: { args: 1, invertible: true },
    ctrepldst: { args: 1, invertible: true },
    ctorigsrcport: { args: 1, invertible: true },
    ctorigdstport: { args: 1, invertible: true },
    ctdir: { args: 1 },
  },
  parse(options) {
    const o = once(options, 'conntrack');
    if (o.size === 0) throw new RuleError('conntrack: At least one option is required');
    const d: ConntrackData = {};
    const st = o.get('ctstate');
    if (st) d.state = { bits: parseStates(st.args[0] as string, true, 'conntrack'), inverted: st.inverted };
    for (const k of ADDR_KEYS) {
      const a = o.get(`ct${k}`);
      if (a) d[k] = addrOf(a);
    }
    for (const k of PORT_KEYS) {
      const p = o.get(`ct${k}`);
      if (p) {
        const [lo, hi] = parsePortRange(p.args[0] as string);
        d[k] = { lo, hi, inverted: p.inverted };
      }
    }
    const dir = o.get('ctdir')?.args[0];
    if (dir !== undefined) {
      const upper = dir.toUpperCase();
      if (upper !== 'ORIGINAL' && upper !== 'REPLY') throw new RuleError(`conntrack: Bad ctdir "${dir}"`, dir);
      d.dir = upper;
    }
    return d;
  },
  save(d) {
    let s = '';
    if (d.state) s += `${bang(d.state.inverted)} --ctstate ${formatStates(d.state.bits)}`;
    for (const k of ADDR_KEYS) {
      const a = d[k];
      if (a) s += `${bang(a.inverted)} --ct${k} ${saveAddr(a)}`;
    }
    for (const k of PORT_KEYS) {
      const p = d[k];
      if (p) s += `${bang(p.inverted)} --ct${k} ${formatPortRange(p.lo, p.hi)}`;
    }
    if (d.dir) s += ` --ctdir ${d.dir}`;
    return s;
  },
  compile(d) {
    const tests: Array<(ct: CtInfo | undefined, env: EvalEnv) => boolean> = [];
    const st = d.state;
    if (st) tests.push((ct, env) => ((stateBits(ct, env) & st.bits) !== 0) !== st.inverted);
    const addrTest = (a: AddrOpt, get: (ct: CtInfo) => number) =>
      tests.push((ct) => ct !== undefined && ((get(ct) & a.mask) >>> 0 === (a.address & a.mask) >>> 0) !== a.inverted);
    if (d.origsrc) addrTest(d.origsrc, (ct) => ct.original.src);
    if (d.origdst) addrTest(d.origdst, (ct) => ct.original.dst);
    if (d.replsrc) addrTest(d.replsrc, (ct) => ct.reply.src);
    if (d.repldst) addrTest(d.repldst, (ct) => ct.reply.dst);
    const portTest = (p: PortOpt, get: (ct: CtInfo) => number) =>
      tests.push((ct) => ct !== undefined && (get(ct) >= p.lo && get(ct) <= p.hi) !== p.inverted);
    if (d.origsrcport) portTest(d.origsrcport, (ct) => ct.original.srcPort);
    if (d.origdstport) portTest(d.origdstport, (ct) => ct.original.dstPort);
    const dir = d.dir?.toLowerCase();
    if (dir) tests.push((ct) => ct !== undefined && ct.direction === dir);
    if (tests.length === 1) {
      const only = tests[0] as (ct: CtInfo | undefined, env: EvalEnv) => boolean;
      return (_f, env) => only(env.ct(), env);
    }
    return (_f, env) => {
      const ct = env.ct();
      for (const t of tests) if (!t(ct, env)) return false;
      return true;
    };
  },
  list(d) {
    const parts: string[] = [];
    if (d.state) parts.push(`${d.state.inverted ? '! ' : ''}ctstate ${formatStates(d.state.bits)}`);
    for (const k of ADDR_KEYS) {
      const a = d[k];
      if (a) parts.push(`${a.inverted ? '! ' : ''}ct${k} ${saveAddr(a)}`);
    }
    for (const k of PORT_KEYS) {
      const p = d[k];
      if (p) parts.push(`${p.inverted ? '! ' : ''}ct${k} ${formatPortRange(p.lo, p.hi)}`);
    }
    return parts.join(' ');
  },
};

export const stateMatch: MatchModule<{ bits: number; inverted: boolean }> = {
  name: 'state',
  options: { state: { args: 1, invertible: true } },
  parse(options) {
    const o = once(options, 'state').get('state');
    if (!o) throw new RuleError('state: option "--state" must be specified');
    return { bits: parseStates(o.args[0] as string, false, 'state'), inverted: o.inverted };
  },
  save: (d) => `${bang(d.inverted)} --state ${formatStates(d.bits)}`,
  compile(d) {
    const { bits, inverted } = d;
    // xt_state looks only at the packet's own state, not the NAT status bits.
    return (_f, env) => ((stateBits(env.ct(), env) & bits & 31) !== 0) !== inverted;
  },
  list: (d) => `state ${d.inverted ? '! ' : ''}${formatStates(d.bits)}`,
};
