// One TCP connection: the transmission control block and the RFC 9293 state machine
// (§3.3.2 states, §3.10.7 segment arrival), RFC 6298 retransmission, RFC 5681 congestion control
// with RFC 6582 NewReno fast recovery, delayed ACKs (RFC 1122 §4.2.3.2, RFC 5681 §4.2), Nagle
// (RFC 896), window scaling (RFC 7323 §2), zero-window probing (RFC 9293 §3.8.6.1), RFC 5961
// reset/SYN/ACK hardening and ICMP reactions (RFC 1122 §4.2.3.9, RFC 1191).
//
// Timers: every timer of a connection (retransmission, delayed ACK, persist, keepalive,
// TIME-WAIT/FIN-WAIT-2) is a deadline; one clock timer is armed for the earliest, and a deadline
// moved later is not re-armed (the timer fires, finds it not due, and re-arms): a bulk transfer
// restarts the RTO on every ACK, and clearing/setting a timer each time would dominate.
import type { Clock, Ipv4Address, TimerHandle } from '@podnet/wire';
import { formatIpv4 } from '@podnet/wire';
import type { IpLayer, OutgoingPacket } from '../transport.js';
import type { ResolvedTcpOptions, TcpCounters } from './config.js';
import { type SocketErrno, type SocketError, socketError } from './errors.js';
import { ReassemblyQueue } from './reassembly.js';
import type { ReceiveSlab } from './receive-slab.js';
import { RttEstimator } from './rtt.js';
import {
  ACK,
  FIN,
  finishChecksum,
  HEADER_LENGTH,
  PROTOCOL_TCP,
  PSH,
  RST,
  type Segment,
  SYN,
  writeHeader,
  writeSackOption,
  writeSynOptions,
} from './segment.js';
import { SendBuffer } from './send-buffer.js';
import { seqAdd, seqDiff, seqGe, seqGt, seqLe, seqLt, seqMax } from './seq.js';

export type TcpState =
  | 'CLOSED'
  | 'LISTEN'
  | 'SYN-SENT'
  | 'SYN-RECEIVED'
  | 'ESTABLISHED'
  | 'FIN-WAIT-1'
  | 'FIN-WAIT-2'
  | 'CLOSE-WAIT'
  | 'CLOSING'
  | 'LAST-ACK'
  | 'TIME-WAIT';

/** What the connection tells the socket that owns it. */
export interface ConnectionUser {
  onConnect(): void;
  /** In-order data (a private copy the socket may keep). */
  onData(data: Buffer): void;
  /** The peer's FIN, in order: no more data. */
  onEnd(): void;
  /** Send-buffer space was freed by an ACK. */
  onWritable(): void;
  /** The connection is gone: error when it was refused, reset or timed out. */
  onClose(error: SocketError | undefined): void;
  /** Bytes received and not yet read by the application (they count against the receive window). */
  readableBuffered(): number;
}

/** What the connection needs from its TcpLayer. */
export interface ConnectionHost {
  readonly ip: IpLayer;
  readonly clock: Clock;
  readonly options: ResolvedTcpOptions;
  readonly counters: TcpCounters;
  /** A reusable frame buffer: IpLayer.send copies the payload, so one buffer serves every segment. */
  readonly scratch: Buffer;
  /** The connection reached CLOSED: forget it. */
  release(conn: TcpConnection): void;
  /** A passive open reached ESTABLISHED: hand it to its listener. */
  accepted(conn: TcpConnection): void;
  /** A passive open was dropped before ESTABLISHED (reset, timed out). */
  halfOpenGone(conn: TcpConnection): void;
  /** RFC 5961 §7 rate limit: may a challenge ACK be sent now? */
  challengeAllowed(): boolean;
  /** Runs fn as one step of the stack: segments that arrive re-entrantly meanwhile wait until it ends. */
  run<T>(fn: () => T): T;
  /** Where in-order payload is copied for the application (shared by the layer's connections). */
  readonly receiveSlab: ReceiveSlab;
  /** Asks for flushAck() once the segments arriving in this turn of the event loop are processed. */
  ackAfterBatch(conn: TcpConnection): void;
  /** The ISN for this 4-tuple (RFC 6528). */
  initialSequence(conn: TcpConnection): number;
}

export interface TcpInfo {
  state: TcpState;
  /** Effective send MSS: min(peer MSS, path MTU - 40), lowered by ICMP fragmentation-needed. */
  mss: number;
  /** The MSS option we sent in our SYN. */
  advertisedMss: number;
  /** The MSS option the peer's SYN carried (536 when it had none, RFC 9293 §3.7.1). */
  peerMss: number;
  sendWindowShift: number;
  receiveWindowShift: number;
  cwnd: number;
  ssthresh: number;
  srttMs: number | undefined;
  rttvarMs: number;
  rtoMs: number;
  sndUna: number;
  sndNxt: number;
  sndWnd: number;
  rcvNxt: number;
  rcvWnd: number;
  bytesInFlight: number;
  sendBuffered: number;
  retransmissions: number;
  fastRetransmits: number;
  timeouts: number;
  inFastRecovery: boolean;
  /** SACK was agreed on the SYNs. */
  sack: boolean;
  /** Bytes above SND.UNA the peer has SACKed. */
  sackedBytes: number;
}

/** RFC 9293 §3.7.1: the MSS to assume when the peer sends none. */
const DEFAULT_PEER_MSS = 536;
const IP_TCP_HEADERS = 40;
/** The smallest MSS used whatever a path or an ICMP error says (Linux TCP_MIN_MSS). */
const MIN_MSS = 88;
/** Linux tcp_fin_timeout: how long an orphaned connection may sit in FIN-WAIT-2. */
const FIN_WAIT_2_TIMEOUT_MS = 60_000;
/**
 * Full segments one batched ACK may cover at most: a batch ACK waits for the end of the link's
 * receive batch, which keeps the sender's window moving only if the batch is short (Linux bounds
 * it by the GRO aggregate, 64 KiB; 16 segments measured best over flannel.1 here).
 */
const STRETCH_ACK_LIMIT = 16;
/** The IPv4 header in front of every segment (no options). */
const IPV4_HEADER_BYTES = 20;
/** Persist-timer bounds (Linux: TCP_RTO_MIN .. TCP_RTO_MAX as well). */
const MAX_PERSIST_BACKOFF = 16;

export interface ConnectionInit {
  localAddress: Ipv4Address;
  localPort: number;
  remoteAddress: Ipv4Address;
  remotePort: number;
}

export class TcpConnection {
  state: TcpState = 'CLOSED';
  readonly localAddress: Ipv4Address;
  readonly localPort: number;
  readonly remoteAddress: Ipv4Address;
  readonly remotePort: number;
  readonly key: string;
  user: ConnectionUser | undefined;
  /** Set for passive opens: the listener key it belongs to until accepted. */
  listenerKey: string | undefined;
  /** The socket went away (destroy): data that still arrives is answered with RST, as Linux does for orphans. */
  orphaned = false;
  /** The local port was allocated by an active open (the layer counts it as bound). */
  boundPort = false;

  // Send sequence space (RFC 9293 §3.3.1). sndMax: the highest sequence sent, which SND.NXT
  // falls behind after a timeout rewinds it (go-back-N, as Linux's tcp_enter_loss).
  #iss = 0;
  #sndUna = 0;
  #sndNxt = 0;
  #sndMax = 0;
  #sndWnd = 0;
  #sndWl1 = 0;
  #sndWl2 = 0;
  #maxSndWnd = 0;
  /** Sequence number of the send buffer's first byte. */
  #bufSeq = 0;
  readonly #sendBuf = new SendBuffer();
  #finQueued = false;

  // Receive sequence space.
  #irs = 0;
  #rcvNxt = 0;
  /** RCV.NXT + the window last advertised: never moved left (RFC 9293 §3.8.6: do not shrink the window). */
  #rcvRightEdge = 0;
  readonly #reasm = new ReassemblyQueue();
  /**
   * What #emit hands to IpLayer.sendWith, made once: a segment then allocates no packet object,
   * no subarray of the scratch buffer and no copy closure on its way to the frame.
   */
  #outgoing: Omit<OutgoingPacket, 'payload'> | undefined;
  #emitLength = 0;
  /** The segment size of the super-segment #emit sends next (TSO), 0 for an ordinary one. */
  #emitGsoSize = 0;
  readonly #writeSegment = (frame: Buffer, at: number): void => {
    this.host.scratch.copy(frame, at, 0, this.#emitLength);
  };
  #finReceived = false;

  // Options negotiated on the SYNs.
  #advertisedMss: number;
  #peerMss = DEFAULT_PEER_MSS;
  #mss: number;
  /** Our receive window shift (RFC 7323 §2.2): applied to windows we send, once both sides agreed. */
  #rcvShift = 0;
  /** The peer's shift: applied to windows it sends. */
  #sndShift = 0;
  #offeredShift: number;
  /** Whether the peer's SYN carried a window-scale option (so our SYN-ACK may carry one, RFC 7323 §2.2). */
  #peerOfferedScale = false;
  /** SACK (RFC 2018): both SYNs carried SACK-permitted. */
  #sackOk = false;
  /** The SACK scoreboard (RFC 6675 §3): blocks above SND.UNA the peer holds, as sorted merged [left, right) pairs. */
  #scoreboard: number[] = [];
  /** RFC 6675 HighRxt: the end of what this recovery has retransmitted. */
  #highRxt = 0;
  /** When this recovery last ran out of holes to retransmit (for lost-retransmission detection). */
  #holesDoneAt: number | undefined;
  #synsSent = 0;

  // Congestion control (RFC 5681, RFC 6582).
  #cwnd = 0;
  #ssthresh = 0x7fffffff;
  #caBytes = 0;
  #dupAcks = 0;
  #inRecovery = false;
  #recover = 0;

  // RTT measurement (RFC 6298, Karn).
  readonly #rtt: RttEstimator;
  #timing = false;
  #timedSeq = 0;
  #timedAt = 0;
  #retries = 0;

  // Delayed ACK (RFC 1122 §4.2.3.2): bytes received since our last ACK, and the largest segment
  // seen, the estimate of the peer's MSS that "full-sized" refers to (Linux tcp_measure_rcv_mss).
  #unackedBytes = 0;
  #rcvMss = 536;

  #noDelay = false;
  #keepAliveIdleMs = 0;
  #keepAliveProbesSent = 0;
  #persistBackoff = 0;

  // Deadlines on the clock, undefined = not armed.
  #rtoAt: number | undefined;
  /** The tail loss probe's deadline (RFC 8985 §7.2), armed while data is in flight outside recovery. */
  #probeAt: number | undefined;
  #delackAt: number | undefined;
  #persistAt: number | undefined;
  #keepAliveAt: number | undefined;
  /** TIME-WAIT expiry, or the orphaned FIN-WAIT-2 timeout. */
  #lingerAt: number | undefined;
  #timer: TimerHandle | undefined;
  #timerAt = Number.POSITIVE_INFINITY;

  // Per-connection counters (TCP_INFO-style).
  #retransmissions = 0;
  #fastRetransmits = 0;
  #timeouts = 0;

  constructor(
    private readonly host: ConnectionHost,
    init: ConnectionInit,
  ) {
    this.localAddress = init.localAddress;
    this.localPort = init.localPort;
    this.remoteAddress = init.remoteAddress;
    this.remotePort = init.remotePort;
    this.key = connectionKey(init.localAddress, init.localPort, init.remoteAddress, init.remotePort);
    const o = host.options;
    this.#rtt = new RttEstimator(o.initialRtoMs, o.rtoMinMs, o.rtoMaxMs);
    // RFC 9293 §3.7.1 / RFC 1191: advertise what fits in one packet of the route's MTU.
    const mtu = host.ip.pathMtu(init.remoteAddress) ?? 1500;
    this.#advertisedMss = Math.max(MIN_MSS, mtu - IP_TCP_HEADERS);
    this.#mss = this.#advertisedMss;
    // RFC 7323 §2.3: the smallest shift that lets the whole receive buffer be advertised.
    let shift = 0;
    while (shift < 14 && o.receiveBufferBytes >>> shift > 0xffff) shift++;
    this.#offeredShift = shift;
  }

  /** The state as of now: user callbacks and teardown may have changed it since a check above. */
  #now(): TcpState {
    return this.state;
  }

  // ---- Opening ---------------------------------------------------------------------------

  /** Active open (RFC 9293 §3.10.1): send SYN, enter SYN-SENT. */
  openActive(): SocketErrno | undefined {
    this.#iss = this.host.initialSequence(this);
    this.#sndUna = this.#iss;
    this.#sndNxt = seqAdd(this.#iss, 1);
    this.#sndMax = this.#sndNxt;
    this.#bufSeq = this.#sndNxt;
    this.#recover = this.#iss;
    this.state = 'SYN-SENT';
    this.host.counters.activeOpens++;
    const error = this.#sendSyn(false);
    if (error) {
      this.state = 'CLOSED';
      return error;
    }
    this.#rtoAt = this.host.clock.now() + this.#rtt.rto;
    this.#schedule();
    return undefined;
  }

  /** Passive open on a SYN that reached a listener (RFC 9293 §3.10.7.2): send SYN-ACK, enter SYN-RECEIVED. */
  openPassive(seg: Segment): void {
    this.#irs = seg.seq;
    this.#rcvNxt = seqAdd(seg.seq, 1);
    this.#takeSynOptions(seg);
    this.#iss = this.host.initialSequence(this);
    this.#sndUna = this.#iss;
    this.#sndNxt = seqAdd(this.#iss, 1);
    this.#sndMax = this.#sndNxt;
    this.#bufSeq = this.#sndNxt;
    this.#recover = this.#iss;
    // The SYN's window is never scaled (RFC 7323 §2.2).
    this.#sndWnd = seg.window;
    this.#sndWl1 = seg.seq;
    this.#sndWl2 = this.#iss;
    this.state = 'SYN-RECEIVED';
    this.host.counters.passiveOpens++;
    this.#sendSyn(true);
    this.#rtoAt = this.host.clock.now() + this.#rtt.rto;
    this.#schedule();
  }

  #takeSynOptions(seg: Segment): void {
    this.#peerMss = seg.mss ?? DEFAULT_PEER_MSS;
    this.#peerOfferedScale = seg.windowShift !== undefined;
    // We offer SACK on every SYN when enabled, and answer a SYN's offer: both sides then agreed.
    this.#sackOk = this.host.options.sack && seg.sackPermitted;
    // RCV.NXT is known only now: the window's right edge starts from it.
    this.#rcvRightEdge = this.#rcvNxt;
    // RFC 7323 §2.2: scaling is on only when both SYNs carried the option.
    if (seg.windowShift !== undefined) {
      this.#sndShift = seg.windowShift;
      this.#rcvShift = this.#offeredShift;
    } else {
      this.#sndShift = 0;
      this.#rcvShift = 0;
    }
    this.#updateMss();
    // RFC 6928 / Linux TCP_INIT_CWND: the initial window in segments.
    this.#cwnd = this.host.options.initialCwndSegments * this.#mss;
  }

  /** Effective send MSS: min(peer's MSS, our path MTU - 40) (RFC 9293 §3.7.1, RFC 1122 §4.2.2.6). */
  #updateMss(): void {
    const mtu = this.host.ip.pathMtu(this.remoteAddress) ?? 1500;
    this.#mss = Math.max(MIN_MSS, Math.min(this.#peerMss, mtu - IP_TCP_HEADERS));
  }

  // ---- User calls ------------------------------------------------------------------------

  get sendBuffered(): number {
    return this.#sendBuf.length;
  }

  /** Whether the application may hand over more bytes (write() backpressure). */
  get sendBufferFull(): boolean {
    return this.#sendBuf.length >= this.host.options.sendBufferBytes;
  }

  write(chunk: Buffer): void {
    if (this.#finQueued) return;
    this.#sendBuf.push(chunk);
    this.#output();
  }

  /** A batch of writes (writev): one output pass for all of them. */
  writeMany(chunks: readonly Buffer[]): void {
    if (this.#finQueued) return;
    for (const c of chunks) this.#sendBuf.push(c);
    this.#output();
  }

  setNoDelay(noDelay: boolean): void {
    this.#noDelay = noDelay;
    if (noDelay) this.#output();
  }

  /** SO_KEEPALIVE (RFC 1122 §4.2.3.6): probe after idleMs without traffic; 0 turns it off. */
  setKeepAlive(enable: boolean, idleMs: number): void {
    this.#keepAliveIdleMs = enable ? Math.max(1, idleMs || 7_200_000) : 0;
    this.#keepAliveProbesSent = 0;
    this.#keepAliveAt = enable ? this.host.clock.now() + this.#keepAliveIdleMs : undefined;
    this.#schedule();
  }

  /** shutdown(SHUT_WR) / CLOSE (RFC 9293 §3.10.4): queue a FIN after the data. */
  shutdown(): void {
    if (this.#finQueued) return;
    switch (this.state) {
      case 'SYN-SENT':
        this.#terminate(undefined);
        return;
      case 'SYN-RECEIVED':
      case 'ESTABLISHED':
        this.#finQueued = true;
        this.state = 'FIN-WAIT-1';
        break;
      case 'CLOSE-WAIT':
        this.#finQueued = true;
        this.state = 'LAST-ACK';
        break;
      default:
        return;
    }
    this.#output();
  }

  /**
   * close() by the application (the socket was destroyed). As Linux tcp_close: unread received
   * data means RST (RFC 2525 §2.17); otherwise a FIN after the queued data, and the connection
   * finishes on its own, orphaned.
   */
  close(unreadBytes: number): void {
    this.user = undefined;
    this.orphaned = true;
    if (this.state === 'CLOSED' || this.state === 'TIME-WAIT') return;
    if (this.state === 'SYN-SENT') {
      this.#terminate(undefined);
      return;
    }
    // Only data the application could have read counts (Linux counts sk_receive_queue; the
    // out-of-order queue is just purged).
    if (unreadBytes > 0) {
      this.reset();
      return;
    }
    this.#reasm.clear();
    this.shutdown();
    if (this.state === 'FIN-WAIT-2') this.#lingerAt = this.host.clock.now() + FIN_WAIT_2_TIMEOUT_MS;
    this.#schedule();
  }

  /** ABORT (RFC 9293 §3.10.5): send RST, drop everything. */
  reset(): void {
    if (this.state !== 'CLOSED' && this.state !== 'SYN-SENT' && this.state !== 'TIME-WAIT') {
      this.#sendControl(this.#sndMax, 0, RST, false);
      this.host.counters.resetsSent++;
    }
    this.#terminate(undefined);
  }

  /**
   * A SYN for this 4-tuple while in TIME-WAIT may start a new connection when its sequence
   * number lies beyond the old one's (RFC 6191's rule without timestamps; Linux
   * tcp_timewait_state_process answers TCP_TW_SYN): the layer then drops this TCB first.
   */
  acceptsNewSyn(seq: number): boolean {
    return this.state === 'TIME-WAIT' && seqGt(seq, this.#rcvNxt);
  }

  /** The receive batch ended: send the ACK it asked for, unless one went out since (piggybacked). */
  flushAck(): void {
    if (this.#unackedBytes > 0 && this.#synchronized() && this.state !== 'TIME-WAIT') this.#sendAck();
  }

  /** Ends the connection without sending anything (its namespace is closing). */
  abort(): void {
    this.#terminate(undefined);
  }

  /**
   * The application read data: tell the peer when the window re-opened enough (RFC 9293
   * §3.8.6.2.2). As Linux tcp_cleanup_rbuf: only once the window still open to the peer has
   * fallen to half the buffer and the new one is at least twice it; otherwise the ACKs that the
   * data draws anyway carry the window (one update per segment would double the packets).
   */
  onUserRead(): void {
    if (!this.#synchronized()) return;
    const current = Math.max(0, seqDiff(this.#rcvRightEdge, this.#rcvNxt));
    const capacity = this.host.options.receiveBufferBytes;
    if (2 * current > capacity) return;
    const free = this.#freeReceiveSpace();
    const step = Math.min(capacity >>> 1, this.#advertisedMss);
    if (free >= 2 * current && free - current >= step) this.#sendAck();
  }

  // ---- Segment arrival (RFC 9293 §3.10.7) -------------------------------------------------

  segmentArrives(seg: Segment): void {
    if (this.#keepAliveIdleMs > 0) {
      this.#keepAliveProbesSent = 0;
      this.#keepAliveAt = this.host.clock.now() + this.#keepAliveIdleMs;
    }
    if (this.state === 'SYN-SENT') {
      this.#synSentArrives(seg);
      return;
    }
    if (this.state === 'CLOSED') return;
    const dataLen = seg.dataEnd - seg.dataStart;
    const flags = seg.flags;
    const segLen = dataLen + (flags & SYN ? 1 : 0) + (flags & FIN ? 1 : 0);

    // First: sequence number acceptability (§3.10.7.4).
    if (!this.#acceptable(seg.seq, segLen)) {
      if (flags & RST) return;
      if (this.state === 'SYN-RECEIVED' && flags & SYN && seg.seq === this.#irs) {
        if (flags & ACK && seqLt(this.#sndUna, seg.ack) && seqLe(seg.ack, this.#sndMax)) {
          // Simultaneous open (RFC 9293 Figure 8, line 7): the peer's SYN-ACK acknowledges our SYN.
          this.#establish(seg);
          this.#sendAck();
          this.#output();
          return;
        }
        // A retransmitted SYN (our SYN-ACK was lost): answer it again.
        if (!(flags & ACK)) {
          this.#sendSyn(true);
          return;
        }
      }
      this.#sendAck();
      return;
    }

    // Second: RST (RFC 5961 §3.2: only an exact match resets; in-window gets a challenge ACK).
    if (flags & RST) {
      if (seg.seq !== this.#rcvNxt) {
        this.#challengeAck();
        return;
      }
      this.host.counters.resetsReceived++;
      if (this.state === 'SYN-RECEIVED' && this.listenerKey !== undefined) {
        // §3.10.7.4: a passive open goes back to LISTEN, i.e. simply disappears.
        this.#terminate(undefined);
        return;
      }
      if (this.state === 'ESTABLISHED' || this.state === 'CLOSE-WAIT') this.host.counters.establishedResets++;
      // CLOSING, LAST-ACK, TIME-WAIT: the application already closed; the reset just ends it.
      if (this.state === 'CLOSING' || this.state === 'LAST-ACK' || this.state === 'TIME-WAIT') {
        this.#terminate(undefined);
        return;
      }
      // SYN-RECEIVED of an active (simultaneous) open: refused; otherwise reset.
      const refused = this.state === 'SYN-RECEIVED';
      this.#terminate(
        socketError(refused ? 'ECONNREFUSED' : 'ECONNRESET', refused ? 'connect' : 'read', formatIpv4(this.remoteAddress), this.remotePort),
      );
      return;
    }

    // Fourth: SYN in a synchronized state (RFC 5961 §4: challenge ACK, never reset).
    if (flags & SYN) {
      if (this.state === 'SYN-RECEIVED' && seg.seq === this.#irs) {
        this.#sendSyn(true);
        return;
      }
      if (this.state === 'TIME-WAIT') {
        this.#sendAck();
        return;
      }
      this.#challengeAck();
      return;
    }

    // Fifth: ACK.
    if (!(flags & ACK)) return;
    if (this.state === 'SYN-RECEIVED') {
      if (seqLt(this.#sndUna, seg.ack) && seqLe(seg.ack, this.#sndMax)) {
        this.#establish(seg);
        if (this.#now() !== 'ESTABLISHED' && this.#now() !== 'FIN-WAIT-1') return;
      } else {
        this.#sendReset(seg.ack, 0, false);
        return;
      }
    }
    if (!this.#processAck(seg, dataLen)) {
      // The segment's text is not for us, but the ACK may have opened the window (CLOSING, LAST-ACK).
      if (this.#now() !== 'CLOSED') this.#output();
      return;
    }

    // Seventh: segment text; eighth: FIN.
    if (dataLen > 0 || flags & FIN) this.#processData(seg, dataLen);
    if (this.#now() !== 'CLOSED') this.#output();
  }

  #synSentArrives(seg: Segment): void {
    const flags = seg.flags;
    // §3.10.7.3 first: the ACK must cover our SYN and nothing beyond it.
    if (flags & ACK && (seqLe(seg.ack, this.#iss) || seqGt(seg.ack, this.#sndMax))) {
      if (!(flags & RST)) this.#sendReset(seg.ack, 0, false);
      return;
    }
    if (flags & RST) {
      if (flags & ACK) {
        this.host.counters.resetsReceived++;
        this.host.counters.attemptFails++;
        this.#terminate(socketError('ECONNREFUSED', 'connect', formatIpv4(this.remoteAddress), this.remotePort));
      }
      return;
    }
    if (!(flags & SYN)) return;
    this.#irs = seg.seq;
    this.#rcvNxt = seqAdd(seg.seq, 1);
    this.#takeSynOptions(seg);
    if (flags & ACK) {
      this.#sndUna = seg.ack;
      // RFC 7323 §2.2: the window of a segment with SYN set is never scaled.
      this.#sndWnd = seg.window;
      this.#maxSndWnd = Math.max(this.#maxSndWnd, this.#sndWnd);
      this.#sndWl1 = seg.seq;
      this.#sndWl2 = seg.ack;
      this.#retries = 0;
      this.#rtt.resetBackoff();
      // Karn: only a SYN sent once gives an RTT sample.
      if (this.#timing) this.#rtt.sample(this.host.clock.now() - this.#timedAt);
      this.#timing = false;
      this.#rtoAt = undefined;
      this.state = 'ESTABLISHED';
      this.#sendAck();
      this.user?.onConnect();
      this.#output();
      this.#schedule();
      return;
    }
    // Simultaneous open (§3.10.7.3 fourth, RFC 9293 Figure 8): SYN-RECEIVED, send SYN-ACK.
    this.state = 'SYN-RECEIVED';
    this.#sndWnd = seg.window;
    this.#sndWl1 = seg.seq;
    this.#sendSyn(true);
  }

  /** SYN-RECEIVED → ESTABLISHED on the ACK of our SYN (§3.10.7.4 fifth). */
  #establish(seg: Segment): void {
    this.#sndWnd = seg.flags & SYN ? seg.window : seg.window << this.#sndShift;
    this.#maxSndWnd = Math.max(this.#maxSndWnd, this.#sndWnd);
    this.#sndWl1 = seg.seq;
    this.#sndWl2 = seg.ack;
    this.#retries = 0;
    this.#rtt.resetBackoff();
    if (this.#timing) this.#rtt.sample(this.host.clock.now() - this.#timedAt);
    this.#timing = false;
    this.#sndUna = seg.ack;
    this.#rtoAt = undefined;
    // A close() while half-open already queued the FIN and moved to FIN-WAIT-1.
    if (this.state === 'SYN-RECEIVED') this.state = this.#finQueued ? 'FIN-WAIT-1' : 'ESTABLISHED';
    if (this.listenerKey !== undefined) this.host.accepted(this);
    else this.user?.onConnect();
  }

  /** §3.10.7.4 segment acceptability test, against the window we advertised. */
  #acceptable(seq: number, segLen: number): boolean {
    const wnd = Math.max(0, seqDiff(this.#rcvRightEdge, this.#rcvNxt));
    if (segLen === 0) {
      if (wnd === 0) return seq === this.#rcvNxt;
      return seqLe(this.#rcvNxt, seq) && seqLt(seq, this.#rcvRightEdge);
    }
    if (wnd === 0) return false;
    const last = seqAdd(seq, segLen - 1);
    return (seqLe(this.#rcvNxt, seq) && seqLt(seq, this.#rcvRightEdge)) || (seqLe(this.#rcvNxt, last) && seqLt(last, this.#rcvRightEdge));
  }

  /** §3.10.7.4 fifth, with RFC 5681/6582 for duplicates and new ACKs. Returns false to drop the segment. */
  #processAck(seg: Segment, dataLen: number): boolean {
    const ack = seg.ack;
    if (seqGt(ack, this.#sndMax)) {
      // Acknowledges something never sent (RFC 5961 §5.2: challenge ACK; RFC 9293: send an ACK, drop).
      this.#sendAck();
      return false;
    }
    const now = this.host.clock.now();
    const window = seg.window << this.#sndShift;
    if (this.#sackOk && seg.sackBlocks !== undefined) this.#updateScoreboard(seg.sackBlocks);
    if (seqLe(ack, this.#sndUna)) {
      // RFC 5681 §2 "duplicate acknowledgment": same ACK, no data, no SYN/FIN, same window, data outstanding.
      // (ACKs of zero-window probes are not: the window is closed, nothing was lost.)
      const duplicate =
        ack === this.#sndUna &&
        dataLen === 0 &&
        !(seg.flags & (SYN | FIN)) &&
        window === this.#sndWnd &&
        window > 0 &&
        this.#sndMax !== this.#sndUna;
      this.#updateWindow(seg, window);
      if (duplicate) this.#onDuplicateAck();
    } else {
      this.#onNewAck(ack, now);
      this.#updateWindow(seg, window);
    }
    // State-specific ACK effects (§3.10.7.4 fifth, per state).
    const finAcked = this.#finQueued && seqGe(this.#sndUna, seqAdd(this.#finSeq(), 1));
    switch (this.state) {
      case 'FIN-WAIT-1':
        if (finAcked) {
          this.state = 'FIN-WAIT-2';
          if (this.orphaned) {
            this.#lingerAt = now + FIN_WAIT_2_TIMEOUT_MS;
            this.#schedule();
          }
        }
        break;
      case 'CLOSING':
        if (finAcked) this.#enterTimeWait();
        return false;
      case 'LAST-ACK':
        if (finAcked) {
          this.#terminate(undefined);
          return false;
        }
        return true;
      case 'TIME-WAIT':
        // A retransmitted FIN: acknowledge it and restart the 2 MSL timeout.
        if (seg.flags & FIN) {
          this.#sendAck();
          this.#enterTimeWait();
        }
        return false;
    }
    return true;
  }

  #updateWindow(seg: Segment, window: number): void {
    // RFC 9293 §3.10.7.4: take the window from the newest segment only (SND.WL1/WL2).
    if (seqLt(this.#sndWl1, seg.seq) || (this.#sndWl1 === seg.seq && seqLe(this.#sndWl2, seg.ack))) {
      this.#sndWnd = window;
      this.#sndWl1 = seg.seq;
      this.#sndWl2 = seg.ack;
      if (window > this.#maxSndWnd) this.#maxSndWnd = window;
      if (window > 0 && this.#persistAt !== undefined) {
        this.#persistAt = undefined;
        this.#persistBackoff = 0;
      }
    }
  }

  #onNewAck(ack: number, now: number): void {
    const acked = seqDiff(ack, this.#sndUna);
    // Drop acknowledged data from the send buffer (the FIN's sequence number is not data).
    const dataAcked = Math.min(Math.max(0, seqDiff(ack, this.#bufSeq)), this.#sendBuf.length);
    if (dataAcked > 0) {
      this.#sendBuf.consume(dataAcked);
      this.#bufSeq = seqAdd(this.#bufSeq, dataAcked);
    }
    this.#sndUna = ack;
    if (seqLt(this.#sndNxt, ack)) this.#sndNxt = ack;
    if (this.#scoreboard.length > 0) this.#pruneScoreboard();
    this.#retries = 0;
    this.#rtt.resetBackoff();
    if (this.#timing && seqGe(ack, this.#timedSeq)) {
      this.#rtt.sample(now - this.#timedAt);
      this.#timing = false;
    }
    const mss = this.#mss;
    if (this.#inRecovery) {
      if (seqGe(ack, this.#recover)) {
        // RFC 6582 §3.2 step 3: full acknowledgment; deflate the window.
        const flight = seqDiff(this.#sndMax, ack);
        this.#cwnd = Math.min(this.#ssthresh, Math.max(flight, mss) + mss);
        this.#inRecovery = false;
        this.#holesDoneAt = undefined;
        this.#dupAcks = 0;
      } else if (this.#sackOk) {
        // RFC 6675 §5 step (C): keep filling the holes the scoreboard shows, as the pipe allows.
        this.#sackRecoverySend(now);
      } else {
        // Step 4: partial acknowledgment; retransmit the next hole, deflate by what was acked.
        this.#retransmitFirst();
        this.#cwnd = Math.max(mss, this.#cwnd - acked + (acked >= mss ? mss : 0));
      }
    } else {
      this.#dupAcks = 0;
      if (this.#cwnd < this.#ssthresh) {
        // RFC 5681 §3.1 slow start, counting bytes acknowledged (RFC 3465) without its L limit,
        // as Linux tcp_slow_start does, since one ACK may cover a whole receive batch.
        this.#cwnd += acked;
      } else {
        // Congestion avoidance: one SMSS per window of bytes acknowledged (RFC 5681 eq. 3 variant).
        this.#caBytes += acked;
        if (this.#caBytes >= this.#cwnd) {
          this.#caBytes -= this.#cwnd;
          this.#cwnd += mss;
        }
      }
    }
    // RFC 6298 §5.2-5.3: stop the timer when all is acknowledged, else restart it.
    this.#rtoAt = this.#sndUna === this.#sndMax ? undefined : now + this.#rtt.rto;
    if (this.#sndUna === this.#sndMax) this.#probeAt = undefined;
    else this.#armProbe(now);
    this.#schedule();
    if (dataAcked > 0 && !this.sendBufferFull) this.user?.onWritable();
  }

  #onDuplicateAck(): void {
    this.#dupAcks++;
    const mss = this.#mss;
    if (this.#inRecovery) {
      if (this.#sackOk) this.#sackRecoverySend(this.host.clock.now());
      // RFC 6582 §3.2 step 4 / RFC 5681 §3.2 step 4: inflate for each further duplicate.
      else this.#cwnd += mss;
      return;
    }
    // RFC 6675 §5: with SACK, loss is also declared once 3 segments' worth above SND.UNA is
    // SACKed (one batched ACK may stand for several duplicates).
    const lost = this.#dupAcks >= 3 || (this.#sackOk && this.#sackedBytes() >= 3 * mss);
    if (!lost && this.#dupAcks <= 2) {
      // RFC 3042 limited transmit: a new segment on each of the first two duplicate ACKs, so a
      // small window still produces the three duplicates fast retransmit needs.
      const offset = seqDiff(this.#sndNxt, this.#bufSeq);
      const available = this.#sendBuf.length - offset;
      const peerRoom = seqDiff(seqAdd(this.#sndUna, this.#sndWnd), this.#sndNxt);
      const len = Math.min(available, mss, peerRoom);
      if (this.#sndNxt === this.#sndMax && len > 0 && seqDiff(this.#sndMax, this.#sndUna) <= this.#cwnd + 2 * mss) {
        this.#sendData(this.#sndNxt, offset, len, this.#finQueued && len === available, this.host.clock.now());
      }
      return;
    }
    if (lost && seqGe(this.#sndUna, this.#recover)) {
      // RFC 5681 §3.2 step 2-3, RFC 6582 step 2: fast retransmit, enter fast recovery.
      const flight = seqDiff(this.#sndMax, this.#sndUna);
      this.#ssthresh = Math.max(flight >>> 1, 2 * mss);
      this.#recover = this.#sndMax;
      this.#inRecovery = true;
      this.#probeAt = undefined;
      this.#fastRetransmits++;
      this.host.counters.fastRetransmits++;
      if (this.#sackOk) {
        // RFC 6675 §5 steps (4.1)-(4.4): cwnd = ssthresh, then send what the pipe allows, holes first.
        this.#cwnd = this.#ssthresh;
        this.#highRxt = this.#sndUna;
        this.#sackRecoverySend(this.host.clock.now(), true);
        return;
      }
      this.#retransmitFirst();
      this.#cwnd = this.#ssthresh + 3 * mss;
    }
  }

  // ---- SACK scoreboard and loss recovery (RFC 2018, RFC 6675) --------------------------------

  #updateScoreboard(blocks: readonly number[]): void {
    for (let i = 0; i + 1 < blocks.length; i += 2) {
      let left = blocks[i] as number;
      const right = blocks[i + 1] as number;
      // RFC 2018 §3 / RFC 5961-style sanity: only blocks within what we have sent and not yet had acknowledged.
      if (!seqLt(left, right) || !seqGt(right, this.#sndUna) || seqGt(right, this.#sndMax)) continue;
      if (seqLt(left, this.#sndUna)) left = this.#sndUna;
      this.#insertSacked(left, right);
    }
  }

  #insertSacked(left: number, right: number): void {
    const sb = this.#scoreboard;
    let i = 0;
    while (i < sb.length && seqLt(sb[i + 1] as number, left)) i += 2;
    let l = left;
    let r = right;
    let j = i;
    while (j < sb.length && seqLe(sb[j] as number, r)) {
      if (seqLt(sb[j] as number, l)) l = sb[j] as number;
      if (seqGt(sb[j + 1] as number, r)) r = sb[j + 1] as number;
      j += 2;
    }
    sb.splice(i, j - i, l, r);
  }

  #pruneScoreboard(): void {
    const sb = this.#scoreboard;
    let i = 0;
    while (i < sb.length && seqLe(sb[i + 1] as number, this.#sndUna)) i += 2;
    if (i > 0) sb.splice(0, i);
    if (sb.length > 0 && seqLt(sb[0] as number, this.#sndUna)) sb[0] = this.#sndUna;
  }

  /** Moves a rewound SND.NXT past a SACKed block it points into. */
  #skipSacked(): void {
    for (let i = 0; i < this.#scoreboard.length; i += 2) {
      const l = this.#scoreboard[i] as number;
      const r = this.#scoreboard[i + 1] as number;
      if (seqLe(l, this.#sndNxt) && seqLt(this.#sndNxt, r)) {
        this.#sndNxt = seqLt(r, this.#sndMax) ? r : this.#sndMax;
        return;
      }
    }
  }

  #sackedBytes(): number {
    let n = 0;
    for (let i = 0; i < this.#scoreboard.length; i += 2) n += seqDiff(this.#scoreboard[i + 1] as number, this.#scoreboard[i] as number);
    return n;
  }

  /** Unsacked bytes in [from, to): holes, by the scoreboard. */
  #holeBytes(from: number, to: number): number {
    if (!seqLt(from, to)) return 0;
    let n = seqDiff(to, from);
    for (let i = 0; i < this.#scoreboard.length; i += 2) {
      const l = seqMax(this.#scoreboard[i] as number, from);
      const r = seqLt(this.#scoreboard[i + 1] as number, to) ? (this.#scoreboard[i + 1] as number) : to;
      if (seqLt(l, r)) n -= seqDiff(r, l);
    }
    return n;
  }

  /** RFC 6675 NextSeg() rule 1: the first unsacked, not yet retransmitted range below the highest SACK. */
  #nextHole(highSack: number): { seq: number; len: number } | undefined {
    let start = seqMax(this.#sndUna, this.#highRxt);
    for (let i = 0; i < this.#scoreboard.length; i += 2) {
      const l = this.#scoreboard[i] as number;
      const r = this.#scoreboard[i + 1] as number;
      if (seqLt(start, l)) return { seq: start, len: Math.min(seqDiff(l, start), this.#mss) };
      if (seqLt(start, r)) start = r;
    }
    return seqLt(start, highSack) ? { seq: start, len: Math.min(seqDiff(highSack, start), this.#mss) } : undefined;
  }

  /**
   * RFC 6675 §5 (C): while the pipe leaves room in cwnd, retransmit the next hole, else send new
   * data. The pipe, simplified: what lies above the highest SACKed byte is in flight; below it,
   * holes count as lost unless this recovery retransmitted them.
   */
  #sackRecoverySend(now: number, first = false): void {
    const mss = this.#mss;
    let sendFirst = first;
    if (first) this.#holesDoneAt = undefined;
    // Lost retransmissions (the idea of RACK, RFC 8985 §6.2, by time): once every hole was
    // resent, a hole still open more than an RTT later, while SACKs keep arriving for data
    // sent after it, was lost again: start another pass over the holes instead of waiting
    // for the retransmission timer.
    if (this.#holesDoneAt !== undefined && now - this.#holesDoneAt > (this.#rtt.srtt ?? this.host.options.rtoMinMs) * 1.25 + 1) {
      this.#holesDoneAt = undefined;
      this.#highRxt = this.#sndUna;
    }
    for (let guard = 0; guard < 4096; guard++) {
      const sb = this.#scoreboard;
      const highSack = sb.length > 0 ? (sb[sb.length - 1] as number) : this.#sndUna;
      const pipe = Math.max(0, seqDiff(this.#sndMax, highSack)) + this.#holeBytes(this.#sndUna, seqMax(this.#sndUna, this.#highRxt));
      if (!sendFirst && pipe + mss > this.#cwnd) return;
      sendFirst = false;
      const hole = this.#nextHole(highSack);
      if (hole) {
        const offset = seqDiff(hole.seq, this.#bufSeq);
        const available = seqDiff(this.#sentDataEnd(), hole.seq);
        const len = Math.min(hole.len, Math.max(0, available));
        const withFin = this.#finSent() && len === available;
        if (len === 0 && !withFin) return;
        this.#transmit(hole.seq, offset, len, withFin);
        this.#retransmissions++;
        this.host.counters.retransmissions++;
        this.#timing = false;
        this.#highRxt = seqAdd(hole.seq, len + (withFin ? 1 : 0));
        continue;
      }
      if (this.#holesDoneAt === undefined && this.#holeBytes(this.#sndUna, highSack) > 0) this.#holesDoneAt = now;
      // No hole left to repair: new data, as the peer's window allows (RFC 6675 NextSeg rule 2).
      const offset = seqDiff(this.#sndNxt, this.#bufSeq);
      const available = this.#sendBuf.length - offset;
      const peerRoom = seqDiff(seqAdd(this.#sndUna, this.#sndWnd), this.#sndNxt);
      const len = Math.min(available, mss, peerRoom);
      if (len <= 0) return;
      this.#sendData(this.#sndNxt, offset, len, this.#finQueued && len === available, now);
    }
  }

  #processData(seg: Segment, dataLen: number): void {
    if (this.state !== 'ESTABLISHED' && this.state !== 'FIN-WAIT-1' && this.state !== 'FIN-WAIT-2') {
      // CLOSE-WAIT, CLOSING, LAST-ACK: the peer already sent its FIN; ignore text (§3.10.7.4 seventh).
      return;
    }
    const fin = (seg.flags & FIN) !== 0;
    if (this.orphaned && dataLen > 0 && seqGt(seqAdd(seg.seq, dataLen), this.#rcvNxt)) {
      // Linux tcp_rcv_state_process: new data for a socket nobody will read again → reset
      // (a retransmission of what we already have is only acknowledged).
      this.reset();
      return;
    }
    let start = seg.dataStart;
    let seq = seg.seq;
    // Trim what we already have (the front of a retransmission).
    const dup = seqDiff(this.#rcvNxt, seq);
    if (dup > 0) {
      start += Math.min(dup, dataLen);
      seq = this.#rcvNxt;
    }
    // Trim what lies beyond the window's right edge (and its FIN with it).
    let end = seg.dataEnd;
    let finInWindow = fin;
    const beyond = seqDiff(seqAdd(seq, end - start), this.#rcvRightEdge);
    if (beyond > 0) {
      end -= Math.min(beyond, end - start);
      finInWindow = false;
    }
    if (seq === this.#rcvNxt) {
      const hadHoles = this.#reasm.size > 0;
      const len = end - start;
      if (len > 0) {
        // RCV.NXT moves before the application sees the data: it may write (or close) from its
        // 'data' handler, and what it sends must acknowledge this segment.
        this.#rcvNxt = seqAdd(this.#rcvNxt, len);
        if (len > this.#rcvMss) this.#rcvMss = Math.min(len, this.#advertisedMss);
        this.#unackedBytes += len;
        this.user?.onData(this.host.receiveSlab.copy(seg.buf, start, end));
        if (this.#now() === 'CLOSED') return;
      }
      let finNow = finInWindow;
      if (hadHoles) {
        const pieces: Buffer[] = [];
        const r = this.#reasm.drain(this.#rcvNxt, (d) => pieces.push(d));
        this.#rcvNxt = r.rcvNxt;
        finNow = finNow || r.fin;
        for (const d of pieces) {
          this.user?.onData(d);
          if (this.#now() === 'CLOSED') return;
        }
      }
      if (finNow) {
        this.#receiveFin();
        return;
      }
      // RFC 5681 §4.2: ACK at once when a hole was filled; else at least every second full
      // segment, the ACK going out when the current receive batch ends: as Linux ACKs a GRO
      // aggregate of the segments one NAPI poll took in, not each of them.
      if (hadHoles || this.#unackedBytes >= STRETCH_ACK_LIMIT * this.#rcvMss) this.#sendAck();
      else if (this.#unackedBytes >= 2 * this.#rcvMss) this.host.ackAfterBatch(this);
      else if (this.#unackedBytes > 0) this.#delayAck();
    } else {
      // Out of order: keep it, and send an immediate duplicate ACK (RFC 5681 §4.2, §3.2).
      if (end > start || finInWindow) this.#reasm.insert(seq, seg.buf.subarray(start, end), finInWindow);
      this.#sendAck();
    }
  }

  /** §3.10.7.4 eighth: the FIN, in order. */
  #receiveFin(): void {
    if (this.#finReceived) return;
    this.#finReceived = true;
    this.#rcvNxt = seqAdd(this.#rcvNxt, 1);
    // Nothing lies beyond the FIN: what the reassembly queue still holds are duplicates.
    this.#reasm.clear();
    switch (this.state) {
      case 'ESTABLISHED':
        this.state = 'CLOSE-WAIT';
        break;
      case 'FIN-WAIT-1':
        // Our FIN not yet acknowledged: simultaneous close (RFC 9293 Figure 13).
        this.state = 'CLOSING';
        break;
      case 'FIN-WAIT-2':
        this.#sendAck();
        this.user?.onEnd();
        this.#enterTimeWait();
        return;
    }
    this.#sendAck();
    this.user?.onEnd();
  }

  #enterTimeWait(): void {
    this.state = 'TIME-WAIT';
    this.#rtoAt = undefined;
    this.#persistAt = undefined;
    this.#delackAt = undefined;
    this.#keepAliveAt = undefined;
    this.#lingerAt = this.host.clock.now() + 2 * this.host.options.mslMs;
    this.#schedule();
    // The socket is done with the connection; TIME-WAIT only absorbs old duplicates.
    const user = this.user;
    this.user = undefined;
    user?.onClose(undefined);
  }

  // ---- Output ------------------------------------------------------------------------------

  #finSeq(): number {
    return seqAdd(this.#bufSeq, this.#sendBuf.length);
  }

  /** The end of the data sent so far (SND.MAX, not counting a FIN). */
  #sentDataEnd(): number {
    const dataEnd = this.#finSeq();
    return seqLt(this.#sndMax, dataEnd) ? this.#sndMax : dataEnd;
  }

  /** Whether the FIN has been sent (SND.MAX is past the data). */
  #finSent(): boolean {
    return this.#finQueued && seqGt(this.#sndMax, this.#finSeq());
  }

  #synchronized(): boolean {
    return this.state !== 'CLOSED' && this.state !== 'SYN-SENT' && this.state !== 'SYN-RECEIVED' && this.state !== 'LISTEN';
  }

  /** Sends what the windows, Nagle and SWS avoidance allow (RFC 9293 §3.8.6.2.1, RFC 896, RFC 5681). */
  #output(): void {
    if (!this.#synchronized() || this.state === 'TIME-WAIT') return;
    const now = this.host.clock.now();
    const mss = this.#mss;
    const maxLen = this.#tsoBytes(mss);
    for (;;) {
      if (this.#scoreboard.length > 0 && seqLt(this.#sndNxt, this.#sndMax)) this.#skipSacked();
      const offset = seqDiff(this.#sndNxt, this.#bufSeq);
      const available = this.#sendBuf.length - offset;
      const inFlight = seqDiff(this.#sndNxt, this.#sndUna);
      const peerRoom = seqDiff(seqAdd(this.#sndUna, this.#sndWnd), this.#sndNxt);
      const cwndRoom = this.#cwnd - inFlight;
      if (available > 0) {
        let len = Math.min(available, maxLen, peerRoom, cwndRoom);
        // A super-segment is whole segments unless it ends the data (tcp_mss_split_point), so the
        // sender's silly-window rule below still sees each short segment.
        if (len > mss && len < available) len -= len % mss;
        if (len <= 0) {
          // A zero window with nothing in flight: only a probe can learn that it opened.
          if (peerRoom <= 0 && inFlight === 0 && this.#persistAt === undefined) {
            this.#persistAt = now + this.#persistInterval();
            this.#schedule();
          }
          return;
        }
        if (len < mss && inFlight > 0) {
          // Window-limited small segment (sender SWS avoidance) or Nagle's rule: wait for ACKs.
          if (len < available) return;
          if (!this.#noDelay && !this.#finQueued) return;
        }
        const withFin = this.#finQueued && len === available;
        this.#sendData(this.#sndNxt, offset, len, withFin, now);
        continue;
      }
      if (available === 0 && this.#finQueued && this.#sndNxt === this.#finSeq()) {
        this.#sendData(this.#sndNxt, offset, 0, true, now);
      }
      return;
    }
  }

  /** Sends [seq, seq+len) of the send buffer (and the FIN), advancing SND.NXT. */
  #sendData(seq: number, offset: number, len: number, withFin: boolean, now: number): void {
    const isRetransmission = seqLt(seq, this.#sndMax);
    this.#transmit(seq, offset, len, withFin);
    const end = seqAdd(seq, len + (withFin ? 1 : 0));
    if (isRetransmission) {
      this.#retransmissions++;
      this.host.counters.retransmissions++;
      this.#timing = false; // Karn's algorithm (RFC 6298 §3).
    } else if (!this.#timing) {
      this.#timing = true;
      this.#timedSeq = end;
      this.#timedAt = now;
    }
    this.#sndNxt = end;
    this.#sndMax = seqMax(this.#sndMax, end);
    if (this.#rtoAt === undefined) this.#rtoAt = now + this.#rtt.rto;
    if (!isRetransmission) this.#armProbe(now);
    this.#schedule();
  }

  /**
   * RFC 8985 §7.2: PTO = 2·SRTT, plus the peer's delayed-ACK time when one segment is in flight,
   * never beyond the RTO. Armed outside loss recovery, once per flight of new data.
   */
  #armProbe(now: number): void {
    if (!this.host.options.tailLossProbe || this.#inRecovery || this.#rtt.srtt === undefined) {
      this.#probeAt = undefined;
      return;
    }
    const flight = seqDiff(this.#sndMax, this.#sndUna);
    let pto = 2 * this.#rtt.srtt + 1;
    if (flight <= this.#mss) pto += this.host.options.delayedAckMs;
    this.#probeAt = now + Math.min(pto, this.#rtt.rto);
  }

  /**
   * RFC 8985 §7.3: the probe is a new segment when one may go (the window allows), else the last
   * segment sent again; either draws an ACK (with SACK) that shows what the tail lost, so fast
   * recovery can repair it instead of the retransmission timer.
   */
  #onProbe(now: number): void {
    if (this.#inRecovery || this.#sndUna === this.#sndMax || !this.#synchronized() || this.state === 'TIME-WAIT') return;
    this.host.counters.lossProbes++;
    const offset = seqDiff(this.#sndNxt, this.#bufSeq);
    const available = this.#sendBuf.length - offset;
    const peerRoom = seqDiff(seqAdd(this.#sndUna, this.#sndWnd), this.#sndNxt);
    if (this.#sndNxt === this.#sndMax && available > 0 && peerRoom > 0) {
      const len = Math.min(available, this.#mss, peerRoom);
      this.#sendData(this.#sndNxt, offset, len, this.#finQueued && len === available, now);
      this.#probeAt = undefined;
      return;
    }
    // The last segment sent (or the FIN) again.
    const sentEnd = this.#sentDataEnd();
    const finSent = this.#finSent();
    const len = Math.min(this.#mss, Math.max(0, seqDiff(sentEnd, this.#sndUna)));
    const seq = seqAdd(sentEnd, -len);
    if (len === 0 && !finSent) return;
    this.#transmit(seq, seqDiff(seq, this.#bufSeq), len, finSent);
    this.#retransmissions++;
    this.host.counters.retransmissions++;
    this.#timing = false;
  }

  /** Retransmits the first unacknowledged segment without touching SND.NXT (fast retransmit, partial ACKs). */
  #retransmitFirst(): void {
    const offset = seqDiff(this.#sndUna, this.#bufSeq);
    // Only what was sent before: the data up to SND.MAX, and the FIN if it went out.
    const sentEnd = this.#sentDataEnd();
    const available = seqDiff(sentEnd, this.#sndUna);
    if (available < 0) return;
    const len = Math.min(available, this.#mss);
    const withFin = this.#finSent() && len === available;
    if (len === 0 && !withFin) return;
    this.#transmit(this.#sndUna, offset, len, withFin);
    this.#retransmissions++;
    this.host.counters.retransmissions++;
    this.#timing = false;
  }

  /**
   * How much data one segment may carry: a TSO super-segment of whole MSS-sized segments when the
   * route's device carries them (tcp_tso_autosize, bounded by sk_gso_max_size), else one MSS.
   */
  #tsoBytes(mss: number): number {
    const gsoMax = this.host.ip.gsoMaxBytes?.(this.remoteAddress) ?? 0;
    const segments = Math.floor((gsoMax - IPV4_HEADER_BYTES - HEADER_LENGTH) / mss);
    return segments >= 2 ? segments * mss : mss;
  }

  /** Builds and sends one data/FIN segment from the send buffer (more than an MSS: a TSO super-segment). */
  #transmit(seq: number, offset: number, len: number, withFin: boolean): void {
    const buf = this.host.scratch;
    if (len > this.#mss) this.#emitGsoSize = this.#mss;
    const push = len > 0 && offset + len === this.#sendBuf.length;
    const flags = ACK | (push ? PSH : 0) | (withFin ? FIN : 0);
    writeHeader(buf, this.localPort, this.remotePort, seq, this.#rcvNxt, flags, this.#windowField(), 0);
    if (len > 0) this.#sendBuf.copyOut(offset, len, buf, HEADER_LENGTH);
    this.#emit(HEADER_LENGTH + len);
    this.#ackSent();
  }

  /** SYN or SYN-ACK with our MSS and window-scale options. */
  #sendSyn(withAck: boolean): SocketErrno | undefined {
    const buf = this.host.scratch;
    // RFC 7323 §2.2: offer scaling in a SYN-ACK only when the SYN offered it.
    const offerShift = !withAck || this.#peerOfferedScale ? this.#offeredShift : undefined;
    const window = Math.min(0xffff, this.host.options.receiveBufferBytes);
    const offerSack = this.host.options.sack && (!withAck || this.#sackOk);
    const optLen = writeSynOptions(buf, this.#advertisedMss, offerShift, offerSack);
    writeHeader(buf, this.localPort, this.remotePort, this.#iss, withAck ? this.#rcvNxt : 0, SYN | (withAck ? ACK : 0), window, optLen);
    if (withAck) this.#rcvRightEdge = seqAdd(this.#rcvNxt, window);
    if (this.#synsSent++ > 0) {
      this.#retransmissions++;
      this.host.counters.retransmissions++;
      this.#timing = false;
    } else {
      this.#timing = true;
      this.#timedSeq = seqAdd(this.#iss, 1);
      this.#timedAt = this.host.clock.now();
    }
    return this.#emit(HEADER_LENGTH + optLen);
  }

  /**
   * A pure ACK carries SND.MAX, not a SND.NXT that a timeout rewound: the peer may already have
   * acknowledged what we are resending, and an ACK with an older sequence number would fail its
   * acceptability test and be dropped with the acknowledgment in it (Linux tcp_acceptable_seq).
   */
  #sendAck(): void {
    if (this.state === 'CLOSED') return;
    const buf = this.host.scratch;
    // RFC 2018 §4: an ACK sent while out-of-order data is held names it (up to 4 blocks fit).
    const blocks = this.#sackOk && this.#reasm.size > 0 ? this.#reasm.sackBlocks(4) : undefined;
    const optLen = blocks !== undefined && blocks.length > 0 ? writeSackOption(buf, blocks) : 0;
    writeHeader(buf, this.localPort, this.remotePort, this.#sndMax, this.#rcvNxt, ACK, this.#windowField(), optLen);
    this.#emit(HEADER_LENGTH + optLen);
    this.#ackSent();
  }

  #sendControl(seq: number, ack: number, flags: number, isAck: boolean): void {
    if (this.state === 'CLOSED') return;
    const buf = this.host.scratch;
    writeHeader(buf, this.localPort, this.remotePort, seq, ack, flags, flags & RST ? 0 : this.#windowField(), 0);
    this.#emit(HEADER_LENGTH);
    if (isAck) this.#ackSent();
  }

  /** RST in reply to an unacceptable segment in SYN-RECEIVED (§3.10.7.4): <SEQ=SEG.ACK><CTL=RST>. */
  #sendReset(seq: number, ack: number, withAck: boolean): void {
    const buf = this.host.scratch;
    writeHeader(buf, this.localPort, this.remotePort, seq, ack, RST | (withAck ? ACK : 0), 0, 0);
    this.#emit(HEADER_LENGTH);
    this.host.counters.resetsSent++;
  }

  /** RFC 5961 §3.2/§4.2/§5.2 challenge ACK, rate limited. */
  #challengeAck(): void {
    if (!this.host.options.challengeAcks || !this.host.challengeAllowed()) return;
    this.host.counters.challengeAcks++;
    this.#sendAck();
  }

  #ackSent(): void {
    this.#unackedBytes = 0;
    this.#delackAt = undefined;
  }

  #delayAck(): void {
    if (this.#delackAt !== undefined) return;
    this.#delackAt = this.host.clock.now() + this.host.options.delayedAckMs;
    this.#schedule();
  }

  /** The window field of an outgoing segment, from the free receive space (scaled, RFC 7323 §2.3). */
  #windowField(): number {
    const unit = 2 ** this.#rcvShift;
    const current = Math.max(0, seqDiff(this.#rcvRightEdge, this.#rcvNxt));
    let wnd = this.#freeReceiveSpace();
    // Receiver SWS avoidance (RFC 9293 §3.8.6.2.2): open the window only in steps of
    // min(buffer/2, MSS); and never shrink it (§3.8.6: the right edge does not move left).
    const step = Math.min(this.host.options.receiveBufferBytes >>> 1, this.#advertisedMss);
    if (wnd > current && wnd - current < step) wnd = current;
    if (wnd < current) wnd = current;
    const field = Math.min(0xffff, Math.ceil(wnd / unit));
    const right = seqAdd(this.#rcvNxt, field * unit);
    if (seqGt(right, this.#rcvRightEdge)) this.#rcvRightEdge = right;
    return field;
  }

  /**
   * The window the free receive space allows. As Linux tcp_win_from_space, part of the buffer is
   * kept for per-packet overhead: a quarter here (Linux derives it from the measured payload to
   * truesize ratio, about that for full-sized segments). It also keeps a window's worth of
   * segments within what a default-sized UDP socket buffer under a VXLAN link can queue.
   */
  #freeReceiveSpace(): number {
    const used = (this.user?.readableBuffered() ?? 0) + this.#reasm.bytes;
    const free = Math.max(0, this.host.options.receiveBufferBytes - used);
    return free - (free >>> 2);
  }

  #emit(length: number): SocketErrno | undefined {
    const buf = this.host.scratch;
    finishChecksum(buf, length, this.localAddress, this.remoteAddress);
    this.host.counters.segmentsSent++;
    const ip = this.host.ip;
    const gsoSize = this.#emitGsoSize;
    this.#emitGsoSize = 0;
    let r: ReturnType<IpLayer['send']>;
    if (ip.sendWith !== undefined) {
      this.#outgoing ??= { src: this.localAddress, dst: this.remoteAddress, protocol: PROTOCOL_TCP, dontFragment: true, gsoSize: 0 };
      this.#outgoing.gsoSize = gsoSize;
      // write() runs synchronously, before the frame goes anywhere, so the length cannot be overwritten by a nested send.
      this.#emitLength = length;
      r = ip.sendWith(this.#outgoing, length, this.#writeSegment);
    } else {
      r = ip.send({
        src: this.localAddress,
        dst: this.remoteAddress,
        protocol: PROTOCOL_TCP,
        payload: buf.subarray(0, length),
        dontFragment: true,
        gsoSize,
      });
    }
    return r.ok ? undefined : r.error;
  }

  // ---- Timers --------------------------------------------------------------------------------

  #persistInterval(): number {
    return Math.min(this.host.options.rtoMaxMs, Math.max(this.host.options.rtoMinMs, this.#rtt.rto) * 2 ** this.#persistBackoff);
  }

  #schedule(): void {
    if (this.state === 'CLOSED') return;
    let next = Number.POSITIVE_INFINITY;
    for (const at of [this.#rtoAt, this.#probeAt, this.#delackAt, this.#persistAt, this.#keepAliveAt, this.#lingerAt]) {
      if (at !== undefined && at < next) next = at;
    }
    if (next === Number.POSITIVE_INFINITY || next >= this.#timerAt) return;
    if (this.#timer) this.host.clock.clearTimeout(this.#timer);
    this.#timerAt = next;
    this.#timer = this.host.clock.setTimeout(() => this.host.run(() => this.#onTimer()), Math.max(0, next - this.host.clock.now()));
  }

  #onTimer(): void {
    this.#timer = undefined;
    this.#timerAt = Number.POSITIVE_INFINITY;
    if (this.state === 'CLOSED') return;
    const now = this.host.clock.now();
    // A timer may fire a fraction of a millisecond early on the system clock.
    const due = (at: number | undefined): boolean => at !== undefined && at <= now + 0.5;
    if (due(this.#lingerAt)) {
      this.#lingerAt = undefined;
      if (this.state === 'TIME-WAIT') this.host.counters.timeWaitExpired++;
      this.#terminate(undefined);
      return;
    }
    if (due(this.#delackAt)) {
      this.#delackAt = undefined;
      this.host.counters.delayedAcks++;
      this.#sendAck();
    }
    if (due(this.#probeAt)) {
      this.#probeAt = undefined;
      this.#onProbe(now);
    }
    if (due(this.#rtoAt)) {
      this.#rtoAt = undefined;
      this.#onRetransmissionTimeout(now);
      if (this.#now() === 'CLOSED') return;
    }
    if (due(this.#persistAt)) {
      this.#persistAt = undefined;
      this.#onPersist(now);
    }
    if (due(this.#keepAliveAt)) {
      this.#keepAliveAt = undefined;
      this.#onKeepAlive(now);
      if (this.#now() === 'CLOSED') return;
    }
    this.#schedule();
  }

  /** RFC 6298 §5.4-5.6 and RFC 5681 §3.1 (loss window), Linux tcp_retransmit_timer. */
  #onRetransmissionTimeout(now: number): void {
    const o = this.host.options;
    this.#timeouts++;
    this.host.counters.timeouts++;
    this.#retries++;
    if (this.state === 'SYN-SENT' || this.state === 'SYN-RECEIVED') {
      const limit = this.state === 'SYN-SENT' ? o.synRetries : o.synAckRetries;
      if (this.#retries > limit) {
        if (this.state === 'SYN-SENT') this.host.counters.attemptFails++;
        this.#terminate(socketError('ETIMEDOUT', 'connect', formatIpv4(this.remoteAddress), this.remotePort));
        return;
      }
      this.#rtt.backoff();
      this.#sendSyn(this.state === 'SYN-RECEIVED');
      this.#rtoAt = now + this.#rtt.rto;
      return;
    }
    if (this.#sndUna === this.#sndMax) return;
    if (this.#retries > o.dataRetries) {
      this.#terminate(socketError('ETIMEDOUT', 'read', formatIpv4(this.remoteAddress), this.remotePort));
      return;
    }
    const mss = this.#mss;
    if (!this.#inRecovery || this.#retries === 1) {
      const flight = seqDiff(this.#sndMax, this.#sndUna);
      this.#ssthresh = Math.max(flight >>> 1, 2 * mss);
    }
    this.#cwnd = mss;
    this.#caBytes = 0;
    this.#inRecovery = false;
    this.#probeAt = undefined;
    this.#dupAcks = 0;
    // Go back to SND.UNA, skipping what the scoreboard shows the peer holds (Linux
    // tcp_timeout_mark_lost: only un-SACKed data is marked lost). Should the peer have
    // reneged (RFC 2018 §8), the next timeout finds SND.UNA unmoved and resends it all.
    if (this.#retries > 1) this.#scoreboard = [];
    this.#highRxt = this.#sndUna;
    this.#holesDoneAt = undefined;
    // RFC 6582 §3.2 step 1 after a timeout: do not fast-retransmit what this timeout resends.
    this.#recover = this.#sndMax;
    this.#rtt.backoff();
    this.#timing = false;
    // Go back to SND.UNA and resend from there in slow start.
    this.#sndNxt = this.#sndUna;
    this.#rtoAt = now + this.#rtt.rto;
    this.#output();
    if (this.#sndNxt === this.#sndUna) {
      // Nothing could be sent (zero window): send the first segment regardless, as the probe.
      this.#retransmitFirst();
    }
  }

  /** Zero-window probe (RFC 9293 §3.8.6.1, RFC 1122 §4.2.2.17): one byte past the window. */
  #onPersist(now: number): void {
    if (this.#sndWnd > 0 || !this.#synchronized()) return;
    const offset = seqDiff(this.#sndNxt, this.#bufSeq);
    if (offset >= this.#sendBuf.length) return;
    this.host.counters.zeroWindowProbes++;
    const buf = this.host.scratch;
    writeHeader(buf, this.localPort, this.remotePort, this.#sndNxt, this.#rcvNxt, ACK, this.#windowField(), 0);
    this.#sendBuf.copyOut(offset, 1, buf, HEADER_LENGTH);
    this.#emit(HEADER_LENGTH + 1);
    this.#ackSent();
    // The probe byte counts as sent, so the ACK that takes it is acceptable.
    this.#sndMax = seqMax(this.#sndMax, seqAdd(this.#sndNxt, 1));
    if (this.#persistBackoff < MAX_PERSIST_BACKOFF) this.#persistBackoff++;
    this.#persistAt = now + this.#persistInterval();
  }

  /** RFC 1122 §4.2.3.6: an ACK with SEG.SEQ = SND.NXT-1 draws an ACK from a live peer. */
  #onKeepAlive(now: number): void {
    if (this.#keepAliveIdleMs === 0 || !this.#synchronized() || this.state === 'TIME-WAIT') return;
    if (this.#keepAliveProbesSent >= this.host.options.keepAliveProbes) {
      this.#terminate(socketError('ETIMEDOUT', 'read', formatIpv4(this.remoteAddress), this.remotePort));
      return;
    }
    this.#keepAliveProbesSent++;
    this.#sendControl(seqAdd(this.#sndUna, -1), this.#rcvNxt, ACK, false);
    this.#keepAliveAt = now + this.host.options.keepAliveIntervalMs;
  }

  // ---- ICMP (RFC 1122 §4.2.3.9, RFC 1191, RFC 5927) ---------------------------------------

  /** Whether a quoted sequence number belongs to data in flight (RFC 5927 §4.1 check). */
  quotesOurSegment(seq: number): boolean {
    return seqLe(this.#sndUna, seq) && seqLt(seq, this.#sndMax);
  }

  /** Fragmentation needed (type 3 code 4): lower the MSS and resend at once, without backoff (RFC 1191 §6.1). */
  fragmentationNeeded(nextHopMtu: number): void {
    const newMss = Math.max(MIN_MSS, nextHopMtu - IP_TCP_HEADERS);
    if (newMss >= this.#mss) return;
    this.#mss = newMss;
    this.#cwnd = Math.max(this.#cwnd, this.#mss);
    if (!this.#synchronized()) return;
    this.host.counters.pmtuRetransmits++;
    // Linux tcp_simple_retransmit: resend everything in flight at the new size, no cwnd cut.
    this.#sndNxt = this.#sndUna;
    this.#timing = false;
    this.#output();
  }

  /** Hard errors while connecting (RFC 1122 §4.2.3.9: port/protocol unreachable may abort SYN-SENT). */
  connectFailed(code: SocketErrno): void {
    if (this.state !== 'SYN-SENT' && this.state !== 'SYN-RECEIVED') return;
    this.host.counters.attemptFails++;
    this.#terminate(socketError(code, 'connect', formatIpv4(this.remoteAddress), this.remotePort));
  }

  // ---- Teardown ------------------------------------------------------------------------------

  #terminate(error: SocketError | undefined): void {
    if (this.state === 'CLOSED') return;
    const wasHalfOpen = this.state === 'SYN-RECEIVED' && this.listenerKey !== undefined;
    this.state = 'CLOSED';
    if (this.#timer) this.host.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = Number.POSITIVE_INFINITY;
    this.#rtoAt = this.#probeAt = this.#delackAt = this.#persistAt = this.#keepAliveAt = this.#lingerAt = undefined;
    this.#sendBuf.clear();
    this.#reasm.clear();
    if (wasHalfOpen) this.host.halfOpenGone(this);
    this.host.release(this);
    const user = this.user;
    this.user = undefined;
    user?.onClose(error);
  }

  info(): TcpInfo {
    return {
      state: this.state,
      mss: this.#mss,
      advertisedMss: this.#advertisedMss,
      peerMss: this.#peerMss,
      sendWindowShift: this.#sndShift,
      receiveWindowShift: this.#rcvShift,
      cwnd: this.#cwnd,
      ssthresh: this.#ssthresh,
      srttMs: this.#rtt.srtt,
      rttvarMs: this.#rtt.rttvar,
      rtoMs: this.#rtt.rto,
      sndUna: this.#sndUna,
      sndNxt: this.#sndNxt,
      sndWnd: this.#sndWnd,
      rcvNxt: this.#rcvNxt,
      rcvWnd: Math.max(0, seqDiff(this.#rcvRightEdge, this.#rcvNxt)),
      bytesInFlight: seqDiff(this.#sndMax, this.#sndUna),
      sendBuffered: this.#sendBuf.length,
      retransmissions: this.#retransmissions,
      fastRetransmits: this.#fastRetransmits,
      timeouts: this.#timeouts,
      inFastRecovery: this.#inRecovery,
      sack: this.#sackOk,
      sackedBytes: this.#sackedBytes(),
    };
  }
}

export function connectionKey(localAddress: number, localPort: number, remoteAddress: number, remotePort: number): string {
  return `${localAddress}:${localPort}>${remoteAddress}:${remotePort}`;
}
