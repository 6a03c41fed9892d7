// Write-ahead log: every acknowledged write is a record here, fsync'd (fdatasync) before the
// write is acknowledged. Writes arriving while a sync is in flight are batched into the next
// write+sync (group commit), so throughput grows with concurrency instead of paying one fsync
// per write. Record framing (little endian):
//   u32 payload length | u32 CRC-32 (IEEE, zlib.crc32) of the payload | payload (UTF-8 JSON)
// A crash can leave a torn last record (short, or with a bad checksum): recovery detects it by
// length/CRC and truncates the segment there. Damage before the last record is not a torn
// write and refuses to start, naming the file and offset.
import { closeSync, fsyncSync, ftruncateSync, openSync, readdirSync, readFileSync, unlinkSync } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { ApiServerError, ApiServerErrorCodes } from '../errors.js';

export const HEADER_BYTES = 8;
const SEGMENT_RE = /^wal-(\d{16})\.log$/;

export function segmentName(firstRv: number): string {
  return `wal-${String(firstRv).padStart(16, '0')}.log`;
}

export function encodeRecord(payload: unknown): Buffer {
  const body = Buffer.from(JSON.stringify(payload), 'utf8');
  const out = Buffer.allocUnsafe(HEADER_BYTES + body.length);
  out.writeUInt32LE(body.length, 0);
  out.writeUInt32LE(crc32(body), 4);
  body.copy(out, HEADER_BYTES);
  return out;
}

export interface SegmentRead {
  records: unknown[];
  /** Offset after the last whole record. */
  validBytes: number;
  /** Bytes after validBytes (a torn or corrupt tail). */
  trailingBytes: number;
}

export function readSegment(bytes: Buffer): SegmentRead {
  const records: unknown[] = [];
  let off = 0;
  while (off + HEADER_BYTES <= bytes.length) {
    const len = bytes.readUInt32LE(off);
    const sum = bytes.readUInt32LE(off + 4);
    const end = off + HEADER_BYTES + len;
    if (end > bytes.length) break;
    const body = bytes.subarray(off + HEADER_BYTES, end);
    if (crc32(body) !== sum) break;
    try {
      records.push(JSON.parse(body.toString('utf8')));
    } catch {
      break;
    }
    off = end;
  }
  return { records, validBytes: off, trailingBytes: bytes.length - off };
}

export function listSegments(dir: string): { name: string; firstRv: number }[] {
  return readdirSync(dir)
    .map((name) => ({ name, m: SEGMENT_RE.exec(name) }))
    .filter((x) => x.m)
    .map((x) => ({ name: x.name, firstRv: Number(x.m?.[1]) }))
    .sort((a, b) => a.firstRv - b.firstRv);
}

export interface RecoveredLog {
  records: unknown[];
  /** Bytes truncated from the last segment's torn tail (0 when clean). */
  truncatedBytes: number;
}

/** Reads every segment in order, truncating a torn tail of the last one. */
export function recoverLog(dir: string): RecoveredLog {
  const segs = listSegments(dir);
  const records: unknown[] = [];
  let truncatedBytes = 0;
  segs.forEach((seg, i) => {
    const path = join(dir, seg.name);
    const read = readSegment(readFileSync(path));
    records.push(...read.records);
    if (read.trailingBytes > 0) {
      if (i !== segs.length - 1) {
        throw new ApiServerError(
          ApiServerErrorCodes.WAL_CORRUPT,
          `${path}: bad record at byte ${read.validBytes} in a segment that is not the last one; this is not a torn write. Restore the data directory from a backup, or move this file away to start from the records before it.`,
        );
      }
      const fd = openSync(path, 'r+');
      ftruncateSync(fd, read.validBytes);
      fsyncSync(fd);
      closeSync(fd);
      truncatedBytes = read.trailingBytes;
    }
  });
  return { records, truncatedBytes };
}

export function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

type QueueItem =
  | { kind: 'record'; buf: Buffer; done: (err?: Error) => void }
  | { kind: 'rotate'; firstRv: number; done: (err?: Error) => void };

export interface WalOptions {
  /** fdatasync before acknowledging (default true; off only for benchmarks comparing the cost). */
  fsync?: boolean;
  /** Called with the seconds each write+sync batch took and its record count. */
  onSync?: (seconds: number, records: number) => void;
}

/** The appending side of the log: one open segment, group commit, rotation at snapshots. */
export class WalWriter {
  private fh: FileHandle | undefined;
  private queue: QueueItem[] = [];
  private flushing = false;
  private closed = false;
  private bytesInSegment = 0;

  private constructor(
    private readonly dir: string,
    private readonly opts: WalOptions,
  ) {}

  /** Opens (appending) the last segment, or a new one starting at `firstRv`. */
  static async open(dir: string, firstRv: number, opts: WalOptions = {}): Promise<WalWriter> {
    const w = new WalWriter(dir, opts);
    const segs = listSegments(dir);
    const last = segs[segs.length - 1];
    const name = last ? last.name : segmentName(firstRv);
    w.fh = await open(join(dir, name), 'a');
    w.bytesInSegment = (await w.fh.stat()).size;
    if (!last) fsyncDir(dir);
    return w;
  }

  get segmentBytes(): number {
    return this.bytesInSegment;
  }

  /** Resolves once the record is on disk (after fdatasync). */
  append(payload: unknown): Promise<void> {
    const buf = encodeRecord(payload);
    return new Promise((resolve, reject) => {
      this.queue.push({ kind: 'record', buf, done: (e) => (e ? reject(e) : resolve()) });
      this.kick();
    });
  }

  /** Closes the current segment after everything queued so far and starts `wal-<firstRv>.log`. */
  rotate(firstRv: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ kind: 'rotate', firstRv, done: (e) => (e ? reject(e) : resolve()) });
      this.kick();
    });
  }

  private kick(): void {
    if (this.flushing || this.closed) return;
    this.flushing = true;
    setImmediate(() => void this.flush());
  }

  private async flush(): Promise<void> {
    while (this.queue.length > 0) {
      const head = this.queue[0] as QueueItem;
      if (head.kind === 'rotate') {
        this.queue.shift();
        try {
          await this.fh?.close();
          this.fh = await open(join(this.dir, segmentName(head.firstRv)), 'a');
          this.bytesInSegment = 0;
          fsyncDir(this.dir);
          head.done();
        } catch (e) {
          head.done(e as Error);
        }
        continue;
      }
      const batch: (QueueItem & { kind: 'record' })[] = [];
      while (this.queue.length > 0 && this.queue[0]?.kind === 'record') batch.push(this.queue.shift() as QueueItem & { kind: 'record' });
      const started = process.hrtime.bigint();
      try {
        const fh = this.fh as FileHandle;
        const bufs = batch.map((b) => b.buf);
        await fh.writev(bufs);
        if (this.opts.fsync !== false) await fh.datasync();
        this.bytesInSegment += bufs.reduce((n, b) => n + b.length, 0);
        this.opts.onSync?.(Number(process.hrtime.bigint() - started) / 1e9, batch.length);
        for (const b of batch) b.done();
      } catch (e) {
        for (const b of batch) b.done(e as Error);
      }
    }
    this.flushing = false;
  }

  /** Waits for queued writes, then closes the segment. */
  async close(): Promise<void> {
    while (this.flushing || this.queue.length > 0) await new Promise((r) => setTimeout(r, 2));
    this.closed = true;
    await this.fh?.close();
    this.fh = undefined;
  }
}

/** Deletes segments that start at or before `snapshotRv` except the current one. */
export function deleteSegmentsBefore(dir: string, keepFirstRv: number): void {
  for (const seg of listSegments(dir)) if (seg.firstRv < keepFirstRv) unlinkSync(join(dir, seg.name));
}
