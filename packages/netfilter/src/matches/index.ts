// The match extensions podnet knows, by `-m` name. Anything else is refused at restore time
// ("Couldn't load match"), never accepted silently.
import type { MatchModule } from '../rule.js';
import { addrtypeMatch } from './addrtype.js';
import { commentMatch, markMatch, nfacctMatch } from './basic.js';
import { conntrackMatch, stateMatch } from './conntrack.js';
import { icmpMatch, sctpMatch, tcpMatch, udpMatch } from './l4.js';
import { limitMatch } from './limit.js';
import { multiportMatch } from './multiport.js';
import { physdevMatch } from './physdev.js';
import { recentMatch } from './recent.js';
import { statisticMatch } from './statistic.js';

export const MATCHES: ReadonlyMap<string, MatchModule> = new Map(
  (
    [
      tcpMatch,
      udpMatch,
      sctpMatch,
      icmpMatch,
      multiportMatch,
      commentMatch,
      markMatch,
      nfacctMatch,
      statisticMatch,
      conntrackMatch,
      stateMatch,
      addrtypeMatch,
      recentMatch,
      physdevMatch,
      limitMatch,
    ] as MatchModule[]
  ).map((m) => [m.name, m]),
);

/** The match `-p NAME --dport` loads implicitly (libxtables load_proto). */
export const PROTOCOL_MATCHES: ReadonlyMap<number, MatchModule> = new Map([
  [6, tcpMatch as MatchModule],
  [17, udpMatch as MatchModule],
  [132, sctpMatch as MatchModule],
  [1, icmpMatch as MatchModule],
]);
