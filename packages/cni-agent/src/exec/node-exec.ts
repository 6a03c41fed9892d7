// `podnet node exec NODE -- CMD ...`: the node commands a user runs on a real node's host
// namespace, printed as the real tools print them: iptables-save [-t T] [-c], iptables
// [-t T] -L/-S/-A/-I/-D/..., iptables-restore [--noflush] [--test] [-c] (input on stdin),
// conntrack -L/-D/-F/-C, ip route|neigh|addr|link [show], bridge fdb [show] / bridge fdb del MAC dev DEV,
// ethtool -k DEV / -K DEV tso|gso|gro on|off (the segmentation offloads).
import { IptablesError, runConntrack, type TableName } from '@podnet/netfilter';
import { type BridgeLink, ethtoolSet, ethtoolShow, type VxlanLink } from '@podnet/netstack';
import { formatIpv4, formatMac, parseMac } from '@podnet/wire';
import type { ExecResponseBody } from '../control/protocol.js';
import type { HostNetwork } from '../host/host-network.js';

const TABLES = ['raw', 'mangle', 'nat', 'filter'];

function ok(stdout: string, stderr = ''): ExecResponseBody {
  return { stdout, stderr, exitCode: 0 };
}
function fail(stderr: string, exitCode = 1): ExecResponseBody {
  return { stdout: '', stderr: stderr.endsWith('\n') ? stderr : `${stderr}\n`, exitCode };
}

export class NodeExec {
  readonly #host: HostNetwork;
  /** Called after a command changed the rules (so a kube-proxy watching the canary notices). */
  readonly #onRulesChanged: () => void;

  constructor(host: HostNetwork, onRulesChanged: () => void = () => {}) {
    this.#host = host;
    this.#onRulesChanged = onRulesChanged;
  }

  run(argv: readonly string[], stdin = ''): ExecResponseBody {
    const [tool, ...args] = argv;
    try {
      switch (tool) {
        case 'iptables-save':
        case 'iptables-legacy-save':
          return this.#iptablesSave(args);
        case 'iptables':
        case 'iptables-legacy':
          return this.#iptables(args);
        case 'iptables-restore':
        case 'iptables-legacy-restore':
          return this.#iptablesRestore(args, stdin);
        case 'conntrack':
          return runConntrack(this.#host.conntrack, args);
        case 'ip':
          return this.#ip(args);
        case 'bridge':
          return this.#bridge(args);
        case 'ethtool':
          return this.#ethtool(args);
        case undefined:
          return fail('node exec: no command given; try iptables-save, iptables, iptables-restore, conntrack, ip, bridge or ethtool', 2);
        default:
          return fail(
            `node exec: ${tool}: command not found on the node (supported: iptables-save, iptables, iptables-restore, conntrack, ip, bridge, ethtool)`,
            127,
          );
      }
    } catch (error) {
      if (error instanceof IptablesError) return fail(error.message, 1);
      const message = (error as Error).message ?? String(error);
      return fail(`${tool}: ${message}`, 1);
    }
  }

  #iptablesSave(args: string[]): ExecResponseBody {
    let table: string | undefined;
    let counters = false;
    for (let i = 0; i < args.length; i++) {
      const a = args[i];
      if (a === '-c' || a === '--counters') counters = true;
      else if (a === '-t' || a === '--table') {
        table = args[++i];
        if (!table || !TABLES.includes(table)) return fail(`iptables-save: table '${table ?? ''}' does not exist`, 1);
      } else return fail(`iptables-save: unknown option "${a}"; use [-t TABLE] [-c]`, 2);
    }
    const options: { table?: TableName; counters?: boolean } = { counters };
    if (table) options.table = table as TableName;
    return ok(this.#host.netfilter.save(options));
  }

  #iptables(args: string[]): ExecResponseBody {
    const out = this.#host.netfilter.iptables(args);
    if (!args.some((a) => a === '-L' || a === '--list' || a === '-S' || a === '--list-rules')) this.#onRulesChanged();
    return ok(out.length === 0 || out.endsWith('\n') ? out : `${out}\n`);
  }

  #iptablesRestore(args: string[], stdin: string): ExecResponseBody {
    let noflush = false;
    let test = false;
    let counters = false;
    for (const a of args) {
      if (a === '-n' || a === '--noflush') noflush = true;
      else if (a === '-t' || a === '--test') test = true;
      else if (a === '-c' || a === '--counters') counters = true;
      else return fail(`iptables-restore: unknown option "${a}"; use [--noflush] [--test] [--counters] with the rules on stdin`, 2);
    }
    this.#host.netfilter.restore(stdin, { noflush, test, counters });
    if (!test) this.#onRulesChanged();
    return ok('');
  }

  #ip(args: string[]): ExecResponseBody {
    const [object = '', verb = 'show', ...rest] = args;
    const ns = this.#host.ns;
    const isShow = verb === 'show' || verb === 'list' || verb === 'ls';
    if ('route'.startsWith(object) && object.length >= 1 && object !== 'a' && object !== 'l' && object !== 'n') {
      if (!isShow)
        return fail(
          `ip route ${verb}: only "show" is supported on podnet nodes (routes are the backend's; use podnet's Node objects)`,
          255,
        );
      return ok(
        ns.routes
          .show()
          .map((l) => `${l}\n`)
          .join(''),
      );
    }
    if (object.length >= 1 && 'neighbour'.startsWith(object)) {
      if (!isShow) return fail(`ip neigh ${verb}: only "show" is supported on podnet nodes`, 255);
      return ok(
        ns.neighbours
          .show()
          .map((l) => `${l}\n`)
          .join(''),
      );
    }
    if (object.length >= 1 && ('address'.startsWith(object) || 'link'.startsWith(object))) {
      if (!isShow) return fail(`ip ${object} ${verb}: only "show" is supported on podnet nodes`, 255);
      const withAddresses = 'address'.startsWith(object);
      const lines: string[] = [];
      ns.links().forEach((l, i) => {
        const flags = l.name === 'lo' ? 'LOOPBACK,UP,LOWER_UP' : l.up ? 'BROADCAST,MULTICAST,UP,LOWER_UP' : 'BROADCAST,MULTICAST';
        const master = this.#host.cni0?.ports.includes(l) ? ' master cni0' : '';
        lines.push(`${i + 1}: ${l.name}: <${flags}> mtu ${l.mtu}${master} state ${l.up ? (l.name === 'lo' ? 'UNKNOWN' : 'UP') : 'DOWN'}`);
        lines.push(
          `    link/${l.name === 'lo' ? 'loopback' : 'ether'} ${formatMac(l.mac)} brd ${l.name === 'lo' ? '00:00:00:00:00:00' : 'ff:ff:ff:ff:ff:ff'}`,
        );
        if (withAddresses) {
          for (const a of ns.addresses(l.name))
            lines.push(`    inet ${formatIpv4(a.address)}/${a.prefix} scope ${l.name === 'lo' ? 'host' : 'global'} ${l.name}`);
        }
      });
      void rest;
      return ok(lines.map((l) => `${l}\n`).join(''));
    }
    return fail(`ip: object "${object}" is not supported on podnet nodes (use route, neigh, addr or link)`, 255);
  }

  /** ethtool -k DEV (show the offloads) | -K DEV FEATURE on|off ... (tso, gso, gro): netstack offload/ethtool.ts. */
  #ethtool(args: string[]): ExecResponseBody {
    const [flag, dev, ...rest] = args;
    if ((flag !== '-k' && flag !== '-K' && flag !== '--show-features' && flag !== '--features') || dev === undefined) {
      return fail('ethtool: podnet nodes support `ethtool -k DEV` and `ethtool -K DEV tso|gso|gro on|off ...`', 1);
    }
    const link = this.#host.ns.link(dev);
    if (link === undefined) return fail(`netlink error: no device matches name (${dev})`, 1);
    if (flag === '-k' || flag === '--show-features') {
      if (rest.length > 0) return fail(`ethtool: bad command line argument(s): ${rest.join(' ')}`, 1);
      return ok(ethtoolShow(link));
    }
    const error = ethtoolSet(link, rest);
    return error ? fail(error.error, error.exitCode) : ok('');
  }

  #bridge(args: string[]): ExecResponseBody {
    const [object, verb = 'show', ...rest] = args;
    if (object !== 'fdb') return fail(`bridge: object "${object ?? ''}" is not supported on podnet nodes (use bridge fdb show|del)`, 255);
    const vxlan = this.#host.ns.link('flannel.1') as VxlanLink | undefined;
    const bridge = this.#host.cni0 as BridgeLink | undefined;
    if (verb === 'show') {
      const lines: string[] = [];
      if (bridge) {
        for (const e of bridge.fdb.entries(this.#host.clock.now())) {
          lines.push(`${formatMac(e.mac)} dev ${e.port.name} master cni0${e.static ? ' static' : ''}`);
        }
      }
      if (vxlan) for (const [mac, ip] of vxlan.fdb) lines.push(`${formatMac(mac)} dev flannel.1 dst ${formatIpv4(ip)} self permanent`);
      return ok(lines.map((l) => `${l}\n`).join(''));
    }
    if (verb === 'del' || verb === 'delete') {
      // bridge fdb del LLADDR dev DEV [master|self] [dst IP]
      const macText = rest[0];
      const devAt = rest.indexOf('dev');
      const dev = devAt >= 0 ? rest[devAt + 1] : undefined;
      if (!macText || !dev) return fail('bridge fdb del: usage: bridge fdb del LLADDR dev DEV', 255);
      let mac: number;
      try {
        mac = parseMac(macText);
      } catch {
        return fail(`bridge fdb del: "${macText}" is not a MAC address (aa:bb:cc:dd:ee:ff)`, 255);
      }
      if (dev === 'flannel.1' && vxlan) {
        if (!vxlan.fdb.has(mac)) return fail('RTNETLINK answers: No such file or directory', 2);
        vxlan.deleteFdb(mac);
        return ok('');
      }
      if (bridge && (dev === 'cni0' || bridge.ports.some((p) => p.name === dev))) {
        if (!bridge.fdb.delete(mac)) return fail('RTNETLINK answers: No such file or directory', 2);
        return ok('');
      }
      return fail(`Cannot find device "${dev}"`, 1);
    }
    return fail(`bridge fdb ${verb}: only show and del are supported on podnet nodes`, 255);
  }
}
