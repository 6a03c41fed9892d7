import { describe, expect, it } from 'vitest';
import { buildMatrix, diffMatrices, formatDifference, formatMatrix, parseMatrix } from './matrix.js';

const pods = ['x/a', 'x/b', 'y/a'];

describe('reachability matrices', () => {
  it('prints in the upstream style and reads it back', () => {
    const m = buildMatrix(pods, (f, t) => f === t || t !== 'x/a');
    const text = formatMatrix(m);
    expect(text).toBe('-\tx/a\tx/b\ty/a\nx/a\t.\t.\t.\nx/b\tX\t.\t.\ny/a\tX\t.\t.');
    expect(parseMatrix(text)).toEqual(m);
    expect(parseMatrix(`# expected\n-   x/a x/b y/a\n\nx/a . . .\nx/b X . .\ny/a x . .\n`)).toEqual(m);
  });

  it('lists the cells that differ', () => {
    const expected = buildMatrix(pods, () => true);
    const actual = buildMatrix(pods, (f, t) => !(f === 'y/a' && t === 'x/b'));
    expect(diffMatrices(expected, actual).map(formatDifference)).toEqual(['y/a -> x/b: expected ., got X']);
    expect(() =>
      diffMatrices(
        buildMatrix(['z/c'], () => true),
        actual,
      ),
    ).toThrow('the expected matrix names pods the probe did not reach: z/c');
  });

  it('says which line of a bad file is wrong', () => {
    expect(() => parseMatrix('x/a .', 'want.txt')).toThrow(/^want.txt:1: the first row must start with "-"/);
    expect(() => parseMatrix('- x/a x/b\nx/a . .\nx/b . ?', 'want.txt')).toThrow(/^want.txt:3: cell x\/b is "\?", not "." or "X"/);
    expect(() => parseMatrix('- x/a x/b\nx/a . .', 'want.txt')).toThrow(/^want.txt:2: 1 rows for 2 pods/);
    expect(() => parseMatrix('- x/a x/b\nx/b . .\nx/a . .', 'want.txt')).toThrow(/row 1 must be for x\/a, not "x\/b"/);
  });
});
