// `sh -c` of the toolbox: words with single/double quotes and backslashes, `$VAR` expansion from
// the environment, and lists joined by `&&`, `||` and `;` (POSIX XCU 2.9.3 AND-OR lists), which is
// what readiness/exec probes and `kubectl exec -- sh -c` one-liners use. Pipes, redirections other
// than `>/dev/null`/`2>&1`, and control structures are refused with a clear message.

export type ListOp = '&&' | '||' | ';';

export interface SimpleCommand {
  argv: string[];
  /** The operator that joins it to the previous command (undefined for the first). */
  op?: ListOp;
  /** stdout/stderr discarded (`>/dev/null`, `2>/dev/null`), or stderr to stdout (`2>&1`). */
  discardStdout?: boolean;
  discardStderr?: boolean;
  stderrToStdout?: boolean;
}

export class ShellSyntaxError extends Error {}

/** Splits a command line into AND-OR list elements. */
export function parseShell(script: string, env: Record<string, string>): SimpleCommand[] {
  const commands: SimpleCommand[] = [];
  let words: string[] = [];
  let word = '';
  let inWord = false;
  let op: ListOp | undefined;
  let current: SimpleCommand = { argv: [] };
  const endWord = () => {
    if (inWord) words.push(word);
    word = '';
    inWord = false;
  };
  const endCommand = (next: ListOp | undefined) => {
    endWord();
    const argv: string[] = [];
    for (let k = 0; k < words.length; k++) {
      const w = words[k] as string;
      if (w === '>/dev/null' || w === '1>/dev/null') current.discardStdout = true;
      else if (w === '2>/dev/null') current.discardStderr = true;
      else if (w === '2>&1') current.stderrToStdout = true;
      else if ((w === '>' || w === '1>' || w === '2>') && words[k + 1] === '/dev/null') {
        if (w === '2>') current.discardStderr = true;
        else current.discardStdout = true;
        k++;
      } else argv.push(w);
    }
    if (argv.length === 0) {
      if (next !== undefined || op !== undefined) throw new ShellSyntaxError(`sh: syntax error: unexpected "${next ?? op}"`);
      return;
    }
    current.argv = argv;
    if (op !== undefined) current.op = op;
    commands.push(current);
    current = { argv: [] };
    words = [];
    op = next;
  };
  const expand = (i: number): [string, number] => {
    // $NAME or ${NAME}
    if (script[i + 1] === '{') {
      const end = script.indexOf('}', i + 2);
      if (end < 0) throw new ShellSyntaxError('sh: syntax error: bad substitution');
      return [env[script.slice(i + 2, end)] ?? '', end];
    }
    const m = /^[A-Za-z_][A-Za-z0-9_]*|^\?/.exec(script.slice(i + 1));
    if (!m) return ['$', i];
    return [env[m[0]] ?? '', i + m[0].length];
  };
  for (let i = 0; i < script.length; i++) {
    const c = script[i] as string;
    if (c === "'") {
      const end = script.indexOf("'", i + 1);
      if (end < 0) throw new ShellSyntaxError('sh: syntax error: unterminated quoted string');
      word += script.slice(i + 1, end);
      inWord = true;
      i = end;
    } else if (c === '"') {
      inWord = true;
      let j = i + 1;
      for (; j < script.length && script[j] !== '"'; j++) {
        const d = script[j] as string;
        if (d === '\\' && j + 1 < script.length && '"\\$`'.includes(script[j + 1] as string)) word += script[++j];
        else if (d === '$') {
          const [v, end] = expand(j);
          word += v;
          j = end;
        } else word += d;
      }
      if (j >= script.length) throw new ShellSyntaxError('sh: syntax error: unterminated quoted string');
      i = j;
    } else if (c === '\\' && i + 1 < script.length) {
      word += script[++i];
      inWord = true;
    } else if (c === '$') {
      const [v, end] = expand(i);
      word += v;
      inWord = true;
      i = end;
    } else if (c === ' ' || c === '\t' || c === '\n') {
      if (c === '\n') endCommand(';');
      else endWord();
    } else if (c === '&' && script[i + 1] === '&') {
      endCommand('&&');
      i++;
    } else if (c === '|' && script[i + 1] === '|') {
      endCommand('||');
      i++;
    } else if (c === ';') {
      endCommand(';');
    } else if (c === '|' || c === '<' || c === '`' || c === '(' || c === ')') {
      throw new ShellSyntaxError(`sh: "${c}" is not supported by the podnet toolbox shell (only && || ; and >/dev/null, 2>&1)`);
    } else if (c === '&') {
      if (word === '2>') {
        word += c;
        inWord = true;
      } else throw new ShellSyntaxError('sh: background jobs ("&") are not supported by the podnet toolbox shell');
    } else {
      word += c;
      inWord = true;
    }
  }
  endCommand(undefined);
  if (op !== undefined && op !== ';') throw new ShellSyntaxError(`sh: syntax error: unexpected end of file after "${op}"`);
  return commands;
}
