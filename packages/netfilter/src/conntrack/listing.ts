// `conntrack -L` / `-D` / `-F` over a tracker: the text format conntrack-tools 1.4 prints
// (libnetfilter_conntrack snprintf_default: protocol name padded to 8, number, seconds left, TCP or
// SCTP state, the original tuple, [UNREPLIED], the reply tuple, [ASSURED], mark, use), the filters
// kube-proxy uses to remove stale UDP entries (`conntrack -D -p udp --orig-dst 10.96.0.10`), and a
// command-line front end with the tool's own messages and exit codes.
import { formatIpv4, isIpv4, parseIpv4 } from '@podnet/wire';
import type { Tuple } from './contract.js';
import { type ConntrackEntry, IPS_ASSURED, IPS_DST_NAT, IPS_SEEN_REPLY, IPS_SRC_NAT } from './entry.js';
import { ConntrackError, ConntrackErrorCodes } from './errors.js';
import { TCP_STATE_NAMES } from './tcp-state.js';
import type { Conntrack } from './tracker.js';
import { icmpInverseType, PROTO_ICMP, PROTO_SCTP, PROTO_TCP, PROTO_UDP } from './tuple.js';

const PROTOCOL_NAMES: Readonly<Record<number, string>> = {
  1: 'icmp',
  6: 'tcp',
  17: 'udp',
  132: 'sctp',
  33: 'dccp',
  136: 'udplite',
  47: 'gre',
};
const PROTOCOL_NUMBERS: Readonly<Record<string, number>> = { icmp: 1, tcp: 6, udp: 17, sctp: 132, dccp: 33, udplite: 136, gre: 47 };

/** What `conntrack -L/-D` can select on (each field present must match). */
export interface ConntrackFilter {
  protocol?: number;
  origSrc?: number;
  origDst?: number;
  replySrc?: number;
  replyDst?: number;
  /** --sport / --orig-port-src */
  origSrcPort?: number;
  /** --dport / --orig-port-dst */
  origDstPort?: number;
  replySrcPort?: number;
  replyDstPort?: number;
  mark?: number;
  /** TCP or SCTP state name (--state ESTABLISHED). */
  state?: string;
  /** --src-nat / --dst-nat: the entry has that binding; with an address, NATed to it. */
  srcNat?: boolean | number;
  dstNat?: boolean | number;
}

export function stateName(entry: ConntrackEntry): string | undefined {
  if (entry.tcp !== undefined) return TCP_STATE_NAMES[entry.tcp.state as number];
  if (entry.sctp !== undefined) return entry.sctp.state;
  return undefined;
}

function tupleText(entry: ConntrackEntry, t: Tuple, reply: boolean): string {
  const addrs = `src=${formatIpv4(t.src)} dst=${formatIpv4(t.dst)}`;
  if (entry.protocol === PROTO_ICMP) {
    const type = reply ? (icmpInverseType(entry.icmpType) ?? entry.icmpType) : entry.icmpType;
    return `${addrs} type=${type} code=${entry.icmpCode} id=${t.srcPort}`;
  }
  if (entry.protocol === PROTO_TCP || entry.protocol === PROTO_UDP || entry.protocol === PROTO_SCTP) {
    return `${addrs} sport=${t.srcPort} dport=${t.dstPort}`;
  }
  return addrs;
}

/** One line of `conntrack -L` for an entry with `secondsLeft` to live. */
export function formatEntry(entry: ConntrackEntry, secondsLeft: number): string {
  const name = PROTOCOL_NAMES[entry.protocol] ?? 'unknown';
  const parts = [`${name.padEnd(8)} ${entry.protocol} ${secondsLeft}`];
  const state = stateName(entry);
  if (state !== undefined) parts.push(state);
  parts.push(tupleText(entry, entry.original, false));
  if (!(entry.status & IPS_SEEN_REPLY)) parts.push('[UNREPLIED]');
  parts.push(tupleText(entry, entry.reply, true));
  if (entry.status & IPS_ASSURED) parts.push('[ASSURED]');
  parts.push(`mark=${entry.mark}`, 'use=1');
  return parts.join(' ');
}

export function matchesFilter(entry: ConntrackEntry, f: ConntrackFilter): boolean {
  const o = entry.original;
  const r = entry.reply;
  if (f.protocol !== undefined && entry.protocol !== f.protocol) return false;
  if (f.origSrc !== undefined && o.src !== f.origSrc) return false;
  if (f.origDst !== undefined && o.dst !== f.origDst) return false;
  if (f.replySrc !== undefined && r.src !== f.replySrc) return false;
  if (f.replyDst !== undefined && r.dst !== f.replyDst) return false;
  if (f.origSrcPort !== undefined && o.srcPort !== f.origSrcPort) return false;
  if (f.origDstPort !== undefined && o.dstPort !== f.origDstPort) return false;
  if (f.replySrcPort !== undefined && r.srcPort !== f.replySrcPort) return false;
  if (f.replyDstPort !== undefined && r.dstPort !== f.replyDstPort) return false;
  if (f.mark !== undefined && entry.mark !== f.mark) return false;
  if (f.state !== undefined && stateName(entry) !== f.state) return false;
  if (f.srcNat !== undefined) {
    if (!(entry.status & IPS_SRC_NAT)) return false;
    if (typeof f.srcNat === 'number' && r.dst !== f.srcNat) return false;
  }
  if (f.dstNat !== undefined) {
    if (!(entry.status & IPS_DST_NAT)) return false;
    if (typeof f.dstNat === 'number' && r.src !== f.dstNat) return false;
  }
  return true;
}

/** The live entries matching a filter, oldest first. */
export function listEntries(tracker: Conntrack, filter: ConntrackFilter = {}): ConntrackEntry[] {
  return tracker.entries().filter((e) => matchesFilter(e, filter));
}

/** The `conntrack -L` lines (without the summary the tool prints on stderr). */
export function listText(tracker: Conntrack, filter: ConntrackFilter = {}): string[] {
  return listEntries(tracker, filter).map((e) => formatEntry(e, tracker.secondsLeft(e)));
}

/** `conntrack -D`: removes the matching entries and returns them. */
export function deleteEntries(tracker: Conntrack, filter: ConntrackFilter): ConntrackEntry[] {
  const victims = listEntries(tracker, filter);
  for (const e of victims) tracker.delete(e);
  return victims;
}

export type ConntrackCommand = { command: 'list' | 'delete'; filter: ConntrackFilter } | { command: 'flush' } | { command: 'count' };

const TOOL = 'conntrack v1.4.7 (conntrack-tools)';
const usage = (message: string): ConntrackError =>
  new ConntrackError(
    ConntrackErrorCodes.CONNTRACK_USAGE,
    `${TOOL}: ${message}\nTry \`conntrack -h' or 'conntrack --help' for more information.`,
  );

/** Parses a conntrack(8) command line (the subset podnet implements: -L, -D, -F, -C and the tuple filters). */
export function parseConntrackArgs(argv: readonly string[]): ConntrackCommand {
  let command: 'list' | 'delete' | 'flush' | 'count' | undefined;
  const filter: ConntrackFilter = {};
  const setCommand = (c: typeof command) => {
    if (command !== undefined && command !== c) throw usage('Invalid commands combination (give one of -L, -D, -F, -C)');
    command = c;
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const value = (): string => {
      const v = argv[i + 1];
      if (v === undefined || v.startsWith('-')) throw usage(`option \`${arg}' requires an argument`);
      i++;
      return v;
    };
    const address = (): number => {
      const v = value();
      if (!isIpv4(v)) throw usage(`Bad IP address \`${v}' for ${arg} (write a dotted IPv4 address such as 10.96.0.10)`);
      return parseIpv4(v);
    };
    const port = (): number => {
      const v = value();
      const n = Number(v);
      if (!/^\d+$/.test(v) || n > 65535) throw usage(`Bad port \`${v}' for ${arg} (0-65535)`);
      return n;
    };
    const protocolOption = ['--sport', '--orig-port-src', '--dport', '--orig-port-dst', '--reply-port-src', '--reply-port-dst', '--state'];
    if (protocolOption.includes(arg) && filter.protocol === undefined) {
      // Port and state options belong to a protocol and are unknown until -p names it.
      throw usage(`unknown option \`${arg}' (it needs -p tcp, udp or sctp before it)`);
    }
    switch (arg) {
      case '-L':
      case '--dump':
        setCommand('list');
        break;
      case '-D':
      case '--delete':
        setCommand('delete');
        break;
      case '-F':
      case '--flush':
        setCommand('flush');
        break;
      case '-C':
      case '--count':
        setCommand('count');
        break;
      case '-p':
      case '--proto':
      case '--protonum': {
        const v = value().toLowerCase();
        const n = PROTOCOL_NUMBERS[v] ?? (/^\d+$/.test(v) && Number(v) <= 255 ? Number(v) : undefined);
        if (n === undefined) throw usage(`\`${v}' unsupported protocol`);
        filter.protocol = n;
        break;
      }
      case '-s':
      case '--src':
      case '--orig-src':
        filter.origSrc = address();
        break;
      case '-d':
      case '--dst':
      case '--orig-dst':
        filter.origDst = address();
        break;
      case '-r':
      case '--reply-src':
        filter.replySrc = address();
        break;
      case '-q':
      case '--reply-dst':
        filter.replyDst = address();
        break;
      case '--sport':
      case '--orig-port-src':
        filter.origSrcPort = port();
        break;
      case '--dport':
      case '--orig-port-dst':
        filter.origDstPort = port();
        break;
      case '--reply-port-src':
        filter.replySrcPort = port();
        break;
      case '--reply-port-dst':
        filter.replyDstPort = port();
        break;
      case '-m':
      case '--mark': {
        const v = value();
        const n = Number(v);
        if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw usage(`Bad mark \`${v}' (an unsigned 32-bit number)`);
        filter.mark = n;
        break;
      }
      case '--state':
        filter.state = value().toUpperCase();
        break;
      case '-n':
      case '--src-nat':
      case '-g':
      case '--dst-nat': {
        const next = argv[i + 1];
        let target: number | true = true;
        if (next !== undefined && isIpv4(next)) {
          target = parseIpv4(next);
          i++;
        }
        if (arg === '-n' || arg === '--src-nat') filter.srcNat = target;
        else filter.dstNat = target;
        break;
      }
      default:
        throw usage(
          `unknown option \`${arg}' (podnet's conntrack knows -L -D -F -C, -p, --orig-src/--orig-dst, --reply-src/--reply-dst, --sport/--dport, --reply-port-src/--reply-port-dst, --mark, --state, --src-nat, --dst-nat)`,
        );
    }
  }
  if (command === undefined) throw usage('no command given: use -L, -D, -F or -C');
  if (command === 'flush' || command === 'count') return { command };
  return { command, filter };
}

export interface ConntrackRun {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/** Runs a conntrack(8) command line against a tracker, with the tool's output and exit codes. */
export function runConntrack(tracker: Conntrack, argv: readonly string[]): ConntrackRun {
  let cmd: ConntrackCommand;
  try {
    cmd = parseConntrackArgs(argv);
  } catch (error) {
    if (error instanceof ConntrackError) return { stdout: '', stderr: `${error.message}\n`, exitCode: 2 };
    throw error;
  }
  switch (cmd.command) {
    case 'list': {
      const lines = listText(tracker, cmd.filter);
      return {
        stdout: lines.map((l) => `${l}\n`).join(''),
        stderr: `${TOOL}: ${lines.length} flow entries have been shown.\n`,
        exitCode: 0,
      };
    }
    case 'delete': {
      const lines = listText(tracker, cmd.filter);
      const gone = deleteEntries(tracker, cmd.filter);
      if (gone.length === 0) return { stdout: '', stderr: `${TOOL}: 0 flow entries have been deleted.\n`, exitCode: 1 };
      return {
        stdout: lines.map((l) => `${l}\n`).join(''),
        stderr: `${TOOL}: ${gone.length} flow entries have been deleted.\n`,
        exitCode: 0,
      };
    }
    case 'flush':
      tracker.flush();
      return { stdout: '', stderr: `${TOOL}: connection tracking table has been emptied.\n`, exitCode: 0 };
    case 'count':
      return { stdout: `${tracker.entries().length}\n`, stderr: '', exitCode: 0 };
  }
}
