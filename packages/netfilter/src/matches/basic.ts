// -m comment (xt_comment: never affects matching), -m mark (xt_mark: (skb->mark & mask) == value),
// -m nfacct (xt_nfacct: counts into a named accounting object that must already exist, as
// `nfacct add NAME` creates it; kube-proxy checks for it before using it).
import { RuleError } from '../errors.js';
import type { MatchModule } from '../rule.js';
import { quoteWord } from '../tokenize.js';
import { bang, hex, once, parseValueMask } from './options.js';

export const commentMatch: MatchModule<{ comment: string }> = {
  name: 'comment',
  options: { comment: { args: 1 } },
  parse(options) {
    const o = once(options, 'comment').get('comment');
    if (!o) throw new RuleError('comment: option "--comment" must be specified');
    const comment = o.args[0] as string;
    // XT_MAX_COMMENT_LEN is 256 including the terminating NUL.
    if (Buffer.byteLength(comment) > 255) throw new RuleError('comment: comment too long (max 255 characters)', comment);
    return { comment };
  },
  save: (d) => ` --comment ${quoteWord(d.comment)}`,
  compile: () => () => true,
  list: (d) => `/* ${d.comment} */`,
};

export interface MarkData {
  value: number;
  mask: number;
  inverted: boolean;
}

export const markMatch: MatchModule<MarkData> = {
  name: 'mark',
  options: { mark: { args: 1, invertible: true } },
  parse(options) {
    const o = once(options, 'mark').get('mark');
    if (!o) throw new RuleError('mark: option "--mark" must be specified');
    const { value, mask } = parseValueMask(o.args[0] as string, 'mark');
    return { value, mask: mask ?? 0xffffffff, inverted: o.inverted };
  },
  save: (d) => `${bang(d.inverted)} --mark ${hex(d.value)}${d.mask === 0xffffffff ? '' : `/${hex(d.mask)}`}`,
  compile(d) {
    const { value, mask, inverted } = d;
    return (_f, env) => ((env.state.mark & mask) >>> 0 === value) !== inverted;
  },
  list: (d) => `mark match ${d.inverted ? '! ' : ''}${hex(d.value)}${d.mask === 0xffffffff ? '' : `/${hex(d.mask)}`}`,
};

export const nfacctMatch: MatchModule<{ name: string }> = {
  name: 'nfacct',
  options: { 'nfacct-name': { args: 1 } },
  parse(options) {
    const o = once(options, 'nfacct').get('nfacct-name');
    if (!o) throw new RuleError("nfacct: you must specify `--nfacct-name'");
    const name = o.args[0] as string;
    if (name.length === 0 || name.length > 31) throw new RuleError('nfacct: name too long (max 31 characters)', name);
    return { name };
  },
  save: (d) => ` --nfacct-name ${quoteWord(d.name)}`,
  check: (d, services) => (services.nfacct.has(d.name) ? undefined : `nfacct: accounting object \`${d.name}' does not exist`),
  compile(d, services) {
    let counter = services.nfacct.get(d.name);
    if (!counter) {
      // Checked at restore; recreated if it was removed since (the kernel holds a reference).
      counter = { packets: 0, bytes: 0 };
      services.nfacct.set(d.name, counter);
    }
    const c = counter;
    return (f) => {
      c.packets++;
      c.bytes += f.length;
      return true;
    };
  },
  list: (d) => `nfacct-name  ${d.name}`,
};
