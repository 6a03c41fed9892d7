// fast-check generators of iptables-restore input that the kernel accepts: random combinations of
// the generic options, matches and targets podnet supports, arranged so every jump goes "down"
// (no loops) and every target is used only in tables and hooks that allow it.
import fc from 'fast-check';

const ip = fc
  .tuple(
    fc.integer({ min: 1, max: 223 }),
    fc.integer({ min: 0, max: 255 }),
    fc.integer({ min: 0, max: 255 }),
    fc.integer({ min: 0, max: 255 }),
  )
  .map((p) => p.join('.'));
const cidr = fc.tuple(ip, fc.integer({ min: 0, max: 32 })).map(([a, p]) => `${a}/${p}`);
const maybeNot = fc.boolean().map((b) => (b ? '! ' : ''));
const port = fc.integer({ min: 1, max: 65535 });
const portSpec = fc.oneof(
  port.map(String),
  fc.tuple(port, port).map(([a, b]) => `${Math.min(a, b)}:${Math.max(a, b)}`),
);
const comment = fc
  .string({ minLength: 1, maxLength: 20 })
  .filter((s) => !/[\0\n\r]/.test(s))
  .map((s) => `"${s.replace(/["\\]/g, (c) => `\\${c}`)}"`);

const generic = (chain: string) =>
  fc
    .record({
      s: fc.option(fc.tuple(maybeNot, cidr), { nil: undefined }),
      d: fc.option(fc.tuple(maybeNot, cidr), { nil: undefined }),
      i: fc.option(fc.tuple(maybeNot, fc.constantFrom('eth0', 'veth+', 'cni0', 'lo')), { nil: undefined }),
      o: fc.option(fc.tuple(maybeNot, fc.constantFrom('eth0', 'flannel.1', 'cni+')), { nil: undefined }),
    })
    .map(({ s, d, i, o }) => {
      const parts: string[] = [];
      if (s) parts.push(`${s[0]}-s ${s[1]}`);
      if (d) parts.push(`${d[0]}-d ${d[1]}`);
      if (i && chain !== 'OUTPUT' && chain !== 'POSTROUTING') parts.push(`${i[0]}-i ${i[1]}`);
      if (o && chain !== 'INPUT' && chain !== 'PREROUTING') parts.push(`${o[0]}-o ${o[1]}`);
      return parts;
    });

const protocolPart = fc.oneof(
  fc.constant({ proto: '', parts: [] as string[] }),
  fc
    .tuple(
      fc.constantFrom('tcp', 'udp', 'sctp'),
      fc.option(fc.tuple(maybeNot, portSpec), { nil: undefined }),
      fc.option(fc.tuple(maybeNot, portSpec), { nil: undefined }),
    )
    .map(([p, sp, dp]) => ({
      proto: p,
      parts: [`-p ${p}`, ...(sp ? [`${sp[0]}--sport ${sp[1]}`] : []), ...(dp ? [`${dp[0]}--dport ${dp[1]}`] : [])],
    })),
  fc
    .tuple(maybeNot, fc.constantFrom('echo-request', '3/1', '0', 'any'))
    .map(([n, t]) => ({ proto: 'icmp', parts: ['-p icmp', `${n}--icmp-type ${t}`] })),
  fc
    .tuple(fc.constantFrom('SYN,ACK SYN', 'ALL NONE', 'FIN,RST RST'), maybeNot)
    .map(([f, n]) => ({ proto: 'tcp', parts: ['-p tcp', `${n}--tcp-flags ${f}`] })),
  fc.constantFrom('gre', '47', 'all', 'esp').map((p) => ({ proto: '', parts: [`-p ${p}`] })),
);

const matchFor = (proto: string) =>
  fc.oneof(
    comment.map((c) => `-m comment --comment ${c}`),
    fc
      .tuple(maybeNot, fc.integer({ min: 0, max: 0xffff }), fc.option(fc.integer({ min: 1, max: 0xffff }), { nil: undefined }))
      .map(([n, v, m]) => `-m mark ${n}--mark 0x${v.toString(16)}${m === undefined ? '' : `/0x${m.toString(16)}`}`),
    fc
      .tuple(maybeNot, fc.subarray(['NEW', 'ESTABLISHED', 'RELATED', 'INVALID', 'UNTRACKED', 'SNAT', 'DNAT'], { minLength: 1 }))
      .map(([n, s]) => `-m conntrack ${n}--ctstate ${s.join(',')}`),
    fc
      .tuple(fc.option(cidr, { nil: undefined }), fc.option(port, { nil: undefined }))
      .map(([d, p]) => `-m conntrack --ctstate NEW${d ? ` --ctorigdst ${d}` : ''}${p ? ` --ctorigdstport ${p}` : ''}`),
    fc.subarray(['NEW', 'ESTABLISHED', 'RELATED', 'INVALID'], { minLength: 1 }).map((s) => `-m state --state ${s.join(',')}`),
    fc.integer({ min: 0, max: 1_000_000 }).map((n) => `-m statistic --mode random --probability ${(n / 1_000_000).toFixed(10)}`),
    fc
      .tuple(fc.integer({ min: 1, max: 10 }), fc.integer({ min: 0, max: 9 }))
      .map(([e, p]) => `-m statistic --mode nth --every ${e} --packet ${p % e}`),
    fc.tuple(maybeNot, fc.constantFrom('LOCAL', 'UNICAST', 'BROADCAST,MULTICAST')).map(([n, t]) => `-m addrtype ${n}--dst-type ${t}`),
    fc.constantFrom('LOCAL', 'UNICAST').map((t) => `-m addrtype --src-type ${t}`),
    fc
      .tuple(
        fc.constantFrom('--set', '--rcheck --seconds 10800 --reap', '--update --hitcount 2', '--remove'),
        fc.constantFrom('KUBE-SEP-ABC', 'DEFAULT'),
        fc.constantFrom('--rsource', '--rdest'),
      )
      .map(([c, name, side]) => `-m recent ${c} --name ${name} ${side}`),
    fc
      .tuple(fc.integer({ min: 1, max: 1000 }), fc.constantFrom('sec', 'min', 'hour', 'day'), fc.integer({ min: 1, max: 100 }))
      .map(([r, u, b]) => `-m limit --limit ${r}/${u} --limit-burst ${b}`),
    fc.constantFrom('-m physdev --physdev-is-bridged', '-m physdev --physdev-in veth1', '-m physdev ! --physdev-is-bridged'),
    ...(proto === 'tcp' || proto === 'udp' || proto === 'sctp'
      ? [
          fc
            .tuple(fc.constantFrom('dports', 'sports', 'ports'), maybeNot, fc.array(portSpec, { minLength: 1, maxLength: 5 }))
            .map(([w, n, ps]) => `-m multiport ${n}--${w} ${ps.join(',')}`),
        ]
      : []),
  );

const filterTarget = (jumps: string[], proto: string) =>
  fc.oneof(
    fc.constantFrom(
      '',
      '-j ACCEPT',
      '-j DROP',
      '-j RETURN',
      '-j LOG',
      '-j LOG --log-prefix "kube: " --log-level 6',
      '-j MARK --or-mark 0x4000',
      '-j MARK --set-xmark 0x8/0xf',
    ),
    fc.constantFrom(
      '-j REJECT',
      '-j REJECT --reject-with icmp-host-prohibited',
      ...(proto === 'tcp' ? ['-j REJECT --reject-with tcp-reset'] : []),
    ),
    ...(jumps.length > 0 ? [fc.constantFrom(...jumps.map((j) => `-j ${j}`), ...jumps.map((j) => `-g ${j}`))] : []),
  );

const rule = (chain: string, target: (proto: string) => fc.Arbitrary<string>) =>
  fc
    .tuple(generic(chain), protocolPart, fc.array(fc.constant(0), { maxLength: 3 }))
    .chain(([g, p, ms]) =>
      fc
        .tuple(fc.constant(g), fc.constant(p), fc.tuple(...ms.map(() => matchFor(p.proto))), target(p.proto))
        .map(([gg, pp, mm, t]) => [...gg, ...pp.parts, ...mm, t].filter((x) => x !== '').join(' ')),
    );

/** A filter table with user chains jumped to from FORWARD, and a nat table kube-proxy-like in shape. */
export function arbitraryRuleSet(): fc.Arbitrary<string> {
  const users = ['KUBE-A', 'KUBE-B', 'KUBE-C'];
  const filter = fc
    .tuple(
      fc.constantFrom('ACCEPT', 'DROP'),
      fc.array(
        rule('INPUT', (p) => filterTarget([], p)),
        { maxLength: 4 },
      ),
      fc.array(
        rule('FORWARD', (p) => filterTarget(users, p)),
        { maxLength: 5 },
      ),
      fc.array(
        rule('OUTPUT', (p) => filterTarget([], p)),
        { maxLength: 3 },
      ),
      ...users.map((_, k) =>
        fc.array(
          rule('FORWARD', (p) => filterTarget(users.slice(k + 1), p)),
          { maxLength: 4 },
        ),
      ),
    )
    .map(([policy, input, forward, output, ...userRules]) =>
      [
        '*filter',
        `:INPUT ${policy} [0:0]`,
        ':FORWARD ACCEPT [0:0]',
        ':OUTPUT ACCEPT [0:0]',
        ...users.map((u) => `:${u} - [0:0]`),
        ...input.map((r) => `-A INPUT ${r}`.trim()),
        ...forward.map((r) => `-A FORWARD ${r}`.trim()),
        ...output.map((r) => `-A OUTPUT ${r}`.trim()),
        ...userRules.flatMap((rs, k) => rs.map((r) => `-A ${users[k]} ${r}`.trim())),
        'COMMIT',
      ].join('\n'),
    );
  const natTarget = (where: 'pre' | 'post') => (proto: string) =>
    where === 'pre'
      ? fc.oneof(
          fc.constantFrom('', '-j RETURN', '-j MARK --or-mark 0x4000', '-j KUBE-SEP'),
          fc
            .tuple(ip, port)
            .map(([a, p]) =>
              proto === 'tcp' || proto === 'udp' || proto === 'sctp'
                ? `-j DNAT --to-destination ${a}:${p}`
                : `-j DNAT --to-destination ${a}`,
            ),
        )
      : fc.oneof(
          fc.constantFrom('', '-j RETURN', '-j MASQUERADE', '-j MASQUERADE --random-fully'),
          ip.map((a) => `-j SNAT --to-source ${a}`),
        );
  const nat = fc
    .tuple(
      fc.array(rule('PREROUTING', natTarget('pre')), { maxLength: 5 }),
      fc.array(rule('POSTROUTING', natTarget('post')), { maxLength: 4 }),
      fc.array(
        rule('OUTPUT', (p) => natTarget('pre')(p).filter((t) => !t.includes('KUBE-SEP'))),
        { maxLength: 3 },
      ),
    )
    .map(([pre, post, sep]) =>
      [
        '*nat',
        ':PREROUTING ACCEPT [0:0]',
        ':INPUT ACCEPT [0:0]',
        ':OUTPUT ACCEPT [0:0]',
        ':POSTROUTING ACCEPT [0:0]',
        ':KUBE-SEP - [0:0]',
        ...pre.map((r) => `-A PREROUTING ${r}`.trim()),
        ...post.map((r) => `-A POSTROUTING ${r}`.trim()),
        ...sep.map((r) => `-A KUBE-SEP ${r}`.trim()),
        'COMMIT',
      ].join('\n'),
    );
  return fc.tuple(filter, nat).map(([f, n]) => `${f}\n${n}\n`);
}
