// A small POSIX getopt(3) with GNU long options, so toolbox commands parse flags as the real tools
// do: bundled short flags (`-qO-`), attached or separate values (`-m5`, `-m 5`), `--long=value`,
// `--` ending options, and operands anywhere (GNU permutation) unless `posixlyCorrect`.

export interface OptSpec {
  /** Short option letters; a trailing ':' means it takes a value (getopt's optstring). */
  short: string;
  /** Long names; a trailing '=' means it takes a value. Mapped to `longToShort[name]` when given. */
  long?: string[];
  longToShort?: Record<string, string>;
  /** Stop at the first operand (as POSIX, and as `sh -c` needs). */
  posixlyCorrect?: boolean;
}

export interface ParsedOpts {
  /** Each option in order, with its value (true for flags). */
  options: Array<[string, string | true]>;
  operands: string[];
}

export class GetoptError extends Error {
  constructor(
    readonly kind: 'unknown' | 'missing-value',
    readonly option: string,
  ) {
    super(kind === 'unknown' ? `unknown option ${option}` : `option ${option} requires an argument`);
  }
}

export function getopt(argv: string[], spec: OptSpec): ParsedOpts {
  const takes = new Map<string, boolean>();
  for (let i = 0; i < spec.short.length; i++) {
    const c = spec.short[i] as string;
    if (c === ':') continue;
    takes.set(c, spec.short[i + 1] === ':');
  }
  const longTakes = new Map<string, boolean>();
  for (const l of spec.long ?? []) longTakes.set(l.replace(/=$/, ''), l.endsWith('='));
  const options: Array<[string, string | true]> = [];
  const operands: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') {
      operands.push(...argv.slice(i + 1));
      break;
    }
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = arg.slice(2, eq < 0 ? undefined : eq);
      const t = longTakes.get(name);
      if (t === undefined) throw new GetoptError('unknown', `--${name}`);
      const key = spec.longToShort?.[name] ?? name;
      if (t) {
        let value: string | undefined = eq >= 0 ? arg.slice(eq + 1) : argv[++i];
        if (value === undefined) throw new GetoptError('missing-value', `--${name}`);
        options.push([key, value]);
        value = undefined;
      } else options.push([key, true]);
      continue;
    }
    if (arg.startsWith('-') && arg.length > 1) {
      for (let j = 1; j < arg.length; j++) {
        const c = arg[j] as string;
        const t = takes.get(c);
        if (t === undefined) throw new GetoptError('unknown', `-${c}`);
        if (!t) {
          options.push([c, true]);
          continue;
        }
        const rest = arg.slice(j + 1);
        const value = rest !== '' ? rest : argv[++i];
        if (value === undefined) throw new GetoptError('missing-value', `-${c}`);
        options.push([c, value]);
        break;
      }
      continue;
    }
    if (spec.posixlyCorrect) {
      operands.push(...argv.slice(i));
      break;
    }
    operands.push(arg);
  }
  return { options, operands };
}

/** The last value of an option, or undefined. */
export function opt(p: ParsedOpts, key: string): string | true | undefined {
  let v: string | true | undefined;
  for (const [k, x] of p.options) if (k === key) v = x;
  return v;
}

/** Every value of a repeatable option (-H a -H b). */
export function opts(p: ParsedOpts, key: string): string[] {
  return p.options.filter(([k, v]) => k === key && typeof v === 'string').map(([, v]) => v as string);
}
