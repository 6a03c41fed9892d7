// The node's netfilter: the rule set of one network namespace, iptables-restore/-save and the
// iptables command on it, and the NetfilterHooks the stack calls. At each hook the tables run in
// Linux's priority order (include/uapi/linux/netfilter_ipv4.h), with connection tracking and NAT
// called per conntrack/contract.ts:
//
//   PREROUTING   raw → conntrack in → mangle → nat (DNAT)
//   INPUT        mangle → filter → nat (SNAT) → conntrack confirm
//   FORWARD      mangle → filter
//   OUTPUT       raw → conntrack in → mangle → nat (DNAT) → filter
//   POSTROUTING  mangle → nat (SNAT, MASQUERADE) → conntrack confirm
//
// The nat table is traversed only when NatEngine.needsLookup says so (the first packet of a
// connection); every packet is then rewritten by NatEngine.apply. Rule traversal follows
// ipt_do_table: a jump pushes the calling position, -g replaces the current chain, RETURN and the
// end of a user chain pop, the end of a built-in chain applies its policy.
import { type Clock, type Rng, SeededRng, systemClock } from '@podnet/wire';
import {
  type ChainRef,
  type CompiledChain,
  type CompiledRule,
  type CompiledTable,
  compileChain,
  installTable,
  Kind,
  resolveChain,
} from './compile.js';
import type { ConnectionTracker, CtInfo, NatEngine } from './conntrack/contract.js';
import { IptablesError, NetfilterErrorCodes } from './errors.js';
import { ACCEPT, type HookContext, type HookName, type HookPacket, type NetfilterHooks, type PacketState, type Verdict } from './hook.js';
import { emptyFields, type PacketFields, readFields } from './packet.js';
import { applyCommand, type RestoreOptions, type RestoreResult, restore, toIptablesError } from './restore.js';
import type { EngineServices, EvalEnv, MatchInstance, TableName } from './rule.js';
import { ruleText } from './rule-save.js';
import { RuleSet } from './ruleset.js';
import { listRules, listTable, type SaveOptions, save } from './save.js';
import { tokenize } from './tokenize.js';
import { describeFields, type TraceEvent, type TraceSink } from './trace.js';

export interface NetfilterOptions {
  clock?: Clock;
  /** Seeded randomness for `-m statistic --mode random` (DESIGN §6.7). Default: seed 1. */
  rng?: Rng;
  conntrack?: ConnectionTracker;
  nat?: NatEngine;
  /** Where traced packets report the rules they hit. */
  trace?: TraceSink;
  /** Where LOG lines go. */
  log?: (line: string) => void;
}

const DROP_POLICY: Verdict = Object.freeze({ kind: 'drop', reason: 'policy' });
const DROP_RULE: Verdict = Object.freeze({ kind: 'drop', reason: 'rule' });

type Program = Map<TableName, CompiledTable>;

interface Frame {
  chain: CompiledChain;
  pos: number;
  candidates: number[] | undefined;
  ci: number;
  runEnd: number;
}

const NO_CANDIDATES: number[] = [];

export class Netfilter implements NetfilterHooks {
  readonly needsDefrag = true;
  readonly services: EngineServices;
  #ruleSet = new RuleSet();
  #program: Program | undefined;
  #trace: TraceSink | undefined;
  #fields: PacketFields = emptyFields();
  /** Overridable decision for `statistic --mode random` (the trace explorer enumerates branches with it). */
  chance: (p: number) => boolean;

  constructor(options: NetfilterOptions = {}) {
    const rng = options.rng ?? new SeededRng(1);
    const log = options.log;
    this.services = {
      clock: options.clock ?? systemClock,
      rng,
      conntrack: options.conntrack,
      nat: options.nat,
      recentTables: new Map(),
      nfacct: new Map(),
      emitLog: (line) => log?.(line),
    };
    this.#trace = options.trace;
    this.chance = (p) => rng.next() < p;
    this.#install(this.#ruleSet);
  }

  get ruleSet(): RuleSet {
    return this.#ruleSet;
  }

  set traceSink(sink: TraceSink | undefined) {
    this.#trace = sink;
  }

  /** `nfacct add NAME`: creates a named counter for `-m nfacct --nfacct-name NAME`. */
  nfacctAdd(name: string): void {
    if (!this.services.nfacct.has(name)) this.services.nfacct.set(name, { packets: 0, bytes: 0 });
  }

  nfacctGet(name: string): { packets: number; bytes: number } | undefined {
    return this.services.nfacct.get(name);
  }

  /**
   * iptables-restore: all of the input or nothing. Throws IptablesError naming the line and word;
   * the rules in force stay as they were. With `test` (--test) nothing is applied either way.
   */
  restore(input: string, options: RestoreOptions & { test?: boolean } = {}): RestoreResult {
    const result = restore(this.#ruleSet, input, options, this.#checkMatch);
    // Every check was made at COMMIT: installing cannot fail, so a refused input changed nothing.
    if (!options.test) this.#install(result.ruleSet);
    return result;
  }

  /** Installs an already checked rule set (one from restore(), or a copy another engine uses). */
  adopt(ruleSet: RuleSet): void {
    this.#install(ruleSet);
  }

  /**
   * The compiled form of a chain in force, if a packet has made it (undefined before its first
   * packet and after a restore changed the chain). For tests and diagnostics: a --noflush restore
   * leaves the compiled form of every chain it did not touch the same object.
   */
  compiledChain(table: TableName, chain: string): CompiledChain | undefined {
    return this.#program?.get(table)?.refs.get(chain)?.cc;
  }

  /** iptables-save [-c] [-t TABLE]. */
  save(options: SaveOptions = {}): string {
    return save(this.#ruleSet, options);
  }

  /**
   * The iptables command: `['-t', 'nat', '-A', 'KUBE-SERVICES', ...]`, or one string as typed.
   * -A -I -D -R -N -X -F -Z -P change the rules (atomically, with the same parser and checks as
   * restore); -S and -L [-n] [-v] [--line-numbers] return the listing.
   */
  iptables(args: readonly string[] | string): string {
    let words = typeof args === 'string' ? tokenize(args) : [...args];
    if (words[0] === 'iptables' || words[0] === 'iptables-legacy') words = words.slice(1);
    let tableName: TableName = 'filter';
    const t = words.findIndex((w) => w === '-t' || w === '--table');
    if (t >= 0) {
      const name = words[t + 1];
      if (name !== 'raw' && name !== 'mangle' && name !== 'nat' && name !== 'filter') {
        throw new IptablesError(
          `can't initialize iptables table \`${name ?? ''}': Table does not exist`,
          undefined,
          name,
          NetfilterErrorCodes.COMMAND,
        );
      }
      tableName = name;
      words.splice(t, 2);
    }
    const table = this.#ruleSet.table(tableName);
    const command = words[0];
    if (command === '-S' || command === '--list-rules') {
      return listRules(table, words[1]?.startsWith('-') ? undefined : words[1], words.includes('-v'));
    }
    if (command === '-L' || command === '--list' || words.includes('-L')) {
      const rest = words.filter((w) => w !== '-L' && w !== '--list');
      const chain = rest.find((w) => !w.startsWith('-'));
      return listTable(table, {
        ...(chain === undefined ? {} : { chain }),
        verbose: rest.includes('-v') || rest.some((w) => /^-n?v/.test(w) || /^-vn/.test(w)),
        lineNumbers: rest.includes('--line-numbers'),
      });
    }
    const next = table.clone();
    try {
      applyCommand(next, words);
      next.validate(this.#checkMatch);
    } catch (error) {
      const e = toIptablesError(error, undefined);
      throw new IptablesError(e.reason, undefined, e.word, NetfilterErrorCodes.COMMAND);
    }
    const tables = new Map(this.#ruleSet.tables);
    tables.set(tableName, next);
    this.#install(new RuleSet(tables));
    return '';
  }

  /** Checks that need this namespace's state (an nfacct object must exist), made at commit. */
  readonly #checkMatch = (m: MatchInstance): string | undefined => m.module.check?.(m.data, this.services);

  /**
   * Makes the rule set the one in force. A table that did not change keeps its compiled form
   * (kube-proxy restores nat and filter only); a new version cloned from the one in force keeps
   * the compiled form of every chain it did not touch (compile.ts installTable).
   */
  #install(ruleSet: RuleSet): void {
    const program: Program = new Map();
    for (const [name, table] of ruleSet.tables) {
      program.set(name, installTable(this.#program?.get(name), table, this.services));
      // The old version is no longer needed to tell what changed.
      table.detach();
    }
    this.#program = program;
    this.#ruleSet = ruleSet;
  }

  run(hook: HookName, packet: HookPacket, context: HookContext, state: PacketState): Verdict {
    const fields = this.#fields;
    if (!readFields(packet, fields)) return { kind: 'drop', reason: 'not an IPv4 packet' };
    const ct = this.services.conntrack;
    // The tracker's answer is kept for the hook: -m conntrack rules ask it many times per packet.
    let ctInfo: CtInfo | undefined | null = null;
    const env: EvalEnv = {
      hook,
      table: 'raw',
      packet,
      context,
      state,
      ct: ct
        ? () => {
            if (ctInfo === null) ctInfo = ct.info(state);
            return ctInfo;
          }
        : () => undefined,
      ctChanged: () => {
        ctInfo = null;
      },
      chance: this.chance,
      natBound: false,
    };
    switch (hook) {
      case 'PREROUTING': {
        const raw = this.#table('raw', env, fields);
        if (raw.kind !== 'accept') return raw;
        const tracked = ct?.track('PREROUTING', packet, context, state);
        env.ctChanged();
        if (tracked && tracked.kind !== 'accept') return tracked;
        const mangle = this.#table('mangle', env, fields);
        if (mangle.kind !== 'accept') return mangle;
        return this.#nat(env, fields);
      }
      case 'INPUT': {
        const mangle = this.#table('mangle', env, fields);
        if (mangle.kind !== 'accept') return mangle;
        const filter = this.#table('filter', env, fields);
        if (filter.kind !== 'accept') return filter;
        const nat = this.#nat(env, fields);
        if (nat.kind !== 'accept') return nat;
        return ct?.confirm(state) ?? ACCEPT;
      }
      case 'FORWARD': {
        const mangle = this.#table('mangle', env, fields);
        if (mangle.kind !== 'accept') return mangle;
        return this.#table('filter', env, fields);
      }
      case 'OUTPUT': {
        const raw = this.#table('raw', env, fields);
        if (raw.kind !== 'accept') return raw;
        const tracked = ct?.track('OUTPUT', packet, context, state);
        env.ctChanged();
        if (tracked && tracked.kind !== 'accept') return tracked;
        const mangle = this.#table('mangle', env, fields);
        if (mangle.kind !== 'accept') return mangle;
        const nat = this.#nat(env, fields);
        if (nat.kind !== 'accept') return nat;
        return this.#table('filter', env, fields);
      }
      case 'POSTROUTING': {
        const mangle = this.#table('mangle', env, fields);
        if (mangle.kind !== 'accept') return mangle;
        const nat = this.#nat(env, fields);
        if (nat.kind !== 'accept') return nat;
        return ct?.confirm(state) ?? ACCEPT;
      }
    }
  }

  #nat(env: EvalEnv, fields: PacketFields): Verdict {
    const nat = this.services.nat;
    if (!nat) return this.#table('nat', env, fields);
    if (nat.needsLookup(env.hook, env.state)) {
      env.natBound = false;
      const v = this.#table('nat', env, fields);
      if (v.kind !== 'accept') return v;
      if (!env.natBound) nat.setupNull(env.hook, env.state);
    }
    const v = nat.apply(env.hook, env.packet, env.context, env.state);
    env.ctChanged();
    // NAT rewrote the packet in place: later tables see the new addresses and ports.
    readFields(env.packet, fields);
    return v;
  }

  #table(name: TableName, env: EvalEnv, fields: PacketFields): Verdict {
    const ref = (this.#program as Program).get(name)?.hooks.get(env.hook);
    if (!ref) return ACCEPT;
    env.table = name;
    return this.traverse(ref.cc ?? resolveChain(ref), env, fields);
  }

  /** ipt_do_table over one built-in chain. */
  traverse(start: CompiledChain, env: EvalEnv, fields: PacketFields): Verdict {
    const stack: Frame[] = [];
    if (!start.compiled) compileChain(start);
    let frame: Frame = { chain: start, pos: 0, candidates: undefined, ci: 0, runEnd: 0 };
    for (;;) {
      const index = nextIndex(frame, fields);
      if (index < 0) {
        // End of chain: a user chain returns to its caller, a built-in chain applies its policy.
        const popped = stack.pop();
        if (popped === undefined) return this.#policy(frame.chain, env, fields);
        if (env.state.trace) this.#emit(env, fields, frame.chain, 'return', frame.chain.rules.length + 1, undefined);
        frame = popped;
        continue;
      }
      const r = frame.chain.rules[index] as CompiledRule;
      if (!r.test(fields, env)) continue;
      const rule = r.rule;
      rule.packets++;
      rule.bytes += fields.length;
      if (env.state.trace) this.#emit(env, fields, frame.chain, 'rule', r.number, r);
      switch (r.kind) {
        case Kind.None:
          continue;
        case Kind.Accept:
          return ACCEPT;
        case Kind.Drop:
          return DROP_RULE;
        case Kind.Return: {
          const popped = stack.pop();
          if (popped === undefined) return this.#policy(frame.chain, env, fields);
          frame = popped;
          continue;
        }
        case Kind.Jump:
        case Kind.Goto: {
          const ref = r.jump as ChainRef;
          const next = ref.cc ?? resolveChain(ref);
          if (!next.compiled) compileChain(next);
          if (r.kind === Kind.Jump) stack.push(frame);
          frame = { chain: next, pos: 0, candidates: undefined, ci: 0, runEnd: 0 };
          continue;
        }
        case Kind.Extension: {
          const v = (r.action as NonNullable<CompiledRule['action']>)(fields, env);
          if (v !== undefined) return v;
          continue;
        }
      }
    }
  }

  #policy(chain: CompiledChain, env: EvalEnv, fields: PacketFields): Verdict {
    const c = chain.chain;
    c.packets++;
    c.bytes += fields.length;
    if (env.state.trace) this.#emit(env, fields, chain, 'policy', chain.rules.length + 1, undefined);
    return c.policy === 'DROP' ? DROP_POLICY : ACCEPT;
  }

  #emit(
    env: EvalEnv,
    fields: PacketFields,
    chain: CompiledChain,
    kind: TraceEvent['kind'],
    ruleNumber: number,
    r: CompiledRule | undefined,
  ): void {
    const sink = this.#trace;
    if (!sink) return;
    const e: TraceEvent = {
      hook: env.hook,
      table: env.table,
      chain: chain.name,
      kind,
      ruleNumber,
      target: r ? r.targetName : kind === 'policy' ? (chain.chain.policy ?? 'ACCEPT') : 'RETURN',
      mark: env.state.mark,
      ...describeFields(fields),
    };
    if (r) {
      const text = ruleText(r.rule);
      e.rule = `-A ${chain.name}${text ? ` ${text}` : ''}`;
    }
    if (env.state.traceId !== undefined) e.traceId = env.state.traceId;
    if (env.context.inInterface !== undefined) e.inInterface = env.context.inInterface;
    if (env.context.outInterface !== undefined) e.outInterface = env.context.outInterface;
    sink(e);
  }
}

/** The next rule index to try in a frame, or -1 at the end; walks indexed runs by candidates only. */
function nextIndex(frame: Frame, fields: PacketFields): number {
  for (;;) {
    if (frame.candidates !== undefined) {
      if (frame.ci < frame.candidates.length) return frame.candidates[frame.ci++] as number;
      frame.candidates = undefined;
      frame.pos = frame.runEnd;
    }
    const chain = frame.chain;
    if (frame.pos >= chain.rules.length) return -1;
    const run = chain.runs?.[frame.pos];
    if (run === undefined) return frame.pos++;
    frame.candidates = run.byDestination.get(fields.dst) ?? NO_CANDIDATES;
    frame.ci = 0;
    frame.runEnd = run.end;
  }
}
