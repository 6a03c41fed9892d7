// Packets and hook contexts for the rule engine's tests.
import { parseIpv4 } from '@podnet/wire';
import type { HookContext, HookName, HookPacket, PacketState } from '../hook.js';

export interface PacketSpec {
  src: string;
  dst: string;
  protocol?: 'tcp' | 'udp' | 'icmp' | 'sctp';
  sport?: number;
  dport?: number;
  /** TCP flags byte (default SYN). */
  flags?: number;
  icmpType?: number;
  icmpCode?: number;
  fragmentOffset?: number;
  payload?: number;
}

const PROTO = { tcp: 6, udp: 17, icmp: 1, sctp: 132 } as const;

export function makePacket(spec: PacketSpec): HookPacket {
  const protocol = PROTO[spec.protocol ?? 'tcp'];
  const l4 = protocol === 6 ? 20 : protocol === 132 ? 12 : 8;
  const length = 20 + l4 + (spec.payload ?? 0);
  const buf = Buffer.alloc(length);
  buf[0] = 0x45;
  buf.writeUInt16BE(length, 2);
  buf.writeUInt16BE(spec.fragmentOffset ?? 0, 6);
  buf[8] = 64;
  buf[9] = protocol;
  buf.writeUInt32BE(parseIpv4(spec.src), 12);
  buf.writeUInt32BE(parseIpv4(spec.dst), 16);
  if (protocol === 1) {
    buf[20] = spec.icmpType ?? 8;
    buf[21] = spec.icmpCode ?? 0;
  } else {
    buf.writeUInt16BE(spec.sport ?? 40000, 20);
    buf.writeUInt16BE(spec.dport ?? 80, 22);
    if (protocol === 6) {
      buf[32] = 0x50;
      buf[33] = spec.flags ?? 0x02;
    }
  }
  return { buf, l3Offset: 0, end: length };
}

export function makeContext(hook: HookName, options: Partial<Omit<HookContext, 'hook'>> & { local?: string[] } = {}): HookContext {
  const local = new Set((options.local ?? ['172.18.0.2']).map(parseIpv4));
  return {
    hook,
    bridged: options.bridged ?? false,
    isLocalAddress: options.isLocalAddress ?? ((a) => local.has(a) || a >>> 24 === 127),
    interfaceAddress: options.interfaceAddress ?? ((name) => (name === 'lo' ? parseIpv4('127.0.0.1') : [...local][0])),
    ...(options.inInterface !== undefined ? { inInterface: options.inInterface } : {}),
    ...(options.outInterface !== undefined ? { outInterface: options.outInterface } : {}),
    ...(options.physInInterface !== undefined ? { physInInterface: options.physInInterface } : {}),
    ...(options.physOutInterface !== undefined ? { physOutInterface: options.physOutInterface } : {}),
  };
}

export const newState = (mark = 0): PacketState => ({ mark, trace: false });
