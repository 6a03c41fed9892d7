// iproute2's `ip addr|route|neigh` (show only) and `ss` (-t -u -l -a -n), printed from the pod's
// namespace as iproute2 6.x prints them.
import { formatIpv4, formatMac, prefixMask } from '@podnet/wire';
import type { ProcessContext } from '../runtime/process.js';
import { tcpListeners } from '../runtime/socket-scope.js';
import { type GetoptError, getopt, opt } from './getopt.js';

const IP_USAGE = `Usage: ip [ OPTIONS ] OBJECT { COMMAND | help }
where  OBJECT := { address | route | neighbour | link }
`;

function matches(word: string, full: string, min = 1): boolean {
  return word.length >= min && full.startsWith(word);
}

export async function ip(argv: string[], ctx: ProcessContext): Promise<number> {
  const args = argv.slice(1).filter((a) => a !== '-4');
  const object = args[0] ?? '';
  const sub = args[1] ?? 'show';
  if (!['show', 'list', 'ls', 'sh', 's', 'l'].includes(sub)) {
    ctx.stderr(`Command "${sub}" is unknown, try "ip ${object} help".\n`);
    return 255;
  }
  const ns = ctx.net.ns;
  if (matches(object, 'address') || matches(object, 'link')) {
    const withAddr = matches(object, 'address');
    let index = 0;
    for (const link of ns.links()) {
      index++;
      const loop = link.kind === 'loopback';
      const flags = loop ? 'LOOPBACK' : 'BROADCAST,MULTICAST';
      ctx.stdout(
        `${index}: ${link.name}: <${flags}${link.up ? ',UP,LOWER_UP' : ''}> mtu ${link.mtu} qdisc noqueue state ${loop ? 'UNKNOWN' : link.up ? 'UP' : 'DOWN'} group default qlen 1000\n`,
      );
      ctx.stdout(
        `    link/${loop ? 'loopback' : 'ether'} ${loop ? '00:00:00:00:00:00' : formatMac(link.mac)} brd ${loop ? '00:00:00:00:00:00' : 'ff:ff:ff:ff:ff:ff'}\n`,
      );
      if (!withAddr) continue;
      for (const a of ns.addresses(link.name)) {
        const brd = loop || a.prefix >= 31 ? '' : ` brd ${formatIpv4(((a.address & prefixMask(a.prefix)) | ~prefixMask(a.prefix)) >>> 0)}`;
        ctx.stdout(`    inet ${formatIpv4(a.address)}/${a.prefix}${brd} scope ${loop ? 'host' : 'global'} ${link.name}\n`);
        ctx.stdout('       valid_lft forever preferred_lft forever\n');
      }
    }
    return 0;
  }
  if (matches(object, 'route', 1)) {
    for (const r of ns.routes.show()) ctx.stdout(`${r}\n`);
    return 0;
  }
  if (matches(object, 'neighbour', 1) || object === 'neighbor') {
    for (const n of ns.neighbours.show()) ctx.stdout(`${n}\n`);
    return 0;
  }
  if (object === '') {
    ctx.stderr(IP_USAGE);
    return 255;
  }
  ctx.stderr(`Object "${object}" is unknown, try "ip help".\n`);
  return 255;
}

export async function ss(argv: string[], ctx: ProcessContext): Promise<number> {
  let p: ReturnType<typeof getopt>;
  try {
    p = getopt(argv.slice(1), { short: 'tulanpe4H' });
  } catch (e) {
    ctx.stderr(`ss: invalid option -- '${(e as GetoptError).option.slice(1)}'\nUsage: ss [ OPTIONS ]\n`);
    return 1;
  }
  let tcp = opt(p, 't') === true;
  let udp = opt(p, 'u') === true;
  if (!tcp && !udp) tcp = udp = true;
  const listening = opt(p, 'l') === true;
  const all = opt(p, 'a') === true;
  const rows: string[][] = [];
  const showListen = listening || all;
  const showConn = !listening || all;
  const ns = ctx.net.ns;
  if (udp) {
    for (const b of ns.sockets.list())
      if (b.protocol === 17 && showListen) rows.push(['udp', 'UNCONN', '0', '0', `${formatIpv4(b.address)}:${b.port}`, '0.0.0.0:*']);
  }
  if (tcp) {
    if (showListen) for (const l of tcpListeners(ns)) rows.push(['tcp', 'LISTEN', '0', '511', `${l.address}:${l.port}`, '0.0.0.0:*']);
    if (showConn)
      for (const c of ns.tcp.connections()) {
        const state = c.state === 'ESTABLISHED' ? 'ESTAB' : c.state;
        rows.push(['tcp', state, '0', '0', `${c.localAddress}:${c.localPort}`, `${c.remoteAddress}:${c.remotePort}`]);
      }
  }
  const header = ['Netid', 'State', 'Recv-Q', 'Send-Q', 'Local Address:Port', 'Peer Address:Port'];
  const table = opt(p, 'H') === true ? rows : [header, ...rows];
  const widths = header.map((_, i) => Math.max(...table.map((r) => (r[i] ?? '').length)));
  for (const r of table)
    ctx.stdout(
      `${r
        .map((c, i) => c.padEnd((widths[i] ?? 0) + 1))
        .join(' ')
        .trimEnd()}\n`,
    );
  return 0;
}
