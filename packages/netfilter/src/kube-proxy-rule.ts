// The fast path of iptables-restore for the rules kube-proxy writes (pkg/proxy/iptables/proxier.go:
// `-A KUBE-SEP-X -m comment --comment "..." -m tcp -p tcp -j DNAT --to-destination IP:PORT`, the
// KUBE-SVC statistic chains, KUBE-SERVICES' `-d IP/32 --dport N -j KUBE-SVC-X`): 300,000 of them in
// a 10,000-Service restore. It reads the line in place, with no token array, no per-option objects
// and no strings but the values it keeps, and builds a Rule equal to the one the general parser
// builds: match instances shared by rule-parser.ts's keys in the same intern table, one jump target
// per chain, the same field order. Only what is written about once is not shared: plain `A.B.C.D`
// addresses and kube-proxy's per-endpoint comments (`SVC -> IP:PORT`).
//
// It only recognizes: anything it does not know, or any value that does not parse, returns
// undefined and the caller parses the line again with the general parser, which then gives the
// error with its word. So a malformed line gets the same message and word on either path.
import { RuleError } from './errors.js';
import { parseProtocol } from './protocols.js';
import type { MatchInstance, MatchModule, ParsedOption, Rule, RuleBasics, RuleTarget, TargetModule } from './rule.js';
import {
  addressMatch,
  BUILTIN_VERDICTS,
  type ChainLookup,
  type InternTable,
  jumpTarget,
  MATCH_INFO,
  type ModuleInfo,
  newRule,
  type OptionEntry,
  PROTOCOL_INFO,
  sharedMatch,
  shareMatch,
  TARGET_INFO,
  VERDICTS,
} from './rule-parser.js';
import type { NatData } from './targets/nat.js';

const info = (name: string) => MATCH_INFO.get(name) as ModuleInfo<MatchModule>;
const entry = (i: ModuleInfo<unknown>, option: string) => i.options.get(option) as OptionEntry;
const COMMENT = info('comment');
const COMMENT_ENTRY = entry(COMMENT, '--comment');
const STATISTIC = info('statistic');
const STATISTIC_MODE = entry(STATISTIC, '--mode');
// The -m modules whose only options here are --sport/--dport (libxt_tcp, libxt_udp, libxt_sctp).
const TCP = info('tcp');
const UDP = info('udp');
const SCTP = info('sctp');
const DNAT = TARGET_INFO.get('DNAT') as ModuleInfo<TargetModule>;

/** One match of the rule, in the order the general parser loads it (explicit `-m`, or -p's implied match at its first option). */
interface Pending {
  info: ModuleInfo<MatchModule>;
  /** comment: the comment; statistic: the probability; L4: the first option's value. */
  value: string | undefined;
  first: OptionEntry | undefined;
  second: OptionEntry | undefined;
  secondValue: string | undefined;
  /** comment: where its text is in the line (sliced only when no recent rule wrote the same). */
  start: number;
  end: number;
}

/** The rule's matches so far (at most three here), reused from rule to rule. */
const pending: Pending[] = [0, 1, 2].map(() => ({
  info: COMMENT,
  value: undefined,
  first: undefined,
  second: undefined,
  secondValue: undefined,
  start: 0,
  end: 0,
}));
let count = 0;
/** The next match slot, set up for `info` with its first option (undefined when the rule has three already). */
function add(info: ModuleInfo<MatchModule>, first: OptionEntry | undefined, value: string | undefined): Pending | undefined {
  const p = pending[count];
  if (p === undefined) return undefined;
  count++;
  p.info = info;
  p.first = first;
  p.value = value;
  p.second = undefined;
  p.secondValue = undefined;
  return p;
}

// A line is only read here when it holds none of the characters that make the tokenizer do more
// than split on single spaces: tabs, carriage returns, backslashes (escapes inside quotes), NULs
// (matchInstance keys). Double quotes are allowed around one comment only. The restore reads its
// lines in place, in order, so the next of each character after a line is remembered (one scan of
// the whole input per character, not one per line).
let specialsOf = '';
/** Where the positions below were searched from: valid for lines at or after it. */
let specialsFrom = 0;
const nextSpecial = [-1, -1, -1, -1];
const SPECIALS = ['\t', '\r', '\\', '\0'];

function hasSpecial(text: string, from: number, to: number): boolean {
  if (text !== specialsOf || from < specialsFrom) {
    specialsOf = text;
    for (let k = 0; k < 4; k++) nextSpecial[k] = text.indexOf(SPECIALS[k] as string, from);
  }
  specialsFrom = from;
  for (let k = 0; k < 4; k++) {
    let at = nextSpecial[k] as number;
    if (at >= 0 && at < from) {
      at = text.indexOf(SPECIALS[k] as string, from);
      nextSpecial[k] = at;
    }
    if (at >= 0 && at < to) return true;
  }
  return false;
}

/**
 * The rule whose words start at `line[start]` (after `-A CHAIN `), or undefined when the line is
 * not in the shapes read here or anything in it is wrong (the general parser then reads it).
 */
export function parseKubeProxyRule(line: string, start: number, lookup: ChainLookup, intern: InternTable): Rule | undefined {
  if (line.indexOf('\t') >= 0 || line.indexOf('\r') >= 0 || line.indexOf('\\') >= 0 || line.indexOf('\0') >= 0) return undefined;
  return parseOrDecline(line, 0, start, line.length, lookup, intern);
}

/**
 * parseKubeProxyRule on the line [lineStart, lineEnd) of the whole input, read in place; the
 * restore calls it on its lines in order (so the special characters are found in one pass).
 */
export function parseKubeProxyRuleInPlace(
  input: string,
  lineStart: number,
  start: number,
  lineEnd: number,
  lookup: ChainLookup,
  intern: InternTable,
): Rule | undefined {
  if (hasSpecial(input, lineStart, lineEnd)) return undefined;
  return parseOrDecline(input, lineStart, start, lineEnd, lookup, intern);
}

function parseOrDecline(
  text: string,
  lineStart: number,
  start: number,
  lineEnd: number,
  lookup: ChainLookup,
  intern: InternTable,
): Rule | undefined {
  try {
    return parseShapes(text, lineStart, start, lineEnd, lookup, intern);
  } catch (error) {
    if (error instanceof RuleError) return undefined;
    throw error;
  }
}

// The line being read and the current word, [pos, end): module state rather than closures, so a
// rule allocates nothing for its reading (the function is never re-entered).
let line = '';
let n = 0;
let pos = 0;
let end = 0;
/** Where the one quoted run starts (-1: none). Plain words never hold it. */
let quote = -1;

/** Finds the word at pos; false at the end, for an empty word (two blanks) or one holding the quote. */
function next(): boolean {
  if (pos >= n) return false;
  const sp = line.indexOf(' ', pos);
  end = sp < 0 || sp > n ? n : sp;
  return end > pos && (quote < pos || quote >= end);
}
/** Whether the word is `literal`, compared by character codes (inlined; no builtin call per word). */
function is(literal: string): boolean {
  const length = literal.length;
  if (end - pos !== length) return false;
  for (let i = 0; i < length; i++) if (line.charCodeAt(pos + i) !== literal.charCodeAt(i)) return false;
  return true;
}

// The words read here, by kind (what the general parser's SHORT_WORDS/LONG_WORDS and option maps find).
const W_OTHER = 0;
const W_NOT = 1;
const W_SRC = 2;
const W_DST = 3;
const W_MATCH = 4;
const W_PROTO = 5;
const W_JUMP = 6;
const W_DPORT = 7;
const W_SPORT = 8;
const W_TO_DESTINATION = 9;

/** The kind of the word at [pos, end), by its length and first characters, then compared whole. */
function wordKind(): number {
  const length = end - pos;
  const c0 = line.charCodeAt(pos);
  if (length === 1) return c0 === 33 /* ! */ ? W_NOT : W_OTHER;
  if (c0 !== 45 /* - */) return W_OTHER;
  const c1 = line.charCodeAt(pos + 1);
  if (length === 2) {
    switch (c1) {
      case 115 /* s */:
        return W_SRC;
      case 100 /* d */:
        return W_DST;
      case 109 /* m */:
        return W_MATCH;
      case 112 /* p */:
        return W_PROTO;
      case 106 /* j */:
        return W_JUMP;
      default:
        return W_OTHER;
    }
  }
  if (c1 !== 45) return W_OTHER;
  if (length === 7) return is('--dport') ? W_DPORT : is('--sport') ? W_SPORT : W_OTHER;
  return is('--to-destination') ? W_TO_DESTINATION : W_OTHER;
}
function take(): string {
  const w = line.slice(pos, end);
  pos = end + 1;
  return w;
}
function skip(): void {
  pos = end + 1;
}

function parseShapes(
  text: string,
  lineStart: number,
  start: number,
  lineEnd: number,
  lookup: ChainLookup,
  intern: InternTable,
): Rule | undefined {
  line = text;
  n = lineEnd;
  pos = start;
  // At most one quoted run, and only as a comment's value (checked when the comment is read).
  quote = text.indexOf('"', lineStart);
  if (quote >= lineEnd) quote = -1;
  let quoteRead = quote < 0;
  if (quote >= 0) {
    const close = text.indexOf('"', quote + 1);
    if (quote < start || close < 0 || close >= lineEnd) return undefined;
    const third = text.indexOf('"', close + 1);
    if (third >= 0 && third < lineEnd) return undefined;
  }
  const rule = newRule();
  let protocol = 0;
  count = 0;
  let l4: Pending | undefined;
  let explicitL4 = false;
  let seenSrc = false;
  let seenDst = false;
  let seenProto = false;
  let target: RuleTarget | undefined;
  let dnat = false;
  let dnatTo: string | undefined;

  while (pos < n) {
    if (!next()) return undefined;
    let kind = wordKind();
    let inverted = false;
    if (kind === W_NOT) {
      skip();
      if (!next()) return undefined;
      inverted = true;
      kind = wordKind();
      if (kind !== W_SRC && kind !== W_DST) return undefined;
    }
    switch (kind) {
      case W_SRC:
      case W_DST: {
        const src = kind === W_SRC;
        if (src ? seenSrc : seenDst) return undefined;
        skip();
        if (!next()) return undefined;
        const match = hostAddress(inverted) ?? addressMatch(line.slice(pos, end), inverted, intern);
        skip();
        if (src) {
          rule.src = match;
          seenSrc = true;
        } else {
          rule.dst = match;
          seenDst = true;
        }
        continue;
      }
      case W_MATCH: {
        skip();
        if (!next()) return undefined;
        if (is('comment')) {
          skip();
          if (!next() || !is('--comment')) return undefined;
          skip();
          const comment = add(COMMENT, COMMENT_ENTRY, undefined);
          if (comment === undefined) return undefined;
          if (pos === quote) {
            // "text": one word without the quotes (tokenize), when nothing is glued after the closing quote.
            const close = line.indexOf('"', quote + 1);
            if (close + 1 < n && line.charCodeAt(close + 1) !== 32) return undefined;
            comment.start = quote + 1;
            comment.end = close;
            pos = close + 2;
            quoteRead = true;
          } else {
            if (!next()) return undefined;
            comment.start = pos;
            comment.end = end;
            skip();
          }
          continue;
        }
        if (is('statistic')) {
          skip();
          // --mode random --probability P, in that order (the general parser's key order).
          if (!next() || !is('--mode')) return undefined;
          skip();
          if (!next() || !is('random')) return undefined;
          skip();
          if (!next() || !is('--probability')) return undefined;
          skip();
          if (!next()) return undefined;
          if (add(STATISTIC, STATISTIC_MODE, take()) === undefined) return undefined;
          continue;
        }
        const module = is('tcp') ? TCP : is('udp') ? UDP : is('sctp') ? SCTP : undefined;
        if (module === undefined || l4 !== undefined) return undefined;
        skip();
        l4 = add(module, undefined, undefined);
        if (l4 === undefined) return undefined;
        explicitL4 = true;
        continue;
      }
      case W_PROTO: {
        if (seenProto) return undefined;
        skip();
        if (!next()) return undefined;
        protocol = rule.protocol = is('tcp') ? 6 : is('udp') ? 17 : parseProtocol(line.slice(pos, end));
        skip();
        seenProto = true;
        continue;
      }
      case W_DPORT:
      case W_SPORT: {
        skip();
        if (!next()) return undefined;
        const value = take();
        if (l4 === undefined) {
          // -p's implied match (libxtables load_proto), loaded where its first option stands.
          const implied = PROTOCOL_INFO.get(protocol);
          if (implied === undefined || (implied !== TCP && implied !== UDP && implied !== SCTP) || explicitL4) return undefined;
          l4 = add(implied, undefined, undefined);
          if (l4 === undefined) return undefined;
        }
        const e = (kind === W_DPORT ? l4.info.options.get('--dport') : l4.info.options.get('--sport')) as OptionEntry;
        if (l4.first === undefined) {
          l4.first = e;
          l4.value = value;
        } else if (l4.second === undefined && l4.first !== e) {
          l4.second = e;
          l4.secondValue = value;
        } else {
          return undefined;
        }
        continue;
      }
      case W_JUMP: {
        if (target !== undefined || dnat) return undefined;
        skip();
        if (!next()) return undefined;
        if (is('DNAT')) {
          dnat = true;
          skip();
          continue;
        }
        // Every endpoint's first rule jumps to KUBE-MARK-MASQ: the last chain jumped to is compared in
        // place (and looked up by its own name, hashed once, in case a command deleted it since).
        const last = recentJump;
        if (last !== undefined && recentLookup === lookup && is(last.chain) && lookup(last.chain)?.jumpTarget === last) {
          skip();
          target = last;
          continue;
        }
        const name = take();
        if (TARGET_INFO.has(name)) return undefined;
        if (BUILTIN_VERDICTS.has(name)) target = VERDICTS[name] as RuleTarget;
        else {
          const jump = jumpTarget(name, false, lookup) as RuleTarget & { kind: 'jump' };
          target = jump;
          recentJump = jump;
          recentLookup = lookup;
        }
        continue;
      }
      case W_TO_DESTINATION: {
        if (!dnat || dnatTo !== undefined) return undefined;
        skip();
        if (!next()) return undefined;
        dnatTo = take();
        continue;
      }
      default:
        return undefined;
    }
  }
  if (!quoteRead) return undefined;

  if (count > 0) {
    const m0 = instance(pending[0] as Pending, protocol, intern);
    const m1 = count > 1 ? instance(pending[1] as Pending, protocol, intern) : undefined;
    const m2 = count > 2 ? instance(pending[2] as Pending, protocol, intern) : undefined;
    rule.matches = matchList(count, m0, m1, m2);
  }
  if (dnat) {
    if (dnatTo === undefined) return undefined;
    const module = DNAT.module;
    let data: unknown = endpointDestination(dnatTo, protocol);
    if (data === undefined) {
      const basics: RuleBasics = { protocol, protocolInverted: false };
      data = module.parse([{ name: 'to-destination', args: [dnatTo], inverted: false }], basics);
      if (module.check?.(data, basics) !== undefined) return undefined;
    }
    rule.target = { kind: 'extension', module, data };
  } else if (target !== undefined) {
    rule.target = target;
  }
  return rule;
}

/**
 * The word at [pos, end) when it is a plain `A.B.C.D` (an endpoint's `-s`, a ClusterIP's `-d`),
 * read as address.ts parseAddressMask reads it (1-3 digits per part, each at most 255; no mask is
 * /32), into the same object; undefined for any other form (a prefix, fewer parts), which
 * addressMatch reads. Not shared between rules: most are written once (one per endpoint), and a
 * map of 100,000 words would cost more than the few ClusterIPs written twice.
 */
function hostAddress(inverted: boolean): { address: number; mask: number; inverted: boolean } | undefined {
  let i = pos;
  let address = 0;
  for (let part = 0; part < 4; part++) {
    let digits = 0;
    let octet = 0;
    for (; i < end; i++) {
      const c = line.charCodeAt(i);
      if (c < 48 || c > 57) break;
      octet = octet * 10 + (c - 48);
      digits++;
    }
    if (digits === 0 || digits > 3 || octet > 255) return undefined;
    address = address * 256 + octet;
    if (part < 3) {
      if (i >= end || line.charCodeAt(i) !== 46) return undefined;
      i++;
    }
  }
  if (i !== end) return undefined;
  return { address, mask: 0xffffffff, inverted };
}

/**
 * `--to-destination A.B.C.D:PORT` (one endpoint, as kube-proxy writes it) read as libxt_DNAT's
 * parse_to does (targets/nat.ts parseRange: 1-3 digits per octet, each at most 255; a port of 1-5
 * digits, 1-65535; a port needs -p tcp, udp or sctp), giving the same data; undefined for any other
 * text, which targets/nat.ts then reads (and refuses, when it is wrong).
 */
function endpointDestination(text: string, protocol: number): NatData | undefined {
  if (protocol !== 6 && protocol !== 17 && protocol !== 132) return undefined;
  const length = text.length;
  let i = 0;
  let address = 0;
  for (let part = 0; part < 4; part++) {
    let digits = 0;
    let octet = 0;
    for (; i < length; i++) {
      const c = text.charCodeAt(i);
      if (c < 48 || c > 57) break;
      octet = octet * 10 + (c - 48);
      digits++;
    }
    if (digits === 0 || digits > 3 || octet > 255) return undefined;
    address = address * 256 + octet;
    // Three dots, then the colon before the port.
    if (text.charCodeAt(i) !== (part < 3 ? 46 : 58)) return undefined;
    i++;
  }
  let digits = 0;
  let port = 0;
  for (; i < length; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) return undefined;
    port = port * 10 + (c - 48);
    digits++;
  }
  if (digits === 0 || digits > 5 || port === 0 || port > 65535) return undefined;
  // parseRange's object, its fields in the order it sets them.
  const range = { minPort: port, maxPort: port, minAddress: address, maxAddress: address };
  return { range, random: false, randomFully: false, persistent: false };
}

/** rule-parser's matchInstance for the shapes above: the shared instance, or one parsed and shared. */
function instance(p: Pending, protocol: number, intern: InternTable): MatchInstance {
  const module = p.info.module;
  if (module.protocol !== undefined && protocol !== module.protocol) {
    throw new RuleError(`${module.name} match: only valid for protocol ${module.protocol}`);
  }
  if (recentIntern !== intern) forgetRecent(intern);
  if (p.info === COMMENT) return commentInstance(p, protocol, intern);
  const id = p.first === undefined ? p.info.bareId : p.first.id;
  let key: string;
  let slot = protocol;
  if (p.info === STATISTIC) {
    // By the probability alone first (the general key is built only for a probability not seen yet).
    const known = probabilities[protocol]?.get(p.value as string);
    if (known !== undefined) return known;
    key = `random\0probability\0${p.value as string}`;
    slot += 256;
    const made = sharedOrNew(p, id, slot, key, protocol, intern);
    let byProbability = probabilities[protocol];
    if (byProbability === undefined) {
      byProbability = new Map();
      probabilities[protocol] = byProbability;
    }
    byProbability.set(p.value as string, made);
    return made;
  }
  if (p.second !== undefined) {
    key = `${p.value as string}\0${p.second.name}\0${p.secondValue as string}`;
    slot += 256;
  } else {
    key = p.value ?? '';
  }
  return sharedOrNew(p, id, slot, key, protocol, intern);
}

/** The instance the intern table holds under the key, or one parsed now and put there. */
function sharedOrNew(p: Pending, id: number, slot: number, key: string, protocol: number, intern: InternTable): MatchInstance {
  const shared = sharedMatch(intern, id, slot, key);
  if (shared !== undefined) return shared;
  const module = p.info.module;
  const made: MatchInstance = { module, data: module.parse(options(p), { protocol, protocolInverted: false }) };
  shareMatch(intern, id, slot, key, made);
  return made;
}

// Caches in front of the intern table, for one restore (one intern table): what the last rules
// wrote. kube-proxy writes each Service's endpoint chains one after another, all with the
// Service's comment, so most comments are found by comparing the line with the last two (no
// string cut out, no lookup in a map of 100,000 comments); probabilities repeat across Services.
let recentIntern: InternTable | undefined;
const recentComments: Array<{ text: string; slot: number; instance: MatchInstance } | undefined> = [undefined, undefined];
let probabilities: Array<Map<string, MatchInstance> | undefined> = [];
let recentLists: MatchInstance[][] = [];
/** The last `-j CHAIN` target, and the table (its lookup) it was found in. */
let recentJump: (RuleTarget & { kind: 'jump' }) | undefined;
let recentLookup: ChainLookup | undefined;

/** Drops what the caches hold (the restore that filled them is over), so its tables can be collected. */
export function forgetRecentKubeProxyRules(): void {
  forgetRecent(undefined);
  specialsOf = '';
  specialsFrom = 0;
  recentJump = undefined;
  recentLookup = undefined;
  line = '';
}

function forgetRecent(intern: InternTable | undefined): void {
  recentIntern = intern;
  recentComments[0] = undefined;
  recentComments[1] = undefined;
  probabilities = [];
  recentLists = [];
}

function commentInstance(p: Pending, slot: number, intern: InternTable): MatchInstance {
  const length = p.end - p.start;
  for (let k = 0; k < 2; k++) {
    const r = recentComments[k];
    if (r !== undefined && r.slot === slot && r.text.length === length && line.startsWith(r.text, p.start)) return r.instance;
  }
  const text = line.slice(p.start, p.end);
  p.value = text;
  // `SVC -> IP:PORT`, kube-proxy's comment on each endpoint's rule in KUBE-SVC/KUBE-SVL, is written
  // once per endpoint: it is made here rather than looked up in (and added to) a map of 100,000
  // comments. The data is what basic.ts commentMatch.parse makes (XT_MAX_COMMENT_LEN: 255 bytes);
  // a longer comment goes to it, and it refuses it.
  if (text.indexOf(' -> ') >= 0 && Buffer.byteLength(text) <= 255) return { module: COMMENT.module, data: { comment: text } };
  const made = sharedOrNew(p, COMMENT_ENTRY.id, slot, text, slot, intern);
  recentComments[1] = recentComments[0];
  recentComments[0] = { text, slot, instance: made };
  return made;
}

/**
 * The rule's match list: the list of one of the last few rules when it holds the same instances
 * (rules never change their matches in place, as they never change a shared instance), else a
 * new one of its exact size.
 */
function matchList(count: number, m0: MatchInstance, m1: MatchInstance | undefined, m2: MatchInstance | undefined): MatchInstance[] {
  for (let k = 0; k < recentLists.length; k++) {
    const list = recentLists[k] as MatchInstance[];
    if (list.length === count && list[0] === m0 && list[1] === m1 && list[2] === m2) return list;
  }
  const made: MatchInstance[] = new Array(count);
  made[0] = m0;
  if (m1 !== undefined) made[1] = m1;
  if (m2 !== undefined) made[2] = m2;
  if (recentLists.length >= 4) recentLists.pop();
  recentLists.unshift(made);
  return made;
}

/** The options as the general parser collects them (only made when the instance is new). */
function options(p: Pending): ParsedOption[] {
  if (p.info === STATISTIC) {
    return [
      { name: 'mode', args: ['random'], inverted: false },
      { name: 'probability', args: [p.value as string], inverted: false },
    ];
  }
  if (p.first === undefined) return [];
  const list: ParsedOption[] = [{ name: p.first.name, args: [p.value as string], inverted: false }];
  if (p.second !== undefined) list.push({ name: p.second.name, args: [p.secondValue as string], inverted: false });
  return list;
}
