// Precompiles a committed table into closures, so the data plane never parses text: one predicate
// per rule (generic IPv4 part, then each match), a direct reference to the chain a rule jumps to,
// and, for long chains, an index of the rules that match one exact destination address (what
// KUBE-SERVICES is made of: `-d CLUSTER-IP/32 -p tcp --dport N -j KUBE-SVC-...`), so that a packet
// only tries the rules that can match it, in their order.
//
// A compiled table lives across --noflush restores: rules jump through a ChainRef (one per chain
// name), and installing a new version of the table (installTable) only empties the refs of the
// chains that version changed, made or deleted. Every other chain keeps its compiled rules and
// destination index (its Chain object, and so its rules, are shared by both versions), and the
// jumps into a rewritten chain find its new compiled form on the next packet. Installing happens
// between packets (the data plane runs to completion on one thread), so a packet traverses one
// version whole.

import type { HookName } from './hook.js';
import { interfaceMatches } from './interface.js';
import type { EngineServices, Predicate, Rule, TableName, TargetAction } from './rule.js';
import { BUILTIN_CHAINS, type Chain, type Table } from './ruleset.js';

export enum Kind {
  None = 0,
  Accept = 1,
  Drop = 2,
  Return = 3,
  Jump = 4,
  Goto = 5,
  Extension = 6,
}

export interface CompiledRule {
  rule: Rule;
  /** 1-based position, for traces. */
  number: number;
  test: Predicate;
  kind: Kind;
  jump: ChainRef | undefined;
  action: TargetAction | undefined;
  targetName: string;
}

/** A run of consecutive rules that all need one exact destination address. */
export interface DestinationRun {
  end: number;
  byDestination: Map<number, number[]>;
}

export interface CompiledChain {
  name: string;
  chain: Chain;
  builtin: boolean;
  rules: CompiledRule[];
  /** runs[i] is set when an indexed run starts at rule index i. */
  runs: Array<DestinationRun | undefined> | undefined;
  /** False until compileChain ran (rules is empty until then). */
  compiled: boolean;
  owner: CompiledTable;
}

/** Where the jumps to one chain name find its compiled form (empty until a packet needs it). */
export interface ChainRef {
  readonly name: string;
  readonly owner: CompiledTable;
  cc: CompiledChain | undefined;
}

export interface CompiledTable {
  readonly name: TableName;
  /** The table version installed; changed in place by installTable. */
  table: Table;
  readonly services: EngineServices;
  readonly refs: Map<string, ChainRef>;
  readonly hooks: Map<HookName, ChainRef>;
}

/** Chains shorter than this are scanned; the index only pays for itself on long chains. */
const INDEX_MIN_RULES = 16;
/** Runs shorter than this are left to the scan. */
const INDEX_MIN_RUN = 8;

const ALWAYS: Predicate = () => true;

function genericPredicate(rule: Rule): Predicate[] {
  const tests: Predicate[] = [];
  const { src, dst, inInterface, outInterface } = rule;
  if (src && (src.mask !== 0 || src.inverted)) {
    const { address, mask, inverted } = src;
    tests.push((f) => ((f.src & mask) >>> 0 === address) !== inverted);
  }
  if (dst && (dst.mask !== 0 || dst.inverted)) {
    const { address, mask, inverted } = dst;
    tests.push((f) => ((f.dst & mask) >>> 0 === address) !== inverted);
  }
  if (inInterface) tests.push((_f, env) => interfaceMatches(inInterface, env.context.inInterface));
  if (outInterface) tests.push((_f, env) => interfaceMatches(outInterface, env.context.outInterface));
  if (rule.protocol !== 0) {
    const p = rule.protocol;
    const inv = rule.protocolInverted;
    tests.push((f) => (f.protocol === p) !== inv);
  }
  if (rule.fragment !== 0) {
    const want = rule.fragment === 1;
    tests.push((f) => (f.fragmentOffset !== 0) === want);
  }
  return tests;
}

function all(tests: Predicate[]): Predicate {
  switch (tests.length) {
    case 0:
      return ALWAYS;
    case 1:
      return tests[0] as Predicate;
    case 2: {
      const [a, b] = tests as [Predicate, Predicate];
      return (f, e) => a(f, e) && b(f, e);
    }
    case 3: {
      const [a, b, c] = tests as [Predicate, Predicate, Predicate];
      return (f, e) => a(f, e) && b(f, e) && c(f, e);
    }
    default:
      return (f, e) => {
        for (let i = 0; i < tests.length; i++) if (!(tests[i] as Predicate)(f, e)) return false;
        return true;
      };
  }
}

function exactDestination(rule: Rule): number | undefined {
  const d = rule.dst;
  return d && d.mask === 0xffffffff && !d.inverted ? d.address : undefined;
}

function indexRuns(rules: CompiledRule[]): Array<DestinationRun | undefined> | undefined {
  if (rules.length < INDEX_MIN_RULES) return undefined;
  const runs: Array<DestinationRun | undefined> = new Array(rules.length);
  let any = false;
  let i = 0;
  while (i < rules.length) {
    if (exactDestination((rules[i] as CompiledRule).rule) === undefined) {
      i++;
      continue;
    }
    let j = i;
    while (j < rules.length && exactDestination((rules[j] as CompiledRule).rule) !== undefined) j++;
    if (j - i >= INDEX_MIN_RUN) {
      const byDestination = new Map<number, number[]>();
      for (let k = i; k < j; k++) {
        const d = exactDestination((rules[k] as CompiledRule).rule) as number;
        const list = byDestination.get(d);
        if (list) list.push(k);
        else byDestination.set(d, [k]);
      }
      runs[i] = { end: j, byDestination };
      any = true;
    }
    i = j;
  }
  return any ? runs : undefined;
}

/** Compiles the chain's rules the first time a packet enters it (a restore stays cheap, and chains no packet reaches cost nothing). */
export function compileChain(cc: CompiledChain): void {
  if (cc.compiled) return;
  const services = cc.owner.services;
  cc.rules = cc.chain.rules.map((rule, index) => {
    const tests = genericPredicate(rule);
    for (const m of rule.matches) tests.push(m.module.compile(m.data, services));
    const t = rule.target;
    let kind = Kind.None;
    let jump: ChainRef | undefined;
    let action: TargetAction | undefined;
    let targetName = '';
    if (t.kind === 'verdict') {
      kind = t.verdict === 'ACCEPT' ? Kind.Accept : t.verdict === 'DROP' ? Kind.Drop : Kind.Return;
      targetName = t.verdict;
    } else if (t.kind === 'jump' || t.kind === 'goto') {
      kind = t.kind === 'jump' ? Kind.Jump : Kind.Goto;
      jump = refOf(cc.owner, t.chain);
      targetName = t.chain;
    } else if (t.kind === 'extension') {
      kind = Kind.Extension;
      action = t.module.compile(t.data, services);
      targetName = t.module.name;
    }
    return { rule, number: index + 1, test: all(tests), kind, jump, action, targetName };
  });
  cc.runs = indexRuns(cc.rules);
  cc.compiled = true;
}

function refOf(owner: CompiledTable, name: string): ChainRef {
  let ref = owner.refs.get(name);
  if (ref === undefined) {
    ref = { name, owner, cc: undefined };
    owner.refs.set(name, ref);
  }
  return ref;
}

/** The compiled form (not yet compiled: compileChain does that) of the chain the ref names, in the installed version. */
export function resolveChain(ref: ChainRef): CompiledChain {
  const owner = ref.owner;
  const chain = owner.table.chains.get(ref.name);
  // validate() makes every jump name a chain of the version installed.
  if (chain === undefined) throw new Error(`netfilter: no chain ${ref.name} in table ${owner.name} (a jump the commit checks missed)`);
  const cc: CompiledChain = { name: ref.name, chain, builtin: chain.builtin, rules: [], runs: undefined, compiled: false, owner };
  ref.cc = cc;
  return cc;
}

/**
 * Prepares a committed table for the data plane: nothing is compiled yet, built-in chains compile
 * on the first packet at their hook and user chains on the first packet a rule sends there. The
 * checks a compile could fail (an nfacct object that does not exist) were made at commit
 * (Table.validate with the engine's check), so restore still refuses what the kernel refuses.
 */
export function compileTable(table: Table, services: EngineServices): CompiledTable {
  const compiled: CompiledTable = { name: table.name, table, services, refs: new Map(), hooks: new Map() };
  for (const hook of BUILTIN_CHAINS[table.name]) compiled.hooks.set(hook, refOf(compiled, hook));
  return compiled;
}

/**
 * Installs a new version of the table. When it was cloned from the version installed
 * (copy-on-write, Table.clone), only the refs of the chains it changed, made or deleted are
 * emptied: every other chain keeps its compiled form. Otherwise the table is compiled afresh.
 */
export function installTable(current: CompiledTable | undefined, table: Table, services: EngineServices): CompiledTable {
  if (current !== undefined && current.table === table) return current;
  if (current === undefined || table.base !== current.table || current.services !== services) return compileTable(table, services);
  const refs = current.refs;
  for (const c of table.changedChains()) {
    const ref = refs.get(c.name);
    if (ref !== undefined) ref.cc = undefined;
  }
  for (const name of table.deletedChains()) {
    const ref = refs.get(name);
    if (ref !== undefined) ref.cc = undefined;
  }
  current.table = table;
  return current;
}
