// -j LOG (net/netfilter/xt_LOG.c) and -j TRACE (xt_TRACE.c, raw table only): both continue with
// the next rule. LOG writes one line like the kernel's nf_log_ip_packet to the log sink; TRACE
// sets the packet's trace flag, so every later rule it hits is reported (nf_log_trace).
import { formatIpv4 } from '@podnet/wire';
import { RuleError } from '../errors.js';
import { once } from '../matches/options.js';
import { protocolName } from '../protocols.js';
import type { TargetModule } from '../rule.js';
import { quoteWord } from '../tokenize.js';

const LEVELS = ['emerg', 'alert', 'crit', 'error', 'warning', 'notice', 'info', 'debug'];

export interface LogData {
  prefix: string;
  level: number;
}

export const logTarget: TargetModule<LogData> = {
  name: 'LOG',
  terminal: false,
  options: {
    'log-level': { args: 1 },
    'log-prefix': { args: 1 },
    'log-tcp-sequence': { args: 0 },
    'log-tcp-options': { args: 0 },
    'log-ip-options': { args: 0 },
    'log-uid': { args: 0 },
  },
  parse(options) {
    const o = once(options, 'LOG');
    const prefix = o.get('log-prefix')?.args[0] ?? '';
    if (prefix.length > 29) throw new RuleError('Maximum prefix length 29 for --log-prefix', prefix);
    const levelText = o.get('log-level')?.args[0];
    let level = 4;
    if (levelText !== undefined) {
      const named =
        LEVELS.indexOf(levelText.toLowerCase()) >= 0
          ? LEVELS.indexOf(levelText.toLowerCase())
          : levelText === 'panic'
            ? 0
            : levelText === 'err'
              ? 3
              : levelText === 'warn'
                ? 4
                : -1;
      level = named >= 0 ? named : /^[0-7]$/.test(levelText) ? Number(levelText) : -1;
      if (level < 0) throw new RuleError(`log-level \`${levelText}' unknown`, levelText);
    }
    return { prefix, level };
  },
  save: (d) => `${d.prefix !== '' ? ` --log-prefix ${quoteWord(d.prefix)}` : ''}${d.level !== 4 ? ` --log-level ${d.level}` : ''}`,
  compile(d, services) {
    return (f, env) => {
      const ports =
        f.hasL4 && f.protocol !== 1
          ? ` SPT=${f.srcPort} DPT=${f.dstPort}`
          : f.protocol === 1 && f.hasL4
            ? ` TYPE=${f.icmpType} CODE=${f.icmpCode}`
            : '';
      services.emitLog(
        `${d.prefix}IN=${env.context.inInterface ?? ''} OUT=${env.context.outInterface ?? ''} SRC=${formatIpv4(f.src)} DST=${formatIpv4(f.dst)} LEN=${f.length} PROTO=${protocolName(f.protocol).toUpperCase()}${ports}${env.state.mark ? ` MARK=0x${env.state.mark.toString(16)}` : ''}`,
        env,
      );
      return undefined;
    };
  },
  list: (d) => `LOG flags 0 level ${d.level}${d.prefix ? ` prefix "${d.prefix}"` : ''}`,
};

export const traceTarget: TargetModule<Record<string, never>> = {
  name: 'TRACE',
  terminal: false,
  tables: ['raw'],
  options: {},
  parse: () => ({}),
  save: () => '',
  compile: () => (_f, env) => {
    env.state.trace = true;
    return undefined;
  },
};
