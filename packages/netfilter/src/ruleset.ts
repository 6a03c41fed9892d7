// Tables and chains as libiptc holds them between iptables-restore's lines: built-in chains in hook
// order with their policies and policy counters, user chains kept in name order (libiptc inserts
// them sorted, which is the order iptables-save prints), and rules with counters. Every change is
// made on a copy; `validate` makes the checks the kernel makes when the table is replaced
// (net/ipv4/netfilter/ip_tables.c translate_table / mark_source_chains / check_target).
//
// Copy-on-write: clone() shares every Chain object with the table it was made from, and a chain is
// copied (and owned by the new version) only when a change reaches it. So a --noflush restore of
// one chain costs that chain, not the table: validate() checks the rules of the owned chains (and
// of chains that became reachable from another hook), the engine keeps the compiled form of every
// chain it did not touch, and the old version stays whole until the new one is installed, so a
// failed restore leaves it in force. Rule objects (and their counters) are shared as before.
import { RuleError } from './errors.js';
import type { HookName } from './hook.js';
import type { MatchInstance, Rule, RuleTarget, TableName } from './rule.js';
import { checkChainName } from './rule-parser.js';
import { ruleText } from './rule-save.js';
import { TARGETS } from './targets/index.js';

export const BUILTIN_CHAINS: Readonly<Record<TableName, readonly HookName[]>> = {
  raw: ['PREROUTING', 'OUTPUT'],
  mangle: ['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING'],
  nat: ['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING'],
  filter: ['INPUT', 'FORWARD', 'OUTPUT'],
};

export type Policy = 'ACCEPT' | 'DROP';

export interface Chain {
  readonly name: string;
  readonly builtin: boolean;
  policy: Policy | undefined;
  /** Policy counters (packets that reached the end of a built-in chain). */
  packets: number;
  bytes: number;
  rules: Rule[];
  /**
   * The `-j NAME` / `-g NAME` target every rule jumping here shares (made by the first such rule;
   * rule targets are never changed in place). Found with the chain itself, in one lookup.
   */
  jumpTarget: RuleTarget | undefined;
  gotoTarget: RuleTarget | undefined;
  /**
   * What validate() learnt about this chain's rules, kept on the chain so that every table version
   * sharing it reuses it (a chain's rules never change once another version shares it: a change
   * copies the chain first). `edges`: the distinct chains its rules jump or go to. `checkedHooks`: the built-in chains (bit h is
   * BUILTIN_CHAINS[table][h]) from which its rules' targets and matches passed the hook checks.
   */
  edges?: ChainEdges | undefined;
  checkedHooks?: number | undefined;
  /** An upper bound of the built-in chains that reach this chain's name, from every check that walked the whole graph (only grows). */
  hookBound?: number | undefined;
  /** Scratch for validate(): the chain's position in the table being checked (rewritten by every check). */
  index?: number | undefined;
}

/** The distinct chains a chain's rules jump or go to, in the order of their first rule doing so. */
export type ChainEdges = readonly string[];

const NO_EDGES: ChainEdges = Object.freeze([]);

/** The first rule of the chain that jumps or goes to target (the one a loop error names). */
function firstJumpTo(chain: Chain, target: string): Rule | undefined {
  return chain.rules.find((r) => (r.target.kind === 'jump' || r.target.kind === 'goto') && r.target.chain === target);
}

const RESERVED = new Set(['ACCEPT', 'DROP', 'RETURN', 'QUEUE']);

export class Table {
  readonly name: TableName;
  readonly chains: Map<string, Chain>;
  /**
   * The version this one was cloned from (undefined for a table built from nothing). Only one
   * level is kept: cloning a version forgets its own base, so versions never chain up in memory.
   */
  #base: Table | undefined;
  /** Chains this version made or copied: the only ones it may change, and the ones validate() checks. */
  readonly #owned = new Set<Chain>();
  /**
   * Built from nothing and not cloned yet: every chain is its own (no set of 110,000 chains to
   * keep for a full restore). Cloning the table ends it, so a change made to it afterwards copies.
   */
  #fresh: boolean;
  /** Names of chains of the base version that this one deleted. */
  readonly #deleted = new Set<string>();

  constructor(name: TableName, base?: Table) {
    this.name = name;
    this.#base = base;
    this.#fresh = base === undefined;
    if (base !== undefined) {
      base.#base = undefined;
      // Its chains are shared from now on: a change to the base itself must copy them too.
      base.#fresh = false;
      base.#owned.clear();
      base.#lastWritable = undefined;
      // Shared with the base until changed (copy-on-write).
      this.chains = new Map(base.chains);
      return;
    }
    this.chains = new Map();
    for (const hook of BUILTIN_CHAINS[name]) {
      const c: Chain = {
        name: hook,
        builtin: true,
        policy: 'ACCEPT',
        packets: 0,
        bytes: 0,
        rules: [],
        jumpTarget: undefined,
        gotoTarget: undefined,
        edges: undefined,
        checkedHooks: undefined,
        hookBound: undefined,
        index: 0,
      };
      this.chains.set(hook, c);
    }
  }

  /**
   * A new version whose chains can be changed without touching this table: it shares every chain
   * until a change copies it (rules are shared: counters carry over).
   */
  clone(): Table {
    return new Table(this.name, this);
  }

  get base(): Table | undefined {
    return this.#base;
  }

  /** Forgets the base version (the engine does once it installed this one), so the old chains can go. */
  detach(): void {
    this.#base = undefined;
  }

  /** The chains this version made or changed (every chain of a table built from nothing). */
  changedChains(): ReadonlySet<Chain> {
    return this.#fresh ? new Set(this.chains.values()) : this.#owned;
  }

  #owns(c: Chain): boolean {
    return this.#fresh || this.#owned.has(c);
  }

  /** Names of the base version's chains this version deleted (a name made again is also in changedChains). */
  deletedChains(): ReadonlySet<string> {
    return this.#deleted;
  }

  /** The chain, ready to change: copied first (and owned) if another version still shares it. */
  writable(name: string): Chain {
    const last = this.#lastWritable;
    if (last !== undefined && last.name === name) return last;
    const c = this.chains.get(name);
    if (!c) throw new RuleError(`chain \`${name}' does not exist`, name);
    let own = c;
    if (!this.#owns(c)) {
      own = { ...c, rules: c.rules.slice(), edges: undefined, checkedHooks: 0, index: 0 };
      this.chains.set(name, own);
      this.#owned.add(own);
      if (this.#last === c) this.#last = own;
    }
    this.#lastWritable = own;
    return own;
  }
  /** The chain writable() gave last (owned, so still writable); cleared whenever a chain is deleted. */
  #lastWritable: Chain | undefined;

  /** Chains in iptables-save order: built-ins in hook order, then user chains sorted by name. */
  orderedChains(): Chain[] {
    const all = [...this.chains.values()];
    const builtins = all.filter((c) => c.builtin);
    const user = all.filter((c) => !c.builtin).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return [...builtins, ...user];
  }

  chain(name: string): Chain {
    // iptables-restore appends a chain's rules one after another: the last chain found is asked first.
    const last = this.#last;
    if (last !== undefined && last.name === name) return last;
    const c = this.chains.get(name);
    if (!c) throw new RuleError(`chain \`${name}' does not exist`, name);
    this.#last = c;
    return c;
  }
  /** The chain chain() found last; cleared whenever a chain is deleted. */
  #last: Chain | undefined;

  has(name: string): boolean {
    return this.chains.has(name);
  }

  newChain(name: string): void {
    checkChainName(name);
    if (RESERVED.has(name) || TARGETS.has(name)) throw new RuleError(`chain name \`${name}' is reserved for a target`, name);
    if (this.chains.has(name)) throw new RuleError(`Chain \`${name}' already exists`, name);
    const c: Chain = {
      name,
      builtin: false,
      policy: undefined,
      packets: 0,
      bytes: 0,
      rules: [],
      jumpTarget: undefined,
      gotoTarget: undefined,
      edges: undefined,
      checkedHooks: undefined,
      hookBound: undefined,
      index: 0,
    };
    this.chains.set(name, c);
    if (!this.#fresh) this.#owned.add(c);
  }

  /** How many rules jump or go to the chain (libiptc's reference count). */
  references(name: string): number {
    let n = 0;
    for (const c of this.chains.values()) {
      // A shared chain's remembered edges say whether any of its rules jumps there (kube-proxy's
      // partial syncs delete stale chains with -X in a nat table of 30,000 rules and more).
      const edges = this.#owns(c) ? undefined : c.edges;
      if (edges !== undefined && !edges.includes(name)) continue;
      for (const r of c.rules) if ((r.target.kind === 'jump' || r.target.kind === 'goto') && r.target.chain === name) n++;
    }
    return n;
  }

  deleteChain(name: string): void {
    const c = this.chain(name);
    if (c.builtin) throw new RuleError(`Can't delete built-in chain \`${name}'`, name);
    if (c.rules.length > 0) throw new RuleError(`Directory not empty: chain \`${name}' still has rules (flush it first)`, name);
    const refs = this.references(name);
    if (refs > 0) throw new RuleError(`Too many links: chain \`${name}' is still referenced by ${refs} rule(s)`, name);
    this.#remove(c);
  }

  #remove(c: Chain): void {
    this.chains.delete(c.name);
    this.#owned.delete(c);
    if (this.#base?.chains.has(c.name)) this.#deleted.add(c.name);
    this.#last = undefined;
    this.#lastWritable = undefined;
  }

  /** -X without a chain: every empty, unreferenced user chain (iptables deletes all user chains). */
  deleteAllUserChains(): void {
    const user = [...this.chains.values()].filter((c) => !c.builtin);
    for (const c of user) {
      if (c.rules.length > 0) throw new RuleError(`Directory not empty: chain \`${c.name}' still has rules`, c.name);
    }
    for (const c of user) {
      const refs = [...this.chains.values()].some(
        (o) => o.builtin && o.rules.some((r) => (r.target.kind === 'jump' || r.target.kind === 'goto') && r.target.chain === c.name),
      );
      if (refs) throw new RuleError(`Too many links: chain \`${c.name}' is still referenced`, c.name);
    }
    for (const c of user) this.#remove(c);
  }

  /**
   * Gives short rule lists an array of their own size: push() reserves room for 17 rules, and a
   * 10,000-Service nat table has 100,000 chains of two rules (about 15 MB otherwise held empty).
   */
  compact(): void {
    // Only this version's own chains: the shared ones were compacted by the version that made them.
    for (const c of this.#fresh ? this.chains.values() : this.#owned) {
      const n = c.rules.length;
      if (n > 0 && n < 16) c.rules = c.rules.slice();
    }
  }

  flush(name?: string): void {
    if (name === undefined) {
      for (const n of [...this.chains.keys()]) this.flush(n);
      return;
    }
    const c = this.chain(name);
    // Flushing an empty chain changes nothing (-F of a whole table need not copy every chain).
    if (c.rules.length > 0) this.writable(name).rules = [];
  }

  /** -Z [CHAIN]: packet and byte counters to zero (the chain's policy counters and each rule's). */
  zero(name?: string): void {
    for (const n of name === undefined ? [...this.chains.keys()] : [this.chain(name).name]) {
      const c = this.writable(n);
      c.packets = 0;
      c.bytes = 0;
      // Rules are shared with other versions: zeroed copies, never the shared rules.
      c.rules = c.rules.map((r) => ({ ...r, packets: 0, bytes: 0 }));
    }
  }

  setPolicy(name: string, policy: string, counters?: { packets: number; bytes: number }): void {
    if (!this.chain(name).builtin) throw new RuleError(`Can't set policy \`${policy}' on \`${name}': Bad built-in chain name`, policy);
    if (policy !== 'ACCEPT' && policy !== 'DROP') throw new RuleError(`Bad policy name \`${policy}'`, policy);
    // `:FORWARD ACCEPT [0:0]` that changes nothing leaves the chain shared.
    if (!counters && this.chain(name).policy === policy) return;
    const c = this.writable(name);
    c.policy = policy;
    if (counters) {
      c.packets = counters.packets;
      c.bytes = counters.bytes;
    }
  }

  append(name: string, rule: Rule): void {
    const c = this.writable(name);
    this.checkDirection(c, rule);
    // The first two rules make arrays of their exact size: push() on an empty array reserves room
    // for 17, and a 10,000-Service restore fills 100,000 chains of two rules, all kept alive (and
    // copied by every young-generation collection) until compact() trims them at COMMIT.
    const rules = c.rules;
    if (rules.length === 0) c.rules = [rule];
    else if (rules.length === 1) c.rules = [rules[0] as Rule, rule];
    else rules.push(rule);
  }

  /** -I CHAIN [N]: N is 1-based; N may be one past the end. */
  insert(name: string, position: number, rule: Rule): void {
    const c = this.writable(name);
    if (position < 1 || position > c.rules.length + 1) throw new RuleError(`Index of insertion too big: ${position}`, String(position));
    this.checkDirection(c, rule);
    c.rules.splice(position - 1, 0, rule);
  }

  replace(name: string, position: number, rule: Rule): void {
    const c = this.writable(name);
    if (position < 1 || position > c.rules.length) throw new RuleError(`Index of replacement too big: ${position}`, String(position));
    this.checkDirection(c, rule);
    c.rules[position - 1] = rule;
  }

  deleteRule(name: string, match: Rule | number): void {
    const c = this.chain(name);
    if (typeof match === 'number') {
      if (match < 1 || match > c.rules.length) throw new RuleError(`Index of deletion too big: ${match}`, String(match));
      this.writable(name).rules.splice(match - 1, 1);
      return;
    }
    const wanted = ruleText(match);
    const i = c.rules.findIndex((r) => ruleText(r) === wanted);
    if (i < 0) throw new RuleError(`Bad rule (does a matching rule exist in that chain?): ${wanted}`, name);
    this.writable(name).rules.splice(i, 1);
  }

  // iptables' generic checks: -i makes no sense where packets only leave, -o where they only arrive.
  private checkDirection(c: Chain, rule: Rule): void {
    if (!c.builtin) return;
    if (rule.inInterface && (c.name === 'OUTPUT' || c.name === 'POSTROUTING')) throw new RuleError(`Can't use -i with ${c.name}`, '-i');
    if (rule.outInterface && (c.name === 'PREROUTING' || c.name === 'INPUT')) throw new RuleError(`Can't use -o with ${c.name}`, '-o');
  }

  /**
   * The kernel's checks when the table is committed: no loops among chains reachable from the
   * built-in chains, and every target and match used only in the tables and from the hooks it
   * allows (a chain's hooks are those of every built-in chain that reaches it).
   *
   * Incremental (the chains a restore did not touch were checked when their version committed):
   * jump targets are checked for the rules of this version's own chains only (a shared chain's
   * targets still exist: -X refuses a chain some rule still jumps to, and a rule can only name a
   * chain that exists); the loop and hook search walks the whole jump graph, but from each
   * shared chain's remembered edges, not its rules; and a shared chain's rules are checked again
   * only when a built-in chain that did not reach it before reaches it now.
   */
  validate(checkMatch?: (match: MatchInstance) => string | undefined): void {
    // Nothing made or changed (a restore that only deleted chains, or only zeroed counters of
    // nothing): every check of the base version still holds.
    if (!this.#fresh && this.#owned.size === 0) return;
    if (this.#validateChanged(checkMatch)) return;
    // Chains by index, the jump graph once (each distinct target per chain, with the first rule
    // jumping there), hooks as bit masks: a 10,000-Service nat table has over 100,000 chains.
    const chains = [...this.chains.values()];
    // Each chain's position, written on the chain itself (no map of names to build per commit).
    for (let i = 0; i < chains.length; i++) (chains[i] as Chain).index = i;
    const indexOf = (name: string): number | undefined => this.chains.get(name)?.index;
    const edgeStart = new Int32Array(chains.length + 1);
    const edgeTo: number[] = [];
    const lastSeenFrom = new Int32Array(chains.length).fill(-1);
    // A chain that jumps to one chain only (every KUBE-SEP chain: KUBE-MARK-MASQ) shares its edge list.
    const single = new Map<string, ChainEdges>();
    // Rules jumping to one chain share its target object (rule-parser jumpTarget), and kube-proxy's
    // endpoint rules all jump to KUBE-MARK-MASQ: the last target's chain is remembered.
    let lastTarget: RuleTarget | undefined;
    let lastIndex: number | undefined;
    for (let i = 0; i < chains.length; i++) {
      edgeStart[i] = edgeTo.length;
      const chain = chains[i] as Chain;
      const known = this.#owns(chain) ? undefined : chain.edges;
      if (known !== undefined) {
        for (let e = 0; e < known.length; e++) edgeTo.push(indexOf(known[e] as string) as number);
        continue;
      }
      let targets: string[] | undefined;
      for (const r of chain.rules) {
        const t = r.target;
        if (t.kind !== 'jump' && t.kind !== 'goto') continue;
        const j = t === lastTarget ? lastIndex : indexOf(t.chain);
        lastTarget = t;
        lastIndex = j;
        if (j === undefined) throw withLine(new RuleError(`Couldn't load target \`${t.chain}'`, t.chain), r);
        if ((chains[j] as Chain).builtin) throw withLine(new RuleError(`Couldn't jump to built-in chain \`${t.chain}'`, t.chain), r);
        if (lastSeenFrom[j] === i) continue;
        lastSeenFrom[j] = i;
        edgeTo.push(j);
        if (targets === undefined) targets = [t.chain];
        else targets.push(t.chain);
      }
      if (targets === undefined) chain.edges = NO_EDGES;
      else if (targets.length === 1) {
        const name = targets[0] as string;
        let shared = single.get(name);
        if (shared === undefined) {
          shared = targets;
          single.set(name, shared);
        }
        chain.edges = shared;
      } else chain.edges = targets;
    }
    edgeStart[chains.length] = edgeTo.length;
    const hookMask = new Int32Array(chains.length);
    const builtins = BUILTIN_CHAINS[this.name];
    const state = new Uint8Array(chains.length); // 0 unvisited, 1 on the path, 2 done (per hook)
    for (let h = 0; h < builtins.length; h++) {
      state.fill(0);
      const bit = 1 << h;
      const visit = (i: number) => {
        hookMask[i] = (hookMask[i] as number) | bit;
        state[i] = 1;
        for (let e = edgeStart[i] as number; e < (edgeStart[i + 1] as number); e++) {
          const j = edgeTo[e] as number;
          if (state[j] === 1) {
            const name = (chains[j] as Chain).name;
            throw withLine(
              new RuleError(`Too many levels of symbolic links: the jump to \`${name}' makes a loop`, name),
              firstJumpTo(chains[i] as Chain, name) as Rule,
            );
          }
          if (state[j] === 0) visit(j);
        }
        state[i] = 2;
      };
      visit(indexOf(builtins[h] as string) as number);
    }
    for (let ci = 0; ci < chains.length; ci++) {
      const chain = chains[ci] as Chain;
      const mask = hookMask[ci] as number;
      // Only grows: an upper bound of the hooks reaching this chain's name in any version checked.
      chain.hookBound = (chain.hookBound ?? 0) | mask;
      const checked = chain.checkedHooks;
      // A shared chain already passed these checks from every hook that reaches it now.
      if (checked !== undefined && !this.#owns(chain) && (mask & ~checked) === 0) continue;
      this.#checkRules(chain, mask, checkMatch);
      // A fact about these rules (they never change while shared), true whichever version commits.
      chain.checkedHooks = (checked ?? 0) | mask;
    }
  }

  /**
   * The commit checks without the walk of the whole jump graph, when this version cannot have
   * made a loop or let a hook reach a chain it did not reach before: every changed chain jumps
   * only to chains its old version jumped to, and every new chain is one nothing jumps to (so the
   * graph is a part of the old one, whose checks held). The changed chains' rules are then checked
   * from the hooks that reached their names before (hookBound: the hooks reaching them now can
   * only be fewer). True when every check passed; false sends the commit to the full walk,
   * which finds the exact hooks and gives the error, if any (so this never decides a refusal).
   */
  #validateChanged(checkMatch: ((match: MatchInstance) => string | undefined) | undefined): boolean {
    const base = this.#base;
    if (base === undefined || this.#fresh) return false;
    const found: Array<{ chain: Chain; bound: number; edges: ChainEdges }> = [];
    for (const chain of this.#owned) {
      const old = base.chains.get(chain.name);
      let bound = 0;
      let oldTargets: ReadonlySet<string> | readonly string[] | undefined;
      if (old !== undefined) {
        if (old.edges === undefined || old.hookBound === undefined) return false;
        bound = old.hookBound;
        oldTargets = old.edges.length > 8 ? new Set(old.edges) : old.edges;
      }
      const targets: string[] = [];
      // KUBE-SERVICES jumps to a thousand chains: a set, not a scan of the list, for long chains.
      const seen = chain.rules.length > 16 ? new Set<string>() : undefined;
      let lastTarget: RuleTarget | undefined;
      for (const r of chain.rules) {
        const t = r.target;
        if (t.kind !== 'jump' && t.kind !== 'goto') continue;
        if (t === lastTarget) continue;
        lastTarget = t;
        const name = t.chain;
        // A jump its old version did not make (or any jump of a chain new by name), or a target
        // the full walk must refuse: the full walk decides.
        if (
          oldTargets === undefined ||
          !(oldTargets instanceof Set ? oldTargets.has(name) : (oldTargets as readonly string[]).includes(name))
        )
          return false;
        const target = this.chains.get(name);
        if (target === undefined || target.builtin) return false;
        if (seen !== undefined ? seen.has(name) : targets.includes(name)) continue;
        seen?.add(name);
        targets.push(name);
      }
      found.push({ chain, bound, edges: targets.length === 0 ? NO_EDGES : targets });
    }
    try {
      for (const f of found) this.#checkRules(f.chain, f.bound, checkMatch);
    } catch (error) {
      if (error instanceof RuleError) return false;
      throw error;
    }
    for (const f of found) {
      f.chain.edges = f.edges;
      f.chain.hookBound = f.bound;
      f.chain.checkedHooks = f.bound;
    }
    return true;
  }

  /** The target and match checks of one chain's rules, reached from the hooks in mask (a bit per built-in chain). */
  #checkRules(chain: Chain, mask: number, checkMatch: ((match: MatchInstance) => string | undefined) | undefined): void {
    const builtins = BUILTIN_CHAINS[this.name];
    // Each module's allowed hooks as a mask of this table's built-in chains.
    const maskOf = (allowed: readonly HookName[]): number => {
      let m = 0;
      for (let h = 0; h < builtins.length; h++) if (allowed.includes(builtins[h] as HookName)) m |= 1 << h;
      return m;
    };
    const namesOf = (bad: number): HookName[] => builtins.filter((_, h) => bad & (1 << h));
    for (const r of chain.rules) {
      const t = r.target;
      if (t.kind === 'extension') {
        const m = t.module;
        if (m.tables && !m.tables.includes(this.name)) {
          throw withLine(new RuleError(`${m.name}: only valid in the ${m.tables.join('/')} table, not ${this.name}`, m.name), r);
        }
        if (m.hooks && mask !== 0) {
          const bad = mask & ~maskOf(m.hooks);
          if (bad !== 0)
            throw withLine(
              new RuleError(`${m.name}: not valid when reached from ${namesOf(bad).join(', ')} (only ${m.hooks.join(', ')})`, m.name),
              r,
            );
        }
      }
      const matches = r.matches;
      for (let k = 0; k < matches.length; k++) {
        const match = matches[k] as MatchInstance;
        if (checkMatch !== undefined) {
          const problem = checkMatch(match);
          if (problem !== undefined) throw withLine(new RuleError(problem, `-m ${match.module.name}`), r);
        }
        const hooksOfMatch = match.module.hooks;
        if (hooksOfMatch === undefined || mask === 0) continue;
        const allowed = hooksOfMatch(match.data);
        if (!allowed) continue;
        const bad = mask & ~maskOf(allowed);
        if (bad !== 0)
          throw withLine(
            new RuleError(`${match.module.name} match: not valid when reached from ${namesOf(bad).join(', ')}`, `-m ${match.module.name}`),
            r,
          );
      }
    }
  }
}

function withLine(e: RuleError, rule: Rule): RuleError {
  if (e.line === undefined) e.line = rule.line;
  return e;
}

/** The four tables of one network namespace. */
export class RuleSet {
  readonly tables: Map<TableName, Table>;
  constructor(tables?: Map<TableName, Table>) {
    this.tables = tables ?? new Map((['raw', 'mangle', 'nat', 'filter'] as const).map((n) => [n, new Table(n)]));
  }
  table(name: TableName): Table {
    return this.tables.get(name) as Table;
  }
}
