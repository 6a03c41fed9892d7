import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../../wire/src/testing/fake-clock.ts';
import type { HookPacket, PacketState } from '../hook.ts';
import {
  context,
  greLikePacket,
  icmpEcho,
  icmpError,
  ip,
  newState,
  sctpPacket,
  TCP,
  tcpPacket,
  udpPacket,
} from '../testing/conntrack-packets.ts';
import type { PacketConntrack } from './entry.ts';
import { ConntrackError } from './errors.ts';
import { listText } from './listing.ts';
import { Conntrack, TABLE_FULL_REASON } from './tracker.ts';

const pre = context('PREROUTING', 'eth0');

function through(ct: Conntrack, p: HookPacket, hook: 'PREROUTING' | 'OUTPUT' = 'PREROUTING'): PacketState {
  const state = newState();
  expect(ct.track(hook, p, pre, state)).toBeUndefined();
  expect(ct.confirm(state)).toBeUndefined();
  return state;
}
const stateOf = (s: PacketState) => (s.conntrack as PacketConntrack).state;

describe('Conntrack: UDP, ICMP, SCTP and other protocols', () => {
  it('UDP: 30 s unreplied, 30 s when answered at once, 120 s and ASSURED once a replied flow lives past 2 s', () => {
    const clock = new FakeClock();
    const ct = new Conntrack({ clock, gcIntervalMs: 0 });
    expect(stateOf(through(ct, udpPacket('10.244.1.2', 5000, '10.96.0.10', 53)))).toBe('NEW');
    expect(listText(ct)).toEqual([
      'udp      17 30 src=10.244.1.2 dst=10.96.0.10 sport=5000 dport=53 [UNREPLIED] src=10.96.0.10 dst=10.244.1.2 sport=53 dport=5000 mark=0 use=1',
    ]);
    clock.advance(29_999);
    expect(ct.entries()).toHaveLength(1);
    clock.advance(1);
    expect(ct.entries()).toHaveLength(0);

    through(ct, udpPacket('10.244.1.2', 5001, '10.96.0.10', 53));
    expect(stateOf(through(ct, udpPacket('10.96.0.10', 53, '10.244.1.2', 5001)))).toBe('ESTABLISHED');
    expect(listText(ct)[0]).toMatch(/^udp {6}17 30 src=.* sport=5001 dport=53 src=/);
    expect(listText(ct)[0]).not.toMatch(/ASSURED|UNREPLIED/);
    clock.advance(2500);
    expect(stateOf(through(ct, udpPacket('10.244.1.2', 5001, '10.96.0.10', 53)))).toBe('ESTABLISHED');
    expect(listText(ct)[0]).toMatch(/^udp {6}17 120 .* \[ASSURED\] mark=0 use=1$/);
    clock.advance(119_999);
    expect(ct.entries()).toHaveLength(1);
    clock.advance(1);
    expect(ct.entries()).toHaveLength(0);
  });

  it('ICMP echo: the id is the port, the reply is ESTABLISHED, 30 s; a reply without a request is INVALID', () => {
    const clock = new FakeClock();
    const ct = new Conntrack({ clock, gcIntervalMs: 0 });
    expect(stateOf(through(ct, icmpEcho('10.0.0.1', '10.0.0.2', 777)))).toBe('NEW');
    expect(stateOf(through(ct, icmpEcho('10.0.0.2', '10.0.0.1', 777, true)))).toBe('ESTABLISHED');
    expect(listText(ct)).toEqual([
      'icmp     1 30 src=10.0.0.1 dst=10.0.0.2 type=8 code=0 id=777 src=10.0.0.2 dst=10.0.0.1 type=0 code=0 id=777 mark=0 use=1',
    ]);
    expect(stateOf(through(ct, icmpEcho('10.0.0.2', '10.0.0.1', 9, true)))).toBe('INVALID');
    // The server pinging the client with the same id is another connection (the type is in the tuple).
    expect(stateOf(through(ct, icmpEcho('10.0.0.2', '10.0.0.1', 777)))).toBe('NEW');
    clock.advance(30_000);
    expect(ct.entries()).toHaveLength(0);
  });

  it('SCTP: INIT … COOKIE ACK is ESTABLISHED and ASSURED (210 s); only INIT may start an association', () => {
    const clock = new FakeClock();
    const ct = new Conntrack({ clock, gcIntervalMs: 0 });
    expect(stateOf(through(ct, sctpPacket('10.0.0.1', 5000, '10.0.0.2', 9000, 0)))).toBe('INVALID');
    through(ct, sctpPacket('10.0.0.1', 5000, '10.0.0.2', 9000, 1));
    expect(listText(ct)[0]).toMatch(/^sctp {5}132 3 COOKIE_WAIT src=10.0.0.1 dst=10.0.0.2 sport=5000 dport=9000 \[UNREPLIED\]/);
    through(ct, sctpPacket('10.0.0.2', 9000, '10.0.0.1', 5000, 2));
    through(ct, sctpPacket('10.0.0.1', 5000, '10.0.0.2', 9000, 10));
    through(ct, sctpPacket('10.0.0.2', 9000, '10.0.0.1', 5000, 11));
    expect(listText(ct)[0]).toMatch(/^sctp {5}132 210 ESTABLISHED .*\[ASSURED\]/);
    through(ct, sctpPacket('10.0.0.1', 5000, '10.0.0.2', 9000, 6));
    expect(listText(ct)[0]).toMatch(/ 10 CLOSED /);
  });

  it('other protocols are tracked by addresses for 600 s (generic)', () => {
    const clock = new FakeClock();
    const ct = new Conntrack({ clock, gcIntervalMs: 0 });
    through(ct, greLikePacket('10.0.0.1', '10.0.0.2'));
    expect(stateOf(through(ct, greLikePacket('10.0.0.2', '10.0.0.1')))).toBe('ESTABLISHED');
    expect(listText(ct)).toEqual(['gre      47 600 src=10.0.0.1 dst=10.0.0.2 src=10.0.0.2 dst=10.0.0.1 mark=0 use=1']);
  });
});

describe('Conntrack: the table', () => {
  it('an entry enters the table only when confirmed: a packet dropped before confirm leaves nothing', () => {
    const ct = new Conntrack({ clock: new FakeClock(), gcIntervalMs: 0 });
    const state = newState();
    ct.track('PREROUTING', udpPacket('10.0.0.1', 1, '10.0.0.2', 2), pre, state);
    expect(ct.info(state)?.state).toBe('NEW');
    expect(ct.entries()).toHaveLength(0);
    // The packet died (filter DROP): the next one is NEW again and the table stayed empty.
    const again = through(ct, udpPacket('10.0.0.1', 1, '10.0.0.2', 2));
    expect(stateOf(again)).toBe('NEW');
    expect(ct.entries()).toHaveLength(1);
    expect(ct.counters).toMatchObject({ entries: 1, inserts: 1 });
  });

  it('info() answers -m conntrack: state, direction, tuples, NAT flags, mark; untrack() makes UNTRACKED', () => {
    const ct = new Conntrack({ clock: new FakeClock(), gcIntervalMs: 0 });
    const s = through(ct, udpPacket('10.0.0.1', 1000, '10.0.0.2', 53));
    ct.setMark(s, 0x4000);
    const r = through(ct, udpPacket('10.0.0.2', 53, '10.0.0.1', 1000));
    expect(ct.info(r)).toEqual({
      state: 'ESTABLISHED',
      direction: 'reply',
      snat: false,
      dnat: false,
      original: { protocol: 17, src: ip('10.0.0.1'), dst: ip('10.0.0.2'), srcPort: 1000, dstPort: 53 },
      reply: { protocol: 17, src: ip('10.0.0.2'), dst: ip('10.0.0.1'), srcPort: 53, dstPort: 1000 },
      mark: 0x4000,
    });
    expect(listText(ct)[0]).toMatch(/ mark=16384 use=1$/);
    const u = newState();
    ct.untrack(u);
    expect(ct.track('PREROUTING', udpPacket('10.0.0.1', 7, '10.0.0.2', 7), pre, u)).toBeUndefined();
    expect(ct.info(u)?.state).toBe('UNTRACKED');
    expect(ct.confirm(u)).toBeUndefined();
    expect(ct.entries()).toHaveLength(1);
    expect(ct.info(newState())).toBeUndefined();
  });

  it('a packet with a bad checksum is INVALID at PREROUTING (nf_conntrack_checksum), and counted', () => {
    const ct = new Conntrack({ clock: new FakeClock(), gcIntervalMs: 0 });
    const p = tcpPacket({ src: '10.0.0.1', dst: '10.0.0.2', sport: 1, dport: 2, flags: TCP.SYN });
    p.buf[p.end - 4] = (p.buf[p.end - 4] as number) ^ 0xff; // corrupt the TCP checksum
    expect(stateOf(through(ct, p))).toBe('INVALID');
    expect(ct.counters.invalid).toBe(1);
    expect((through(ct, udpPacket('1.1.1.1', 1, '2.2.2.2', 2)).conntrack as PacketConntrack).state).toBe('NEW');
    const truncated: HookPacket = { buf: Buffer.alloc(10), l3Offset: 0, end: 10 };
    expect(stateOf(through(ct, truncated))).toBe('INVALID');
  });

  it('a packet the stack marks CHECKSUM_UNNECESSARY (a GRO/TSO super-frame) is not summed again', () => {
    const ct = new Conntrack({ clock: new FakeClock(), gcIntervalMs: 0 });
    const p = tcpPacket({ src: '10.0.0.1', dst: '10.0.0.2', sport: 1, dport: 2, flags: TCP.SYN });
    p.buf[p.end - 4] = (p.buf[p.end - 4] as number) ^ 0xff; // a checksum conntrack would refuse
    expect(stateOf(through(ct, { ...p, checksumUnnecessary: true }))).toBe('NEW');
    expect(ct.counters.invalid).toBe(0);
  });

  it('table full: a non-assured entry is evicted (early drop); with only assured entries the packet is dropped', () => {
    const clock = new FakeClock();
    const ct = new Conntrack({ clock, gcIntervalMs: 0, max: 3 });
    through(ct, udpPacket('10.0.0.1', 1, '10.0.0.9', 53)); // unassured, the oldest
    for (const port of [2, 3]) {
      through(ct, udpPacket('10.0.0.1', port, '10.0.0.9', 53));
    }
    clock.advance(3000);
    for (const port of [2, 3]) {
      through(ct, udpPacket('10.0.0.9', 53, '10.0.0.1', port));
      through(ct, udpPacket('10.0.0.1', port, '10.0.0.9', 53)); // past 2 s: ASSURED streams
    }
    through(ct, udpPacket('10.0.0.1', 4, '10.0.0.9', 53));
    expect(ct.counters.earlyDrops).toBe(1);
    expect(ct.entries().map((e) => e.original.srcPort)).toEqual([2, 3, 4]);
    clock.advance(3000);
    through(ct, udpPacket('10.0.0.9', 53, '10.0.0.1', 4));
    through(ct, udpPacket('10.0.0.1', 4, '10.0.0.9', 53));
    const state = newState();
    expect(ct.track('PREROUTING', udpPacket('10.0.0.1', 5, '10.0.0.9', 53), pre, state)).toEqual({
      kind: 'drop',
      reason: TABLE_FULL_REASON,
    });
    expect(ct.counters).toMatchObject({ entries: 3, drops: 1, earlyDrops: 1 });
    // Once an entry expires there is room again.
    clock.advance(120_000);
    expect(stateOf(through(ct, udpPacket('10.0.0.1', 5, '10.0.0.9', 53)))).toBe('NEW');
  });

  it('expired entries are swept periodically on the clock, not only when looked up', () => {
    const clock = new FakeClock();
    const ct = new Conntrack({ clock, gcIntervalMs: 1000 });
    const gone: number[] = [];
    ct.onDestroy((e) => gone.push(e.original.srcPort));
    through(ct, udpPacket('10.0.0.1', 1, '10.0.0.2', 2));
    expect(clock.pendingTimers).toBe(1);
    clock.advance(31_000);
    expect(gone).toEqual([1]);
    expect(ct.counters.entries).toBe(0);
    expect(clock.pendingTimers).toBe(0); // nothing left to sweep: the timer is not re-armed
    through(ct, udpPacket('10.0.0.1', 3, '10.0.0.2', 2));
    ct.close();
    expect(clock.pendingTimers).toBe(0);
  });

  it('flush(), delete() and flushMasquerade() remove entries', () => {
    const ct = new Conntrack({ clock: new FakeClock(), gcIntervalMs: 0 });
    through(ct, udpPacket('10.0.0.1', 1, '10.0.0.2', 2));
    through(ct, udpPacket('10.0.0.1', 2, '10.0.0.2', 2));
    const [first] = ct.entries();
    expect(first && ct.delete(first)).toBe(true);
    expect(first && ct.delete(first)).toBe(false);
    expect(ct.flush()).toBe(1);
    expect(ct.entries()).toHaveLength(0);
  });

  it('rejects bad options with a clear error', () => {
    expect(() => new Conntrack({ clock: new FakeClock(), max: 0 })).toThrow(ConntrackError);
    expect(() => new Conntrack({ clock: new FakeClock(), max: 0 })).toThrow(/max 0 must be a positive integer/);
    expect(() => new Conntrack({ clock: new FakeClock(), gcIntervalMs: -1 })).toThrow(/gcIntervalMs/);
    expect(() => new Conntrack({ clock: new FakeClock(), timeouts: { tcp: { established: 0 } } })).toThrow(
      'conntrack: timeout tcp.established must be a positive number of seconds (got 0)',
    );
  });

  it('takes timeout overrides, the rest staying at the Linux defaults', () => {
    const clock = new FakeClock();
    const ct = new Conntrack({ clock, gcIntervalMs: 0, timeouts: { udp: 5 } });
    expect(ct.timeouts.udpStream).toBe(120);
    expect(ct.timeouts.tcp.established).toBe(432000);
    through(ct, udpPacket('10.0.0.1', 1, '10.0.0.2', 2));
    expect(listText(ct)[0]).toMatch(/^udp {6}17 5 /);
  });
});

describe('Conntrack: ICMP errors are RELATED', () => {
  it('to the connection of the packet they quote, in the direction they travel; unknown or misaddressed ones are INVALID', () => {
    const ct = new Conntrack({ clock: new FakeClock(), gcIntervalMs: 0 });
    const out = udpPacket('10.0.0.1', 4000, '10.0.0.2', 9999);
    through(ct, out);
    const err = icmpError('10.0.0.2', '10.0.0.1', out, 3);
    const s = through(ct, err);
    expect(ct.info(s)).toMatchObject({ state: 'RELATED', direction: 'reply' });
    // An error from a router on the way is related too.
    expect(ct.info(through(ct, icmpError('10.0.0.254', '10.0.0.1', out, 0, 'time-exceeded')))?.state).toBe('RELATED');
    // The error does not count as an answer.
    expect(listText(ct)[0]).toMatch(/\[UNREPLIED\]/);
    expect(ct.info(through(ct, icmpError('10.0.0.2', '10.0.0.7', out)))?.state).toBe('INVALID');
    const stranger = udpPacket('10.0.0.1', 4001, '10.0.0.2', 9999);
    expect(ct.info(through(ct, icmpError('10.0.0.2', '10.0.0.1', stranger)))?.state).toBe('INVALID');
  });

  it('a TCP connection and an ICMP echo can be quoted too', () => {
    const ct = new Conntrack({ clock: new FakeClock(), gcIntervalMs: 0 });
    const syn = tcpPacket({ src: '10.0.0.1', dst: '10.0.0.2', sport: 33000, dport: 80, flags: TCP.SYN, seq: 5 });
    through(ct, syn);
    expect(ct.info(through(ct, icmpError('10.0.0.2', '10.0.0.1', syn)))?.state).toBe('RELATED');
    const ping = icmpEcho('10.0.0.1', '10.0.0.2', 42);
    through(ct, ping);
    expect(ct.info(through(ct, icmpError('10.0.0.3', '10.0.0.1', ping, 0, 'time-exceeded')))).toMatchObject({
      state: 'RELATED',
      direction: 'reply',
    });
  });
});
