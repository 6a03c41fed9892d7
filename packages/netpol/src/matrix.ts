// Reachability matrices as the upstream NetworkPolicy e2e suite prints them
// (test/e2e/network/netpol/truthtable.go PrettyPrint): a header row "-" then the pod names, one
// row per source pod, `.` for allowed and `X` for denied, tab-separated; for `podnet netpol probe`
// (print, `--expect FILE` to compare, `--json`). Pure: the probing is the caller's.
import { NetpolError, NetpolErrorCodes } from './errors.js';

export interface Matrix {
  /** Pod names (namespace/name), the same order for rows (sources) and columns (destinations). */
  pods: string[];
  /** allowed[from][to] */
  allowed: boolean[][];
}

export interface MatrixDifference {
  from: string;
  to: string;
  expected: boolean;
  actual: boolean;
}

export function buildMatrix(pods: readonly string[], verdict: (from: string, to: string) => boolean): Matrix {
  return { pods: [...pods], allowed: pods.map((from) => pods.map((to) => verdict(from, to))) };
}

export function formatMatrix(m: Matrix): string {
  const rows = [['-', ...m.pods].join('\t')];
  m.pods.forEach((from, i) => {
    rows.push([from, ...m.pods.map((_, j) => (m.allowed[i]?.[j] ? '.' : 'X'))].join('\t'));
  });
  return rows.join('\n');
}

/** Reads a matrix in that format (tabs or spaces; blank lines and `#` comments ignored). Errors name the line. */
export function parseMatrix(text: string, source = 'matrix'): Matrix {
  const lines = text
    .split('\n')
    .map((l, i) => ({ n: i + 1, words: l.trim().split(/\s+/) }))
    .filter((l) => l.words[0] !== '' && !l.words[0]?.startsWith('#'));
  const header = lines[0];
  const bad = (n: number, what: string) =>
    new NetpolError(
      NetpolErrorCodes.MATRIX,
      `${source}:${n}: ${what} (expected the probe's format: a "-" header row of pods, then one row per pod of "." or "X")`,
    );
  if (header === undefined || header.words[0] !== '-') throw bad(header?.n ?? 1, 'the first row must start with "-"');
  const pods = header.words.slice(1);
  if (pods.length === 0 || new Set(pods).size !== pods.length) throw bad(header.n, 'the header must name each pod once');
  const rows = lines.slice(1);
  if (rows.length !== pods.length) throw bad(rows.at(-1)?.n ?? header.n, `${rows.length} rows for ${pods.length} pods`);
  const allowed = rows.map((row, i) => {
    if (row.words[0] !== pods[i]) throw bad(row.n, `row ${i + 1} must be for ${pods[i]}, not "${row.words[0]}"`);
    const cells = row.words.slice(1);
    if (cells.length !== pods.length) throw bad(row.n, `${cells.length} cells for ${pods.length} pods`);
    return cells.map((c, j) => {
      if (c === '.') return true;
      if (c === 'X' || c === 'x') return false;
      throw bad(row.n, `cell ${pods[j]} is "${c}", not "." or "X"`);
    });
  });
  return { pods, allowed };
}

/** The cells that differ; pods missing from either matrix are an error (the probe and the file disagree on the model). */
export function diffMatrices(expected: Matrix, actual: Matrix): MatrixDifference[] {
  const missing = expected.pods.filter((p) => !actual.pods.includes(p));
  if (missing.length > 0) {
    throw new NetpolError(NetpolErrorCodes.MATRIX, `the expected matrix names pods the probe did not reach: ${missing.join(', ')}`);
  }
  const out: MatrixDifference[] = [];
  expected.pods.forEach((from, i) => {
    expected.pods.forEach((to, j) => {
      const e = expected.allowed[i]?.[j] ?? false;
      const a = actual.allowed[actual.pods.indexOf(from)]?.[actual.pods.indexOf(to)] ?? false;
      if (e !== a) out.push({ from, to, expected: e, actual: a });
    });
  });
  return out;
}

export const formatDifference = (d: MatrixDifference): string =>
  `${d.from} -> ${d.to}: expected ${d.expected ? '.' : 'X'}, got ${d.actual ? '.' : 'X'}`;
