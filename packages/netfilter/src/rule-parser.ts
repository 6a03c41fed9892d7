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
  info: ModuleInfo<M>;
  options: ParsedOption[];
  /** The entry of options[0] (what the match is shared by). */
  first: OptionEntry | undefined;
}

/** Chain names: at most 28 characters (XT_EXTENSION_MAXNAMELEN 29 with the NUL), not an option. */
export function checkChainName(name: string): void {
  if (name.length === 0 || name.length > 28) throw new RuleError(`chain name \`${name}' too long (must be under 29 chars)`, name);
  if (name.startsWith('-') || name.startsWith('!')) throw new RuleError(`chain name not allowed to start with \`${name[0]}'`, name);
  if (/\s/.test(name)) throw new RuleError(`Invalid chain name \`${name}'`, name);
}

export const BUILTIN_VERDICTS: ReadonlySet<string> = new Set(['ACCEPT', 'DROP', 'RETURN']);

/** What the rules of one restore share (see parseRule). */
export interface InternTable {
  /**
   * Shared match instances: by the id of the one option written (or of the module, for a match
   * written without options), then by the rule's protocol, then by the option's word.
   */
  matches: Array<Array<Map<string, MatchInstance> | undefined> | undefined>;
  /** `-s`/`-d` values by their word (never changed once parsed), plain and after `!`. */
  addresses: Map<string, AddressMatch>;
  invertedAddresses: Map<string, AddressMatch>;
}

export const newInternTable = (): InternTable => ({
  matches: [],
  addresses: new Map(),
  invertedAddresses: new Map(),
});
const NO_MATCHES: MatchInstance[] = [];
const NO_TARGET: RuleTarget = Object.freeze({ kind: 'none' });
// One shared object per verdict: rules never change their target in place.
export const VERDICTS: Readonly<Record<string, RuleTarget>> = {
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

/** An extension's option by its `--name` spelling (so a word is looked up once, by its own hash). */
export interface OptionEntry {
  name: string;
  spec: OptionSpec;
  /** Index into InternTable.matches. */
  id: number;
}
/** What the parser keeps per extension: its options by spelling, and the id of "no option". */
export interface ModuleInfo<M> {
  module: M;
  options: Map<string, OptionEntry>;
  bareId: number;
}
let nextId = 0;
function moduleInfo<M extends { readonly options: Readonly<Record<string, OptionSpec>> }>(module: M): ModuleInfo<M> {
  const options = new Map<string, OptionEntry>();
  for (const [name, spec] of Object.entries(module.options)) options.set(`--${name}`, { name, spec, id: nextId++ });
  return { module, options, bareId: nextId++ };
}
export const MATCH_INFO: ReadonlyMap<string, ModuleInfo<MatchModule>> = new Map(
  [...MATCHES].map(([name, m]) => [name, moduleInfo(m)] as const),
);
export const TARGET_INFO: ReadonlyMap<string, ModuleInfo<TargetModule>> = new Map(
  [...TARGETS].map(([name, t]) => [name, moduleInfo(t)] as const),
);
export const PROTOCOL_INFO: ReadonlyMap<number, ModuleInfo<MatchModule>> = new Map(
  [...PROTOCOL_MATCHES].map(([p, m]) => [p, [...MATCH_INFO.values()].find((i) => i.module === m) ?? moduleInfo(m)] as const),
);

/**
 * An empty rule (no options, no target, counters zero), in the one object shape every parser
 * makes, so the data plane's code that reads rules sees a single hidden class.
 */
export function newRule(): Rule {
  return {
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
  const rule = newRule();
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
    // Generic options and -m/-j/-g first: short ones by their letter, long ones in one map.
    let kind: number | undefined;
    if (word.charCodeAt(0) === 45 /* - */) {
      kind = word.length === 2 ? SHORT_WORDS[word.charCodeAt(1)] : word.charCodeAt(1) === 45 ? LONG_WORDS.get(word) : undefined;
      if (kind !== undefined && kind < K_MATCH) {
        i = genericOption(kind, word, inverted, words, i, rule, basics, seenGeneric, intern);
        seenGeneric |= GENERIC_BITS[kind] as number;
        continue;
      }
    }
    if (kind === K_MATCH) {
      if (inverted) throw new RuleError('unexpected ! flag before --match', '!');
      const name = words[i++];
      if (name === undefined) throw new RuleError(`option "${word}" requires an argument`, word);
      const info = MATCH_INFO.get(name);
      if (!info) throw new RuleError(`Couldn't load match \`${name}':No such file or directory`, name);
      if (!matches) matches = [];
      matches.push({ module: info.module, info, options: [], first: undefined });
      continue;
    }
    if (kind === K_JUMP || kind === K_GOTO) {
      if (inverted) throw new RuleError(`cannot have ! before ${word}`, '!');
      if (targetSeen) throw new RuleError('multiple -j flags not allowed', word);
      targetSeen = true;
      const name = words[i++];
      if (name === undefined) throw new RuleError(`option "${word}" requires an argument`, word);
      const isGoto = kind === K_GOTO;
      const ext = isGoto ? undefined : TARGET_INFO.get(name);
      if (ext) {
        target = { module: ext.module, info: ext, options: [], first: undefined };
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
    // Offered to the target first, then to the loaded matches (latest first), then to the match -p implies.
    let entry: OptionEntry | undefined = target ? target.info.options.get(word) : undefined;
    let into: Pending<MatchModule> | Pending<TargetModule> | undefined = entry ? target : undefined;
    if (!into && matches) {
      for (let k = matches.length - 1; k >= 0; k--) {
        const m = matches[k] as Pending<MatchModule>;
        entry = m.info.options.get(word);
        if (entry) {
          into = m;
          break;
        }
      }
    }
    if (!into && !basics.protocolInverted) {
      const implied = PROTOCOL_INFO.get(basics.protocol);
      const impliedEntry = implied ? implied.options.get(word) : undefined;
      if (implied && impliedEntry && !matches?.some((m) => m.module === implied.module)) {
        const pending: Pending<MatchModule> = { module: implied.module, info: implied, options: [], first: undefined };
        if (!matches) matches = [];
        matches.push(pending);
        entry = impliedEntry;
        into = pending;
      }
    }
    if (!into || !entry) throw new RuleError(`unknown option "${word}"`, word);
    const spec = entry.spec;
    if (inverted && !spec.invertible) throw new RuleError(`${into.module.name}: "!" is not allowed with "${word}"`, '!');
    let args: string[];
    if (spec.args === 1) {
      const a = words[i++];
      if (a === undefined) throw new RuleError(`option "${word}" requires an argument`, word);
      args = [a];
    } else {
      args = [];
      for (let k = 0; k < spec.args; k++) {
        const a = words[i++];
        if (a === undefined) throw new RuleError(`option "${word}" requires an argument`, word);
        args.push(a);
      }
    }
    if (into.options.length === 0) into.first = entry;
    into.options.push({ name: entry.name, args, inverted });
  }
  if (matches) {
    // Sized exactly; push() would reserve room for 17 (300,000 rules keep theirs).
    const made: MatchInstance[] = new Array(matches.length);
    for (let k = 0; k < matches.length; k++) made[k] = matchInstance(matches[k] as Pending<MatchModule>, basics, intern);
    rule.matches = made;
  }
  if (target) {
    const data = target.module.parse(target.options, basics);
    const reason = target.module.check?.(data, basics);
    if (reason) throw new RuleError(reason, target.module.name);
    rule.target = { kind: 'extension', module: target.module, data };
  }
  return rule;
}

// Word kinds: 0-5 the generic options (-s -d -i -o -p -f, the index into GENERIC_BITS), then -m -j -g.
const K_MATCH = 10;
const K_JUMP = 11;
const K_GOTO = 12;
const GENERIC_BITS = [G_SRC, G_DST, G_IN, G_OUT, G_PROTO, G_FRAG];
const GENERIC_FLAGS = ['-s', '-d', '-i', '-o', '-p', '-f'];
/** `-X` words by the letter's character code. */
const SHORT_WORDS: Array<number | undefined> = [];
for (const [letter, kind] of [
  ['s', 0],
  ['d', 1],
  ['i', 2],
  ['o', 3],
  ['p', 4],
  ['f', 5],
  ['m', K_MATCH],
  ['j', K_JUMP],
  ['g', K_GOTO],
] as const) {
  SHORT_WORDS[letter.charCodeAt(0)] = kind;
}
const LONG_WORDS = new Map([
  ['--source', 0],
  ['--src', 0],
  ['--destination', 1],
  ['--dst', 1],
  ['--in-interface', 2],
  ['--out-interface', 3],
  ['--protocol', 4],
  ['--fragment', 5],
  ['--match', K_MATCH],
  ['--jump', K_JUMP],
  ['--goto', K_GOTO],
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
export function addressMatch(value: string, inverted: boolean, intern: InternTable | undefined): AddressMatch {
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
export function jumpTarget(name: string, isGoto: boolean, lookup: ChainLookup | undefined): RuleTarget {
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

/** Options that are each one plain word (no `!`): what a shared match may be keyed by. */
function plainOptions(options: readonly ParsedOption[]): boolean {
  for (let k = 0; k < options.length; k++) {
    const o = options[k] as ParsedOption;
    if (o.inverted || o.args.length !== 1) return false;
  }
  return true;
}

function matchInstance(m: Pending<MatchModule>, basics: RuleBasics, intern: InternTable | undefined): MatchInstance {
  if (m.module.protocol !== undefined && (basics.protocol !== m.module.protocol || basics.protocolInverted)) {
    // The kernel refuses it at commit (xt_check_match: "only valid for protocol N").
    throw new RuleError(`${m.module.name} match: only valid for protocol ${m.module.protocol}`, `-m ${m.module.name}`);
  }
  // Parsed extensions are never changed afterwards, so rules written alike can share one: kube-proxy
  // repeats each Service's comment, `-m tcp` and its probabilities across its chains. Only
  // matches with up to three plain one-word options are shared; the key is the first option's
  // word (no string is built for the usual single option; later options add their names and
  // words), under the first option (or the module) and the rule's protocol (a module's checks may
  // depend on it: multiport).
  const options = m.options;
  const only = options[0];
  if (!intern || options.length > 3 || basics.protocolInverted || !plainOptions(options)) {
    return { module: m.module, data: m.module.parse(options, basics) };
  }
  const id = m.first ? m.first.id : m.info.bareId;
  let word = only ? (only.args[0] as string) : '';
  if (options.length > 1) {
    // Two or three options (statistic's --mode random --probability P): their names and words in
    // order, joined by NULs (so not shared when a word holds one), in their own map (slot 256 + protocol).
    if (word.indexOf('\0') >= 0) return { module: m.module, data: m.module.parse(options, basics) };
    for (let k = 1; k < options.length; k++) {
      const o = options[k] as ParsedOption;
      const w = o.args[0] as string;
      if (w.indexOf('\0') >= 0) return { module: m.module, data: m.module.parse(options, basics) };
      word += `\0${o.name}\0${w}`;
    }
  }
  const slot = options.length > 1 ? 256 + basics.protocol : basics.protocol;
  const shared = sharedMatch(intern, id, slot, word);
  if (shared) return shared;
  const made = { module: m.module, data: m.module.parse(m.options, basics) };
  shareMatch(intern, id, slot, word, made);
  return made;
}

/**
 * The match instance a rule written alike already made, by matchInstance's key: `id` the first
 * option's entry (or the module's bareId), `slot` the rule's protocol (256 + it for several
 * options), `key` the first option's word (then `\0name\0word` per further option).
 */
export function sharedMatch(intern: InternTable, id: number, slot: number, key: string): MatchInstance | undefined {
  return intern.matches[id]?.[slot]?.get(key);
}

export function shareMatch(intern: InternTable, id: number, slot: number, key: string, instance: MatchInstance): void {
  let byProtocol = intern.matches[id];
  if (!byProtocol) {
    byProtocol = [];
    intern.matches[id] = byProtocol;
  }
  let byWord = byProtocol[slot];
  if (!byWord) {
    byWord = new Map();
    byProtocol[slot] = byWord;
  }
  byWord.set(key, instance);
}
