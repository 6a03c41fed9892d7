import { SeededRng } from '@podnet/wire';
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../../wire/src/testing/fake-clock.ts';
import { Nat } from '../nat/nat-engine.ts';
import { forward, ip, TCP, tcpPacket, udpPacket } from '../testing/conntrack-packets.ts';
import { ConntrackError } from './errors.ts';
import { deleteEntries, listText, parseConntrackArgs, runConntrack } from './listing.ts';
import { Conntrack } from './tracker.ts';

function cluster() {
  const clock = new FakeClock();
  const ct = new Conntrack({ clock, gcIntervalMs: 0 });
  const nat = new Nat(ct, { rng: new SeededRng(1) });
  const toDns = {
    dnat: (p: { buf: Buffer }) =>
      p.buf.readUInt32BE(16) === ip('10.96.0.10')
        ? { minAddress: ip('10.244.0.5'), maxAddress: ip('10.244.0.5'), minPort: 53, maxPort: 53 }
        : undefined,
  };
  forward(ct, nat, udpPacket('10.244.1.2', 40001, '10.96.0.10', 53), toDns, 'cni0', 'cni0');
  forward(ct, nat, udpPacket('10.244.1.3', 40002, '10.96.0.10', 53), toDns, 'cni0', 'cni0');
  forward(ct, nat, udpPacket('10.244.1.2', 40003, '10.244.0.9', 5000), {}, 'cni0', 'cni0');
  forward(
    ct,
    nat,
    tcpPacket({ src: '10.244.1.2', dst: '10.96.0.10', sport: 40004, dport: 53, flags: TCP.SYN, seq: 1 }),
    toDns,
    'cni0',
    'cni0',
  );
  clock.advance(1500);
  return { ct, clock };
}

describe('conntrack -L / -D / -F', () => {
  it('lists in the conntrack-tools format with the seconds left, and filters by protocol, tuple fields and NAT', () => {
    const { ct } = cluster();
    expect(listText(ct, { protocol: 17, origDst: ip('10.96.0.10') })).toEqual([
      'udp      17 28 src=10.244.1.2 dst=10.96.0.10 sport=40001 dport=53 [UNREPLIED] src=10.244.0.5 dst=10.244.1.2 sport=53 dport=40001 mark=0 use=1',
      'udp      17 28 src=10.244.1.3 dst=10.96.0.10 sport=40002 dport=53 [UNREPLIED] src=10.244.0.5 dst=10.244.1.3 sport=53 dport=40002 mark=0 use=1',
    ]);
    expect(listText(ct, { protocol: 6 })).toEqual([
      'tcp      6 118 SYN_SENT src=10.244.1.2 dst=10.96.0.10 sport=40004 dport=53 [UNREPLIED] src=10.244.0.5 dst=10.244.1.2 sport=53 dport=40004 mark=0 use=1',
    ]);
    expect(listText(ct, { origSrc: ip('10.244.1.2') })).toHaveLength(3);
    expect(listText(ct, { replySrc: ip('10.244.0.5') })).toHaveLength(3);
    expect(listText(ct, { protocol: 17, origDstPort: 5000 })).toHaveLength(1);
    expect(listText(ct, { dstNat: true })).toHaveLength(3);
    expect(listText(ct, { dstNat: ip('10.244.0.5'), protocol: 17 })).toHaveLength(2);
    expect(listText(ct, { srcNat: true })).toHaveLength(0);
    expect(listText(ct, { protocol: 6, state: 'SYN_SENT' })).toHaveLength(1);
  });

  it('deletes the stale UDP entries of a Service as kube-proxy does (conntrack -D -p udp --orig-dst VIP)', () => {
    const { ct } = cluster();
    const run = runConntrack(ct, ['-D', '-p', 'udp', '--orig-dst', '10.96.0.10']);
    expect(run.exitCode).toBe(0);
    expect(run.stdout.split('\n').filter(Boolean)).toHaveLength(2);
    expect(run.stderr).toBe('conntrack v1.4.7 (conntrack-tools): 2 flow entries have been deleted.\n');
    expect(listText(ct).map((l) => l.split(' ')[0])).toEqual(['udp', 'tcp']);
    expect(runConntrack(ct, ['-D', '-p', 'udp', '--orig-dst', '10.96.0.10'])).toMatchObject({ exitCode: 1, stdout: '' });
    expect(deleteEntries(ct, { protocol: 6 })).toHaveLength(1);
    expect(runConntrack(ct, ['-L']).stderr).toBe('conntrack v1.4.7 (conntrack-tools): 1 flow entries have been shown.\n');
    expect(runConntrack(ct, ['-C']).stdout).toBe('1\n');
    expect(runConntrack(ct, ['-F']).exitCode).toBe(0);
    expect(listText(ct)).toEqual([]);
  });

  it('refuses bad command lines the way the tool does, saying what to write instead', () => {
    const { ct } = cluster();
    expect(runConntrack(ct, ['-L', '-p', 'bogus'])).toEqual({
      stdout: '',
      stderr:
        "conntrack v1.4.7 (conntrack-tools): `bogus' unsupported protocol\nTry `conntrack -h' or 'conntrack --help' for more information.\n",
      exitCode: 2,
    });
    expect(() => parseConntrackArgs(['-D', '--orig-dst', 'ten.96'])).toThrow(/Bad IP address `ten.96' for --orig-dst/);
    expect(() => parseConntrackArgs(['-L', '--dport', '53'])).toThrow("unknown option `--dport' (it needs -p tcp, udp or sctp before it)");
    expect(() => parseConntrackArgs(['-L', '-p', 'tcp', '--dport'])).toThrow(/requires an argument/);
    expect(() => parseConntrackArgs(['-L', '-p', 'udp', '--dport', '70000'])).toThrow(/Bad port/);
    expect(() => parseConntrackArgs(['-L', '-D'])).toThrow(/Invalid commands combination/);
    expect(() => parseConntrackArgs(['--orig-dst', '1.2.3.4'])).toThrow(/no command given: use -L, -D, -F or -C/);
    expect(() => parseConntrackArgs(['-L', '--frobnicate'])).toThrow(ConntrackError);
    expect(() => parseConntrackArgs(['-L', '--frobnicate'])).toThrow(
      /^conntrack v1\.4\.7 \(conntrack-tools\): unknown option `--frobnicate'/,
    );
    expect(parseConntrackArgs(['-L', '-p', 'udp', '--dport', '53', '--dst-nat', '10.244.0.5'])).toEqual({
      command: 'list',
      filter: { protocol: 17, origDstPort: 53, dstNat: ip('10.244.0.5') },
    });
    expect(listText(ct)).toHaveLength(4); // nothing was changed by the refused commands
  });
});
