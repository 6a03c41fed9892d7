import {
  closeSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeRecord, listSegments, MAX_BATCH_BYTES, readSegment, recoverLog, SPARE_NAME, segmentName, WalWriter } from './wal.ts';

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), `podnet-wal-${process.pid}-`));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const SEG = 4096;
const rvs = (records: unknown[]) => records.map((r) => (r as { rv: number }).rv);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
/** Writes `bytes` into `file` at `offset` without changing its size (as a crash leaves a partial write). */
const writeAt = (file: string, bytes: Buffer, offset: number) => {
  const fd = openSync(file, 'r+');
  writeSync(fd, bytes, 0, bytes.length, offset);
  closeSync(fd);
};
async function writeLog(d: string, from: number, to: number, segmentBytes = SEG): Promise<void> {
  const w = await WalWriter.open(d, from, { segmentBytes });
  for (const rv of range(from, to)) await w.append({ rv, pad: 'p'.repeat(40) }, rv);
  await w.close();
}

describe('WAL', () => {
  it('group-commits concurrent appends in place in a preallocated segment, with one spare ready', async () => {
    const d = tmp();
    const w = await WalWriter.open(d, 1, { segmentBytes: 1 << 20 });
    await Promise.all(range(1, 200).map((rv) => w.append({ rv }, rv)));
    const used = w.segmentBytesUsed;
    await w.close();
    expect(rvs(recoverLog(d).records)).toEqual(range(1, 200));
    // Written in place: the file keeps its preallocated size, zeros after the last record.
    expect(statSync(join(d, segmentName(1))).size).toBe(1 << 20);
    expect(statSync(join(d, SPARE_NAME)).size).toBe(1 << 20);
    const bytes = readFileSync(join(d, segmentName(1)));
    expect(bytes.subarray(used).every((b) => b === 0)).toBe(true);
  });

  it('recovers a preallocated segment with a zero tail and continues after its last record', async () => {
    const d = tmp();
    await writeLog(d, 1, 5);
    const r = recoverLog(d);
    expect(rvs(r.records)).toEqual(range(1, 5));
    expect(r.truncatedBytes).toBe(0);
    expect(readSegment(readFileSync(join(d, segmentName(1)))).trailingBytes).toBe(0);
    await writeLog(d, 6, 8);
    expect(rvs(recoverLog(d).records)).toEqual(range(1, 8));
    expect(listSegments(d).map((s) => s.name)).toEqual([segmentName(1)]);
  });

  it('zeroes a torn record followed by zeros, keeping the preallocated size and the good records', async () => {
    const d = tmp();
    await writeLog(d, 1, 2);
    const file = join(d, segmentName(1));
    const end = readSegment(readFileSync(file)).validBytes;
    writeAt(file, encodeRecord({ rv: 3, big: 'x'.repeat(100) }).subarray(0, 30), end);
    const r = recoverLog(d);
    expect(rvs(r.records)).toEqual([1, 2]);
    expect(r.truncatedBytes).toBe(30);
    expect(statSync(file).size).toBe(SEG);
    expect(
      readFileSync(file)
        .subarray(end)
        .every((b) => b === 0),
    ).toBe(true);
    await writeLog(d, 3, 3);
    expect(rvs(recoverLog(d).records)).toEqual([1, 2, 3]);
  });

  it('treats a lost first page of the last batch (zero header, written bytes after it) as torn', async () => {
    const d = tmp();
    await writeLog(d, 1, 2);
    const file = join(d, segmentName(1));
    const end = readSegment(readFileSync(file)).validBytes;
    writeAt(file, Buffer.from('later page of the batch'), end + 1000);
    const r = recoverLog(d);
    expect(rvs(r.records)).toEqual([1, 2]);
    expect(r.truncatedBytes).toBe(1000 + 23);
    expect(recoverLog(d).truncatedBytes).toBe(0);
  });

  it('detects a record whose checksum does not match (a flipped byte)', () => {
    const d = tmp();
    const good = encodeRecord({ rv: 1 });
    const bad = Buffer.from(encodeRecord({ rv: 2 }));
    bad.writeUInt8(bad.readUInt8(bad.length - 2) ^ 0xff, bad.length - 2);
    writeFileSync(join(d, segmentName(1)), Buffer.concat([good, bad, Buffer.alloc(100)]));
    expect(readSegment(readFileSync(join(d, segmentName(1)))).records).toEqual([{ rv: 1 }]);
    expect(recoverLog(d).records).toEqual([{ rv: 1 }]);
  });

  it('refuses damage in a segment that is not the last one, naming file and offset', () => {
    const d = tmp();
    const first = encodeRecord({ rv: 1 });
    writeFileSync(join(d, segmentName(1)), Buffer.concat([first, Buffer.from([1, 2, 3]), Buffer.alloc(50)]));
    writeFileSync(join(d, segmentName(2)), encodeRecord({ rv: 2 }));
    expect(() => recoverLog(d)).toThrow(
      new RegExp(`PODNET_ERR_WAL_CORRUPT.*${segmentName(1)}: bad record at byte ${first.length} .*not a torn write`),
    );
  });

  it('refuses non-zero bytes further than one batch past the last good record of the last segment', () => {
    const d = tmp();
    const first = encodeRecord({ rv: 1 });
    const bytes = Buffer.alloc(MAX_BATCH_BYTES + 64 * 1024);
    first.copy(bytes, 0);
    bytes[first.length + MAX_BATCH_BYTES + 10] = 7;
    writeFileSync(join(d, segmentName(1)), bytes);
    expect(() => recoverLog(d)).toThrow(new RegExp(`${segmentName(1)}: bad record at byte ${first.length} .*not a torn write`));
    // Nothing was changed.
    expect(readFileSync(join(d, segmentName(1))).equals(bytes)).toBe(true);
  });

  it('switches to the spare when a segment is full, naming it by its first rv, and keeps one spare', async () => {
    const d = tmp();
    const switched: string[] = [];
    const w = await WalWriter.open(d, 1, { segmentBytes: SEG, onSwitch: (s) => switched.push(s) });
    for (const rv of range(1, 400)) await w.append({ rv, pad: 'p'.repeat(40) }, rv);
    await w.close();
    const segs = listSegments(d);
    expect(segs.length).toBeGreaterThan(5);
    expect(switched).toEqual(segs.map((s) => s.name)); // the first one too, made at open
    expect(readdirSync(d).filter((n) => n.endsWith('.tmp'))).toEqual([SPARE_NAME]);
    for (const s of segs) {
      expect(statSync(join(d, s.name)).size).toBe(SEG);
      expect(rvs(readSegment(readFileSync(join(d, s.name))).records)[0]).toBe(s.firstRv);
    }
    expect(rvs(recoverLog(d).records)).toEqual(range(1, 400));
  });

  it('recovers from a crash between "next segment prepared" and "switched", reusing the spare', async () => {
    const d = tmp();
    await writeLog(d, 1, 40); // 40 records of ~70 bytes: the first segment is nearly full.
    // The state a kill -9 leaves after the spare is synced and before the switch's rename.
    const spareIno = statSync(join(d, SPARE_NAME)).ino;
    expect(rvs(recoverLog(d).records)).toEqual(range(1, 40));
    const w = await WalWriter.open(d, 41, { segmentBytes: SEG });
    for (const rv of range(41, 80)) await w.append({ rv, pad: 'p'.repeat(40) }, rv);
    await w.close();
    const second = listSegments(d)[1];
    expect(second).toBeDefined();
    expect(statSync(join(d, second?.name ?? '')).ino).toBe(spareIno);
    expect(rvs(recoverLog(d).records)).toEqual(range(1, 80));
  });

  it('recovers from a crash after the switch renamed the spare but before its first record', async () => {
    const d = tmp();
    await writeLog(d, 1, 10);
    renameSync(join(d, SPARE_NAME), join(d, segmentName(11)));
    expect(rvs(recoverLog(d).records)).toEqual(range(1, 10));
    await writeLog(d, 11, 12);
    expect(listSegments(d).map((s) => s.firstRv)).toEqual([1, 11]);
    expect(rvs(readSegment(readFileSync(join(d, segmentName(11)))).records)).toEqual([11, 12]);
  });

  it('makes a spare again when a crash cut it off while it was being zero-filled', async () => {
    const d = tmp();
    await writeLog(d, 1, 10);
    truncateSync(join(d, SPARE_NAME), 100);
    await writeLog(d, 11, 12);
    expect(statSync(join(d, SPARE_NAME)).size).toBe(SEG);
  });

  it('continues an old, not preallocated segment by switching to a preallocated one', async () => {
    const d = tmp();
    writeFileSync(join(d, segmentName(1)), Buffer.concat([encodeRecord({ rv: 1 }), encodeRecord({ rv: 2 })]));
    await writeLog(d, 3, 4);
    expect(listSegments(d).map((s) => s.firstRv)).toEqual([1, 3]);
    expect(rvs(recoverLog(d).records)).toEqual([1, 2, 3, 4]);
  });

  it('writes a record larger than a segment into a segment of its own', async () => {
    const d = tmp();
    const w = await WalWriter.open(d, 1, { segmentBytes: SEG });
    await w.append({ rv: 1 }, 1);
    await w.append({ rv: 2, big: 'b'.repeat(3 * SEG) }, 2);
    await w.append({ rv: 3 }, 3);
    await w.close();
    expect(listSegments(d).map((s) => s.firstRv)).toEqual([1, 2, 3]);
    expect(rvs(recoverLog(d).records)).toEqual([1, 2, 3]);
  });

  it('refuses every append after a failed write, with a clear error, until reopened', async () => {
    const d = tmp();
    const w = await WalWriter.open(d, 1, { segmentBytes: SEG });
    await w.append({ rv: 1 }, 1);
    // Pull the file out from under the writer: the next write fails (EBADF).
    await (w as unknown as { fh: { close(): Promise<void> } }).fh.close();
    await expect(w.append({ rv: 2 }, 2)).rejects.toThrow(/PODNET_ERR_WAL_WRITE: writing the write-ahead log .* failed/);
    await expect(w.append({ rv: 3 }, 3)).rejects.toThrow(/no write is accepted until the API server restarts/);
    await w.close();
    expect(rvs(recoverLog(d).records)).toEqual([1]);
  });

  it('deletes only segments a snapshot covers entirely, never the current one', async () => {
    const d = tmp();
    const w = await WalWriter.open(d, 1, { segmentBytes: SEG });
    for (const rv of range(1, 200)) await w.append({ rv, pad: 'p'.repeat(40) }, rv);
    const segs = listSegments(d);
    const third = segs[2]?.firstRv ?? 0;
    w.deleteSegmentsThrough(third); // the third segment also holds records after `third`
    expect(listSegments(d)[0]?.firstRv).toBe(third);
    w.deleteSegmentsThrough(200);
    expect(listSegments(d).map((s) => s.name)).toEqual([w.segment]);
    await w.close();
    expect(rvs(recoverLog(d).records).at(-1)).toBe(200);
  });
});
