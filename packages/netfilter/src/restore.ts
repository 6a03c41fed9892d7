// iptables-restore input (iptables/iptables-restore.c, ip6tables-restore's twin): `*table`,
// `:CHAIN POLICY [packets:bytes]`, rule commands (-A -I -D -R -N -X -F -P -Z), `COMMIT`, `#`
// comments. Without --noflush a table named in the input is replaced whole (its rules flushed and
// user chains deleted first); with --noflush only what the input names changes, and declaring a
// chain with `:CHAIN` flushes it (this is how kube-proxy rewrites its own chains). `[p:b]` rule
// prefixes and chain counters are applied only with --counters.
//
// podnet applies the whole input or nothing: the real iptables-restore commits table by table, so
// a failure in a later table leaves earlier tables committed. Errors name the line and the word.
import { IptablesError, RuleError } from './errors.js';
import { forgetRecentKubeProxyRules, parseKubeProxyRule, parseKubeProxyRuleInPlace } from './kube-proxy-rule.js';
import type { MatchInstance, Rule, TableName } from './rule.js';
import { TABLE_NAMES } from './rule.js';
import { type ChainLookup, type InternTable, newInternTable, parseRuleWords } from './rule-parser.js';
import { RuleSet, Table } from './ruleset.js';
import { tokenize } from './tokenize.js';

export interface RestoreOptions {
  /** --noflush: change only the chains the input names. */
  noflush?: boolean;
  /** --counters: take the [packets:bytes] in the input. */
  counters?: boolean;
}

export interface RestoreResult {
  ruleSet: RuleSet;
  /** Tables the input committed. */
  tables: TableName[];
  /** Number of rules added. */
  rules: number;
}

const COUNTERS_RE = /^\[(\d+):(\d+)\]$/;

function parseCounters(text: string, line: number): { packets: number; bytes: number } {
  const m = COUNTERS_RE.exec(text);
  if (!m) throw new IptablesError(`bad counters "${text}" (expected [packets:bytes])`, line, text);
  return { packets: Number(m[1]), bytes: Number(m[2]) };
}

/** Applies one rule command (-A/-I/-D/-R/-N/-X/-F/-P/-Z and its words) to a table. Shared with the iptables command. */
export function applyCommand(
  table: Table,
  words: readonly string[],
  line?: number,
  counters?: { packets: number; bytes: number },
  intern?: InternTable,
): number {
  // words[0] is the command, words[1] the chain, the rule's words follow (read in place, not copied).
  const command = words[0];
  const chainArg = words[1];
  const restCount = Math.max(0, words.length - 2);
  const chainName = (): string => {
    if (chainArg === undefined || chainArg.startsWith('-')) throw new RuleError(`option "${command}" requires a chain name`, command);
    return chainArg;
  };
  const lookup = (name: string) => table.chains.get(name);
  const makeRule = (from: number): Rule => {
    const rule = parseRuleWords(words, from, lookup, intern);
    if (line !== undefined) rule.line = line;
    if (counters) {
      rule.packets = counters.packets;
      rule.bytes = counters.bytes;
    }
    return rule;
  };
  const position = (text: string | undefined): number | undefined => (text !== undefined && /^\d+$/.test(text) ? Number(text) : undefined);
  switch (command) {
    case '-A':
    case '--append': {
      // The rule is parsed before the chain is looked up: a bad rule is the error even when the chain is missing too.
      const name = chainName();
      table.append(name, makeRule(2));
      return 1;
    }
    case '-I':
    case '--insert': {
      const n = position(words[2]);
      table.insert(chainName(), n ?? 1, makeRule(n === undefined ? 2 : 3));
      return 1;
    }
    case '-R':
    case '--replace': {
      const n = position(words[2]);
      if (n === undefined) throw new RuleError('-R requires a rule number', words[2] ?? command);
      table.replace(chainName(), n, makeRule(3));
      return 1;
    }
    case '-D':
    case '--delete': {
      const n = position(words[2]);
      if (n !== undefined && restCount === 1) table.deleteRule(chainName(), n);
      else table.deleteRule(chainName(), parseRuleWords(words, 2, lookup, undefined));
      return 0;
    }
    case '-N':
    case '--new-chain':
      if (restCount > 0) throw new RuleError(`Bad argument \`${words[2]}'`, words[2]);
      table.newChain(chainName());
      return 0;
    case '-X':
    case '--delete-chain':
      if (restCount > 0) throw new RuleError(`Bad argument \`${words[2]}'`, words[2]);
      if (chainArg === undefined) table.deleteAllUserChains();
      else table.deleteChain(chainArg);
      return 0;
    case '-F':
    case '--flush':
      if (restCount > 0) throw new RuleError(`Bad argument \`${words[2]}'`, words[2]);
      table.flush(chainArg);
      return 0;
    case '-Z':
    case '--zero':
      table.zero(chainArg);
      return 0;
    case '-P':
    case '--policy': {
      const policy = words[2];
      if (policy === undefined || restCount > 1) throw new RuleError('-P needs a chain and a policy', command);
      table.setPolicy(chainName(), policy);
      return 0;
    }
    default:
      throw new RuleError(command === undefined ? 'empty command' : `unknown command "${command}"`, command);
  }
}

/**
 * Parses and checks restore input against the current rule set, returning the rule set that
 * results. Throws IptablesError (nothing is changed) on the first problem.
 */
export function restore(
  current: RuleSet,
  input: string,
  options: RestoreOptions = {},
  checkMatch?: (match: MatchInstance) => string | undefined,
): RestoreResult {
  try {
    return restoreInput(current, input, options, checkMatch);
  } finally {
    // The fast path's caches of recent lines hold this restore's intern table and a line of the input.
    forgetRecentKubeProxyRules();
  }
}

function restoreInput(
  current: RuleSet,
  input: string,
  options: RestoreOptions,
  checkMatch: ((match: MatchInstance) => string | undefined) | undefined,
): RestoreResult {
  const next = new Map(current.tables);
  const committed: TableName[] = [];
  const intern = newInternTable();
  let table: Table | undefined;
  /** The jump-target lookup of the fast path, one per open table (not one closure per line). */
  let lookup: ChainLookup = () => undefined;
  let tableLine = 0;
  let rules = 0;
  // Lines are cut out one at a time (no array of 400,000 strings that all live to the end).
  let lineNo = 0;
  let pos = 0;
  const length = input.length;
  // A final newline does not start another line.
  while (pos < length) {
    lineNo++;
    const eol = input.indexOf('\n', pos);
    const lineEnd = eol < 0 ? length : eol;
    // `-A CHAIN ...` and `:CHAIN - [0:0]` with nothing to trim are read where they stand in the
    // input (no line string).
    if (table !== undefined && lineEnd - pos > 3 && input.charCodeAt(lineEnd - 1) > 32) {
      let done = false;
      try {
        if (input.charCodeAt(pos) === 58 /* : */) {
          const chain = userChainDeclared(input, pos, lineEnd);
          if (chain !== undefined) {
            declareChain(table, chain, '-', { packets: 0, bytes: 0 }, options);
            done = true;
          }
        } else if (appendedFast(table, input, pos, lineEnd, lineNo, lookup, intern)) {
          rules++;
          done = true;
        }
      } catch (error) {
        throw toIptablesError(error, lineNo);
      }
      if (done) {
        pos = lineEnd + 1;
        continue;
      }
    }
    const raw = eol < 0 ? input.slice(pos) : input.slice(pos, eol);
    pos = eol < 0 ? length : eol + 1;
    // Trim only when needed: a 300,000-line restore should not copy every line.
    const c0 = raw.charCodeAt(0);
    const cN = raw.charCodeAt(raw.length - 1);
    const text = c0 <= 32 || cN <= 32 ? raw.trim() : raw;
    if (text === '' || text.startsWith('#')) continue;
    try {
      if (text.startsWith('*')) {
        if (table)
          throw new IptablesError(`COMMIT expected before a new table (table "${table.name}" opened at line ${tableLine})`, lineNo, text);
        const name = text.slice(1);
        if (!(TABLE_NAMES as readonly string[]).includes(name))
          throw new IptablesError(`unable to initialize table '${name}'`, lineNo, name);
        const base = next.get(name as TableName) as Table;
        const opened = options.noflush ? base.clone() : freshTable(base);
        table = opened;
        lookup = (chain) => opened.chains.get(chain);
        tableLine = lineNo;
        continue;
      }
      if (!table) throw new IptablesError(`no table selected: a "*table" line must come first`, lineNo, text.split(/\s+/)[0]);
      if (text === 'COMMIT') {
        table.validate(checkMatch);
        table.compact();
        next.set(table.name, table);
        committed.push(table.name);
        table = undefined;
        continue;
      }
      if (text.startsWith(':')) {
        let chain = userChainDeclared(text, 0, text.length);
        let policy = '-';
        let counters: { packets: number; bytes: number } | undefined = { packets: 0, bytes: 0 };
        if (chain === undefined) {
          const words = tokenize(text.slice(1));
          const [name, policyWord, countersText] = words;
          if (name === undefined || policyWord === undefined || words.length > 3) {
            throw new IptablesError('bad chain line: expected ":CHAIN POLICY [packets:bytes]"', lineNo, text);
          }
          chain = name;
          policy = policyWord;
          counters = countersText === undefined ? undefined : parseCounters(countersText, lineNo);
        }
        declareChain(table, chain, policy, counters, options);
        continue;
      }
      if (appendedFast(table, text, 0, text.length, lineNo, lookup, intern)) {
        rules++;
        continue;
      }
      let words = tokenize(text);
      let counters: { packets: number; bytes: number } | undefined;
      if (words[0]?.startsWith('[')) {
        const parsed = parseCounters(words[0], lineNo);
        if (options.counters) counters = parsed;
        words = words.slice(1);
      }
      // -c PKTS BYTES inside the rule (iptables -c) is accepted as the [p:b] prefix is.
      const c = words.indexOf('-c');
      if (
        c >= 0 &&
        words[c + 1] !== undefined &&
        words[c + 2] !== undefined &&
        /^\d+$/.test(words[c + 1] as string) &&
        /^\d+$/.test(words[c + 2] as string)
      ) {
        if (options.counters) counters = { packets: Number(words[c + 1]), bytes: Number(words[c + 2]) };
        words = [...words.slice(0, c), ...words.slice(c + 3)];
      }
      rules += applyCommand(table, words, lineNo, counters, intern);
    } catch (error) {
      throw toIptablesError(error, lineNo);
    }
  }
  if (table)
    throw new IptablesError(`COMMIT expected at the end of the input (table "${table.name}" opened at line ${tableLine})`, lineNo + 1);
  return { ruleSet: new RuleSet(next), tables: committed, rules };
}

/**
 * `-A CHAIN ...` in one of the shapes kube-proxy writes (kube-proxy-rule.ts), appended without the
 * tokenizer. False for any other line, which takes the general path (and gets its errors there);
 * the general path reaches the same rule, so the choice never changes the result.
 */
function appendedFast(
  table: Table,
  input: string,
  from: number,
  to: number,
  lineNo: number,
  lookup: ChainLookup,
  intern: InternTable,
): boolean {
  // "-A " and a chain name that applyCommand would take (not an option: no leading '-').
  if (
    input.charCodeAt(from) !== 45 ||
    input.charCodeAt(from + 1) !== 65 ||
    input.charCodeAt(from + 2) !== 32 ||
    input.charCodeAt(from + 3) === 45
  )
    return false;
  const space = input.indexOf(' ', from + 3);
  if (space <= from + 3 || space >= to) return false;
  // The whole input (read in place) or one line cut out of it (one that needed trimming).
  const rule =
    from === 0 && to === input.length
      ? parseKubeProxyRule(input, space + 1, lookup, intern)
      : parseKubeProxyRuleInPlace(input, from, space + 1, to, lookup, intern);
  if (rule === undefined) return false;
  rule.line = lineNo;
  // As applyCommand: the rule is parsed before the chain is looked up.
  table.append(input.slice(from + 3, space), rule);
  return true;
}

/** `:CHAIN POLICY [p:b]`: a new user chain, or a declared one flushed (and a built-in one's policy set). */
function declareChain(
  table: Table,
  chain: string,
  policy: string,
  counters: { packets: number; bytes: number } | undefined,
  options: RestoreOptions,
): void {
  // One lookup in the table's chains (a 10,000-Service nat table declares 110,000 of them).
  const c = table.chains.get(chain);
  if (c !== undefined) {
    // Without --noflush a user chain the input already declared cannot be declared again.
    if (!c.builtin && !options.noflush) throw new RuleError(`error creating chain '${chain}':File exists`, chain);
    if (!c.builtin && policy !== '-') throw new RuleError(`Can't set policy \`${policy}' on \`${chain}': Bad built-in chain name`, policy);
    // iptables-restore flushes a user chain the input declares (with --noflush it is the only way
    // chains change); a built-in chain's line only sets its policy and counters, so under --noflush
    // the rules others put there (flannel's FORWARD and POSTROUTING jumps) stay
    // (iptables-restore.c: flush_entries only when !builtin).
    if (c.builtin) table.setPolicy(chain, policy, options.counters ? counters : undefined);
    else table.flush(chain);
  } else {
    if (policy !== '-') throw new RuleError(`Can't set policy \`${policy}' on \`${chain}': Bad built-in chain name`, policy);
    table.newChain(chain);
  }
}

const USER_CHAIN_TAIL = ' - [0:0]';

/**
 * `:NAME - [0:0]`, how iptables-save and kube-proxy declare every user chain: the name, read
 * without the tokenizer (a 10,000-Service restore declares 110,000 chains). Undefined for any
 * other line, which takes the general path (and gets its errors there).
 */
function userChainDeclared(text: string, from: number, to: number): string | undefined {
  // The line is text[from, to): the whole of a cut-out line, or one line of the input.
  const end = to - USER_CHAIN_TAIL.length;
  if (end <= from + 1 || !text.startsWith(USER_CHAIN_TAIL, end)) return undefined;
  for (let i = from + 1; i < end; i++) {
    const c = text.charCodeAt(i);
    // A blank or a quote would make the tokenizer read other words.
    if (c === 32 || c === 9 || c === 13 || c === 10 || c === 34) return undefined;
  }
  return text.slice(from + 1, end);
}

/** Without --noflush: the table's rules are flushed and its user chains deleted; policies stay. */
function freshTable(base: Table): Table {
  const t = new Table(base.name);
  for (const c of t.chains.values()) {
    const old = base.chains.get(c.name);
    if (old) {
      c.policy = old.policy;
      c.packets = old.packets;
      c.bytes = old.bytes;
    }
  }
  return t;
}

export function toIptablesError(error: unknown, lineNo: number | undefined): IptablesError {
  if (error instanceof IptablesError) return error;
  if (error instanceof RuleError) return new IptablesError(error.message, error.line ?? lineNo, error.word);
  if (error instanceof Error && 'code' in error && String((error as { code: unknown }).code).startsWith('PODNET_ERR')) {
    return new IptablesError(error.message, lineNo);
  }
  throw error;
}
