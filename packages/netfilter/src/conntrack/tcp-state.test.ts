import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../../wire/src/testing/fake-clock.ts';
import { context, newState, TCP, tcpPacket } from '../testing/conntrack-packets.ts';
import type { PacketConntrack } from './entry.ts';
import { formatEntry, listText } from './listing.ts';
import { Conntrack } from './tracker.ts';

const C = '10.244.1.2';
const S = '10.244.2.3';

/** Tracks one segment as a router would (PREROUTING … POSTROUTING confirm) and returns its ct state. */
function pass(ct: Conntrack, fromClient: boolean, flags: number, seq: number, ack: number, data?: Buffer) {
  const p = fromClient
    ? tcpPacket({ src: C, dst: S, sport: 40000, dport: 80, flags, seq, ack, ...(data ? { data } : {}) })
    : tcpPacket({ src: S, dst: C, sport: 80, dport: 40000, flags, seq, ack, ...(data ? { data } : {}) });
  const state = newState();
  expect(ct.track('PREROUTING', p, context('PREROUTING', 'eth0'), state)).toBeUndefined();
  expect(ct.confirm(state)).toBeUndefined();
  return (state.conntrack as PacketConntrack).state;
}

function only(ct: Conntrack): string {
  const lines = listText(ct);
  expect(lines).toHaveLength(1);
  return lines[0] as string;
}

describe('TCP connection tracking (nf_conntrack_proto_tcp)', () => {
  it('follows a whole connection: handshake, data, FIN close to TIME_WAIT, with the Linux timeouts', () => {
    const clock = new FakeClock(1000);
    const ct = new Conntrack({ clock, gcIntervalMs: 0 });
    expect(pass(ct, true, TCP.SYN, 1000, 0)).toBe('NEW');
    expect(only(ct)).toBe(
      `tcp      6 120 SYN_SENT src=${C} dst=${S} sport=40000 dport=80 [UNREPLIED] src=${S} dst=${C} sport=80 dport=40000 mark=0 use=1`,
    );
    expect(pass(ct, false, TCP.SYN | TCP.ACK, 5000, 1001)).toBe('ESTABLISHED');
    expect(only(ct)).toMatch(/^tcp {6}6 60 SYN_RECV .* sport=80 dport=40000 mark=0 use=1$/);
    expect(pass(ct, true, TCP.ACK, 1001, 5001)).toBe('ESTABLISHED');
    expect(only(ct)).toMatch(/^tcp {6}6 432000 ESTABLISHED .*dport=40000 \[ASSURED\] mark=0 use=1$/);
    // Data not yet acknowledged caps the timeout at nf_conntrack_tcp_timeout_unacknowledged (300 s).
    expect(pass(ct, true, TCP.ACK | TCP.PSH, 1001, 5001, Buffer.from('GET / HTTP/1.0\r\n\r\n'))).toBe('ESTABLISHED');
    expect(only(ct)).toMatch(/ 300 ESTABLISHED /);
    pass(ct, false, TCP.ACK, 5001, 1019);
    expect(only(ct)).toMatch(/ 432000 ESTABLISHED /);
    clock.advance(1500);
    expect(only(ct)).toMatch(/ 431998 ESTABLISHED /);
    pass(ct, true, TCP.FIN | TCP.ACK, 1019, 5001);
    expect(only(ct)).toMatch(/ 120 FIN_WAIT /);
    pass(ct, false, TCP.ACK, 5001, 1020);
    expect(only(ct)).toMatch(/ 60 CLOSE_WAIT /);
    pass(ct, false, TCP.FIN | TCP.ACK, 5001, 1020);
    expect(only(ct)).toMatch(/ 30 LAST_ACK /);
    pass(ct, true, TCP.ACK, 1020, 5002);
    expect(only(ct)).toMatch(/ 120 TIME_WAIT /);
    clock.advance(119_999);
    expect(listText(ct)).toHaveLength(1);
    clock.advance(1);
    expect(listText(ct)).toHaveLength(0);
  });

  it('a RST moves the connection to CLOSE for 10 s', () => {
    const clock = new FakeClock();
    const ct = new Conntrack({ clock, gcIntervalMs: 0 });
    pass(ct, true, TCP.SYN, 1, 0);
    pass(ct, false, TCP.SYN | TCP.ACK, 100, 2);
    pass(ct, true, TCP.ACK, 2, 101);
    expect(pass(ct, true, TCP.RST, 2, 0)).toBe('ESTABLISHED');
    expect(only(ct)).toMatch(/^tcp {6}6 10 CLOSE /);
    clock.advance(10_000);
    expect(ct.entries()).toHaveLength(0);
  });

  it('an unanswered SYN refused by a RST is deleted at once ("if only reply is a RST")', () => {
    const ct = new Conntrack({ clock: new FakeClock(), gcIntervalMs: 0 });
    pass(ct, true, TCP.SYN, 1, 0);
    pass(ct, false, TCP.RST | TCP.ACK, 0, 2);
    expect(ct.entries()).toHaveLength(0);
  });

  it('flags a bad flag combination, a segment invalid in its state and an out-of-window segment INVALID', () => {
    const ct = new Conntrack({ clock: new FakeClock(), gcIntervalMs: 0 });
    expect(pass(ct, true, TCP.SYN | TCP.FIN, 1, 0)).toBe('INVALID');
    expect(pass(ct, true, TCP.SYN | TCP.ACK, 1, 0)).toBe('INVALID'); // a SYN-ACK cannot open a connection
    expect(ct.entries()).toHaveLength(0);
    pass(ct, true, TCP.SYN, 1000, 0);
    pass(ct, false, TCP.SYN | TCP.ACK, 5000, 1001);
    pass(ct, true, TCP.ACK, 1001, 5001);
    // Far beyond what the server announced it can receive.
    expect(pass(ct, true, TCP.ACK, 1001 + 10_000_000, 5001, Buffer.from('x'))).toBe('INVALID');
    // Acknowledging data the server never sent.
    expect(pass(ct, true, TCP.ACK, 1001, 5001 + 10_000_000)).toBe('INVALID');
    expect(ct.counters.invalid).toBe(4);
    expect(only(ct)).toMatch(/ ESTABLISHED /);
  });

  it('in liberal mode (nf_conntrack_tcp_be_liberal) only out-of-window RSTs are INVALID', () => {
    const ct = new Conntrack({ clock: new FakeClock(), gcIntervalMs: 0, tcpLiberal: true });
    pass(ct, true, TCP.SYN, 1000, 0);
    pass(ct, false, TCP.SYN | TCP.ACK, 5000, 1001);
    pass(ct, true, TCP.ACK, 1001, 5001);
    expect(pass(ct, true, TCP.ACK, 1001 + 10_000_000, 5001, Buffer.from('x'))).toBe('ESTABLISHED');
    expect(pass(ct, true, TCP.RST, 1001 + 50_000_000, 0)).toBe('INVALID');
  });

  it('picks up an established connection mid-stream (nf_conntrack_tcp_loose) with a short timeout until answered', () => {
    const ct = new Conntrack({ clock: new FakeClock(), gcIntervalMs: 0 });
    expect(pass(ct, true, TCP.ACK, 777, 888, Buffer.from('abc'))).toBe('NEW');
    expect(only(ct)).toMatch(/^tcp {6}6 300 ESTABLISHED .*\[UNREPLIED\]/);
    // The first answer is still handled as unreplied (SEEN_REPLY is set after it); the next segment assures.
    expect(pass(ct, false, TCP.ACK, 888, 780)).toBe('ESTABLISHED');
    expect(only(ct)).toMatch(/ 300 ESTABLISHED /);
    expect(pass(ct, true, TCP.ACK, 780, 888)).toBe('ESTABLISHED');
    expect(only(ct)).toMatch(/ 432000 ESTABLISHED .*\[ASSURED\]/);
    const strict = new Conntrack({ clock: new FakeClock(), gcIntervalMs: 0, tcpLoose: false });
    expect(pass(strict, true, TCP.ACK, 777, 888)).toBe('INVALID');
  });

  it('a new SYN on a connection in TIME_WAIT replaces the old entry (tuple reuse)', () => {
    const clock = new FakeClock();
    const ct = new Conntrack({ clock, gcIntervalMs: 0 });
    pass(ct, true, TCP.SYN, 1, 0);
    pass(ct, false, TCP.SYN | TCP.ACK, 100, 2);
    pass(ct, true, TCP.ACK, 2, 101);
    pass(ct, true, TCP.FIN | TCP.ACK, 2, 101);
    pass(ct, false, TCP.FIN | TCP.ACK, 101, 3);
    pass(ct, true, TCP.ACK, 3, 102);
    const before = ct.entries();
    expect(before[0] && formatEntry(before[0], 0)).toMatch(/TIME_WAIT/);
    expect(pass(ct, true, TCP.SYN, 90_000, 0)).toBe('NEW');
    const after = ct.entries();
    expect(after).toHaveLength(1);
    expect(after[0]?.id).not.toBe(before[0]?.id);
    expect(only(ct)).toMatch(/ 120 SYN_SENT /);
  });

  it('the same segment seen more than 3 times (retransmissions) caps the timeout at 300 s', () => {
    const ct = new Conntrack({ clock: new FakeClock(), gcIntervalMs: 0 });
    pass(ct, true, TCP.SYN, 1, 0);
    pass(ct, false, TCP.SYN | TCP.ACK, 100, 2);
    pass(ct, true, TCP.ACK, 2, 101);
    pass(ct, false, TCP.ACK, 101, 2);
    expect(only(ct)).toMatch(/ 432000 ESTABLISHED /);
    for (let i = 0; i < 3; i++) pass(ct, false, TCP.ACK, 101, 2);
    expect(only(ct)).toMatch(/ 300 ESTABLISHED /);
    pass(ct, true, TCP.ACK, 2, 101, Buffer.from('x'));
    pass(ct, false, TCP.ACK, 101, 3);
    expect(only(ct)).toMatch(/ 432000 ESTABLISHED /); // progress again
  });

  it('a retransmitted SYN in ESTABLISHED is ignored, not invalid', () => {
    const ct = new Conntrack({ clock: new FakeClock(), gcIntervalMs: 0 });
    pass(ct, true, TCP.SYN, 1, 0);
    pass(ct, false, TCP.SYN | TCP.ACK, 100, 2);
    pass(ct, true, TCP.ACK, 2, 101);
    expect(pass(ct, true, TCP.SYN, 1, 0)).toBe('ESTABLISHED');
    expect(only(ct)).toMatch(/ ESTABLISHED /);
  });
});
