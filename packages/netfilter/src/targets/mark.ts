// -j MARK (net/netfilter/xt_mark.c, revision 2): every form is stored as the kernel stores it,
// value/mask with mark = (mark & ~mask) ^ value, and printed as `--set-xmark value/mask`
// (libxt_MARK mark_tg_save): --or-mark 0x4000 comes back as --set-xmark 0x4000/0x4000.
import { RuleError } from '../errors.js';
import { hex, parseUint32, parseValueMask } from '../matches/options.js';
import type { TargetModule } from '../rule.js';

export interface MarkTargetData {
  value: number;
  mask: number;
}

export const markTarget: TargetModule<MarkTargetData> = {
  name: 'MARK',
  terminal: false,
  options: {
    'set-mark': { args: 1 },
    'set-xmark': { args: 1 },
    'or-mark': { args: 1 },
    'and-mark': { args: 1 },
    'xor-mark': { args: 1 },
  },
  parse(options) {
    if (options.length !== 1) {
      throw new RuleError(
        options.length === 0 ? 'MARK target: Parameter --set/and/or/xor-mark is required' : 'MARK target: only one action may be given',
        `--${options[1]?.name ?? ''}`,
      );
    }
    const o = options[0] as (typeof options)[number];
    const arg = o.args[0] as string;
    switch (o.name) {
      case 'set-xmark': {
        const { value, mask } = parseValueMask(arg, 'MARK');
        return { value, mask: mask ?? 0xffffffff };
      }
      case 'set-mark': {
        const { value, mask } = parseValueMask(arg, 'MARK');
        return { value, mask: ((mask ?? 0xffffffff) | value) >>> 0 };
      }
      case 'or-mark': {
        const v = parseUint32(arg, 'MARK');
        return { value: v, mask: v };
      }
      case 'and-mark':
        return { value: 0, mask: ~parseUint32(arg, 'MARK') >>> 0 };
      default:
        return { value: parseUint32(arg, 'MARK'), mask: 0 };
    }
  },
  save: (d) => ` --set-xmark ${hex(d.value)}/${hex(d.mask)}`,
  compile(d) {
    const keep = ~d.mask >>> 0;
    const value = d.value;
    return (_f, env) => {
      env.state.mark = ((env.state.mark & keep) ^ value) >>> 0;
      return undefined;
    };
  },
  // libxt_MARK mark_tg_print: the simplest form that says what the value/mask pair does.
  list(d) {
    if (d.mask === 0xffffffff) return `MARK set ${hex(d.value)}`;
    if (d.value === 0) return `MARK and ${hex(~d.mask >>> 0)}`;
    if (d.value === d.mask) return `MARK or ${hex(d.value)}`;
    if (d.mask === 0) return `MARK xor ${hex(d.value)}`;
    return `MARK xset ${hex(d.value)}/${hex(d.mask)}`;
  },
};
