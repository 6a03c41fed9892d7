// A rule as the engine holds it: the generic IPv4 part (struct ipt_ip), the match and target
// extensions in order (struct xt_entry_match / xt_entry_target), and its counters
// (struct xt_counters). Extensions are plug-ins with one interface (DESIGN §6.4): each parses its
// options, prints them the way iptables-save does, and compiles to a closure for the data plane.
import type { Clock, Rng } from '@podnet/wire';
import type { ConnectionTracker, CtInfo, NatEngine } from './conntrack/contract.js';
import type { HookContext, HookName, HookPacket, PacketState, Verdict } from './hook.js';
import type { PacketFields } from './packet.js';

export type TableName = 'raw' | 'mangle' | 'nat' | 'filter';
export const TABLE_NAMES: readonly TableName[] = ['raw', 'mangle', 'nat', 'filter'];

/** One option as written: `! --dport 80` is {name: 'dport', args: ['80'], inverted: true}. */
export interface ParsedOption {
  name: string;
  args: string[];
  inverted: boolean;
}

export interface OptionSpec {
  /** Number of argument words (0 for flags, 2 for --tcp-flags). */
  args: number;
  /** Whether `!` may precede it. */
  invertible?: boolean;
}

/** What an extension may need to know about the rest of its rule. */
export interface RuleBasics {
  /** The `-p` protocol number (0 when absent or `all`). */
  protocol: number;
  protocolInverted: boolean;
}

/** Everything a compiled match or target reaches at run time. */
export interface EvalEnv {
  hook: HookName;
  table: TableName;
  packet: HookPacket;
  context: HookContext;
  state: PacketState;
  /** The packet's connection, from the tracker (undefined when not tracked); asked once, then kept. */
  ct(): CtInfo | undefined;
  /** Forget the kept answer: the connection changed (tracked, untracked, NAT bound). */
  ctChanged(): void;
  /** A `statistic --mode random` decision: true with probability p (seeded Rng, or an explorer). */
  chance(p: number): boolean;
  /** Set by NAT targets so the engine knows the nat chain bound the connection. */
  natBound: boolean;
}

/** Shared services a compiled extension may keep a reference to. */
export interface EngineServices {
  clock: Clock;
  rng: Rng;
  conntrack: ConnectionTracker | undefined;
  nat: NatEngine | undefined;
  /** `-m recent` lists by name (xt_recent keeps them per network namespace). */
  recentTables: Map<string, Map<number, number[]>>;
  /** `-m nfacct` counters by name. */
  nfacct: Map<string, { packets: number; bytes: number }>;
  /** LOG and TRACE lines. */
  emitLog(line: string, env: EvalEnv): void;
}

export type Predicate = (fields: PacketFields, env: EvalEnv) => boolean;
/** A target's action: a verdict ends the traversal of this table, undefined continues. */
export type TargetAction = (fields: PacketFields, env: EvalEnv) => Verdict | undefined;

export interface MatchModule<D = unknown> {
  readonly name: string;
  readonly options: Readonly<Record<string, OptionSpec>>;
  /** Options in the order they were written; throws RuleError on a bad value or combination. */
  parse(options: ParsedOption[], rule: RuleBasics): D;
  /** The text iptables-save prints after `-m NAME` (starting with a space, or empty). */
  save(data: D): string;
  compile(data: D, services: EngineServices): Predicate;
  /** A check that needs the namespace's state (checkentry: an nfacct object must exist); returns the reason it fails. */
  check?(data: D, services: EngineServices): string | undefined;
  /** Hooks the match is valid in (the kernel's xt_match.hooks), when restricted. */
  hooks?(data: D): readonly HookName[] | undefined;
  /** The protocol the match needs `-p` to be (the kernel's xt_match.proto). */
  readonly protocol?: number;
  /** `iptables -L` text of the match. */
  list?(data: D): string;
}

export interface TargetModule<D = unknown> {
  readonly name: string;
  readonly options: Readonly<Record<string, OptionSpec>>;
  parse(options: ParsedOption[], rule: RuleBasics): D;
  save(data: D): string;
  compile(data: D, services: EngineServices): TargetAction;
  /** Tables the target may be used in (xt_target.table), when restricted. */
  readonly tables?: readonly TableName[];
  /** Hooks the target may be reached from (xt_target.hooks), when restricted. */
  readonly hooks?: readonly HookName[];
  /** A check the kernel makes at commit (checkentry); returns the reason it fails. */
  check?(data: D, rule: RuleBasics): string | undefined;
  /** The name `iptables -L` shows in the target column when it is not `name` (NOTRACK is listed as CT). */
  readonly listName?: string;
  /** Whether the target ends the traversal (for -L and the explorer). */
  readonly terminal: boolean;
  list?(data: D): string;
}

export interface AddressMatch {
  address: number;
  mask: number;
  inverted: boolean;
}

export interface InterfaceMatch {
  /** The name without the trailing `+`. */
  name: string;
  wildcard: boolean;
  inverted: boolean;
}

export type RuleTarget =
  | { kind: 'none' }
  | { kind: 'verdict'; verdict: 'ACCEPT' | 'DROP' | 'RETURN' }
  | { kind: 'jump' | 'goto'; chain: string }
  | { kind: 'extension'; module: TargetModule; data: unknown };

export interface MatchInstance {
  module: MatchModule;
  data: unknown;
}

export interface Rule {
  src: AddressMatch | undefined;
  dst: AddressMatch | undefined;
  inInterface: InterfaceMatch | undefined;
  outInterface: InterfaceMatch | undefined;
  protocol: number;
  protocolInverted: boolean;
  /** `-f` (1), `! -f` (-1), absent (0). */
  fragment: 0 | 1 | -1;
  matches: MatchInstance[];
  target: RuleTarget;
  packets: number;
  bytes: number;
  /**
   * The rule as iptables-save prints it, without `-A CHAIN` and counters, once ruleText() made it
   * (made on demand: a 10,000-Service restore need not print its 300,000 rules).
   */
  text: string | undefined;
  /** The input line it came from, for commit-time errors. */
  line?: number;
}
