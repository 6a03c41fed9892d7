// A NetfilterHooks fake that records every call (hook, interfaces, addresses, mark) and answers
// with a verdict chosen by the test, to check that the stack calls each hook where Linux does.
import {
  ACCEPT,
  type HookContext,
  type HookName,
  type HookPacket,
  type NetfilterHooks,
  type PacketState,
  type Verdict,
} from '@podnet/netfilter';
import { formatIpv4, readIpv4 } from '@podnet/wire';

export interface HookCall {
  hook: HookName;
  in?: string;
  out?: string;
  physIn?: string;
  physOut?: string;
  bridged: boolean;
  src: string;
  dst: string;
  protocol: number;
  mark: number;
  /** The PacketState object, to check that one packet keeps the same state from hook to hook. */
  state: PacketState;
}

export class RecordingHooks implements NetfilterHooks {
  readonly calls: HookCall[] = [];
  needsDefrag: boolean;
  /** Decides the verdict; accept by default. May rewrite the packet in place (a NAT stand-in). */
  decide: (call: HookCall, packet: HookPacket, context: HookContext, state: PacketState) => Verdict;

  constructor(options: { needsDefrag?: boolean; decide?: RecordingHooks['decide'] } = {}) {
    this.needsDefrag = options.needsDefrag ?? false;
    this.decide = options.decide ?? (() => ACCEPT);
  }

  run(hook: HookName, packet: HookPacket, context: HookContext, state: PacketState): Verdict {
    const at = packet.l3Offset;
    const call: HookCall = {
      hook,
      bridged: context.bridged,
      src: formatIpv4(readIpv4(packet.buf, at + 12)),
      dst: formatIpv4(readIpv4(packet.buf, at + 16)),
      protocol: packet.buf[at + 9] as number,
      mark: state.mark,
      state,
    };
    if (context.inInterface !== undefined) call.in = context.inInterface;
    if (context.outInterface !== undefined) call.out = context.outInterface;
    if (context.physInInterface !== undefined) call.physIn = context.physInInterface;
    if (context.physOutInterface !== undefined) call.physOut = context.physOutInterface;
    this.calls.push(call);
    return this.decide(call, packet, context, state);
  }

  /** The calls for one protocol, as compact strings "HOOK in>out [physIn>physOut] bridged". */
  trace(filter: (c: HookCall) => boolean = () => true): string[] {
    return this.calls.filter(filter).map((c) => {
      const phys = c.physIn !== undefined || c.physOut !== undefined ? ` [${c.physIn ?? ''}>${c.physOut ?? ''}]` : '';
      return `${c.hook} ${c.in ?? ''}>${c.out ?? ''}${phys}${c.bridged ? ' bridged' : ''} ${c.src}>${c.dst}`;
    });
  }

  clear(): void {
    this.calls.length = 0;
  }
}
