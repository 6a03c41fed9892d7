// The TCP connection tracker: the state table and window checks of
// net/netfilter/nf_conntrack_proto_tcp.c (tcp_conntracks[][][], tcp_in_window, tcp_error,
// nf_conntrack_tcp_packet), reduced to what a SYN/SYN-ACK/ACK/FIN/RST life needs. Sequence
// numbers are compared modulo 2^32 (RFC 9293 §3.4: before()/after()).
import type { Dir } from './entry.js';
import type { TcpTimeouts } from './timeouts.js';

export enum TcpState {
  NONE = 0,
  SYN_SENT = 1,
  SYN_RECV = 2,
  ESTABLISHED = 3,
  FIN_WAIT = 4,
  CLOSE_WAIT = 5,
  LAST_ACK = 6,
  TIME_WAIT = 7,
  CLOSE = 8,
  SYN_SENT2 = 9,
  /** sIV: the packet is invalid in this state. */
  INVALID = 10,
  /** sIG: the packet is accepted but does not move the state (e.g. a SYN in ESTABLISHED). */
  IGNORE = 11,
}

export const TCP_STATE_NAMES = [
  'NONE',
  'SYN_SENT',
  'SYN_RECV',
  'ESTABLISHED',
  'FIN_WAIT',
  'CLOSE_WAIT',
  'LAST_ACK',
  'TIME_WAIT',
  'CLOSE',
  'SYN_SENT2',
] as const;

/** ip_ct_tcp_state.flags (include/uapi/linux/netfilter/nf_conntrack_tcp.h). */
const FLAG_WINDOW_SCALE = 0x01;
const FLAG_SACK_PERM = 0x02;
const FLAG_CLOSE_INIT = 0x04;
const FLAG_BE_LIBERAL = 0x08;
const FLAG_DATA_UNACKNOWLEDGED = 0x10;
const FLAG_MAXACK_SET = 0x20;

const FIN = 0x01;
const SYN = 0x02;
const RST = 0x04;
const PSH = 0x08;
const ACK = 0x10;
const URG = 0x20;
const ECE = 0x40;
const CWR = 0x80;

/** Flag combinations tcp_error accepts (tcp_valid_flags[]); PSH, ECE and CWR are ignored. */
const VALID_FLAGS: ReadonlySet<number> = new Set([SYN, SYN | URG, SYN | ACK, RST, RST | ACK, FIN | ACK, FIN | ACK | URG, ACK, ACK | URG]);

/** Index into the state table by the packet's flags (get_conntrack_index). */
enum Idx {
  SYN = 0,
  SYNACK = 1,
  FIN = 2,
  ACK = 3,
  RST = 4,
  NONE = 5,
}

const sNO = TcpState.NONE;
const sSS = TcpState.SYN_SENT;
const sSR = TcpState.SYN_RECV;
const sES = TcpState.ESTABLISHED;
const sFW = TcpState.FIN_WAIT;
const sCW = TcpState.CLOSE_WAIT;
const sLA = TcpState.LAST_ACK;
const sTW = TcpState.TIME_WAIT;
const sCL = TcpState.CLOSE;
const sS2 = TcpState.SYN_SENT2;
const sIV = TcpState.INVALID;
const sIG = TcpState.IGNORE;

/** tcp_conntracks[dir][index][state]: columns are sNO sSS sSR sES sFW sCW sLA sTW sCL sS2. */
const TABLE: readonly (readonly (readonly TcpState[])[])[] = [
  [
    /* syn    */ [sSS, sSS, sIG, sIG, sIG, sIG, sIG, sSS, sSS, sS2],
    /* synack */ [sIV, sIV, sSR, sIV, sIV, sIV, sIV, sIV, sIV, sSR],
    /* fin    */ [sIV, sIV, sFW, sFW, sLA, sLA, sLA, sTW, sCL, sIV],
    /* ack    */ [sES, sIV, sES, sES, sCW, sCW, sTW, sTW, sCL, sIV],
    /* rst    */ [sIV, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL],
    /* none   */ [sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV],
  ],
  [
    /* syn    */ [sIV, sS2, sIV, sIV, sIV, sIV, sIV, sSS, sIV, sS2],
    /* synack */ [sIV, sSR, sIG, sIG, sIG, sIG, sIG, sIG, sIG, sSR],
    /* fin    */ [sIV, sIV, sFW, sFW, sLA, sLA, sLA, sTW, sCL, sIV],
    /* ack    */ [sIV, sIG, sSR, sES, sCW, sCW, sTW, sTW, sCL, sIG],
    /* rst    */ [sIV, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL],
    /* none   */ [sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV],
  ],
];

/** One direction's window data (struct ip_ct_tcp_state). */
export interface TcpDirState {
  tdEnd: number;
  tdMaxEnd: number;
  tdMaxWin: number;
  tdMaxAck: number;
  scale: number;
  flags: number;
}

export interface TcpConntrackState {
  state: TcpState;
  seen: [TcpDirState, TcpDirState];
  lastDir: Dir;
  lastIndex: number;
  /** The last ACK segment seen (seq, ack, end, raw window), to count retransmissions of it. */
  lastSeq: number;
  lastAck: number;
  lastEnd: number;
  lastWin: number;
  retrans: number;
}

/** nf_conntrack_tcp_max_retrans: this many retransmissions without progress shorten the timeout. */
const MAX_RETRANS = 3;

/** The fields of a segment the tracker reads. */
export interface TcpSegment {
  seq: number;
  ack: number;
  flags: number;
  window: number;
  /** Header length in bytes. */
  headerLength: number;
  /** Payload bytes. */
  dataLength: number;
  /** Window scale (undefined when absent), SACK-permitted, and the highest SACK right edge, from the options. */
  wscale: number | undefined;
  sackPermitted: boolean;
  sackEdges: number[];
}

const before = (a: number, b: number): boolean => ((a - b) | 0) < 0;
const after = (a: number, b: number): boolean => before(b, a);
const u32 = (v: number): number => v >>> 0;

/** Reads a segment at buf[l4, l4 + length); a reason string when tcp_error would call it invalid. */
export function readSegment(buf: Buffer, l4: number, length: number): TcpSegment | string {
  if (length < 20) return 'truncated TCP header';
  const headerLength = ((buf[l4 + 12] as number) >>> 4) * 4;
  if (headerLength < 20 || headerLength > length) return 'truncated or bad TCP header length';
  const flags = buf[l4 + 13] as number;
  if (!VALID_FLAGS.has(flags & ~(ECE | CWR | PSH))) return 'invalid TCP flag combination';
  let wscale: number | undefined;
  let sackPermitted = false;
  const sackEdges: number[] = [];
  // Options (RFC 9293 §3.1, RFC 7323 §2, RFC 2018): parsed as tcp_options/tcp_sack do, tolerant of junk.
  for (let i = l4 + 20; i < l4 + headerLength; ) {
    const kind = buf[i] as number;
    if (kind === 0) break;
    if (kind === 1) {
      i++;
      continue;
    }
    if (i + 1 >= l4 + headerLength) break;
    const len = buf[i + 1] as number;
    if (len < 2 || i + len > l4 + headerLength) break;
    if (kind === 3 && len === 3) wscale = Math.min(buf[i + 2] as number, 14);
    else if (kind === 4 && len === 2) sackPermitted = true;
    else if (kind === 5 && len >= 10 && (len - 2) % 8 === 0) {
      for (let b = i + 2; b < i + len; b += 8) sackEdges.push(buf.readUInt32BE(b + 4));
    }
    i += len;
  }
  return {
    seq: buf.readUInt32BE(l4 + 4),
    ack: buf.readUInt32BE(l4 + 8),
    flags,
    window: ((buf[l4 + 14] as number) << 8) | (buf[l4 + 15] as number),
    headerLength,
    dataLength: length - headerLength,
    wscale,
    sackPermitted,
    sackEdges,
  };
}

function indexOf(flags: number): Idx {
  if (flags & RST) return Idx.RST;
  if (flags & SYN) return flags & ACK ? Idx.SYNACK : Idx.SYN;
  if (flags & FIN) return Idx.FIN;
  if (flags & ACK) return Idx.ACK;
  return Idx.NONE;
}

/** seq + length, counting SYN and FIN as one each (segment_seq_plus_len). */
function segmentEnd(s: TcpSegment): number {
  return u32(s.seq + s.dataLength + (s.flags & SYN ? 1 : 0) + (s.flags & FIN ? 1 : 0));
}

function applyOptions(d: TcpDirState, s: TcpSegment): void {
  if (s.wscale !== undefined) {
    d.flags |= FLAG_WINDOW_SCALE;
    d.scale = s.wscale;
  }
  if (s.sackPermitted) d.flags |= FLAG_SACK_PERM;
}

const emptyDir = (): TcpDirState => ({ tdEnd: 0, tdMaxEnd: 0, tdMaxWin: 0, tdMaxAck: 0, scale: 0, flags: 0 });

/**
 * tcp_new: the state a first segment opens, or a reason it cannot open one. A SYN opens SYN_SENT;
 * with nf_conntrack_tcp_loose (the default) any in-state segment but a bare SYN-ACK/RST/FIN
 * picks up an existing connection mid-stream as ESTABLISHED, with liberal window checks.
 */
export function tcpNew(s: TcpSegment, loose: boolean): TcpConntrackState | string {
  const next = (TABLE[0] as TcpState[][])[indexOf(s.flags)]?.[sNO] as TcpState;
  if (next >= sIV) return `TCP segment with flags ${flagsText(s.flags)} cannot start a connection`;
  const seen: [TcpDirState, TcpDirState] = [emptyDir(), emptyDir()];
  const d = seen[0];
  d.tdEnd = segmentEnd(s);
  d.tdMaxWin = s.window === 0 ? 1 : s.window;
  if (next === sSS) {
    d.tdMaxEnd = d.tdEnd;
    applyOptions(d, s);
  } else {
    if (!loose) return 'mid-stream pickup disabled (nf_conntrack_tcp_loose=0)';
    d.tdMaxEnd = u32(d.tdEnd + d.tdMaxWin);
    // "We assume SACK and liberal window checking to handle window scaling."
    d.flags = FLAG_SACK_PERM | FLAG_BE_LIBERAL;
    seen[1].flags = FLAG_SACK_PERM | FLAG_BE_LIBERAL;
  }
  return { state: sNO, seen, lastDir: 0, lastIndex: Idx.NONE, lastSeq: 0, lastAck: 0, lastEnd: 0, lastWin: s.window, retrans: 0 };
}

export type TcpOutcome =
  | { kind: 'accept'; timeout: number; assure: boolean }
  /** The packet is valid but leaves the state alone (sIG). */
  | { kind: 'ignore' }
  | { kind: 'invalid'; reason: string }
  /** A SYN on a closed connection's tuple: delete the old entry and track the SYN as new (-NF_REPEAT). */
  | { kind: 'reopen' }
  /** The only answer to an unreplied connection was a RST: delete the entry at once. */
  | { kind: 'kill' };

export interface TcpOptions {
  liberal: boolean;
  timeouts: TcpTimeouts;
}

/** nf_conntrack_tcp_packet for a segment in direction `dir` of an entry whose state is `ct`. */
export function tcpPacket(
  ct: TcpConntrackState,
  dir: Dir,
  s: TcpSegment,
  seenReply: boolean,
  assured: boolean,
  opts: TcpOptions,
): TcpOutcome {
  const oldState = ct.state;
  const index = indexOf(s.flags);
  const newState = (TABLE[dir] as TcpState[][])[index]?.[oldState] as TcpState;
  switch (newState) {
    case sSS:
      if (oldState >= sTW) {
        // A SYN on a connection closed by FIN or RST: the tuple may be reused (RFC 9293 §3.6.1).
        const closeInit = (ct.seen[0].flags | ct.seen[1].flags) & FLAG_CLOSE_INIT;
        if (closeInit || (ct.lastDir === dir && ct.lastIndex === Idx.RST)) return { kind: 'reopen' };
      }
      break;
    case sIG:
      ct.lastDir = dir;
      ct.lastIndex = index;
      return { kind: 'ignore' };
    case sIV:
      return {
        kind: 'invalid',
        reason: `TCP ${flagsText(s.flags)} is invalid in state ${TCP_STATE_NAMES[oldState as number] ?? oldState}`,
      };
    case sCL:
      if (index === Idx.RST && ct.seen[dir === 0 ? 1 : 0].flags & FLAG_MAXACK_SET) {
        // A RST must not lie before what the other side has acknowledged.
        if (before(s.seq, ct.seen[dir === 0 ? 1 : 0].tdMaxAck))
          return { kind: 'invalid', reason: 'TCP RST before the acknowledged sequence' };
      }
      break;
    default:
      break;
  }
  const inWindow = tcpInWindow(ct, dir, index, s, opts.liberal);
  if (inWindow !== true) return { kind: 'invalid', reason: inWindow };
  ct.lastIndex = index;
  ct.lastDir = dir;
  ct.state = newState;
  if (oldState !== newState && newState === sFW) ct.seen[dir].flags |= FLAG_CLOSE_INIT;

  const t = opts.timeouts;
  const stateTimeout = timeoutOf(newState, t);
  let timeout: number;
  if (ct.retrans >= MAX_RETRANS && stateTimeout > t.retrans) timeout = t.retrans;
  else if (index === Idx.RST) timeout = t.close;
  else if ((ct.seen[0].flags | ct.seen[1].flags) & FLAG_DATA_UNACKNOWLEDGED && stateTimeout > t.unacknowledged) timeout = t.unacknowledged;
  else if (ct.lastWin === 0 && stateTimeout > t.retrans)
    timeout = t.retrans; // a zero window: the peer may be gone
  else timeout = stateTimeout;

  let assure = false;
  if (!seenReply) {
    // "If only reply is a RST, we can consider ourselves not to have an established connection."
    if (s.flags & RST && dir === 1) return { kind: 'kill' };
    // A picked-up connection without a reply does not get the 5-day ESTABLISHED timeout.
    if (newState === sES && timeout > t.unacknowledged) timeout = t.unacknowledged;
  } else if (!assured && (oldState === sSR || oldState === sES) && newState === sES) {
    // "Set ASSURED if we see valid ack in ESTABLISHED after SYN_RECV or a valid answer for a picked up connection."
    assure = true;
  }
  return { kind: 'accept', timeout, assure };
}

/** The initial timeout of a new entry after its first segment. */
export function timeoutOf(state: TcpState, t: TcpTimeouts): number {
  switch (state) {
    case sSS:
      return t.synSent;
    case sSR:
      return t.synRecv;
    case sES:
      return t.established;
    case sFW:
      return t.finWait;
    case sCW:
      return t.closeWait;
    case sLA:
      return t.lastAck;
    case sTW:
      return t.timeWait;
    case sCL:
      return t.close;
    case sS2:
      return t.synSent2;
    default:
      return t.close;
  }
}

/** tcp_in_window: true, or why the segment lies outside what the two sides have announced. */
function tcpInWindow(ct: TcpConntrackState, dir: Dir, index: Idx, s: TcpSegment, liberal: boolean): true | string {
  const sender = ct.seen[dir];
  const receiver = ct.seen[dir === 0 ? 1 : 0];
  let seq = s.seq;
  let ack = s.ack;
  let end = segmentEnd(s);
  let win = s.window;
  let sack = ack;
  if (receiver.flags & FLAG_SACK_PERM) for (const edge of s.sackEdges) if (after(edge, sack)) sack = edge;

  if (sender.tdMaxWin === 0) {
    // The first segment seen in this direction: initialise the sender from it.
    if (s.flags & SYN) {
      sender.tdEnd = end;
      sender.tdMaxEnd = end;
      sender.tdMaxWin = win === 0 ? 1 : win;
      applyOptions(sender, s);
      // RFC 7323 §2.2: window scaling is used only when both sides offered it.
      if (!(sender.flags & FLAG_WINDOW_SCALE && receiver.flags & FLAG_WINDOW_SCALE)) {
        sender.scale = 0;
        receiver.scale = 0;
      }
      if (!(s.flags & ACK)) return true; // simultaneous open
    } else {
      sender.tdEnd = end;
      const swin = win << sender.scale;
      sender.tdMaxWin = swin === 0 ? 1 : swin;
      sender.tdMaxEnd = u32(end + sender.tdMaxWin);
      if (receiver.tdMaxWin === 0) {
        receiver.tdEnd = sack;
        receiver.tdMaxEnd = sack;
      } else if (sack === u32(receiver.tdEnd + 1)) {
        receiver.tdEnd = u32(receiver.tdEnd + 1); // an ACK of a FIN we did not see
      }
    }
  } else if (((ct.state === sSS && dir === 0) || (ct.state === sSR && dir === 1)) && after(end, sender.tdEnd) && s.flags & SYN) {
    // A retransmitted SYN (or SYN-ACK) with a new initial sequence number (RFC 9293 §3.4.1).
    sender.tdEnd = end;
    sender.tdMaxEnd = end;
    sender.tdMaxWin = win === 0 ? 1 : win;
    applyOptions(sender, s);
  }

  if (!(s.flags & ACK)) {
    ack = receiver.tdEnd;
    sack = ack;
  } else if ((s.flags & (ACK | RST)) === (ACK | RST) && ack === 0) {
    ack = receiver.tdEnd; // broken TCP stacks send RST+ACK with ack 0
    sack = ack;
  }
  if (seq === end && (!(s.flags & RST) || (seq === 0 && ct.state === sSS))) {
    // A segment without data or SYN/FIN: its position is that of the sender's last byte.
    seq = sender.tdEnd;
    end = seq;
  }
  // MAXACKWINDOW(sender): how far behind an ACK may lag, at least 66000 bytes.
  const maxAckWindow = sender.tdMaxWin > 66000 ? sender.tdMaxWin : 66000;
  const seqOk = before(seq, u32(sender.tdMaxEnd + 1));
  const endOk = after(end, u32(sender.tdEnd - receiver.tdMaxWin - 1));
  const ackUpperOk = before(sack, u32(receiver.tdEnd + 1));
  const ackLowerOk = after(sack, u32(receiver.tdEnd - maxAckWindow - 1));
  if (seqOk && endOk && ackUpperOk && ackLowerOk) {
    if (!(s.flags & SYN)) win <<= sender.scale;
    const swin = u32(win + (sack - ack));
    if (sender.tdMaxWin < swin) sender.tdMaxWin = swin;
    if (after(end, sender.tdEnd)) {
      sender.tdEnd = end;
      sender.flags |= FLAG_DATA_UNACKNOWLEDGED;
    }
    if (s.flags & ACK) {
      if (!(sender.flags & FLAG_MAXACK_SET)) {
        sender.tdMaxAck = ack;
        sender.flags |= FLAG_MAXACK_SET;
      } else if (after(ack, sender.tdMaxAck)) sender.tdMaxAck = ack;
    }
    if (receiver.tdMaxWin !== 0 && after(end, sender.tdMaxEnd)) receiver.tdMaxWin += u32(end - sender.tdMaxEnd);
    if (after(u32(sack + win), u32(receiver.tdMaxEnd - 1))) {
      receiver.tdMaxEnd = u32(sack + win);
      if (win === 0) receiver.tdMaxEnd = u32(receiver.tdMaxEnd + 1);
    }
    if (ack === receiver.tdEnd) receiver.flags &= ~FLAG_DATA_UNACKNOWLEDGED;
    if (index === Idx.ACK) {
      // The same segment again, in the same direction: a retransmission.
      if (ct.lastDir === dir && ct.lastSeq === seq && ct.lastAck === ack && ct.lastEnd === end && ct.lastWin === s.window) ct.retrans++;
      else {
        ct.lastDir = dir;
        ct.lastSeq = seq;
        ct.lastAck = ack;
        ct.lastEnd = end;
        ct.lastWin = s.window;
        ct.retrans = 0;
      }
    }
    return true;
  }
  const reason = !seqOk
    ? 'SEQ is over the upper bound (over the window of the receiver)'
    : !endOk
      ? 'SEQ is under the lower bound (already ACKed data retransmitted)'
      : !ackUpperOk
        ? 'ACK is over the upper bound (ACKed data not seen yet)'
        : 'ACK is under the lower bound (possible overly delayed ACK)';
  // nf_conntrack_tcp_be_liberal: "we mark only out of window RST segments as INVALID".
  if ((liberal || sender.flags & FLAG_BE_LIBERAL) && index !== Idx.RST) return true;
  return reason;
}

export function flagsText(flags: number): string {
  const names: [number, string][] = [
    [SYN, 'SYN'],
    [ACK, 'ACK'],
    [FIN, 'FIN'],
    [RST, 'RST'],
    [PSH, 'PSH'],
    [URG, 'URG'],
  ];
  const on = names.filter(([bit]) => flags & bit).map(([, n]) => n);
  return on.length === 0 ? 'without flags' : on.join('/');
}
