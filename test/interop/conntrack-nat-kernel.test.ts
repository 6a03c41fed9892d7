// Interop (issue 4, conntrack and NAT): the Linux kernel as the oracle. A router namespace made by
// this test forwards real packets between two client namespaces and a server namespace under a
// set of iptables rule sets (DNAT of TCP to one endpoint, DNAT of UDP with an ICMP port
// unreachable coming back, DNAT to an address/port range, SNAT, MASQUERADE with two clients
// clashing on one source port, ICMP echo, INVALID TCP segments injected with raw sockets, REJECT,
// DROP, and a kube-proxy hairpin with the 0x4000 mark). Every packet the
// router received is captured (tcpdump -i any, LINUX_SLL2: interface and direction), then replayed
// through podnet's engine with the same rules (Netfilter + Conntrack + Nat); podnet must forward
// exactly the bytes the kernel sent out (TTL decremented as ip_forward does), reject and drop what
// the kernel rejected and dropped, and end with the same `conntrack -L` table.
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Netfilter } from '@podnet/netfilter';
import { formatIpv4, icmpv4, ipv4, parseIpv4, pcap, SeededRng, updateChecksum16 } from '@podnet/wire';
import { execa, type ResultPromise } from 'execa';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { listText, runConntrack } from '../../packages/netfilter/src/conntrack/listing.ts';
import { Conntrack } from '../../packages/netfilter/src/conntrack/tracker.ts';
import { type HookContext, type HookName, type PacketState, REJECT_ICMP_CODE, type Verdict } from '../../packages/netfilter/src/hook.ts';
import { Nat } from '../../packages/netfilter/src/nat/nat-engine.ts';
import { FakeClock } from '../../packages/wire/src/testing/fake-clock.ts';
import { describeInterop } from '../support/interop.ts';

const prefix = `pnct${process.pid}`;
const NS = { r: `${prefix}r`, c1: `${prefix}c1`, c2: `${prefix}c2`, s: `${prefix}s` };
const VIP = '198.51.100.10';
/** The router's interfaces, their addresses and the subnets routed through them. */
const ROUTER_IFS = [
  { name: 'c1', address: '192.0.2.1', net: '192.0.2.0', bits: 25 },
  { name: 'c2', address: '192.0.2.129', net: '192.0.2.128', bits: 25 },
  { name: 's', address: '203.0.113.1', net: '203.0.113.0', bits: 24 },
];

const SERVER_PY = `
import socket, selectors, json, sys
sel = selectors.DefaultSelector()
for addr in ('203.0.113.2', '203.0.113.3'):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind((addr, 5353)); sel.register(u, selectors.EVENT_READ, 'udp')
t = socket.socket(); t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); t.bind(('0.0.0.0', 8080)); t.listen(16)
sel.register(t, selectors.EVENT_READ, 'tcp')
print(json.dumps({'ready': True}), flush=True)
while True:
    for key, _ in sel.select():
        s = key.fileobj
        if key.data == 'udp':
            data, peer = s.recvfrom(2048)
            print(json.dumps({'udp': list(peer), 'local': list(s.getsockname())}), flush=True)
            s.sendto(b'echo:' + data, peer)
        else:
            c, peer = s.accept(); c.settimeout(5)
            data = c.recv(2048)
            print(json.dumps({'tcp': list(peer), 'local': list(c.getsockname())}), flush=True)
            c.sendall(b'echo:' + data); c.close()
`;

const CLIENT_PY = `
import socket, json, sys, time, threading
a = json.loads(sys.argv[1])
out = []
if a.get('serve'):
    srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); srv.bind(('0.0.0.0', a['serve'])); srv.listen(4)
    def serve():
        c, peer = srv.accept(); out.append({'served': list(peer)}); d = c.recv(2048); c.sendall(b'echo:' + d); c.close()
    threading.Thread(target=serve, daemon=True).start()
for i, msg in enumerate(a['messages']):
    if i > 0: time.sleep(a.get('gap', 0))
    try:
        if a['proto'] == 'udp':
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((a.get('src', '0.0.0.0'), a['sport'])); s.settimeout(a.get('timeout', 2)); s.connect((a['dst'], a['dport']))
            s.send(msg.encode()); data = s.recv(2048); out.append({'peer': list(s.getpeername()), 'data': data.decode()}); s.close()
        else:
            s = socket.create_connection((a['dst'], a['dport']), timeout=a.get('timeout', 2))
            peer = list(s.getpeername())
            s.sendall(msg.encode()); s.shutdown(socket.SHUT_WR); data = b''
            while True:
                chunk = s.recv(2048)
                if not chunk: break
                data += chunk
            out.append({'peer': peer, 'data': data.decode()}); s.close()
    except Exception as e:
        out.append({'error': type(e).__name__, 'detail': str(e)})
time.sleep(0.2)
print(json.dumps(out))
`;

/** Opens a TCP connection, learns its sequence numbers from the SYN-ACK, injects invalid segments, then uses the connection. */
const INJECT_PY = `
import socket, struct, json, sys, time
a = json.loads(sys.argv[1])
cap = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800)); cap.bind(('eth0', 0)); cap.settimeout(3)
s = socket.create_connection((a['dst'], a['dport']), timeout=3)
lport = s.getsockname()[1]
cseq = None
while cseq is None:
    ip = cap.recv(2048)[14:]
    if ip[9] != 6: continue
    t = ip[(ip[0] & 15) * 4:]
    sp, dp, seq, ack = struct.unpack('!HHII', t[:12])
    if dp == lport and t[13] & 0x12 == 0x12: sseq = seq + 1; cseq = ack
def csum(b):
    if len(b) % 2: b += bytes(1)
    v = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while v >> 16: v = (v & 0xffff) + (v >> 16)
    return ~v & 0xffff
def send(sport, seq, ack, flags, payload=b''):
    src = socket.inet_aton(a['src']); dst = socket.inet_aton(a['dst'])
    tcp = struct.pack('!HHIIBBHHH', sport, a['dport'], seq & 0xffffffff, ack & 0xffffffff, 5 << 4, flags, 502, 0, 0) + payload
    tcp = tcp[:16] + struct.pack('!H', csum(src + dst + struct.pack('!BBH', 0, 6, len(tcp)) + tcp)) + tcp[18:]
    iph = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(tcp), 4242, 0x4000, 64, 6, 0, src, dst)
    iph = iph[:10] + struct.pack('!H', csum(iph)) + iph[12:]
    r = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW); r.sendto(iph + tcp, (a['dst'], 0)); r.close()
send(lport, cseq + (1 << 30), sseq, 0x18, b'beyond-the-window')
send(lport, cseq, sseq + (1 << 30), 0x10)
send(40998, 1, 0, 0x03)
send(40999, 1, 1, 0x12)
time.sleep(0.2)
s.sendall(b'after'); s.shutdown(socket.SHUT_WR); data = b''
while True:
    chunk = s.recv(2048)
    if not chunk: break
    data += chunk
s.close(); time.sleep(0.2)
print(json.dumps({'data': data.decode()}))
`;

const TABLES = (nat: string[], filter: string[] = [], natChains: string[] = []) =>
  [
    '*nat',
    ':PREROUTING ACCEPT [0:0]',
    ':INPUT ACCEPT [0:0]',
    ':OUTPUT ACCEPT [0:0]',
    ':POSTROUTING ACCEPT [0:0]',
    ...natChains.map((c) => `:${c} - [0:0]`),
    ...nat,
    'COMMIT',
    '*filter',
    ':INPUT ACCEPT [0:0]',
    ':FORWARD ACCEPT [0:0]',
    ':OUTPUT ACCEPT [0:0]',
    ...filter,
    'COMMIT',
    '',
  ].join('\n');

const sh = (cmd: string) => execa('bash', ['-ec', cmd], { timeout: 60_000 });
const inNs = (ns: string, ...cmd: string[]) => execa('ip', ['netns', 'exec', ns, ...cmd], { timeout: 60_000 });

interface ClientRun {
  peer?: [string, number];
  data?: string;
  error?: string;
  served?: [string, number];
}

async function client(ns: string, args: Record<string, unknown>): Promise<ClientRun[]> {
  const r = await inNs(ns, 'python3', '-c', CLIENT_PY, JSON.stringify(args));
  return JSON.parse(r.stdout) as ClientRun[];
}

interface Captured {
  time: number;
  ifname: string;
  incoming: boolean;
  ip: Buffer;
}

let workDir = '';
let server: ResultPromise | undefined;
const serverLog: Record<string, unknown>[] = [];
let ifnames = new Map<number, string>();

async function capture(
  run: () => Promise<void>,
): Promise<{ packets: Captured[]; conntrack: string[]; listedAt: number; listingTook: number }> {
  const file = join(workDir, `cap-${Date.now()}.pcap`);
  const dump = execa(
    'ip',
    ['netns', 'exec', NS.r, 'tcpdump', '-i', 'any', '-y', 'LINUX_SLL2', '--immediate-mode', '-B', '8192', '-U', '-n', '-w', file, 'ip'],
    {
      timeout: 60_000,
      reject: false,
    },
  );
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('tcpdump did not start listening within 10 s')), 10_000);
    dump.stderr?.on('data', (d: Buffer) => {
      if (d.toString().includes('listening on')) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  await run();
  // Wait until the router has been quiet for 300 ms (tcpdump -U writes each packet at once), so
  // no packet is in flight when the table is listed (bounded: 5 s).
  let size = -1;
  for (let quiet = 0, waited = 0; quiet < 3 && waited < 5000; waited += 100) {
    await new Promise((r) => setTimeout(r, 100));
    const now = existsSync(file) ? statSync(file).size : 0;
    quiet = now === size ? quiet + 1 : 0;
    size = now;
  }
  const listStart = Date.now();
  const listed = await inNs(NS.r, 'conntrack', '-L');
  const listedAt = Date.now();
  // On a loaded machine tcpdump may not have been scheduled to drain its ring yet (the file looked
  // quiet because tcpdump was not running, not because the router was): packets still in the ring at
  // SIGINT count as "dropped by kernel". Give it time to catch up before stopping it.
  await new Promise((r) => setTimeout(r, 1000));
  dump.kill('SIGINT');
  const dumped = await dump;
  expect(dumped.stderr, 'tcpdump lost packets').toMatch(/^0 packets dropped by kernel$/m);
  const file_ = pcap.decode(readFileSync(file));
  expect(file_.header.linkType).toBe(276); // LINKTYPE_LINUX_SLL2
  const packets = file_.records.map((rec) => {
    const d = rec.data;
    // SLL2 header: protocol(2) reserved(2) ifindex(4) hatype(2) pkttype(1) halen(1) addr(8).
    const ifname = ifnames.get(d.readUInt32BE(4)) ?? `if${d.readUInt32BE(4)}`;
    return { time: rec.seconds * 1000 + rec.nanoseconds / 1e6, ifname, incoming: d[10] !== 4, ip: Buffer.from(d.subarray(20)) };
  });
  return { packets, conntrack: listed.stdout.split('\n').filter(Boolean), listedAt: listStart, listingTook: listedAt - listStart };
}

function routeOf(dst: number): string | undefined {
  for (const i of ROUTER_IFS) {
    const mask = (0xffffffff << (32 - i.bits)) >>> 0;
    if ((dst & mask) >>> 0 === parseIpv4(i.net)) return i.name;
  }
  return undefined;
}

interface PodnetOutcome {
  inIf: string;
  verdict: Verdict;
  hook: HookName;
  outIf?: string;
  out?: Buffer;
  original: Buffer;
  /** For a REJECT: the ICMP error the router sends back, after its own OUTPUT and POSTROUTING. */
  error?: Buffer;
}

/** podnet's router: the same rules, the same received packets, at the same times. */
function replay(rules: string, packets: Captured[], listedAt: number, portMap: Map<number, number>, tcpLiberal = false) {
  const first = packets[0]?.time ?? 0;
  const clock = new FakeClock(first);
  const ct = new Conntrack({ clock, gcIntervalMs: 1000, tcpLiberal });
  const nat = new Nat(ct, { rng: new SeededRng(4) });
  const nf = new Netfilter({ clock, conntrack: ct, nat, rng: new SeededRng(4) });
  nf.restore(rules);
  const local = new Set(ROUTER_IFS.map((i) => parseIpv4(i.address)));
  const ctx = (hook: HookName, inIf?: string, outIf?: string): HookContext => {
    const c: HookContext = {
      hook,
      bridged: false,
      isLocalAddress: (a) => local.has(a),
      interfaceAddress: (n) => {
        const i = ROUTER_IFS.find((x) => x.name === n);
        return i ? parseIpv4(i.address) : undefined;
      },
    };
    if (inIf) c.inInterface = inIf;
    if (outIf) c.outInterface = outIf;
    return c;
  };
  const outcomes: PodnetOutcome[] = [];
  for (const p of packets.filter((x) => x.incoming)) {
    clock.advance(Math.max(0, p.time - clock.now()));
    const buf = Buffer.from(p.ip);
    const dport = buf.readUInt16BE(22);
    // A reply to a port the kernel chose at random goes to the port podnet chose instead.
    const mapped = p.ifname === 's' && (buf[9] === 6 || buf[9] === 17) ? portMap.get(dport) : undefined;
    if (mapped !== undefined) {
      buf.writeUInt16BE(mapped, 22);
      const at = buf[9] === 6 ? 36 : 26;
      buf.writeUInt16BE(updateChecksum16(buf.readUInt16BE(at), dport, mapped), at);
    }
    const packet = { buf, l3Offset: 0, end: buf.length };
    const state: PacketState = { mark: 0, trace: false };
    const o = { inIf: p.ifname, original: Buffer.from(buf) };
    let v = nf.run('PREROUTING', packet, ctx('PREROUTING', p.ifname), state);
    if (v.kind !== 'accept') {
      outcomes.push({ ...o, verdict: v, hook: 'PREROUTING' });
      continue;
    }
    const dst = buf.readUInt32BE(16);
    if (local.has(dst)) {
      v = nf.run('INPUT', packet, ctx('INPUT', p.ifname), state);
      outcomes.push({ ...o, verdict: v, hook: 'INPUT' });
      continue;
    }
    const outIf = routeOf(dst) as string;
    // ip_forward: the TTL is decremented before the FORWARD hook (RFC 1812 §5.3.1).
    const oldWord = buf.readUInt16BE(8);
    buf[8] = (buf[8] as number) - 1;
    buf.writeUInt16BE(updateChecksum16(buf.readUInt16BE(10), oldWord, buf.readUInt16BE(8)), 10);
    v = nf.run('FORWARD', packet, ctx('FORWARD', p.ifname, outIf), state);
    if (v.kind !== 'accept') {
      const outcome: PodnetOutcome = { ...o, verdict: v, hook: 'FORWARD', outIf };
      if (v.kind === 'reject' && v.with !== 'tcp-reset') outcome.error = rejectError(buf, REJECT_ICMP_CODE[v.with], p.ifname);
      outcomes.push(outcome);
      continue;
    }
    v = nf.run('POSTROUTING', packet, ctx('POSTROUTING', undefined, outIf), state);
    outcomes.push({ ...o, verdict: v, hook: 'POSTROUTING', outIf, out: buf });
  }
  /**
   * What the stack does for a REJECT (nf_send_unreach → icmp_send): an ICMP destination unreachable
   * from the address of the interface the packet came in by, quoting the packet as it stands, sent
   * through the router's own OUTPUT and POSTROUTING.
   */
  function rejectError(offending: Buffer, code: number, inIf: string): Buffer {
    const router = ROUTER_IFS.find((i) => i.name === inIf) as (typeof ROUTER_IFS)[number];
    const message = icmpv4.encode({ kind: 'destination-unreachable', code, unused: 0, nextHopMtu: 0, quote: icmpv4.quoteOf(offending) });
    const error = ipv4.encode({
      dscp: 0x30,
      ecn: 0,
      identification: 0,
      reservedFlag: false,
      dontFragment: false,
      moreFragments: false,
      fragmentOffset: 0,
      ttl: 64,
      protocol: 1,
      src: parseIpv4(router.address),
      dst: offending.readUInt32BE(12),
      options: Buffer.alloc(0),
      payload: message,
    });
    const packet = { buf: error, l3Offset: 0, end: error.length };
    const state: PacketState = { mark: 0, trace: false };
    expect(nf.run('OUTPUT', packet, ctx('OUTPUT', undefined, inIf), state).kind).toBe('accept');
    expect(nf.run('POSTROUTING', packet, ctx('POSTROUTING', undefined, inIf), state).kind).toBe('accept');
    return error;
  }
  clock.advance(Math.max(0, listedAt - clock.now()));
  return { outcomes, conntrack: listText(ct), ct };
}

/** L4 bytes with both ports and the checksum blanked, to recognise a flow whose source port was reallocated. */
function withoutPorts(ip: Buffer): string {
  const b = Buffer.from(ip);
  const l4 = ((b[0] as number) & 0x0f) * 4;
  b.fill(0, l4, l4 + 2);
  b.fill(0, 10, 12);
  if (b[9] === 6) b.fill(0, l4 + 16, l4 + 18);
  if (b[9] === 17) b.fill(0, l4 + 6, l4 + 8);
  return b.toString('hex');
}

/** Compares podnet with the kernel: forwarded bytes, verdicts, and the final conntrack table. */
async function compare(rules: string, traffic: () => Promise<void>, options: { reallocates?: boolean; tcpLiberal?: boolean } = {}) {
  await inNs(NS.r, 'conntrack', '-F').catch(() => undefined);
  await execa('ip', ['netns', 'exec', NS.r, 'iptables-restore'], { input: rules, timeout: 30_000 });
  const kernel = await capture(traffic);
  const egress = kernel.packets.filter((p) => !p.incoming);
  const portMap = new Map<number, number>();
  // First pass learns the kernel's reallocated ports (MASQUERADE clash) from podnet's choices.
  let podnet = replay(rules, kernel.packets, kernel.listedAt, portMap, options.tcpLiberal);
  if (options.reallocates) {
    for (const o of podnet.outcomes) {
      if (!o.out || o.outIf !== 's') continue;
      if (egress.some((e) => e.ifname === 's' && e.ip.equals(o.out as Buffer))) continue;
      const twin = egress.find((e) => e.ifname === 's' && withoutPorts(e.ip) === withoutPorts(o.out as Buffer));
      if (twin) portMap.set(twin.ip.readUInt16BE(20), (o.out as Buffer).readUInt16BE(20));
    }
    podnet = replay(rules, kernel.packets, kernel.listedAt, portMap, options.tcpLiberal);
  }
  for (const o of podnet.outcomes) {
    const what = `${o.inIf} ${formatIpv4(o.original.readUInt32BE(12))} > ${formatIpv4(o.original.readUInt32BE(16))} proto ${o.original[9]}`;
    if (o.verdict.kind === 'accept' && o.out) {
      const same = egress.filter(
        (e) =>
          e.ifname === o.outIf &&
          (e.ip.equals(o.out as Buffer) || (options.reallocates && withoutPorts(e.ip) === withoutPorts(o.out as Buffer))),
      );
      expect(same.length, `the kernel sent what podnet forwarded for ${what}: ${o.out.toString('hex')}`).toBeGreaterThan(0);
    }
  }
  // A REJECT's ICMP error: the same addresses outside and in the quote (IDs and TOS are the stack's).
  const summary = (ip: Buffer) => {
    const q = ip.subarray(28);
    return `${formatIpv4(ip.readUInt32BE(12))}>${formatIpv4(ip.readUInt32BE(16))} type ${ip[20]} code ${ip[21]} quoting ${formatIpv4(q.readUInt32BE(12))}:${q.readUInt16BE(20)}>${formatIpv4(q.readUInt32BE(16))}:${q.readUInt16BE(22)}`;
  };
  for (const o of podnet.outcomes.filter((x) => x.error)) {
    const kernelErrors = egress.filter((e) => e.ifname === o.inIf && e.ip[9] === 1 && e.ip[20] === 3).map((e) => summary(e.ip));
    expect(kernelErrors).toContain(summary(o.error as Buffer));
  }
  // And the other way round: everything the kernel forwarded, podnet forwarded too (the router's
  // own ICMP errors, sent for REJECT, are the stack's job and checked by the scenario).
  const routerAddresses = new Set(ROUTER_IFS.map((i) => parseIpv4(i.address)));
  const forwardedByPodnet = podnet.outcomes.filter((o) => o.out).map((o) => `${o.outIf} ${withoutPorts(o.out as Buffer)}`);
  for (const e of egress) {
    if (e.ip[9] === 1 && e.ip[20] === 3 && podnet.outcomes.some((o) => o.error && summary(o.error) === summary(e.ip))) continue;
    if (e.ip[9] === 1 && routerAddresses.has(e.ip.readUInt32BE(12)) && e.ip[20] === 3) continue;
    expect(forwardedByPodnet, `podnet forwarded what the kernel sent on ${e.ifname}: ${e.ip.toString('hex')}`).toContain(
      `${e.ifname} ${withoutPorts(e.ip)}`,
    );
  }
  const normalise = (lines: string[]) =>
    lines
      .map((l) => {
        let t = l;
        for (const [k, p] of portMap) t = t.replace(new RegExp(`dport=${k} `, 'g'), `dport=${p} `);
        return t.split(' ').filter(Boolean);
      })
      .map((tokens) => ({ timeout: Number(tokens[2]), rest: [...tokens.slice(0, 2), ...tokens.slice(3)].join(' ') }))
      .sort((a, b) => a.rest.localeCompare(b.rest));
  const k = normalise(kernel.conntrack);
  const p = normalise(podnet.conntrack);
  expect(p.map((x) => x.rest)).toEqual(k.map((x) => x.rest));
  // podnet reads its clock when conntrack -L started; the kernel somewhere while it ran.
  const slack = 2 + Math.ceil(kernel.listingTook / 1000);
  for (let i = 0; i < k.length; i++) expect(Math.abs((k[i]?.timeout ?? 0) - (p[i]?.timeout ?? 0))).toBeLessThanOrEqual(slack);
  return { kernel, podnet };
}

describeInterop(
  'conntrack and NAT against the Linux kernel',
  { root: true, commands: ['ip', 'iptables-restore', 'conntrack', 'tcpdump', 'python3', 'ethtool'] },
  () => {
    beforeAll(async () => {
      workDir = mkdtempSync(join(tmpdir(), 'podnet-ct-'));
      const { r, c1, c2, s } = NS;
      await sh(`
      for n in ${r} ${c1} ${c2} ${s}; do ip netns add $n; ip -n $n link set lo up; done
      ip -n ${r} link add c1 type veth peer name eth0 netns ${c1}
      ip -n ${r} link add c2 type veth peer name eth0 netns ${c2}
      ip -n ${r} link add s type veth peer name eth0 netns ${s}
      ip -n ${r} addr add 192.0.2.1/25 dev c1
      ip -n ${r} addr add 192.0.2.129/25 dev c2
      ip -n ${r} addr add 203.0.113.1/24 dev s
      ip -n ${c1} addr add 192.0.2.2/25 dev eth0
      for a in 3 4 5 6 7 8 9 10; do ip -n ${c1} addr add 192.0.2.$a/25 dev eth0; done
      ip -n ${c2} addr add 192.0.2.130/25 dev eth0
      ip -n ${s} addr add 203.0.113.2/24 dev eth0
      ip -n ${s} addr add 203.0.113.3/24 dev eth0
      for i in c1 c2 s; do ip -n ${r} link set $i up; ip netns exec ${r} ethtool -K $i tx off >/dev/null; done
      for n in ${c1} ${c2} ${s}; do ip -n $n link set eth0 up; ip netns exec $n ethtool -K eth0 tx off >/dev/null; done
      ip -n ${c1} route add default via 192.0.2.1
      ip -n ${c2} route add default via 192.0.2.129
      ip -n ${s} route add default via 203.0.113.1
      ip netns exec ${r} sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.send_redirects=0 net.ipv4.conf.c1.send_redirects=0
    `);
      const links = JSON.parse((await execa('ip', ['-n', r, '-j', 'link', 'show'])).stdout) as { ifindex: number; ifname: string }[];
      ifnames = new Map(links.map((l) => [l.ifindex, l.ifname]));
      server = execa('ip', ['netns', 'exec', s, 'python3', '-u', '-c', SERVER_PY], { reject: false, timeout: 280_000 });
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('the test server did not start within 10 s')), 10_000);
        server?.stdout?.on('data', (d: Buffer) => {
          for (const line of d.toString().split('\n').filter(Boolean)) {
            const msg = JSON.parse(line) as Record<string, unknown>;
            if (msg.ready) {
              clearTimeout(timer);
              resolve();
            } else serverLog.push(msg);
          }
        });
      });
    });

    afterAll(async () => {
      server?.kill('SIGTERM');
      await server;
      for (const n of Object.values(NS)) await execa('ip', ['netns', 'del', n], { reject: false });
      if (workDir) rmSync(workDir, { recursive: true, force: true });
    });

    it('DNAT of UDP to one endpoint: replies un-NATed, ASSURED after 2 s; an ICMP port unreachable is RELATED and translated back', async () => {
      const rules = TABLES([
        `-A PREROUTING -d ${VIP}/32 -p udp -m udp --dport 53 -j DNAT --to-destination 203.0.113.2:5353`,
        `-A PREROUTING -d ${VIP}/32 -p udp -m udp --dport 9 -j DNAT --to-destination 203.0.113.2:9`,
      ]);
      let runs: ClientRun[][] = [];
      const { kernel, podnet } = await compare(rules, async () => {
        runs = [
          await client(NS.c1, { proto: 'udp', sport: 40001, dst: VIP, dport: 53, messages: ['q1', 'q2'], gap: 2.3 }),
          await client(NS.c1, { proto: 'udp', sport: 40002, dst: VIP, dport: 9, messages: ['nobody'] }),
        ];
      });
      expect(runs[0]).toEqual([
        { peer: [VIP, 53], data: 'echo:q1' },
        { peer: [VIP, 53], data: 'echo:q2' },
      ]);
      expect(runs[1]?.map((r) => r.error)).toEqual(['ConnectionRefusedError']);
      expect(kernel.conntrack.some((l) => l.includes('sport=40001') && l.includes('[ASSURED]'))).toBe(true);
      const icmp = podnet.outcomes.find((o) => o.original[9] === 1);
      expect(icmp && podnet.ct.info !== undefined).toBe(true);
      expect(icmp?.out && formatIpv4(icmp.out.readUInt32BE(12))).toBe(VIP);
    });

    it('DNAT of TCP to an endpoint: the same bytes, TCP states and timeouts as the kernel, through a whole connection', async () => {
      const rules = TABLES([`-A PREROUTING -d ${VIP}/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 203.0.113.3:8080`]);
      let runs: ClientRun[] = [];
      const { podnet } = await compare(rules, async () => {
        runs = await client(NS.c1, { proto: 'tcp', dst: VIP, dport: 80, messages: ['one', 'two'] });
      });
      expect(runs).toEqual([
        { peer: [VIP, 80], data: 'echo:one' },
        { peer: [VIP, 80], data: 'echo:two' },
      ]);
      const lines = podnet.conntrack;
      expect(lines).toHaveLength(2);
      for (const l of lines)
        expect(l).toMatch(
          / TIME_WAIT src=192\.0\.2\.2 dst=198\.51\.100\.10 .* src=203\.0\.113\.3 dst=192\.0\.2\.2 sport=8080 .*\[ASSURED\]/,
        );
    });

    it('DNAT to an address and port range: the kernel and podnet pick the same endpoint for each client (find_best_ips_proto)', async () => {
      const rules = TABLES([
        `-A PREROUTING -d ${VIP}/32 -p udp -m udp --dport 53 -j DNAT --to-destination 203.0.113.2-203.0.113.3:5353-5354`,
      ]);
      const runs: ClientRun[][] = [];
      const before = serverLog.length;
      const sources = [
        '192.0.2.2',
        '192.0.2.3',
        '192.0.2.4',
        '192.0.2.5',
        '192.0.2.6',
        '192.0.2.7',
        '192.0.2.8',
        '192.0.2.9',
        '192.0.2.10',
      ];
      const { podnet } = await compare(rules, async () => {
        for (const src of sources)
          runs.push(await client(NS.c1, { proto: 'udp', src, sport: 40020, dst: VIP, dport: 53, messages: [src] }));
        runs.push(await client(NS.c2, { proto: 'udp', sport: 40021, dst: VIP, dport: 53, messages: ['c2'] }));
      });
      expect(runs).toEqual([...sources, 'c2'].map((m) => [{ peer: [VIP, 53], data: `echo:${m}` }]));
      const chosen = serverLog.slice(before).map((m) => (m.local as [string, number]).join(':'));
      // Both endpoints are used (so agreement is not luck), always on the first port of the range.
      expect(new Set(chosen)).toEqual(new Set(['203.0.113.2:5353', '203.0.113.3:5353']));
      expect(podnet.ct.entries().map((e) => `${formatIpv4(e.reply.src)}:${e.reply.srcPort}`)).toEqual(chosen);
    });

    it('SNAT of TCP: the server sees the router, the client its own connection', async () => {
      const rules = TABLES(['-A POSTROUTING -o s -j SNAT --to-source 203.0.113.1']);
      let runs: ClientRun[] = [];
      const before = serverLog.length;
      await compare(rules, async () => {
        runs = await client(NS.c1, { proto: 'tcp', dst: '203.0.113.2', dport: 8080, messages: ['snat'] });
      });
      expect(runs).toEqual([{ peer: ['203.0.113.2', 8080], data: 'echo:snat' }]);
      expect(serverLog.slice(before).map((m) => (m.tcp as [string, number])[0])).toEqual(['203.0.113.1']);
    });

    it('MASQUERADE with two clients on the same source port: distinct reply tuples, each reply to its client', async () => {
      const rules = TABLES(['-A POSTROUTING -o s -j MASQUERADE']);
      const runs: ClientRun[][] = [];
      const before = serverLog.length;
      const { podnet } = await compare(
        rules,
        async () => {
          runs.push(await client(NS.c1, { proto: 'udp', sport: 40000, dst: '203.0.113.2', dport: 5353, messages: ['from-c1'] }));
          runs.push(await client(NS.c2, { proto: 'udp', sport: 40000, dst: '203.0.113.2', dport: 5353, messages: ['from-c2'] }));
          // The reallocated client talks to another server from the same port: the mapping is reused.
          runs.push(await client(NS.c2, { proto: 'udp', sport: 40000, dst: '203.0.113.3', dport: 5353, messages: ['again'] }));
        },
        { reallocates: true },
      );
      expect(runs).toEqual([
        [{ peer: ['203.0.113.2', 5353], data: 'echo:from-c1' }],
        [{ peer: ['203.0.113.2', 5353], data: 'echo:from-c2' }],
        [{ peer: ['203.0.113.3', 5353], data: 'echo:again' }],
      ]);
      const peers = serverLog.slice(before).map((m) => m.udp as [string, number]);
      expect(peers.map((p) => p[0])).toEqual(['203.0.113.1', '203.0.113.1', '203.0.113.1']);
      expect(peers[0]?.[1]).toBe(40000);
      expect(peers[1]?.[1]).not.toBe(40000); // the kernel reallocated the clashing port
      expect(peers[2]?.[1]).toBe(peers[1]?.[1]); // and kept it for that source (find_appropriate_src)
      const replyPorts = podnet.ct.entries().map((e) => e.reply.dstPort);
      expect(replyPorts[0]).toBe(40000);
      expect(replyPorts[1]).not.toBe(40000); // and so did podnet
      expect(replyPorts[2]).toBe(replyPorts[1]);
    });

    it('ICMP echo through MASQUERADE: the id is the port, the reply un-NATed, listed as the kernel lists it', async () => {
      const rules = TABLES(['-A POSTROUTING -o s -j MASQUERADE']);
      let output = '';
      const { podnet } = await compare(rules, async () => {
        output = (await inNs(NS.c1, 'ping', '-n', '-c', '2', '-i', '0.2', '-W', '2', '203.0.113.2')).stdout;
      });
      expect(output).toMatch(/2 packets transmitted, 2 received/);
      expect(podnet.conntrack).toHaveLength(1);
      expect(podnet.conntrack[0]).toMatch(
        /^icmp {5}1 \d+ src=192\.0\.2\.2 dst=203\.0\.113\.2 type=8 code=0 id=\d+ src=203\.0\.113\.2 dst=203\.0\.113\.1 type=0 code=0 id=\d+ mark=0 use=1$/,
      );
    });

    it('INVALID TCP segments (beyond the window, acking unsent data, bad flags, a SYN-ACK for nothing) are dropped as the kernel drops them', async () => {
      const rules = TABLES([], ['-A FORWARD -m conntrack --ctstate INVALID -j DROP']);
      let result: { data?: string } = {};
      const { podnet } = await compare(rules, async () => {
        const r = await inNs(NS.c1, 'python3', '-c', INJECT_PY, JSON.stringify({ src: '192.0.2.2', dst: '203.0.113.2', dport: 8080 }));
        result = JSON.parse(r.stdout) as { data?: string };
      });
      expect(result).toEqual({ data: 'echo:after' }); // the connection itself was not disturbed
      const injected = podnet.outcomes.filter((o) => o.original.readUInt16BE(4) === 4242);
      expect(injected.map((o) => o.verdict.kind)).toEqual(['drop', 'drop', 'drop', 'drop']);
      expect(podnet.ct.counters.invalid).toBe(4);
    });

    it('with nf_conntrack_tcp_be_liberal=1 (tcpLiberal) the out-of-window segments pass and only the bad ones are INVALID, as in the kernel', async () => {
      const rules = TABLES([], ['-A FORWARD -m conntrack --ctstate INVALID -j DROP']);
      await inNs(NS.r, 'sysctl', '-qw', 'net.netfilter.nf_conntrack_tcp_be_liberal=1');
      try {
        const { podnet } = await compare(
          rules,
          async () => {
            await inNs(NS.c1, 'python3', '-c', INJECT_PY, JSON.stringify({ src: '192.0.2.2', dst: '203.0.113.2', dport: 8080 }));
          },
          { tcpLiberal: true },
        );
        const injected = podnet.outcomes.filter((o) => o.original.readUInt16BE(4) === 4242);
        expect(injected.map((o) => o.verdict.kind)).toEqual(['accept', 'accept', 'drop', 'drop']);
      } finally {
        await inNs(NS.r, 'sysctl', '-qw', 'net.netfilter.nf_conntrack_tcp_be_liberal=0');
      }
    });

    it('REJECT of a DNATed datagram: the port unreachable comes from the Service address and quotes the Service, as the kernel sends it', async () => {
      const rules = TABLES(
        [`-A PREROUTING -d ${VIP}/32 -p udp -m udp --dport 9 -j DNAT --to-destination 203.0.113.2:9`],
        ['-A FORWARD -p udp -m udp --dport 9 -j REJECT --reject-with icmp-port-unreachable'],
      );
      let runs: ClientRun[] = [];
      const { podnet } = await compare(rules, async () => {
        runs = await client(NS.c1, { proto: 'udp', sport: 40030, dst: VIP, dport: 9, messages: ['no'] });
      });
      expect(runs.map((r) => r.error)).toEqual(['ConnectionRefusedError']);
      const error = podnet.outcomes.find((o) => o.error)?.error as Buffer;
      expect(formatIpv4(error.readUInt32BE(12))).toBe(VIP);
      expect(formatIpv4(error.subarray(28).readUInt32BE(16))).toBe(VIP);
    });

    it('REJECT and DROP: the same verdicts, and no entry left for either', async () => {
      const rules = TABLES([], ['-A FORWARD -p udp -m udp --dport 9 -j REJECT', '-A FORWARD -p tcp -m tcp --dport 9 -j DROP']);
      let runs: ClientRun[][] = [];
      const { kernel, podnet } = await compare(rules, async () => {
        runs = [
          await client(NS.c1, { proto: 'udp', sport: 40010, dst: '203.0.113.2', dport: 9, messages: ['rejected'] }),
          await client(NS.c1, { proto: 'tcp', dst: '203.0.113.2', dport: 9, messages: ['dropped'], timeout: 1.2 }),
        ];
      });
      expect(runs.map((r) => r.map((x) => x.error))).toEqual([['ConnectionRefusedError'], ['TimeoutError']]);
      expect(kernel.conntrack).toEqual([]);
      const verdicts = podnet.outcomes.map((o) => `${o.original[9]}:${o.verdict.kind}`);
      expect(verdicts).toContain('17:reject');
      expect(verdicts.filter((v) => v.startsWith('6:')).every((v) => v === '6:drop')).toBe(true);
      const reject = podnet.outcomes.find((o) => o.verdict.kind === 'reject')?.verdict;
      expect(reject).toEqual({ kind: 'reject', with: 'icmp-port-unreachable' });
      // The kernel answered the rejected datagram with a port unreachable from the router.
      const icmp = kernel.packets.find((p) => !p.incoming && p.ip[9] === 1);
      expect(icmp && [icmp.ifname, icmp.ip[20], icmp.ip[21], formatIpv4(icmp.ip.readUInt32BE(12))]).toEqual(['c1', 3, 3, '192.0.2.1']);
    });

    it('the conntrack command line: the same exit codes and messages as conntrack-tools 1.4.7 on an empty table', async () => {
      await inNs(NS.r, 'conntrack', '-F').catch(() => undefined);
      const empty = new Conntrack({ clock: new FakeClock(), gcIntervalMs: 0 });
      const lines = [
        ['-L'],
        ['-C'],
        ['-F'],
        ['-D', '-p', 'udp', '--orig-dst', '10.96.0.10'],
        ['-L', '-p', 'bogus'],
        ['-L', '--frobnicate'],
        ['-L', '--dport', '53'],
        ['-L', '-D'],
      ];
      for (const argv of lines) {
        const real = await execa('ip', ['netns', 'exec', NS.r, 'conntrack', ...argv], { reject: false, timeout: 30_000 });
        const ours = runConntrack(empty, argv);
        // podnet adds a hint in brackets to the tool's message; the rest is the same.
        const firstLine = (t: string) => (t.split('\n')[0] ?? '').replace(/ \([^()]*\)$/, '');
        expect({ argv, code: ours.exitCode, stdout: ours.stdout, stderr: firstLine(ours.stderr) }).toEqual({
          argv,
          code: real.exitCode,
          stdout: real.stdout === '' ? '' : `${real.stdout}\n`,
          stderr: firstLine(real.stderr),
        });
      }
    });

    it('hairpin with the kube-proxy 0x4000 mark: a pod reaching itself through its Service is masqueraded and sees the Service', async () => {
      const chains = ['KUBE-SERVICES', 'KUBE-SVC-HAIRPINTEST00000', 'KUBE-SEP-HAIRPINTEST00000', 'KUBE-MARK-MASQ', 'KUBE-POSTROUTING'];
      const rules = TABLES(
        [
          '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
          '-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING',
          `-A KUBE-SERVICES -d ${VIP}/32 -p tcp -m comment --comment "default/hairpin cluster IP" -m tcp --dport 80 -j KUBE-SVC-HAIRPINTEST00000`,
          '-A KUBE-SVC-HAIRPINTEST00000 -j KUBE-SEP-HAIRPINTEST00000',
          '-A KUBE-SEP-HAIRPINTEST00000 -s 192.0.2.2/32 -j KUBE-MARK-MASQ',
          '-A KUBE-SEP-HAIRPINTEST00000 -p tcp -m tcp -j DNAT --to-destination 192.0.2.2:8080',
          '-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000',
          '-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN',
          '-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000',
          '-A KUBE-POSTROUTING -j MASQUERADE',
        ],
        [],
        chains,
      );
      let runs: ClientRun[] = [];
      const { podnet } = await compare(rules, async () => {
        runs = await client(NS.c1, { proto: 'tcp', dst: VIP, dport: 80, messages: ['self'], serve: 8080 });
      });
      expect(runs).toHaveLength(2);
      expect(runs).toEqual(expect.arrayContaining([{ served: ['192.0.2.1', expect.any(Number)] }, { peer: [VIP, 80], data: 'echo:self' }]));
      expect(podnet.conntrack.join('\n')).toMatch(
        new RegExp(
          `src=192\\.0\\.2\\.2 dst=${VIP.replace(/\./g, '\\.')} sport=\\d+ dport=80 src=192\\.0\\.2\\.2 dst=192\\.0\\.2\\.1 sport=8080`,
        ),
      );
    });
  },
);
