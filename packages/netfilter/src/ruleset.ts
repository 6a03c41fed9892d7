// Tables and chains as libiptc holds them between iptables-restore's lines: built-in chains in hook
// order with their policies and policy counters, user chains kept in name order (libiptc inserts
// them sorted, which is the order iptables-save prints), and rules with counters. Every change is
// made on a copy; `validate` makes the checks the kernel makes when the table is replaced
// (net/ipv4/netfilter/ip_tables.c translate_table / mark_source_chains / check_target).
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
}

const RESERVED = new Set(['ACCEPT', 'DROP', 'RETURN', 'QUEUE']);

export class Table {
  readonly name: TableName;
  readonly chains = new Map<string, Chain>();

  constructor(name: TableName) {
    this.name = name;
    for (const hook of BUILTIN_CHAINS[name]) {
      this.chains.set(hook, {
        name: hook,
        builtin: true,
        policy: 'ACCEPT',
        packets: 0,
        bytes: 0,
        rules: [],
        jumpTarget: undefined,
        gotoTarget: undefined,
      });
    }
  }

  /** A copy whose chains can be changed without touching this table (rules are shared: counters carry over). */
  clone(): Table {
    const t = new Table(this.name);
    t.chains.clear();
    for (const [name, c] of this.chains) t.chains.set(name, { ...c, rules: [...c.rules] });
    return t;
  }

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
    this.chains.set(name, {
      name,
      builtin: false,
      policy: undefined,
      packets: 0,
      bytes: 0,
      rules: [],
      jumpTarget: undefined,
      gotoTarget: undefined,
    });
  }

  /** How many rules jump or go to the chain (libiptc's reference count). */
  references(name: string): number {
    let n = 0;
    for (const c of this.chains.values()) {
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
    this.chains.delete(name);
    this.#last = undefined;
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
    for (const c of user) this.chains.delete(c.name);
    this.#last = undefined;
  }

  /**
   * Gives short rule lists an array of their own size: push() reserves room for 17 rules, and a
   * 10,000-Service nat table has 100,000 chains of two rules (about 15 MB otherwise held empty).
   */
  compact(): void {
    for (const c of this.chains.values()) {
      const n = c.rules.length;
      if (n > 0 && n < 16) c.rules = c.rules.slice();
    }
  }

  flush(name?: string): void {
    if (name === undefined) for (const c of this.chains.values()) c.rules = [];
    else this.chain(name).rules = [];
  }

  setPolicy(name: string, policy: string, counters?: { packets: number; bytes: number }): void {
    const c = this.chain(name);
    if (!c.builtin) throw new RuleError(`Can't set policy \`${policy}' on \`${name}': Bad built-in chain name`, policy);
    if (policy !== 'ACCEPT' && policy !== 'DROP') throw new RuleError(`Bad policy name \`${policy}'`, policy);
    c.policy = policy;
    if (counters) {
      c.packets = counters.packets;
      c.bytes = counters.bytes;
    }
  }

  append(name: string, rule: Rule): void {
    const c = this.chain(name);
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
    const c = this.chain(name);
    if (position < 1 || position > c.rules.length + 1) throw new RuleError(`Index of insertion too big: ${position}`, String(position));
    this.checkDirection(c, rule);
    c.rules.splice(position - 1, 0, rule);
  }

  replace(name: string, position: number, rule: Rule): void {
    const c = this.chain(name);
    if (position < 1 || position > c.rules.length) throw new RuleError(`Index of replacement too big: ${position}`, String(position));
    this.checkDirection(c, rule);
    c.rules[position - 1] = rule;
  }

  deleteRule(name: string, match: Rule | number): void {
    const c = this.chain(name);
    if (typeof match === 'number') {
      if (match < 1 || match > c.rules.length) throw new RuleError(`Index of deletion too big: ${match}`, String(match));
      c.rules.splice(match - 1, 1);
      return;
    }
    const wanted = ruleText(match);
    const i = c.rules.findIndex((r) => ruleText(r) === wanted);
    if (i < 0) throw new RuleError(`Bad rule (does a matching rule exist in that chain?): ${wanted}`, name);
    c.rules.splice(i, 1);
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
   */
  validate(checkMatch?: (match: MatchInstance) => string | undefined): void {
    // Chains by index, the jump graph once (each distinct target per chain, with the first rule
    // jumping there), hooks as bit masks: a 10,000-Service nat table has over 100,000 chains.
    const chains = [...this.chains.values()];
    const indexOf = new Map<string, number>();
    for (let i = 0; i < chains.length; i++) indexOf.set((chains[i] as Chain).name, i);
    const edgeStart = new Int32Array(chains.length + 1);
    const edgeTo: number[] = [];
    const edgeRule: Rule[] = [];
    const lastSeenFrom = new Int32Array(chains.length).fill(-1);
    // Rules jumping to one chain share its target object (rule-parser jumpTarget), and kube-proxy's
    // endpoint rules all jump to KUBE-MARK-MASQ: the last target's chain is remembered.
    let lastTarget: RuleTarget | undefined;
    let lastIndex: number | undefined;
    for (let i = 0; i < chains.length; i++) {
      edgeStart[i] = edgeTo.length;
      for (const r of (chains[i] as Chain).rules) {
        const t = r.target;
        if (t.kind !== 'jump' && t.kind !== 'goto') continue;
        const j = t === lastTarget ? lastIndex : indexOf.get(t.chain);
        lastTarget = t;
        lastIndex = j;
        if (j === undefined) throw withLine(new RuleError(`Couldn't load target \`${t.chain}'`, t.chain), r);
        if ((chains[j] as Chain).builtin) throw withLine(new RuleError(`Couldn't jump to built-in chain \`${t.chain}'`, t.chain), r);
        if (lastSeenFrom[j] === i) continue;
        lastSeenFrom[j] = i;
        edgeTo.push(j);
        edgeRule.push(r);
      }
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
              edgeRule[e] as Rule,
            );
          }
          if (state[j] === 0) visit(j);
        }
        state[i] = 2;
      };
      visit(indexOf.get(builtins[h] as string) as number);
    }
    // Each module's allowed hooks as a mask of this table's built-in chains, found once per module.
    const maskOf = (allowed: readonly HookName[]): number => {
      let m = 0;
      for (let h = 0; h < builtins.length; h++) if (allowed.includes(builtins[h] as HookName)) m |= 1 << h;
      return m;
    };
    const namesOf = (mask: number): HookName[] => builtins.filter((_, h) => mask & (1 << h));
    const targetMasks = new Map<unknown, number>();
    for (let ci = 0; ci < chains.length; ci++) {
      const chain = chains[ci] as Chain;
      const mask = hookMask[ci] as number;
      for (const r of chain.rules) {
        const t = r.target;
        if (t.kind === 'extension') {
          const m = t.module;
          if (m.tables && !m.tables.includes(this.name)) {
            throw withLine(new RuleError(`${m.name}: only valid in the ${m.tables.join('/')} table, not ${this.name}`, m.name), r);
          }
          if (m.hooks && mask !== 0) {
            let allowed = targetMasks.get(m);
            if (allowed === undefined) {
              allowed = maskOf(m.hooks);
              targetMasks.set(m, allowed);
            }
            const bad = mask & ~allowed;
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
              new RuleError(
                `${match.module.name} match: not valid when reached from ${namesOf(bad).join(', ')}`,
                `-m ${match.module.name}`,
              ),
              r,
            );
        }
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
