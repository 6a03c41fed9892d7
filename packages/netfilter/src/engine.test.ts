import { parseIpv4, SeededRng } from '@podnet/wire';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../wire/src/testing/fake-clock.js';
import { Netfilter } from './engine.js';
import type { HookName, PacketState } from './hook.js';
import { FakeConntrack } from './testing/fake-conntrack.js';
import { makeContext, makePacket, newState, type PacketSpec } from './testing/packets.js';
import { formatTrace, type TraceEvent } from './trace.js';

function filter(rules: string, options: ConstructorParameters<typeof Netfilter>[0] = {}): Netfilter {
  const nf = new Netfilter(options);
  nf.restore(`*filter\n${rules}\nCOMMIT\n`);
  return nf;
}

const run = (
  nf: Netfilter,
  hook: HookName,
  spec: PacketSpec,
  ctx: Parameters<typeof makeContext>[1] = {},
  state: PacketState = newState(),
) => nf.run(hook, makePacket(spec), makeContext(hook, ctx), state);

const A = { src: '10.244.1.2', dst: '10.96.0.10', dport: 80 };

describe('rule traversal (ipt_do_table)', () => {
  it('applies the first terminal verdict, the policy at the end, and counts rules and policies', () => {
    const nf = filter(
      ':INPUT DROP [0:0]\n-A INPUT -s 10.0.0.0/8 -p udp -j ACCEPT\n-A INPUT -p tcp --dport 22 -j REJECT --reject-with tcp-reset\n-A INPUT -s 10.244.0.0/16',
    );
    expect(run(nf, 'INPUT', { ...A, protocol: 'udp' })).toEqual({ kind: 'accept' });
    expect(run(nf, 'INPUT', { ...A, dport: 22 })).toEqual({ kind: 'reject', with: 'tcp-reset' });
    expect(run(nf, 'INPUT', A)).toEqual({ kind: 'drop', reason: 'policy' });
    expect(nf.save({ table: 'filter', counters: true })).toContain(':INPUT DROP [1:40]\n');
    expect(nf.save({ table: 'filter', counters: true })).toContain('[1:28] -A INPUT -s 10.0.0.0/8 -p udp -j ACCEPT');
    expect(nf.save({ table: 'filter', counters: true })).toContain('[1:40] -A INPUT -s 10.244.0.0/16');
  });

  it('jumps push and return, -g does not come back, RETURN in a built-in chain is its policy', () => {
    const nf = filter(
      [
        ':FORWARD DROP [0:0]',
        ':A - [0:0]',
        ':B - [0:0]',
        ':C - [0:0]',
        '-A FORWARD -j A',
        '-A FORWARD -d 10.96.0.11 -g B',
        '-A FORWARD -d 10.96.0.12 -j RETURN',
        '-A FORWARD -j ACCEPT',
        '-A A -d 10.96.0.10 -j RETURN',
        '-A A -d 10.96.0.13 -j C',
        '-A B -j C',
        '-A B -j ACCEPT',
        '-A C -d 10.96.0.11 -j RETURN',
        '-A C -j DROP',
      ].join('\n'),
    );
    expect(run(nf, 'FORWARD', A)).toEqual({ kind: 'accept' });
    // -g B: B calls C, C returns to B, B accepts.
    expect(run(nf, 'FORWARD', { ...A, dst: '10.96.0.11' })).toEqual({ kind: 'accept' });
    expect(run(nf, 'FORWARD', { ...A, dst: '10.96.0.12' })).toEqual({ kind: 'drop', reason: 'policy' });
    expect(run(nf, 'FORWARD', { ...A, dst: '10.96.0.13' })).toEqual({ kind: 'drop', reason: 'rule' });
  });

  it('a goto chain that ends returns to the chain that called the goto-ing chain', () => {
    const nf = filter(
      ':OUTPUT DROP [0:0]\n:A - [0:0]\n:B - [0:0]\n-A OUTPUT -j A\n-A OUTPUT -j ACCEPT\n-A A -g B\n-A A -j DROP\n-A B -s 9.9.9.9 -j DROP',
    );
    expect(run(nf, 'OUTPUT', A)).toEqual({ kind: 'accept' });
  });

  it('reports every rule a traced packet hits, with returns and policies, like TRACE', () => {
    const events: TraceEvent[] = [];
    const nf = filter(':INPUT ACCEPT [0:0]\n:K - [0:0]\n-A INPUT -m comment --comment "to K" -j K\n-A K -p tcp -m tcp --dport 80\n', {
      trace: (e) => events.push(e),
    });
    const state = newState();
    state.trace = true;
    run(nf, 'INPUT', A, { inInterface: 'eth0' }, state);
    expect(events.map(formatTrace)).toEqual([
      'TRACE: mangle:INPUT:policy:1 IN=eth0 OUT= SRC=10.244.1.2 DST=10.96.0.10 PROTO=TCP SPT=40000 DPT=80',
      'TRACE: filter:INPUT:rule:1 IN=eth0 OUT= SRC=10.244.1.2 DST=10.96.0.10 PROTO=TCP SPT=40000 DPT=80 (-A INPUT -m comment --comment "to K" -j K)',
      'TRACE: filter:K:rule:1 IN=eth0 OUT= SRC=10.244.1.2 DST=10.96.0.10 PROTO=TCP SPT=40000 DPT=80 (-A K -p tcp -m tcp --dport 80)',
      'TRACE: filter:K:return:2 IN=eth0 OUT= SRC=10.244.1.2 DST=10.96.0.10 PROTO=TCP SPT=40000 DPT=80',
      'TRACE: filter:INPUT:policy:2 IN=eth0 OUT= SRC=10.244.1.2 DST=10.96.0.10 PROTO=TCP SPT=40000 DPT=80',
      'TRACE: nat:INPUT:policy:1 IN=eth0 OUT= SRC=10.244.1.2 DST=10.96.0.10 PROTO=TCP SPT=40000 DPT=80',
    ]);
    // Untraced packets report nothing.
    run(nf, 'INPUT', A);
    expect(events).toHaveLength(6);
  });

  it('-j TRACE in raw turns tracing on for the rest of the packet; LOG writes a kernel-style line and continues', () => {
    const events: TraceEvent[] = [];
    const logs: string[] = [];
    const nf = new Netfilter({ trace: (e) => events.push(e), log: (l) => logs.push(l) });
    nf.restore(
      '*raw\n-A PREROUTING -p tcp --dport 80 -j TRACE\nCOMMIT\n*mangle\n-A PREROUTING -j LOG --log-prefix "seen: "\n-A PREROUTING -j MARK --or-mark 0x10\nCOMMIT\n',
    );
    const state = newState();
    expect(run(nf, 'PREROUTING', A, { inInterface: 'eth0' }, state)).toEqual({ kind: 'accept' });
    expect(state.trace).toBe(true);
    expect(state.mark).toBe(0x10);
    // As in ipt_do_table, the TRACE rule itself is not reported: the flag is tested before its target runs.
    expect(events.map((e) => `${e.table}:${e.chain}:${e.kind}:${e.ruleNumber}`)).toEqual([
      'raw:PREROUTING:policy:2',
      'mangle:PREROUTING:rule:1',
      'mangle:PREROUTING:rule:2',
      'mangle:PREROUTING:policy:3',
      'nat:PREROUTING:policy:1',
    ]);
    expect(logs).toEqual(['seen: IN=eth0 OUT= SRC=10.244.1.2 DST=10.96.0.10 LEN=40 PROTO=TCP SPT=40000 DPT=80']);
  });
});

describe('matches on packets', () => {
  const verdict = (
    rules: string,
    spec: PacketSpec,
    hook: HookName = 'FORWARD',
    ctx: Parameters<typeof makeContext>[1] = {},
    state?: PacketState,
  ) => run(filter(`:${hook} DROP [0:0]\n${rules.replace(/CHAIN/g, hook)}`), hook, spec, ctx, state).kind;

  it('addresses, interfaces (with + and !), protocols, fragments', () => {
    expect(verdict('-A CHAIN ! -s 10.244.0.0/16 -j ACCEPT', A)).toBe('drop');
    expect(verdict('-A CHAIN -s 10.244.0.0/255.255.0.0 -d 10.96.0.10 -j ACCEPT', A)).toBe('accept');
    expect(verdict('-A CHAIN -i veth+ -j ACCEPT', A, 'FORWARD', { inInterface: 'veth1234' })).toBe('accept');
    expect(verdict('-A CHAIN ! -i veth+ -j ACCEPT', A, 'FORWARD', { inInterface: 'veth1234' })).toBe('drop');
    expect(verdict('-A CHAIN -o cni0 -j ACCEPT', A, 'FORWARD', { outInterface: 'cni0' })).toBe('accept');
    expect(verdict('-A CHAIN -p 17 -j ACCEPT', { ...A, protocol: 'udp' })).toBe('accept');
    expect(verdict('-A CHAIN ! -p tcp -j ACCEPT', A)).toBe('drop');
    expect(verdict('-A CHAIN -f -j ACCEPT', { ...A, fragmentOffset: 100 })).toBe('accept');
    // A non-first fragment has no ports: -m tcp never matches it.
    expect(verdict('-A CHAIN -p tcp --dport 80 -j ACCEPT', { ...A, fragmentOffset: 100 })).toBe('drop');
  });

  it('tcp/udp/sctp ports and ranges, tcp flags and --syn, icmp types, multiport', () => {
    expect(verdict('-A CHAIN -p tcp --sport 30000:50000 ! --dport 81 -j ACCEPT', A)).toBe('accept');
    expect(verdict('-A CHAIN -p udp --dport 53 -j ACCEPT', { ...A, protocol: 'udp', dport: 53 })).toBe('accept');
    expect(verdict('-A CHAIN -p sctp --dport 80 -j ACCEPT', { ...A, protocol: 'sctp' })).toBe('accept');
    expect(verdict('-A CHAIN -p tcp --syn -j ACCEPT', A)).toBe('accept');
    expect(verdict('-A CHAIN -p tcp --syn -j ACCEPT', { ...A, flags: 0x12 })).toBe('drop');
    expect(verdict('-A CHAIN -p tcp --tcp-flags SYN,ACK ACK -j ACCEPT', { ...A, flags: 0x10 })).toBe('accept');
    expect(verdict('-A CHAIN -p icmp --icmp-type echo-request -j ACCEPT', { ...A, protocol: 'icmp' })).toBe('accept');
    expect(verdict('-A CHAIN -p icmp --icmp-type 3/3 -j ACCEPT', { ...A, protocol: 'icmp', icmpType: 3, icmpCode: 1 })).toBe('drop');
    expect(verdict('-A CHAIN -p tcp -m multiport --dports 22,79:81 -j ACCEPT', A)).toBe('accept');
    expect(verdict('-A CHAIN -p tcp -m multiport ! --ports 22,80 -j ACCEPT', A)).toBe('drop');
  });

  it('mark, addrtype, physdev, conntrack without a tracker (INVALID)', () => {
    expect(verdict('-A CHAIN -m mark --mark 0x4000/0x4000 -j ACCEPT', A, 'FORWARD', {}, newState(0x4001))).toBe('accept');
    expect(verdict('-A CHAIN -m mark ! --mark 0x4000/0x4000 -j ACCEPT', A, 'FORWARD', {}, newState(0x4001))).toBe('drop');
    expect(verdict('-A CHAIN -m addrtype --dst-type LOCAL -j ACCEPT', { ...A, dst: '172.18.0.2' })).toBe('accept');
    expect(verdict('-A CHAIN -m addrtype --dst-type LOCAL -j ACCEPT', A)).toBe('drop');
    expect(verdict('-A CHAIN -m addrtype --dst-type MULTICAST -j ACCEPT', { ...A, dst: '224.0.0.251' })).toBe('accept');
    expect(verdict('-A CHAIN -m addrtype --src-type UNICAST ! --dst-type LOCAL -j ACCEPT', A)).toBe('accept');
    const bridged = { bridged: true, physInInterface: 'veth1', physOutInterface: 'veth2', inInterface: 'cni0', outInterface: 'cni0' };
    expect(verdict('-A CHAIN -m physdev --physdev-is-bridged --physdev-in veth+ -j ACCEPT', A, 'FORWARD', bridged)).toBe('accept');
    expect(verdict('-A CHAIN -m physdev --physdev-is-bridged -j ACCEPT', A)).toBe('drop');
    expect(verdict('-A CHAIN -m physdev ! --physdev-out veth2 -j ACCEPT', A, 'FORWARD', bridged)).toBe('drop');
    expect(verdict('-A CHAIN -m conntrack --ctstate INVALID -j ACCEPT', A)).toBe('accept');
    expect(verdict('-A CHAIN -m state --state NEW -j ACCEPT', A)).toBe('drop');
  });

  it('statistic random follows the seeded Rng; nth matches every Nth packet starting at --packet', () => {
    const count = (seed: number) => {
      const nf = filter(':INPUT DROP [0:0]\n-A INPUT -m statistic --mode random --probability 0.25 -j ACCEPT', {
        rng: new SeededRng(seed),
      });
      let n = 0;
      for (let i = 0; i < 4000; i++) if (run(nf, 'INPUT', A).kind === 'accept') n++;
      return n;
    };
    expect(count(7)).toBe(count(7));
    expect(count(7)).toBeGreaterThan(900);
    expect(count(7)).toBeLessThan(1100);
    const nth = filter(':INPUT DROP [0:0]\n-A INPUT -m statistic --mode nth --every 3 --packet 1 -j ACCEPT');
    expect(Array.from({ length: 7 }, () => run(nth, 'INPUT', A).kind)).toEqual([
      'drop',
      'accept',
      'drop',
      'drop',
      'accept',
      'drop',
      'drop',
    ]);
    const everyOther = filter(':INPUT DROP [0:0]\n-A INPUT -m statistic --mode nth --every 2 --packet 0 -j ACCEPT');
    expect(Array.from({ length: 4 }, () => run(everyOther, 'INPUT', A).kind)).toEqual(['accept', 'drop', 'accept', 'drop']);
  });

  it('recent: --set, --rcheck within --seconds, --hitcount, --update, --remove, on the injected clock', () => {
    const clock = new FakeClock(1_000_000);
    const nf = filter(
      [
        ':INPUT DROP [0:0]',
        '-A INPUT -p tcp --dport 1 -m recent --set --name S',
        '-A INPUT -p tcp --dport 2 -m recent --rcheck --seconds 10 --reap --name S -j ACCEPT',
        '-A INPUT -p tcp --dport 3 -m recent --update --hitcount 3 --name S -j ACCEPT',
        '-A INPUT -p tcp --dport 4 -m recent --remove --name S -j ACCEPT',
        '-A INPUT -p tcp --dport 5 -m recent --rcheck --name S --rdest -j ACCEPT',
      ].join('\n'),
      { clock },
    );
    const hit = (dport: number) => run(nf, 'INPUT', { ...A, dport }).kind;
    expect(hit(2)).toBe('drop');
    hit(1);
    expect(hit(2)).toBe('accept');
    expect(hit(5)).toBe('drop'); // the list holds the source, not the destination
    clock.advance(11_000);
    expect(hit(2)).toBe('drop'); // older than 10 s (and reaped)
    hit(1);
    expect(hit(3)).toBe('drop'); // 1 hit < 3, and --update adds a hit only when it matched
    hit(1);
    hit(1);
    expect(hit(3)).toBe('accept'); // 3 hits
    expect(hit(4)).toBe('accept');
    expect(hit(4)).toBe('drop');
  });

  it('limit: a token bucket of --limit-burst refilled at --limit on the injected clock; nfacct counts', () => {
    const clock = new FakeClock(0);
    const nf = new Netfilter({ clock });
    nf.nfacctAdd('seen');
    nf.restore(
      '*filter\n:INPUT DROP [0:0]\n-A INPUT -m nfacct --nfacct-name seen -m limit --limit 2/sec --limit-burst 3 -j ACCEPT\nCOMMIT\n',
    );
    const kinds = () => Array.from({ length: 4 }, () => run(nf, 'INPUT', A).kind);
    expect(kinds()).toEqual(['accept', 'accept', 'accept', 'drop']);
    clock.advance(500);
    expect(kinds()).toEqual(['accept', 'drop', 'drop', 'drop']);
    expect(nf.nfacctGet('seen')).toEqual({ packets: 8, bytes: 320 });
  });
});

describe('hooks with connection tracking and NAT', () => {
  const rules = `*nat\n:KUBE-SERVICES - [0:0]\n:KUBE-MARK-MASQ - [0:0]\n:KUBE-POSTROUTING - [0:0]\n-A PREROUTING -j KUBE-SERVICES\n-A OUTPUT -j KUBE-SERVICES\n-A POSTROUTING -j KUBE-POSTROUTING\n-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000\n-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN\n-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000\n-A KUBE-POSTROUTING -j MASQUERADE\n-A KUBE-SERVICES ! -s 10.244.0.0/16 -d 10.96.0.10/32 -j KUBE-MARK-MASQ\n-A KUBE-SERVICES -d 10.96.0.10/32 -p tcp --dport 80 -j DNAT --to-destination 10.244.2.3:8080\nCOMMIT\n*filter\n-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n-A FORWARD -m conntrack --ctstate NEW -m conntrack --ctstate DNAT -j ACCEPT\n-A FORWARD -j DROP\nCOMMIT\n`;

  it('DNATs the first packet, skips the nat table for the rest, and masquerades marked traffic', () => {
    const ct = new FakeConntrack();
    const events: TraceEvent[] = [];
    const nf = new Netfilter({ conntrack: ct, nat: ct, trace: (e) => events.push(e) });
    nf.restore(rules);
    const packet = makePacket({ src: '172.18.0.9', dst: '10.96.0.10', dport: 80 });
    const state: PacketState = { mark: 0, trace: true };
    expect(nf.run('PREROUTING', packet, makeContext('PREROUTING', { inInterface: 'eth0' }), state)).toEqual({ kind: 'accept' });
    expect(packet.buf.readUInt32BE(16)).toBe(parseIpv4('10.244.2.3'));
    expect(packet.buf.readUInt16BE(22)).toBe(8080);
    expect(nf.run('FORWARD', packet, makeContext('FORWARD', { inInterface: 'eth0', outInterface: 'flannel.1' }), state).kind).toBe(
      'accept',
    );
    expect(nf.run('POSTROUTING', packet, makeContext('POSTROUTING', { outInterface: 'flannel.1' }), state).kind).toBe('accept');
    expect(packet.buf.readUInt32BE(12)).toBe(parseIpv4('172.18.0.2'));
    expect(state.mark).toBe(0);
    const natRules = events.filter((e) => e.table === 'nat').length;
    // The second packet of the connection: conntrack hit, no nat traversal, same rewrite.
    const second = makePacket({ src: '172.18.0.9', dst: '10.96.0.10', dport: 80, flags: 0x10 });
    const s2: PacketState = { mark: 0, trace: true };
    nf.run('PREROUTING', second, makeContext('PREROUTING', { inInterface: 'eth0' }), s2);
    nf.run('FORWARD', second, makeContext('FORWARD', { inInterface: 'eth0', outInterface: 'flannel.1' }), s2);
    nf.run('POSTROUTING', second, makeContext('POSTROUTING', { outInterface: 'flannel.1' }), s2);
    expect(events.filter((e) => e.table === 'nat').length).toBe(natRules);
    expect(second.buf.readUInt32BE(16)).toBe(parseIpv4('10.244.2.3'));
    expect(second.buf.readUInt32BE(12)).toBe(parseIpv4('172.18.0.2'));
  });

  it('a NOTRACK packet is UNTRACKED and skips NAT', () => {
    const ct = new FakeConntrack();
    const nf = new Netfilter({ conntrack: ct, nat: ct });
    nf.restore(`${rules}*raw\n-A PREROUTING -d 10.96.0.10/32 -j CT --notrack\nCOMMIT\n`);
    const packet = makePacket({ src: '172.18.0.9', dst: '10.96.0.10', dport: 80 });
    const state = newState();
    nf.run('PREROUTING', packet, makeContext('PREROUTING', { inInterface: 'eth0' }), state);
    expect(packet.buf.readUInt32BE(16)).toBe(parseIpv4('10.96.0.10'));
    expect(ct.info(state)?.state).toBe('UNTRACKED');
  });
});

describe('the destination index of long chains', () => {
  it('gives the same verdicts, counters and traces as a plain scan (property)', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(fc.integer({ min: 0, max: 5 }), fc.integer({ min: 0, max: 3 }), fc.constantFrom('ACCEPT', 'DROP', 'RETURN', 'K', '')),
          { minLength: 20, maxLength: 60 },
        ),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 6 }), fc.integer({ min: 0, max: 3 })), { minLength: 1, maxLength: 20 }),
        (rules, packets) => {
          // Mostly exact -d rules (indexed), with a few others in between that split the runs.
          const text = rules
            .map(([d, p, t], i) => {
              const dst = i % 9 === 4 ? '-d 10.96.0.0/24' : `-d 10.96.0.${d}`;
              return `-A KUBE-SERVICES ${dst} -p tcp --dport ${80 + p}${t ? ` -j ${t}` : ''}`;
            })
            .join('\n');
          const body = `:KUBE-SERVICES - [0:0]\n:K - [0:0]\n-A FORWARD -j KUBE-SERVICES\n-A FORWARD -j DROP\n-A K -p tcp --dport 81 -j RETURN\n-A K -j ACCEPT\n${text}`;
          const indexed = filter(body);
          // The same rules with a non-indexable rule between every pair: never indexed.
          const plain = filter(
            body.replace(/\n-A KUBE-SERVICES /g, '\n-A KUBE-SERVICES -m comment --comment x\n-A KUBE-SERVICES -s 0.0.0.0/0 '),
          );
          for (const [d, p] of packets) {
            const spec = { src: '10.244.1.2', dst: `10.96.0.${d}`, dport: 80 + p };
            expect(run(indexed, 'FORWARD', spec)).toEqual(run(plain, 'FORWARD', spec));
          }
          const counts = (nf: Netfilter) =>
            nf
              .save({ table: 'filter', counters: true })
              .split('\n')
              .filter((l) => l.includes('-A KUBE-SERVICES') && !l.includes('comment'))
              .map((l) => l.replace(' -s 0.0.0.0/0', '').slice(0, l.indexOf(']') + 1));
          expect(counts(indexed)).toEqual(counts(plain));
        },
      ),
      { numRuns: 60 },
    );
  });
});
