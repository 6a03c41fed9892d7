// Lines of iptables-restore input (pkg/proxy/util LineBuffer): each rule is its words joined
// by single spaces; a word with whitespace (a comment) is double-quoted, as kube-proxy writes
// `-m comment --comment "ns1/svc1:p80 cluster IP"` but `--comment ns1/svc1:p80`.

export type Word = string | readonly Word[];

function flatten(words: readonly Word[], out: string[]): void {
  for (const w of words) {
    if (typeof w === 'string') out.push(w);
    else flatten(w, out);
  }
}

/** Quotes a comment the way kube-proxy's format strings do: only when it contains whitespace. */
export function quoteComment(text: string): string {
  if (text.includes('"')) throw new Error(`iptables comment must not contain a double quote: ${text}`);
  return /\s/.test(text) ? `"${text}"` : text;
}

export class LineBuffer {
  readonly #lines: string[] = [];

  write(...words: Word[]): void {
    const flat: string[] = [];
    flatten(words, flat);
    this.#lines.push(flat.join(' '));
  }

  get lines(): number {
    return this.#lines.length;
  }

  text(): string {
    return this.#lines.length === 0 ? '' : `${this.#lines.join('\n')}\n`;
  }
}

/** A buffer that counts what it is given and keeps nothing (the skipped chains of a partial sync). */
export class DiscardLineBuffer extends LineBuffer {
  #count = 0;
  override write(..._words: Word[]): void {
    this.#count++;
  }
  override get lines(): number {
    return this.#count;
  }
  override text(): string {
    return '';
  }
}

/** `:CHAIN - [0:0]`: declares (and, under --noflush, flushes) a user chain. */
export function chainLine(chain: string): string {
  return `:${chain} - [0:0]`;
}
