// -m recent (net/netfilter/xt_recent.c): named lists of addresses with the times they were seen,
// kept per network namespace on the injected clock. --set adds a hit; --rcheck / --update look the
// address up (within --seconds, at least --hitcount hits), --update also adds a hit when it matched;
// --remove deletes it. Each entry keeps the last ip_pkt_list_tot (20) hit times, as the module's
// default parameter. kube-proxy uses it for sessionAffinity: ClientIP.
import { formatIpv4 } from '@podnet/wire';
import { parseAddressMask } from '../address.js';
import { RuleError } from '../errors.js';
import type { MatchModule } from '../rule.js';
import { bang, once, parseCount } from './options.js';

// ip_pkt_list_tot (module default); an entry keeps max(this, --hitcount) times, and --hitcount
// must stay under XT_RECENT_MAX_NSTAMPS (256), as recent_mt_check allows.
const PKT_LIST_TOT = 20;
const MAX_NSTAMPS = 256;
type Command = 'set' | 'rcheck' | 'update' | 'remove';

export interface RecentData {
  command: Command;
  inverted: boolean;
  seconds: number;
  reap: boolean;
  hitcount: number;
  rttl: boolean;
  name: string;
  mask: number;
  side: 'rsource' | 'rdest';
}

export const recentMatch: MatchModule<RecentData> = {
  name: 'recent',
  options: {
    set: { args: 0, invertible: true },
    rcheck: { args: 0, invertible: true },
    update: { args: 0, invertible: true },
    remove: { args: 0, invertible: true },
    seconds: { args: 1 },
    reap: { args: 0 },
    hitcount: { args: 1 },
    rttl: { args: 0 },
    name: { args: 1 },
    mask: { args: 1 },
    rsource: { args: 0 },
    rdest: { args: 0 },
  },
  parse(options) {
    const o = once(options, 'recent');
    const commands = (['set', 'rcheck', 'update', 'remove'] as const).filter((c) => o.has(c));
    if (commands.length !== 1) {
      throw new RuleError(
        commands.length === 0
          ? "recent: you must specify one of `--set', `--rcheck' `--update' or `--remove'"
          : "recent: only one of `--set', `--rcheck' `--update' or `--remove' may be specified",
      );
    }
    const command = commands[0] as Command;
    const seconds = o.has('seconds') ? parseCount(o.get('seconds')?.args[0] as string, 'recent', 'seconds') : 0;
    const hitcount = o.has('hitcount') ? parseCount(o.get('hitcount')?.args[0] as string, 'recent', 'hitcount') : 0;
    const reap = o.has('reap');
    if (reap && seconds === 0) throw new RuleError('recent: --reap needs --seconds', '--reap');
    if (hitcount >= MAX_NSTAMPS) throw new RuleError(`recent: --hitcount must be under ${MAX_NSTAMPS}`, String(hitcount));
    if ((seconds || hitcount) && (command === 'set' || command === 'remove')) {
      throw new RuleError('recent: --seconds and --hitcount go with --rcheck or --update', command === 'set' ? '--set' : '--remove');
    }
    if (o.has('rsource') && o.has('rdest')) throw new RuleError('recent: --rsource and --rdest are exclusive', '--rdest');
    const name = o.get('name')?.args[0] ?? 'DEFAULT';
    if (name.length === 0 || name.length > 199 || !/^[\x21-\x7e]+$/.test(name) || name.includes('/')) {
      throw new RuleError(`recent: illegal name "${name}"`, name);
    }
    const maskText = o.get('mask')?.args[0];
    const mask = maskText === undefined ? 0xffffffff : parseAddressMask(maskText).address;
    return {
      command,
      inverted: o.get(command)?.inverted ?? false,
      seconds,
      reap,
      hitcount,
      rttl: o.has('rttl'),
      name,
      mask,
      side: o.has('rdest') ? 'rdest' : 'rsource',
    };
  },
  save(d) {
    let s = `${bang(d.inverted)} --${d.command}`;
    if (d.seconds) s += ` --seconds ${d.seconds}`;
    if (d.reap) s += ' --reap';
    if (d.hitcount) s += ` --hitcount ${d.hitcount}`;
    if (d.rttl) s += ' --rttl';
    s += ` --name ${d.name} --mask ${formatIpv4(d.mask)} --${d.side}`;
    return s;
  },
  compile(d, services) {
    let table = services.recentTables.get(d.name);
    if (!table) {
      table = new Map();
      services.recentTables.set(d.name, table);
    }
    const list = table;
    const clock = services.clock;
    const { command, inverted, mask, hitcount, reap } = d;
    const windowMs = d.seconds * 1000;
    const useSource = d.side === 'rsource';
    const keep = Math.max(PKT_LIST_TOT, hitcount);
    const addHit = (key: number, now: number) => {
      const hits = list.get(key);
      if (!hits) list.set(key, [now]);
      else {
        hits.push(now);
        if (hits.length > keep) hits.shift();
      }
    };
    return (f) => {
      const key = ((useSource ? f.src : f.dst) & mask) >>> 0;
      const now = clock.now();
      if (command === 'set') {
        addHit(key, now);
        return !inverted;
      }
      const hits = list.get(key);
      if (!hits) return inverted;
      if (command === 'remove') {
        list.delete(key);
        return !inverted;
      }
      let matched: boolean;
      if (windowMs || hitcount) {
        const since = now - windowMs;
        let n = 0;
        matched = false;
        for (const t of hits) {
          if (windowMs && t < since) continue;
          if (!hitcount || ++n >= hitcount) {
            matched = true;
            break;
          }
        }
        if (reap && windowMs) {
          const kept = hits.filter((t) => t >= since);
          if (kept.length === 0) list.delete(key);
          else list.set(key, kept);
        }
      } else {
        matched = true;
      }
      if (command === 'update' && matched) addHit(key, now);
      return matched !== inverted;
    };
  },
  list(d) {
    const verb = { set: 'SET', rcheck: 'CHECK', update: 'UPDATE', remove: 'REMOVE' }[d.command];
    const parts = [`${d.inverted ? '! ' : ''}recent: ${verb}`];
    if (d.seconds) parts.push(`seconds: ${d.seconds}`);
    if (d.reap) parts.push('reap');
    if (d.hitcount) parts.push(`hit_count: ${d.hitcount}`);
    if (d.rttl) parts.push('TTL-Match');
    parts.push(`name: ${d.name}`, d.side === 'rsource' ? 'side: source' : 'side: dest', `mask: ${formatIpv4(d.mask)}`);
    return parts.join(' ');
  },
};
