// ping(8) of iputils (-c, -s, -M do|dont|want, -W, -i, -t) and traceroute(8) (ICMP probes with a
// rising TTL, as `traceroute -I`), over the pod namespace's ICMP echo. Output lines as iputils
// 20240117 and BusyBox traceroute print them.
import { formatIpv4, isIpv4, parseIpv4 } from '@podnet/wire';
import type { ProcessContext } from '../runtime/process.js';
import { type GetoptError, getopt, opt } from './getopt.js';
import { resolveHost } from './http-fetch.js';

const PING_USAGE = `
Usage
  ping [options] <destination>

Options:
  <destination>      DNS name or IP address
  -c <count>         stop after <count> replies
  -i <interval>      seconds between sending each packet
  -M <pmtud opt>     define path MTU discovery, can be one of <do|dont|want>
  -s <size>          use <size> as number of data bytes to be sent
  -t <ttl>           define time to live
  -W <timeout>       time to wait for response
`;

function num(v: string | true | undefined, fallback: number): number {
  return typeof v === 'string' ? Number(v) : fallback;
}

export async function ping(argv: string[], ctx: ProcessContext): Promise<number> {
  let p: ReturnType<typeof getopt>;
  try {
    p = getopt(argv.slice(1), { short: 'c:s:M:W:i:t:qn4' });
  } catch (e) {
    const g = e as GetoptError;
    ctx.stderr(
      g.kind === 'unknown'
        ? `ping: invalid option -- '${g.option.slice(1)}'\n`
        : `ping: option requires an argument -- '${g.option.slice(1)}'\n`,
    );
    ctx.stderr(PING_USAGE);
    return 2;
  }
  const target = p.operands[0];
  if (target === undefined) {
    ctx.stderr('ping: usage error: Destination address required\n');
    return 1;
  }
  const ip = resolveHost(target);
  if (ip === undefined) {
    ctx.stderr(`ping: ${target}: Name or service not known\n`);
    return 2;
  }
  const count = num(opt(p, 'c'), Number.POSITIVE_INFINITY);
  const size = num(opt(p, 's'), 56);
  const intervalMs = num(opt(p, 'i'), 1) * 1000;
  const timeoutMs = num(opt(p, 'W'), 1) * 1000;
  const ttl = num(opt(p, 't'), 64);
  const pmtu = opt(p, 'M');
  if (!(count > 0)) {
    ctx.stderr(`ping: invalid argument: '${opt(p, 'c')}': out of range: 1 <= value <= 9223372036854775807\n`);
    return 1;
  }
  if (!(size >= 0 && size <= 65507)) {
    ctx.stderr(`ping: invalid argument: '${opt(p, 's')}': out of range: 0 <= value <= 2147483647\n`);
    return 1;
  }
  if (pmtu !== undefined && pmtu !== 'do' && pmtu !== 'dont' && pmtu !== 'want') {
    ctx.stderr(`ping: invalid -M argument: ${pmtu}\n`);
    return 2;
  }
  const quiet = opt(p, 'q') === true;
  ctx.stdout(`PING ${target} (${ip}) ${size}(${size + 28}) bytes of data.\n`);
  const rtts: number[] = [];
  let sent = 0;
  let errors = 0;
  const started = performance.now();
  for (let seq = 1; seq <= count && !ctx.killed.aborted && !ctx.terminated.aborted; seq++) {
    sent++;
    try {
      const r = await ctx.net.ns.ping(parseIpv4(ip), {
        size,
        timeoutMs,
        ttl,
        dontFragment: pmtu === 'do' || pmtu === 'want',
        sequence: seq,
      });
      rtts.push(r.rttMs);
      if (!quiet) ctx.stdout(`${r.bytes} bytes from ${r.from}: icmp_seq=${seq} ttl=${r.ttl} time=${r.rttMs.toFixed(3)} ms\n`);
    } catch (e) {
      const err = e as Error & { code?: string; icmpType?: number; icmpCode?: number; reporter?: string; nextHopMtu?: number };
      if (err.code === 'EMSGSIZE') {
        const mtuNow = ctx.net.ns.ip.pathMtu?.(parseIpv4(ip));
        ctx.stdout(`ping: local error: message too long, mtu=${mtuNow ?? '?'}\n`);
        errors++;
      } else if (err.icmpType === 3 && err.icmpCode === 4) {
        ctx.stdout(`From ${err.reporter} icmp_seq=${seq} Frag needed and DF set (mtu = ${err.nextHopMtu})\n`);
        errors++;
      } else if (err.icmpType === 11) {
        ctx.stdout(`From ${err.reporter} icmp_seq=${seq} Time to live exceeded\n`);
        errors++;
      } else if (err.icmpType === 3) {
        ctx.stdout(
          `From ${err.reporter} icmp_seq=${seq} Destination ${err.icmpCode === 3 ? 'Port' : err.icmpCode === 0 ? 'Net' : 'Host'} Unreachable\n`,
        );
        errors++;
      } else if (err.code === 'ENETUNREACH') {
        ctx.stdout('ping: connect: Network is unreachable\n');
        return 2;
      }
      // a timeout prints nothing, as iputils
    }
    if (seq < count) {
      try {
        await ctx.net.sleep(intervalMs, ctx.killed);
      } catch {
        break;
      }
    }
  }
  const received = rtts.length;
  const loss = sent === 0 ? 0 : Math.round(((sent - received) / sent) * 100);
  ctx.stdout(`\n--- ${target} ping statistics ---\n`);
  ctx.stdout(
    `${sent} packets transmitted, ${received} received, ${errors > 0 ? `+${errors} errors, ` : ''}${loss}% packet loss, time ${Math.round(performance.now() - started)}ms\n`,
  );
  if (received > 0) {
    const min = Math.min(...rtts);
    const max = Math.max(...rtts);
    const avg = rtts.reduce((a, b) => a + b, 0) / received;
    const mdev = Math.sqrt(rtts.reduce((a, b) => a + (b - avg) ** 2, 0) / received);
    ctx.stdout(`rtt min/avg/max/mdev = ${min.toFixed(3)}/${avg.toFixed(3)}/${max.toFixed(3)}/${mdev.toFixed(3)} ms\n`);
  }
  return received > 0 ? 0 : 1;
}

export async function traceroute(argv: string[], ctx: ProcessContext): Promise<number> {
  let p: ReturnType<typeof getopt>;
  try {
    p = getopt(argv.slice(1), { short: 'm:q:w:nI' });
  } catch (e) {
    ctx.stderr(`traceroute: invalid option -- '${(e as GetoptError).option.slice(1)}'\n`);
    ctx.stderr(
      'BusyBox v1.36.1 multi-call binary.\n\nUsage: traceroute [-46IUFlnrv] [-f 1ST_TTL] [-m MAXTTL] [-q PROBES] [-w WAIT] HOST [BYTES]\n',
    );
    return 1;
  }
  const target = p.operands[0];
  const ip = target === undefined ? undefined : resolveHost(target);
  if (target === undefined || ip === undefined || !isIpv4(ip)) {
    ctx.stderr(target === undefined ? 'traceroute: usage: traceroute HOST\n' : `traceroute: bad address '${target}'\n`);
    return 1;
  }
  const maxTtl = num(opt(p, 'm'), 30);
  const probes = num(opt(p, 'q'), 3);
  const waitMs = num(opt(p, 'w'), 3) * 1000;
  ctx.stdout(`traceroute to ${target} (${ip}), ${maxTtl} hops max, 46 byte packets\n`);
  const dst = parseIpv4(ip);
  for (let ttl = 1; ttl <= maxTtl && !ctx.killed.aborted; ttl++) {
    let line = ` ${ttl}`;
    let hop: string | undefined;
    let reached = false;
    for (let q = 0; q < probes; q++) {
      const t0 = performance.now();
      try {
        const r = await ctx.net.ns.ping(dst, { ttl, timeoutMs: waitMs, size: 18 });
        if (hop !== r.from) line += `  ${r.from} (${r.from})`;
        hop = r.from;
        line += `  ${r.rttMs.toFixed(3)} ms`;
        reached = true;
      } catch (e) {
        const err = e as Error & { reporter?: string; icmpType?: number };
        if (err.reporter !== undefined) {
          if (hop !== err.reporter) line += `  ${err.reporter} (${err.reporter})`;
          hop = err.reporter;
          line += `  ${(performance.now() - t0).toFixed(3)} ms`;
          if (err.icmpType === 3) reached = true;
        } else line += '  *';
      }
    }
    ctx.stdout(`${line}\n`);
    if (reached || hop === formatIpv4(dst)) return 0;
  }
  return 0;
}
