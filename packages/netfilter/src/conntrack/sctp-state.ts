// A simplified SCTP tracker after net/netfilter/nf_conntrack_proto_sctp.c: the association's state
// follows the first chunk of each packet (RFC 9260 §4: INIT, INIT ACK, COOKIE ECHO, COOKIE ACK,
// SHUTDOWN, SHUTDOWN ACK, SHUTDOWN COMPLETE, ABORT); data and heartbeats keep it. Verification tags
// are not checked (Linux checks them; podnet's endpoints are trusted emulated ones).
import type { Dir } from './entry.js';
import type { SctpTimeouts } from './timeouts.js';

export type SctpStateName =
  | 'CLOSED'
  | 'COOKIE_WAIT'
  | 'COOKIE_ECHOED'
  | 'ESTABLISHED'
  | 'SHUTDOWN_SENT'
  | 'SHUTDOWN_RECD'
  | 'SHUTDOWN_ACK_SENT';

export interface SctpConntrackState {
  state: SctpStateName;
}

const INIT = 1;
const INIT_ACK = 2;
const ABORT = 6;
const SHUTDOWN = 7;
const SHUTDOWN_ACK = 8;
const COOKIE_ECHO = 10;
const COOKIE_ACK = 11;
const SHUTDOWN_COMPLETE = 14;

export type SctpOutcome = { kind: 'accept'; timeout: number; assure: boolean } | { kind: 'invalid'; reason: string };

/** The first chunk's type, or a reason the packet is unusable (sctp_error: truncated header or chunk). */
export function firstChunk(buf: Buffer, l4: number, length: number): number | string {
  if (length < 16) return 'truncated SCTP header or chunk';
  return buf[l4 + 12] as number;
}

/** sctp_new: only an INIT starts an association. */
export function sctpNew(chunk: number): SctpConntrackState | string {
  if (chunk !== INIT) return `SCTP chunk type ${chunk} cannot start an association (only INIT can)`;
  return { state: 'CLOSED' };
}

function next(state: SctpStateName, dir: Dir, chunk: number): SctpStateName | undefined {
  switch (chunk) {
    case INIT:
      return dir === 0 ? 'COOKIE_WAIT' : undefined;
    case INIT_ACK:
      return dir === 1 && state === 'COOKIE_WAIT' ? 'COOKIE_WAIT' : state === 'COOKIE_WAIT' ? undefined : state;
    case COOKIE_ECHO:
      return dir === 0 && (state === 'COOKIE_WAIT' || state === 'COOKIE_ECHOED') ? 'COOKIE_ECHOED' : state;
    case COOKIE_ACK:
      return dir === 1 && state === 'COOKIE_ECHOED' ? 'ESTABLISHED' : state;
    case SHUTDOWN:
      return state === 'ESTABLISHED' || state === 'SHUTDOWN_SENT' || state === 'SHUTDOWN_RECD'
        ? dir === 0
          ? 'SHUTDOWN_SENT'
          : 'SHUTDOWN_RECD'
        : state;
    case SHUTDOWN_ACK:
      return 'SHUTDOWN_ACK_SENT';
    case SHUTDOWN_COMPLETE:
    case ABORT:
      return 'CLOSED';
    default:
      return state;
  }
}

export function sctpPacket(ct: SctpConntrackState, dir: Dir, chunk: number, timeouts: SctpTimeouts): SctpOutcome {
  const old = ct.state;
  const state = next(old, dir, chunk);
  if (state === undefined) return { kind: 'invalid', reason: `SCTP chunk type ${chunk} is invalid in state ${old}` };
  ct.state = state;
  // ASSURED once the COOKIE ACK answers the COOKIE ECHO (sctp_packet).
  const assure = old === 'COOKIE_ECHOED' && state === 'ESTABLISHED' && dir === 1;
  return { kind: 'accept', timeout: sctpTimeout(state, timeouts), assure };
}

function sctpTimeout(state: SctpStateName, t: SctpTimeouts): number {
  switch (state) {
    case 'CLOSED':
      return t.closed;
    case 'COOKIE_WAIT':
      return t.cookieWait;
    case 'COOKIE_ECHOED':
      return t.cookieEchoed;
    case 'ESTABLISHED':
      return t.established;
    case 'SHUTDOWN_SENT':
      return t.shutdownSent;
    case 'SHUTDOWN_RECD':
      return t.shutdownRecd;
    case 'SHUTDOWN_ACK_SENT':
      return t.shutdownAckSent;
  }
}
