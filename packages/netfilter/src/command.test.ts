// The iptables command API (what `podnet node exec NODE iptables ...` runs): the same parser and
// checks as restore, one atomic change per command, listings as iptables prints them.
import { describe, expect, it } from 'vitest';
import { Netfilter } from './engine.js';
import { IptablesError } from './errors.js';

describe('Netfilter.iptables', () => {
  it('-N, -A, -I, -D, -F, -X, -P change one table; -S and -L list it', () => {
    const nf = new Netfilter();
    nf.iptables('-t nat -N KUBE-SERVICES');
    nf.iptables(['-t', 'nat', '-A', 'PREROUTING', '-m', 'comment', '--comment', 'kubernetes service portals', '-j', 'KUBE-SERVICES']);
    nf.iptables('iptables -t nat -A KUBE-SERVICES -d 10.96.0.10/32 -p tcp --dport 80 -j DNAT --to-destination 10.244.1.2:8080');
    nf.iptables('-t nat -I KUBE-SERVICES 1 -d 10.96.0.1 -p tcp -m tcp --dport 443 -j RETURN');
    expect(nf.iptables('-t nat -S KUBE-SERVICES')).toBe(
      '-N KUBE-SERVICES\n-A KUBE-SERVICES -d 10.96.0.1/32 -p tcp -m tcp --dport 443 -j RETURN\n-A KUBE-SERVICES -d 10.96.0.10/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 10.244.1.2:8080\n',
    );
    // -D by specification, in any spelling that saves the same way.
    nf.iptables('-t nat -D KUBE-SERVICES -p tcp -d 10.96.0.10 --dport 80 -j DNAT --to-destination 10.244.1.2:8080');
    nf.iptables('-t nat -D KUBE-SERVICES 1');
    expect(nf.iptables('-t nat -S KUBE-SERVICES')).toBe('-N KUBE-SERVICES\n');
    nf.iptables('-P FORWARD DROP');
    expect(nf.iptables('-L FORWARD -n')).toBe(
      'Chain FORWARD (policy DROP)\ntarget     prot opt source               destination         \n',
    );
    nf.iptables('-t nat -F PREROUTING');
    nf.iptables('-t nat -X KUBE-SERVICES');
    expect(nf.save({ table: 'nat' })).toBe(
      '*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\nCOMMIT\n',
    );
  });

  it('refuses what iptables refuses, with PODNET_ERR_IPTABLES_COMMAND, and changes nothing', () => {
    const nf = new Netfilter();
    nf.iptables('-N KUBE-X');
    nf.iptables('-A INPUT -j KUBE-X');
    const before = nf.save();
    for (const [command, reason] of [
      ['-X KUBE-X', 'still referenced'],
      ['-A INPUT -j KUBE-Y', "Couldn't load target `KUBE-Y'"],
      ['-t nat -A POSTROUTING -j DNAT --to-destination 1.2.3.4', 'not valid when reached from POSTROUTING'],
      ['-t bogus -L', "can't initialize iptables table `bogus'"],
      ['-A KUBE-X -j KUBE-X', 'makes a loop'],
      ['-D INPUT -j ACCEPT', 'does a matching rule exist'],
      ['-A INPUT --dprt 80', 'unknown option "--dprt"'],
    ] as const) {
      let error: unknown;
      try {
        nf.iptables(command);
      } catch (e) {
        error = e;
      }
      expect(error, command).toBeInstanceOf(IptablesError);
      expect((error as IptablesError).code).toBe('PODNET_ERR_IPTABLES_COMMAND');
      expect((error as IptablesError).message).toContain(reason);
      expect(nf.save()).toBe(before);
    }
  });

  it('lists counters with -L -v and -S -v after packets went through', () => {
    const nf = new Netfilter();
    nf.iptables('-A INPUT -s 10.0.0.0/8 -j ACCEPT');
    const buf = Buffer.alloc(28);
    buf[0] = 0x45;
    buf.writeUInt16BE(28, 2);
    buf[9] = 17;
    buf.writeUInt32BE(0x0a000001, 12);
    for (let i = 0; i < 3; i++) {
      nf.run(
        'INPUT',
        { buf, l3Offset: 0, end: 28 },
        { hook: 'INPUT', bridged: false, isLocalAddress: () => true, interfaceAddress: () => undefined },
        { mark: 0, trace: false },
      );
    }
    nf.iptables('-A INPUT -p tcp --dport 5');
    // As iptables -S -v prints them: between the matches and the target.
    expect(nf.iptables('-S INPUT -v')).toBe(
      '-P INPUT ACCEPT -c 0 0\n-A INPUT -s 10.0.0.0/8 -c 3 84 -j ACCEPT\n-A INPUT -p tcp -m tcp --dport 5 -c 0 0\n',
    );
    expect(nf.iptables('-L INPUT -n -v')).toContain(
      '    3    84 ACCEPT     0    --  *      *       10.0.0.0/8           0.0.0.0/0           ',
    );
  });
});
