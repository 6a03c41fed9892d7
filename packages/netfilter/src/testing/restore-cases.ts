// Restore inputs the tests feed both to podnet and, in test/interop, to the real iptables-restore
// in a network namespace: each refused one with the line podnet names, the reason and the word.
// (The kernel names the COMMIT line for checks it makes at commit; podnet names the rule's line.)

/** [input, line, reason, word]. */
export type InvalidRestore = readonly [string, number, string, string | undefined];

export const INVALID_RESTORES: readonly InvalidRestore[] = [
  ['*nat\n:X - [0:0]\n-A X -j RETURN\n:X - [0:0]\nCOMMIT\n', 4, "error creating chain 'X':File exists", 'X'],
  ['*filter\n-A INPUT -j KUBE-NOPE\nCOMMIT\n', 2, "Couldn't load target `KUBE-NOPE'", 'KUBE-NOPE'],
  ['*filter\n-A INPUT -p tcp --dprt 80\nCOMMIT\n', 2, 'unknown option "--dprt"', '--dprt'],
  ['*filter\n-A INPUT -s 10.0.0.0/33\nCOMMIT\n', 2, "invalid mask `33' specified", '10.0.0.0/33'],
  ['*filter\n-A INPUT -p tcp -j DNAT --to-destination 1.2.3.4\nCOMMIT\n', 2, 'DNAT: only valid in the nat table', 'DNAT'],
  ['*nat\n-A POSTROUTING -j DNAT --to-destination 1.2.3.4\nCOMMIT\n', 2, 'not valid when reached from POSTROUTING', 'DNAT'],
  ['*nat\n-A OUTPUT -j MASQUERADE\nCOMMIT\n', 2, 'MASQUERADE: not valid when reached from OUTPUT', 'MASQUERADE'],
  ['*mangle\n:X - [0:0]\n-A PREROUTING -j X\n-A X -j REJECT\nCOMMIT\n', 4, 'REJECT: only valid in the filter table', 'REJECT'],
  ['*filter\n:X - [0:0]\n-A OUTPUT -j X\n-A X -j REJECT --reject-with tcp-reset\nCOMMIT\n', 4, 'TCP_RESET invalid for non-tcp', 'REJECT'],
  ['*filter\n:X - [0:0]\n:Y - [0:0]\n-A INPUT -j X\n-A X -j Y\n-A Y -j X\nCOMMIT\n', 6, 'makes a loop', 'X'],
  ['*filter\n:X - [0:0]\n-A INPUT -j X\n-X X\nCOMMIT\n', 4, 'still referenced', 'X'],
  ['*filter\n-X INPUT\nCOMMIT\n', 2, "Can't delete built-in chain `INPUT'", 'INPUT'],
  ['*filter\n-D INPUT -j ACCEPT\nCOMMIT\n', 2, 'does a matching rule exist', 'INPUT'],
  ['*filter\n-A INPUT -m tcp\nCOMMIT\n', 2, 'tcp match: only valid for protocol 6', '-m tcp'],
  ['*filter\n-A INPUT -m nope\nCOMMIT\n', 2, "Couldn't load match `nope'", 'nope'],
  ['*filter\n-A INPUT --dport 80\nCOMMIT\n', 2, 'unknown option "--dport"', '--dport'],
  ['*filter\n-A INPUT -j ACCEPT\n', 3, 'COMMIT expected', undefined],
  ['*filter\n-A Z -j ACCEPT\nCOMMIT\n', 2, "chain `Z' does not exist", 'Z'],
  ['*filter\n-A INPUT -m multiport --dports 1,2\nCOMMIT\n', 2, 'multiport needs', undefined],
  ['*filter\n-A INPUT -j TRACE\nCOMMIT\n', 2, 'TRACE: only valid in the raw table', 'TRACE'],
  ['*filter\n-A INPUT -j OUTPUT\nCOMMIT\n', 2, "Couldn't jump to built-in chain `OUTPUT'", 'OUTPUT'],
  ['*filter\n-F Q\nCOMMIT\n', 2, "chain `Q' does not exist", 'Q'],
  ['garbage\n', 1, 'no table selected', 'garbage'],
  ['*filter\nCOMMIT\n*bogus\nCOMMIT\n', 3, "unable to initialize table 'bogus'", 'bogus'],
  ['*filter\n-A INPUT -p tcp --dport 99999\nCOMMIT\n', 2, "invalid port/service `99999' specified", '99999'],
  ['*filter\n-A INPUT -m statistic --mode random --probability 1.5\nCOMMIT\n', 2, 'out of range (0-1)', '1.5'],
  ['*filter\n-A INPUT -p foo\nCOMMIT\n', 2, 'unknown protocol "foo"', 'foo'],
  ['*filter\n-I INPUT 5 -j ACCEPT\nCOMMIT\n', 2, 'Index of insertion too big', '5'],
  ['*filter\n-A INPUT -j ACCEPT extra\nCOMMIT\n', 2, "Bad argument `extra'", 'extra'],
  ['*filter\n-A INPUT -j REJECT --reject-with foo\nCOMMIT\n', 2, 'unknown reject type "foo"', 'foo'],
  ['*filter\n:X ACCEPT [0:0]\nCOMMIT\n', 2, "Can't set policy `ACCEPT' on `X'", 'ACCEPT'],
  ['*filter\n:X - [0:0]\n-N X\nCOMMIT\n', 3, "Chain `X' already exists", 'X'],
  ['*filter\n-A INPUT -m comment --comment "open\nCOMMIT\n', 2, 'unterminated double quote', undefined],
  ['*filter\n-A OUTPUT -i eth0 -j ACCEPT\nCOMMIT\n', 2, "Can't use -i with OUTPUT", '-i'],
  ['*filter\n-A INPUT -m nfacct --nfacct-name missing\nCOMMIT\n', 2, "accounting object `missing' does not exist", undefined],
  [
    '*filter\n-A INPUT -m addrtype --dst-type LOCAL --limit-iface-out\nCOMMIT\n',
    2,
    'addrtype match: not valid when reached from INPUT',
    '-m addrtype',
  ],
  ['*filter\n:KUBE-SERVICES - [0:0]\n-A KUBE-SERVICES -j\nCOMMIT\n', 3, 'requires an argument', '-j'],
];

/**
 * Inputs the real iptables-restore 1.8.9 accepts and podnet refuses on purpose (documented in the
 * README): an unterminated quote, which iptables-restore silently closes at the end of the line.
 */
export const DELIBERATELY_STRICTER: ReadonlySet<string> = new Set(['*filter\n-A INPUT -m comment --comment "open\nCOMMIT\n']);

/** Odd but valid inputs (the kernel accepts them too). */
export const ODD_VALID_RESTORES: readonly string[] = [
  '*filter\n-A INPUT -s 1.2.3\n-A INPUT -s 10.0.0.0/255.0.255.0\nCOMMIT\n*nat\n:PREROUTING DROP [0:0]\n:X - [0:0]\n-A X -j RETURN\nCOMMIT\n',
  '*filter\n:X - [0:0]\n:Y - [0:0]\n-A X -j Y\n-A Y -j X\nCOMMIT\n',
  '*filter\n:X - [0:0]\n-A X -m addrtype --dst-type LOCAL --limit-iface-out\n-A INPUT -m recent --rcheck --hitcount 21\nCOMMIT\n',
  '*mangle\n:X - [0:0]\n-A X -j MARK --and-mark 0xff\n-A X -j MARK --set-mark 0x1/0x3\nCOMMIT\n*raw\n-A PREROUTING -p udp --dport 4789 -j NOTRACK\nCOMMIT\n',
];
