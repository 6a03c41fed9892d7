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
import type { MatchInstance, MatchModule, OptionSpec, ParsedOption, Rule, RuleBasics, RuleTarget, TargetModule } from './rule.js';
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
  jumps: Map<string, RuleTarget>;
  gotos: Map<string, RuleTarget>;
}

export const newInternTable = (): InternTable => ({ matches: new Map(), jumps: new Map(), gotos: new Map() });
const NO_MATCHES: MatchInstance[] = [];
const NO_TARGET: RuleTarget = Object.freeze({ kind: 'none' });
// One shared object per verdict: rules never change their target in place.
const VERDICTS: Record<string, RuleTarget> = {
  ACCEPT: Object.freeze({ kind: 'verdict', verdict: 'ACCEPT' }),
  DROP: Object.freeze({ kind: 'verdict', verdict: 'DROP' }),
  RETURN: Object.freeze({ kind: 'verdict', verdict: 'RETURN' }),
};

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
  const matches: Array<Pending<MatchModule>> = [];
  let target: Pending<TargetModule> | undefined;
  let targetSeen = false;
  const seenGeneric = new Set<string>();
  let i = 0;
  const next = (what: string): string => {
    const w = words[i++];
    if (w === undefined) throw new RuleError(`option "${what}" requires an argument`, what);
    return w;
  };
  const generic = (flag: string) => {
    if (seenGeneric.has(flag)) throw new RuleError(`multiple ${flag} flags not allowed`, flag);
    seenGeneric.add(flag);
  };
  while (i < words.length) {
    let word = words[i++] as string;
    let inverted = false;
    if (word === '!') {
      inverted = true;
      const w = words[i++];
      if (w === undefined) throw new RuleError("Bad argument `!'", '!');
      word = w;
      if (word === '!') throw new RuleError('multiple consecutive ! not allowed', '!');
    }
    switch (word) {
      case '-s':
      case '--source':
      case '--src':
      case '-d':
      case '--destination':
      case '--dst': {
        const isSrc = word === '-s' || word === '--source' || word === '--src';
        generic(isSrc ? '-s' : '-d');
        const { address, mask } = parseAddressMask(next(word));
        if (isSrc) rule.src = { address, mask, inverted };
        else rule.dst = { address, mask, inverted };
        continue;
      }
      case '-i':
      case '--in-interface':
      case '-o':
      case '--out-interface': {
        const isIn = word === '-i' || word === '--in-interface';
        generic(isIn ? '-i' : '-o');
        const m = parseInterface(next(word), inverted);
        if (isIn) rule.inInterface = m;
        else rule.outInterface = m;
        continue;
      }
      case '-p':
      case '--protocol': {
        generic('-p');
        const p = parseProtocol(next(word));
        if (p === 0 && inverted) throw new RuleError('rule would never match protocol', '!');
        rule.protocol = basics.protocol = p;
        rule.protocolInverted = basics.protocolInverted = inverted;
        continue;
      }
      case '-f':
      case '--fragment':
        generic('-f');
        rule.fragment = inverted ? -1 : 1;
        continue;
      case '-m':
      case '--match': {
        if (inverted) throw new RuleError('unexpected ! flag before --match', '!');
        const name = next(word);
        const module = MATCHES.get(name);
        if (!module) throw new RuleError(`Couldn't load match \`${name}':No such file or directory`, name);
        matches.push({ module, options: [] });
        continue;
      }
      case '-j':
      case '--jump':
      case '-g':
      case '--goto': {
        if (inverted) throw new RuleError(`cannot have ! before ${word}`, '!');
        if (targetSeen) throw new RuleError('multiple -j flags not allowed', word);
        targetSeen = true;
        const name = next(word);
        const isGoto = word === '-g' || word === '--goto';
        const ext = TARGETS.get(name);
        if (ext && !isGoto) {
          target = { module: ext, options: [] };
        } else if (BUILTIN_VERDICTS.has(name) && !isGoto) {
          rule.target = VERDICTS[name] as RuleTarget;
        } else {
          // A chain name: iptables looks it up in the table being edited, and a name that is neither a
          // chain there nor a target extension is "Couldn't load target" (the commit checks it again).
          if (name.length > 28 || name.startsWith('-') || (chainExists && !chainExists(name)))
            throw new RuleError(`Couldn't load target \`${name}':No such file or directory`, name);
          const jumps = isGoto ? intern?.gotos : intern?.jumps;
          let jump = jumps?.get(name);
          if (!jump) {
            jump = { kind: isGoto ? 'goto' : 'jump', chain: name } as RuleTarget;
            jumps?.set(name, jump);
          }
          rule.target = jump;
        }
        continue;
      }
      default:
        break;
    }
    if (!word.startsWith('--')) {
      throw new RuleError(word.startsWith('-') ? `unknown option "${word}"` : `Bad argument \`${word}'`, word);
    }
    const name = word.slice(2);
    let spec: OptionSpec | undefined;
    let into: ParsedOption[] | undefined;
    let owner = '';
    const targetSpec = target ? target.module.options[name] : undefined;
    if (target && targetSpec) {
      spec = targetSpec;
      into = target.options;
      owner = target.module.name;
    } else {
      for (let k = matches.length - 1; k >= 0; k--) {
        const m = matches[k] as Pending<MatchModule>;
        spec = m.module.options[name];
        if (spec) {
          into = m.options;
          owner = m.module.name;
          break;
        }
      }
      if (!into && !basics.protocolInverted) {
        const implied = PROTOCOL_MATCHES.get(basics.protocol);
        if (implied?.options[name] && !matches.some((m) => m.module === implied)) {
          const pending = { module: implied, options: [] as ParsedOption[] };
          matches.push(pending);
          spec = implied.options[name];
          into = pending.options;
          owner = implied.name;
        }
      }
    }
    if (!into || !spec) throw new RuleError(`unknown option "${word}"`, word);
    if (inverted && !spec.invertible) throw new RuleError(`${owner}: "!" is not allowed with "${word}"`, '!');
    const args: string[] = [];
    for (let k = 0; k < spec.args; k++) {
      const a = words[i++];
      if (a === undefined) throw new RuleError(`option "${word}" requires an argument`, word);
      args.push(a);
    }
    into.push({ name, args, inverted });
  }
  // map() sizes the array exactly; push() would reserve room for 17 (300,000 rules keep theirs).
  rule.matches = matches.map((m) => {
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
  });
  if (target) {
    const data = target.module.parse(target.options, basics);
    const reason = target.module.check?.(data, basics);
    if (reason) throw new RuleError(reason, target.module.name);
    rule.target = { kind: 'extension', module: target.module, data };
  }
  return rule;
}
