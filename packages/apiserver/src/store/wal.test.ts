import { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeRecord, listSegments, readSegment, recoverLog, segmentName, WalWriter } from './wal.ts';

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), `podnet-wal-${process.pid}-`));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('WAL', () => {
  it('group-commits concurrent appends and reads them back in order', async () => {
    const d = tmp();
    const w = await WalWriter.open(d, 1);
    await Promise.all(Array.from({ length: 200 }, (_, i) => w.append({ rv: i + 1 })));
    await w.close();
    expect(recoverLog(d).records).toEqual(Array.from({ length: 200 }, (_, i) => ({ rv: i + 1 })));
  });

  it('detects a torn last record (short write) and truncates it', async () => {
    const d = tmp();
    const w = await WalWriter.open(d, 1);
    await w.append({ rv: 1 });
    await w.append({ rv: 2 });
    await w.close();
    const file = join(d, segmentName(1));
    const whole = statSync(file).size;
    appendFileSync(file, encodeRecord({ rv: 3, big: 'x'.repeat(100) }).subarray(0, 30));
    const r = recoverLog(d);
    expect(r.records).toEqual([{ rv: 1 }, { rv: 2 }]);
    expect(r.truncatedBytes).toBe(30);
    expect(statSync(file).size).toBe(whole);
    // Appending after recovery continues a clean log.
    const w2 = await WalWriter.open(d, 3);
    await w2.append({ rv: 3 });
    await w2.close();
    expect(recoverLog(d).records).toEqual([{ rv: 1 }, { rv: 2 }, { rv: 3 }]);
  });

  it('detects a record whose checksum does not match (a flipped byte)', () => {
    const d = tmp();
    const good = encodeRecord({ rv: 1 });
    const bad = Buffer.from(encodeRecord({ rv: 2 }));
    bad.writeUInt8(bad.readUInt8(bad.length - 2) ^ 0xff, bad.length - 2);
    writeFileSync(join(d, segmentName(1)), Buffer.concat([good, bad]));
    expect(readSegment(readFileSync(join(d, segmentName(1)))).records).toEqual([{ rv: 1 }]);
    expect(recoverLog(d).records).toEqual([{ rv: 1 }]);
  });

  it('refuses damage in a segment that is not the last one', () => {
    const d = tmp();
    writeFileSync(join(d, segmentName(1)), Buffer.concat([encodeRecord({ rv: 1 }), Buffer.from([1, 2, 3])]));
    writeFileSync(join(d, segmentName(2)), encodeRecord({ rv: 2 }));
    expect(() => recoverLog(d)).toThrow(/PODNET_ERR_WAL_CORRUPT.*not a torn write/);
  });

  it('rotates segments in order with the queued records', async () => {
    const d = tmp();
    const w = await WalWriter.open(d, 1);
    const a = w.append({ rv: 1 });
    const r = w.rotate(2);
    const b = w.append({ rv: 2 });
    await Promise.all([a, r, b]);
    await w.close();
    expect(listSegments(d).map((s) => s.firstRv)).toEqual([1, 2]);
    expect(readSegment(readFileSync(join(d, segmentName(2)))).records).toEqual([{ rv: 2 }]);
  });
});
