// One rule's words (what follows `-A CHAIN` in iptables-restore input, or on the iptables command
// line) into a Rule, the way iptables' do_command4 reads them: generic options (-s -d -i -o -p -f,
// each possibly after `!`), `-m NAME` loading a match whose options follow, `-j`/`-g` with the
// target's options. An option is offered to the target first, then to the loaded matches (latest
// first), then to the match `-p` implies (`-p tcp --dport 80` loads -m tcp, as libxtables does).
// Unknown options, modules and targets are errors, never ignored.
import { parseAddressMask } from './address.js';
import { RuleError } from './errors.js';
import { parseInterface } from './interface.js';
import { MATCHES, PROTOCOL_MATCHES } from './matches/index.js';
import { parseProtocol } from './protocols.js';
import type {
  AddressMatch,
  MatchInstance,
  MatchModule,
  OptionSpec,
  ParsedOption,
  Rule,
  RuleBasics,
  RuleTarget,
  TargetModule,
} from './rule.js';
import { TARGETS } from './targets/index.js';

interface Pending<M> {
  module: M;
  options: ParsedOption[];
}

/** Chain names: at most 28 characters (XT_EXTENSION_MAXNAMELEN 29 with the NUL), not an option. */
export function checkChainName(name: string): void {
  if (name.length === 0 || name.length > 28) throw new RuleError(`chain name \`${name}' too long (must be under 29 chars)`, name);
  if (name.startsWith('-') || name.startsWith('!')) throw new RuleError(`chain name not allowed to start with \`${name[0]}'`, name);
  if (/\s/.test(name)) throw new RuleError(`Invalid chain name \`${name}'`, name);
}

const BUILTIN_VERDICTS = new Set(['ACCEPT', 'DROP', 'RETURN']);

/** What the rules of one restore share (see parseRule). */
export interface InternTable {
  matches: Map<MatchModule, Map<number, Map<string, Map<string, MatchInstance>>>>;
  /** `-s`/`-d` values by their word (never changed once parsed), plain and after `!`. */
  addresses: Map<string, AddressMatch>;
  invertedAddresses: Map<string, AddressMatch>;
}

export const newInternTable = (): InternTable => ({
  matches: new Map(),
  addresses: new Map(),
  invertedAddresses: new Map(),
});
const NO_MATCHES: MatchInstance[] = [];
const NO_TARGET: RuleTarget = Object.freeze({ kind: 'none' });
// One shared object per verdict: rules never change their target in place.
const VERDICTS: Record<string, RuleTarget> = {
  ACCEPT: Object.freeze({ kind: 'verdict', verdict: 'ACCEPT' }),
  DROP: Object.freeze({ kind: 'verdict', verdict: 'DROP' }),
  RETURN: Object.freeze({ kind: 'verdict', verdict: 'RETURN' }),
};

/**
 * Looks a chain up in the table being edited (the jump target check of parseRule). The restore
 * passes the table's chains, whose shared jump/goto targets are reused.
 */
export type ChainLookup = (name: string) => { readonly name: string; jumpTarget?: RuleTarget; gotoTarget?: RuleTarget } | undefined;

// Generic options (-s -d -i -o -p -f) as bits: each may appear once per rule.
const G_SRC = 1;
const G_DST = 2;
const G_IN = 4;
const G_OUT = 8;
const G_PROTO = 16;
const G_FRAG = 32;

/** An extension's options by their `--name` spelling (so a word is looked up once, by its own hash). */
interface OptionEntry {
  name: string;
  spec: OptionSpec;
}
const optionTables = new WeakMap<object, Map<string, OptionEntry>>();
function optionTable(module: { readonly options: Readonly<Record<string, OptionSpec>> }): Map<string, OptionEntry> {
  let table = optionTables.get(module);
  if (!table) {
    table = new Map();
    for (const [name, spec] of Object.entries(module.options)) table.set(`--${name}`, { name, spec });
    optionTables.set(module, table);
  }
  return table;
}

/**
 * Parses rule words. `words` must not include `-A CHAIN`. Returns the rule with counters zero;
 * jump targets are checked against the table later (at commit), as the kernel does.
 */
export function parseRule(
  words: readonly string[],
  chainExists?: (name: string) => boolean,
  /** Shares identical match instances and jump targets between the rules of one restore. */
  intern?: InternTable,
): Rule {
  const lookup: ChainLookup | undefined = chainExists ? (name) => (chainExists(name) ? { name } : undefined) : undefined;
  return parseRuleWords(words, 0, lookup, intern);
}

/**
 * parseRule on words[start..]: the restore path, which passes its tokens as they are (no copy per
 * rule) and resolves jump targets to the table's own chain names (one string per chain, hashed once).
 */
export function parseRuleWords(
  words: readonly string[],
  start: number,
  lookup: ChainLookup | undefined,
  intern: InternTable | undefined,
): Rule {
  const basics: RuleBasics = { protocol: 0, protocolInverted: false };
  const rule: Rule = {
    src: undefined,
    dst: undefined,
    inInterface: undefined,
    outInterface: undefined,
    protocol: 0,
    protocolInverted: false,
    fragment: 0,
    matches: NO_MATCHES,
    target: NO_TARGET,
    packets: 0,
    bytes: 0,
    text: undefined,
    // Present from the start, so setting it later does not grow the object (300,000 rules).
    line: undefined,
  };
  let matches: Array<Pending<MatchModule>> | undefined;
  let target: Pending<TargetModule> | undefined;
  let targetSeen = false;
  let seenGeneric = 0;
  const n = words.length;
  let i = start;
  while (i < n) {
    let word = words[i++] as string;
    let inverted = false;
    if (word === '!') {
      inverted = true;
      const w = words[i++];
      if (w === undefined) throw new RuleError("Bad argument `!'", '!');
      word = w;
      if (word === '!') throw new RuleError('multiple consecutive ! not allowed', '!');
    }
    // Generic options and -m/-j first, by their first characters (no string is built per word).
    if (word.charCodeAt(0) === 45 /* - */ && word.length === 2) {
      const letter = word.charCodeAt(1);
      const generic = GENERIC_LETTERS[letter];
      if (generic !== undefined) {
        i = genericOption(generic, word, inverted, words, i, rule, basics, seenGeneric, intern);
        seenGeneric |= GENERIC_BITS[generic] as number;
        continue;
      }
    } else if (word.charCodeAt(1) === 45 && LONG_GENERIC.has(word)) {
      const generic = LONG_GENERIC.get(word) as number;
      i = genericOption(generic, word, inverted, words, i, rule, basics, seenGeneric, intern);
      seenGeneric |= GENERIC_BITS[generic] as number;
      continue;
    }
    const kind = word.length === 2 ? KIND_SHORT.get(word) : word.charCodeAt(1) === 45 ? KIND_LONG.get(word) : undefined;
    if (kind === K_MATCH) {
      if (inverted) throw new RuleError('unexpected ! flag before --match', '!');
      const name = words[i++];
      if (name === undefined) throw new RuleError(`option "${word}" requires an argument`, word);
      const module = MATCHES.get(name);
      if (!module) throw new RuleError(`Couldn't load match \`${name}':No such file or directory`, name);
      if (!matches) matches = [];
      matches.push({ module, options: [] });
      continue;
    }
    if (kind === K_JUMP || kind === K_GOTO) {
      if (inverted) throw new RuleError(`cannot have ! before ${word}`, '!');
      if (targetSeen) throw new RuleError('multiple -j flags not allowed', word);
      targetSeen = true;
      const name = words[i++];
      if (name === undefined) throw new RuleError(`option "${word}" requires an argument`, word);
      const isGoto = kind === K_GOTO;
      const ext = isGoto ? undefined : TARGETS.get(name);
      if (ext) {
        target = { module: ext, options: [] };
      } else if (!isGoto && BUILTIN_VERDICTS.has(name)) {
        rule.target = VERDICTS[name] as RuleTarget;
      } else {
        rule.target = jumpTarget(name, isGoto, lookup);
      }
      continue;
    }
    if (word.charCodeAt(0) !== 45 || word.charCodeAt(1) !== 45) {
      throw new RuleError(word.startsWith('-') ? `unknown option "${word}"` : `Bad argument \`${word}'`, word);
    }
    let entry: OptionEntry | undefined;
    let into: ParsedOption[] | undefined;
    let owner = '';
    const targetEntry = target ? optionTable(target.module).get(word) : undefined;
    if (target && targetEntry) {
      entry = targetEntry;
      into = target.options;
      owner = target.module.name;
    } else {
      if (matches) {
        for (let k = matches.length - 1; k >= 0; k--) {
          const m = matches[k] as Pending<MatchModule>;
          entry = optionTable(m.module).get(word);
          if (entry) {
            into = m.options;
            owner = m.module.name;
            break;
          }
        }
      }
      if (!into && !basics.protocolInverted) {
        const implied = PROTOCOL_MATCHES.get(basics.protocol);
        const impliedEntry = implied ? optionTable(implied).get(word) : undefined;
        if (implied && impliedEntry && !matches?.some((m) => m.module === implied)) {
          const pending = { module: implied, options: [] as ParsedOption[] };
          if (!matches) matches = [];
          matches.push(pending);
          entry = impliedEntry;
          into = pending.options;
          owner = implied.name;
        }
      }
    }
    if (!into || !entry) throw new RuleError(`unknown option "${word}"`, word);
    const spec = entry.spec;
    if (inverted && !spec.invertible) throw new RuleError(`${owner}: "!" is not allowed with "${word}"`, '!');
    const args: string[] = new Array(spec.args);
    for (let k = 0; k < spec.args; k++) {
      const a = words[i++];
      if (a === undefined) throw new RuleError(`option "${word}" requires an argument`, word);
      args[k] = a;
    }
    into.push({ name: entry.name, args, inverted });
  }
  if (matches) {
    // map() sizes the array exactly; push() would reserve room for 17 (300,000 rules keep theirs).
    rule.matches = matches.map((m) => matchInstance(m, basics, intern));
  }
  if (target) {
    const data = target.module.parse(target.options, basics);
    const reason = target.module.check?.(data, basics);
    if (reason) throw new RuleError(reason, target.module.name);
    rule.target = { kind: 'extension', module: target.module, data };
  }
  return rule;
}

const K_MATCH = 1;
const K_JUMP = 2;
const K_GOTO = 3;
const KIND_SHORT = new Map([
  ['-m', K_MATCH],
  ['-j', K_JUMP],
  ['-g', K_GOTO],
]);
const KIND_LONG = new Map([
  ['--match', K_MATCH],
  ['--jump', K_JUMP],
  ['--goto', K_GOTO],
]);

// The generic options: 0 -s, 1 -d, 2 -i, 3 -o, 4 -p, 5 -f (index into GENERIC_BITS/GENERIC_FLAGS).
const GENERIC_BITS = [G_SRC, G_DST, G_IN, G_OUT, G_PROTO, G_FRAG];
const GENERIC_FLAGS = ['-s', '-d', '-i', '-o', '-p', '-f'];
const GENERIC_LETTERS: Array<number | undefined> = [];
GENERIC_LETTERS['s'.charCodeAt(0)] = 0;
GENERIC_LETTERS['d'.charCodeAt(0)] = 1;
GENERIC_LETTERS['i'.charCodeAt(0)] = 2;
GENERIC_LETTERS['o'.charCodeAt(0)] = 3;
GENERIC_LETTERS['p'.charCodeAt(0)] = 4;
GENERIC_LETTERS['f'.charCodeAt(0)] = 5;
const LONG_GENERIC = new Map([
  ['--source', 0],
  ['--src', 0],
  ['--destination', 1],
  ['--dst', 1],
  ['--in-interface', 2],
  ['--out-interface', 3],
  ['--protocol', 4],
  ['--fragment', 5],
]);

/** One generic option (its value follows at words[i]); returns the index after it. */
function genericOption(
  generic: number,
  word: string,
  inverted: boolean,
  words: readonly string[],
  i: number,
  rule: Rule,
  basics: RuleBasics,
  seen: number,
  intern: InternTable | undefined,
): number {
  const flag = GENERIC_FLAGS[generic] as string;
  if (seen & (GENERIC_BITS[generic] as number)) throw new RuleError(`multiple ${flag} flags not allowed`, flag);
  if (generic === 5) {
    rule.fragment = inverted ? -1 : 1;
    return i;
  }
  const value = words[i];
  if (value === undefined) throw new RuleError(`option "${word}" requires an argument`, word);
  switch (generic) {
    case 0:
    case 1: {
      const match = addressMatch(value, inverted, intern);
      if (generic === 0) rule.src = match;
      else rule.dst = match;
      break;
    }
    case 2:
      rule.inInterface = parseInterface(value, inverted);
      break;
    case 3:
      rule.outInterface = parseInterface(value, inverted);
      break;
    default: {
      const p = parseProtocol(value);
      if (p === 0 && inverted) throw new RuleError('rule would never match protocol', '!');
      rule.protocol = basics.protocol = p;
      rule.protocolInverted = basics.protocolInverted = inverted;
    }
  }
  return i + 1;
}

/** An `-s`/`-d` value, shared between the rules of a restore that write the same word. */
function addressMatch(value: string, inverted: boolean, intern: InternTable | undefined): AddressMatch {
  const known = intern === undefined ? undefined : inverted ? intern.invertedAddresses : intern.addresses;
  const shared = known?.get(value);
  if (shared) return shared;
  const { address, mask } = parseAddressMask(value);
  const made = { address, mask, inverted };
  known?.set(value, made);
  return made;
}

/**
 * A jump or goto to a chain: iptables looks the name up in the table being edited, and a name that
 * is neither a chain there nor a target extension is "Couldn't load target" (the commit checks it
 * again). Rules jumping to the same chain share one target object, kept on the chain.
 */
function jumpTarget(name: string, isGoto: boolean, lookup: ChainLookup | undefined): RuleTarget {
  if (name.length > 28 || name.startsWith('-')) throw new RuleError(`Couldn't load target \`${name}':No such file or directory`, name);
  if (!lookup) return { kind: isGoto ? 'goto' : 'jump', chain: name };
  const chain = lookup(name);
  if (!chain) throw new RuleError(`Couldn't load target \`${name}':No such file or directory`, name);
  if (isGoto) {
    if (!chain.gotoTarget) chain.gotoTarget = Object.freeze({ kind: 'goto', chain: chain.name });
    return chain.gotoTarget;
  }
  if (!chain.jumpTarget) chain.jumpTarget = Object.freeze({ kind: 'jump', chain: chain.name });
  return chain.jumpTarget;
}

function matchInstance(m: Pending<MatchModule>, basics: RuleBasics, intern: InternTable | undefined): MatchInstance {
  if (m.module.protocol !== undefined && (basics.protocol !== m.module.protocol || basics.protocolInverted)) {
    // The kernel refuses it at commit (xt_check_match: "only valid for protocol N").
    throw new RuleError(`${m.module.name} match: only valid for protocol ${m.module.protocol}`, `-m ${m.module.name}`);
  }
  // Parsed extensions are never changed afterwards, so rules written alike can share one: kube-proxy
  // repeats each Service's comment, `-m tcp` and its probabilities across its chains. Only
  // matches with no option or one plain one-word option are shared; the key is that word itself,
  // under the module and option (no string is built for it).
  const only = m.options[0];
  if (!intern || m.options.length > 1 || basics.protocolInverted || (only && (only.inverted || only.args.length !== 1))) {
    return { module: m.module, data: m.module.parse(m.options, basics) };
  }
  // Keyed by the rule's protocol too: a module's checks may depend on it (multiport).
  let byProtocol = intern.matches.get(m.module);
  if (!byProtocol) {
    byProtocol = new Map();
    intern.matches.set(m.module, byProtocol);
  }
  let byModule = byProtocol.get(basics.protocol);
  if (!byModule) {
    byModule = new Map();
    byProtocol.set(basics.protocol, byModule);
  }
  const optionName = only ? only.name : '';
  let byOption = byModule.get(optionName);
  if (!byOption) {
    byOption = new Map();
    byModule.set(optionName, byOption);
  }
  const word = only ? (only.args[0] as string) : '';
  const shared = byOption.get(word);
  if (shared) return shared;
  const made = { module: m.module, data: m.module.parse(m.options, basics) };
  byOption.set(word, made);
  return made;
}
