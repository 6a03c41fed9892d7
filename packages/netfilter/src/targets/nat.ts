// -j DNAT, -j SNAT, -j MASQUERADE (net/netfilter/xt_nat.c, xt_MASQUERADE.c): nat table only;
// DNAT from PREROUTING and OUTPUT, SNAT from POSTROUTING and INPUT, MASQUERADE from POSTROUTING.
// A port in the range needs `-p tcp|udp|sctp|dccp` (libxt_DNAT: "Need TCP, UDP, SCTP or DCCP with
// port specification"). The binding itself is NatEngine.setup's job (the conntrack/NAT module).
import { formatIpv4 } from '@podnet/wire';
import type { NatManip, NatRange } from '../conntrack/contract.js';
import { RuleError } from '../errors.js';
import type { Verdict } from '../hook.js';
import { once } from '../matches/options.js';
import { natRangeProblem } from '../nat/nat-engine.js';
import type { EngineServices, RuleBasics, TargetModule } from '../rule.js';

const PORT_PROTOCOLS = new Set([6, 17, 132, 33]);

interface RangeData {
  minAddress?: number;
  maxAddress?: number;
  minPort?: number;
  maxPort?: number;
}

function parseIp(text: string, whole: string): number {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (!m || m.slice(1).some((p) => Number(p) > 255)) throw new RuleError(`Bad IP address "${text}"`, whole);
  return ((Number(m[1]) << 24) | (Number(m[2]) << 16) | (Number(m[3]) << 8) | Number(m[4])) >>> 0;
}

function parsePortPart(text: string, whole: string): [number, number] {
  const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(text);
  const lo = Number(m?.[1]);
  const hi = m?.[2] === undefined ? lo : Number(m[2]);
  if (!m || lo > 65535 || hi > 65535 || lo === 0 || hi < lo) throw new RuleError(`Port range \`${text}' invalid`, whole);
  return [lo, hi];
}

/** `ip[-ip][:port[-port]]` (libxt_DNAT parse_to). */
function parseRange(text: string, rule: RuleBasics): RangeData {
  const colon = text.indexOf(':');
  const ipPart = colon < 0 ? text : text.slice(0, colon);
  const d: RangeData = {};
  if (colon >= 0) {
    if (!PORT_PROTOCOLS.has(rule.protocol) || rule.protocolInverted)
      throw new RuleError('Need TCP, UDP, SCTP or DCCP with port specification', text);
    [d.minPort, d.maxPort] = parsePortPart(text.slice(colon + 1), text);
  }
  if (ipPart !== '') {
    const dash = ipPart.indexOf('-');
    d.minAddress = parseIp(dash < 0 ? ipPart : ipPart.slice(0, dash), text);
    d.maxAddress = dash < 0 ? d.minAddress : parseIp(ipPart.slice(dash + 1), text);
    if (d.maxAddress < d.minAddress) throw new RuleError(`Bad IP range "${ipPart}"`, text);
  } else if (colon < 0) {
    throw new RuleError(`Bad IP address "${text}"`, text);
  }
  return d;
}

function formatRange(d: RangeData): string {
  let s = '';
  if (d.minAddress !== undefined) {
    s += formatIpv4(d.minAddress);
    if (d.maxAddress !== d.minAddress) s += `-${formatIpv4(d.maxAddress as number)}`;
  }
  if (d.minPort !== undefined) s += `:${d.minPort}${d.maxPort !== d.minPort ? `-${d.maxPort}` : ''}`;
  return s;
}

export interface NatData {
  range: RangeData;
  random: boolean;
  randomFully: boolean;
  persistent: boolean;
}

function toNatRange(d: NatData, address: number | undefined): NatRange {
  const r: NatRange = {
    minAddress: d.range.minAddress ?? address ?? 0,
    maxAddress: d.range.maxAddress ?? address ?? 0,
  };
  if (d.range.minPort !== undefined) {
    r.minPort = d.range.minPort;
    r.maxPort = d.range.maxPort as number;
  }
  if (d.random) r.random = true;
  if (d.randomFully) r.randomFully = true;
  if (d.persistent) r.persistent = true;
  return r;
}

function natSetup(manip: NatManip, d: NatData, services: EngineServices) {
  const range = toNatRange(d, undefined);
  return (_f: unknown, env: Parameters<ReturnType<TargetModule['compile']>>[1]): Verdict => {
    const nat = services.nat;
    if (!nat) return { kind: 'drop', reason: 'nat target without a NAT engine' };
    env.natBound = true;
    return nat.setup(manip, range, env.packet, env.context, env.state);
  };
}

function flags(d: NatData): string {
  return `${d.random ? ' --random' : ''}${d.randomFully ? ' --random-fully' : ''}${d.persistent ? ' --persistent' : ''}`;
}

function makeNatTarget(name: 'DNAT' | 'SNAT', option: string, manip: NatManip): TargetModule<NatData> {
  const hooks = manip === 'DST' ? (['PREROUTING', 'OUTPUT'] as const) : (['POSTROUTING', 'INPUT'] as const);
  return {
    name,
    terminal: true,
    tables: ['nat'],
    hooks,
    options: {
      [option]: { args: 1 },
      random: { args: 0 },
      persistent: { args: 0 },
      ...(manip === 'SRC' ? { 'random-fully': { args: 0 } } : {}),
    },
    parse(options, rule) {
      const o = once(options, name);
      const to = o.get(option);
      if (!to) throw new RuleError(`${name}: You must specify --${option}`);
      const range = parseRange(to.args[0] as string, rule);
      // The NAT module's own check of the range (nat/nat-engine.ts), after iptables' parsing above.
      const problem = natRangeProblem(toNatRange({ range, random: false, randomFully: false, persistent: false }, 0), rule.protocol);
      if (problem) throw new RuleError(`${name}: bad range "${to.args[0]}": ${problem}`, to.args[0]);
      return {
        range,
        random: o.has('random'),
        randomFully: o.has('random-fully'),
        persistent: o.has('persistent'),
      };
    },
    save: (d) => ` --${option} ${formatRange(d.range)}${flags(d)}`,
    compile: (d, services) => natSetup(manip, d, services),
    list: (d) => `to:${formatRange(d.range)}${flags(d).replace(/ --/g, ' ')}`,
  };
}

export const dnatTarget = makeNatTarget('DNAT', 'to-destination', 'DST');
export const snatTarget = makeNatTarget('SNAT', 'to-source', 'SRC');

export const masqueradeTarget: TargetModule<NatData> = {
  name: 'MASQUERADE',
  terminal: true,
  tables: ['nat'],
  hooks: ['POSTROUTING'],
  options: { 'to-ports': { args: 1 }, random: { args: 0 }, 'random-fully': { args: 0 } },
  parse(options, rule) {
    const o = once(options, 'MASQUERADE');
    const range: RangeData = {};
    const ports = o.get('to-ports');
    if (ports) {
      if (!PORT_PROTOCOLS.has(rule.protocol) || rule.protocolInverted)
        throw new RuleError('Need TCP, UDP, SCTP or DCCP with port specification', ports.args[0]);
      [range.minPort, range.maxPort] = parsePortPart(ports.args[0] as string, ports.args[0] as string);
    }
    return { range, random: o.has('random'), randomFully: o.has('random-fully'), persistent: false };
  },
  save: (d) =>
    `${d.range.minPort !== undefined ? ` --to-ports ${d.range.minPort}${d.range.maxPort !== d.range.minPort ? `-${d.range.maxPort}` : ''}` : ''}${flags(d)}`,
  compile(d, services) {
    const options = {
      ...(d.range.minPort === undefined ? {} : { minPort: d.range.minPort, maxPort: d.range.maxPort as number }),
      ...(d.random ? { random: true } : {}),
      ...(d.randomFully ? { randomFully: true } : {}),
    };
    return (_f, env): Verdict => {
      const nat = services.nat;
      if (!nat) return { kind: 'drop', reason: 'nat target without a NAT engine' };
      if (nat.masquerade) {
        env.natBound = true;
        return nat.masquerade(options, env.packet, env.context, env.state);
      }
      // xt_MASQUERADE / nf_nat_masquerade_ipv4: the source becomes the out interface's address;
      // no address means the packet is dropped.
      const out = env.context.outInterface;
      const address = out === undefined ? undefined : env.context.interfaceAddress(out);
      if (address === undefined) return { kind: 'drop', reason: 'masquerade: no address on the out interface' };
      env.natBound = true;
      return nat.setup('SRC', toNatRange(d, address), env.packet, env.context, env.state);
    };
  },
  // libxt_MASQUERADE print: "masq ports: a-b", then the flags.
  list: (d) =>
    `${d.range.minPort !== undefined ? `masq ports: ${d.range.minPort}${d.range.maxPort !== d.range.minPort ? `-${d.range.maxPort}` : ''}` : ''}${flags(d).replace(/ --/g, ' ')}`.trim(),
};
