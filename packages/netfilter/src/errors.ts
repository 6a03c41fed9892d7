// Error codes of the netfilter package (DESIGN §6.10: stable PODNET_ERR_* codes, one catalogue per package).
import { PodnetError } from '@podnet/wire';

export const NetfilterErrorCodes = {
  /** iptables-restore input that the real iptables-restore (or the kernel at COMMIT) refuses. */
  RESTORE: 'PODNET_ERR_IPTABLES_RESTORE',
  /** An `iptables` command (-A/-I/-D/-N/-X/-F) that iptables refuses. */
  COMMAND: 'PODNET_ERR_IPTABLES_COMMAND',
} as const;

/**
 * A refused restore or command. Nothing was changed. `line` is the 1-based input line that failed
 * (the rule's own line for checks the kernel makes at COMMIT, which is more useful than the COMMIT
 * line iptables-restore names), `word` the token that was wrong when one was.
 */
export class IptablesError extends PodnetError {
  readonly line: number | undefined;
  readonly word: string | undefined;
  readonly reason: string;
  constructor(reason: string, line?: number, word?: string, code: string = NetfilterErrorCodes.RESTORE) {
    super(code as never, line === undefined ? `iptables: ${reason}` : `iptables-restore: line ${line} failed: ${reason}`);
    this.name = 'IptablesError';
    this.line = line;
    this.word = word;
    this.reason = reason;
  }
}

/** Thrown by option parsers; the rule parser adds the line. */
export class RuleError extends Error {
  readonly word: string | undefined;
  /** Set when the error is about a rule whose input line is known (commit-time checks). */
  line: number | undefined;
  constructor(message: string, word?: string) {
    super(message);
    this.name = 'RuleError';
    this.word = word;
  }
}
