// Write-ahead log: every acknowledged write is a record here, fsync'd (fdatasync) before the
// write is acknowledged. Writes arriving while a sync is in flight are batched into the next
// write+sync (group commit), so throughput grows with concurrency instead of paying one fsync
// per write. Record framing (little endian):
//   u32 payload length | u32 CRC-32 (IEEE, zlib.crc32) of the payload | payload (UTF-8 JSON)
//
// Segments are preallocated (filled with zeros to `segmentBytes`, default 16 MiB) and records
// are written in place. Appending to a file grows it, and then every fdatasync must also
// commit the size change (inode metadata: an ext4/xfs journal commit), which is what made 1.8%
// of the syncs take over 10 ms. Overwriting blocks that already hold data needs no metadata,
// so fdatasync flushes only the data (fdatasync(2): "does not flush modified metadata unless
// that metadata is needed in order to allow a subsequent data retrieval"). etcd does the same:
// its WAL segments are preallocated to SegmentSizeBytes (64 MB, server/storage/wal/wal.go)
// and the next one is created and preallocated ahead of time by a file pipeline
// (file_pipeline.go, `<n>.tmp`) so a segment switch does not wait for allocation. Node has no
// fallocate, and fallocate'd blocks are "unwritten extents" whose first write is again a
// metadata change; writing real zeros avoids both.
//
// In a preallocated segment the log ends at the first zero-length header (JSON is never
// empty, so no record has length 0). A crash can tear only the last batch (each batch is
// synced before the next one is written, and a batch is at most MAX_BATCH_BYTES or one
// record): recovery finds the last good record, checks that every non-zero byte after it lies
// within one batch of it, and zeroes those bytes. Non-zero bytes further away, or anywhere
// after the end of a segment that is not the last, are not a torn write: recovery refuses to
// start, naming the file and offset.
import { closeSync, fdatasyncSync, fsyncSync, openSync, readdirSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { type FileHandle, open, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { ApiServerError, ApiServerErrorCodes } from '../errors.js';

export const HEADER_BYTES = 8;
/** Default preallocated segment size (etcd uses 64 MB; 16 MiB keeps a start's zero-fill short). */
export const DEFAULT_SEGMENT_BYTES = 16 * 1024 * 1024;
/** A write+sync batch holds at most this many bytes, or a single larger record. */
export const MAX_BATCH_BYTES = 4 * 1024 * 1024;
/** The next segment, zero-filled ahead of time; not a segment until renamed (etcd's `<n>.tmp`). */
export const SPARE_NAME = 'wal-spare.tmp';
const SEGMENT_RE = /^wal-(\d{16})\.log$/;
const ZERO_CHUNK = Buffer.alloc(1024 * 1024);

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
  /** Offset after the last whole record: where the next record goes. */
  validBytes: number;
  /** Offset after the last non-zero byte past validBytes (validBytes when the tail is all zeros). */
  damagedEnd: number;
  /** Bytes from validBytes to damagedEnd: a torn or corrupt tail (0 when clean). */
  trailingBytes: number;
  /** How far past validBytes a torn last batch could reach. */
  tornLimit: number;
}

/** Offset after the last non-zero byte of `bytes` at or after `from` (`from` when none). */
function lastNonZeroEnd(bytes: Buffer, from: number): number {
  const step = ZERO_CHUNK.length;
  let end = bytes.length;
  while (end > from) {
    const start = Math.max(from, end - step);
    if (!bytes.subarray(start, end).equals(ZERO_CHUNK.subarray(0, end - start))) {
      for (let i = end - 1; i >= start; i--) if (bytes[i] !== 0) return i + 1;
    }
    end = start;
  }
  return from;
}

export function readSegment(bytes: Buffer): SegmentRead {
  const records: unknown[] = [];
  let off = 0;
  while (off + HEADER_BYTES <= bytes.length) {
    const len = bytes.readUInt32LE(off);
    if (len === 0) break; // The end of the log in a preallocated segment.
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
  const damagedEnd = lastNonZeroEnd(bytes, off);
  // A batch of one record may exceed MAX_BATCH_BYTES; its own header then bounds the tear.
  const headerLen = off + HEADER_BYTES <= bytes.length ? bytes.readUInt32LE(off) : 0;
  const tornLimit = Math.max(MAX_BATCH_BYTES, headerLen <= bytes.length ? HEADER_BYTES + headerLen : 0);
  return { records, validBytes: off, damagedEnd, trailingBytes: damagedEnd - off, tornLimit };
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
  /** Bytes zeroed from the last segment's torn tail (0 when clean). */
  truncatedBytes: number;
}

function corrupt(path: string, offset: number, why: string): ApiServerError {
  return new ApiServerError(
    ApiServerErrorCodes.WAL_CORRUPT,
    `${path}: bad record at byte ${offset} ${why}; this is not a torn write. Restore the data directory from a backup, or move this file away to start from the records before it.`,
  );
}

/** Reads every segment in order; zeroes a torn tail of the last one (the space stays preallocated). */
export function recoverLog(dir: string): RecoveredLog {
  const segs = listSegments(dir);
  const records: unknown[] = [];
  let truncatedBytes = 0;
  segs.forEach((seg, i) => {
    const path = join(dir, seg.name);
    const read = readSegment(readFileSync(path));
    records.push(...read.records);
    if (read.trailingBytes === 0) return;
    if (i !== segs.length - 1) throw corrupt(path, read.validBytes, 'in a segment that is not the last one');
    if (read.trailingBytes > read.tornLimit) {
      throw corrupt(
        path,
        read.validBytes,
        `with non-zero bytes up to byte ${read.damagedEnd}, more than one write batch (${read.tornLimit} bytes) past it`,
      );
    }
    // Zero the torn bytes rather than truncating: the segment keeps its preallocated size,
    // and the log again ends at a zero-length header.
    const fd = openSync(path, 'r+');
    try {
      let at = read.validBytes;
      while (at < read.damagedEnd) {
        const n = Math.min(ZERO_CHUNK.length, read.damagedEnd - at);
        at += writeSync(fd, ZERO_CHUNK, 0, n, at);
      }
      fdatasyncSync(fd);
    } finally {
      closeSync(fd);
    }
    truncatedBytes = read.trailingBytes;
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

/**
 * Zero-fills `path` to `bytes` (in 1 MiB chunks through the thread pool, so the event loop
 * keeps serving) and syncs it, so its size and blocks are on disk before it is used.
 */
async function preallocate(path: string, bytes: number, sync: boolean): Promise<void> {
  const fh = await open(path, 'w');
  try {
    for (let at = 0; at < bytes; ) {
      const { bytesWritten } = await fh.write(ZERO_CHUNK, 0, Math.min(ZERO_CHUNK.length, bytes - at), at);
      at += bytesWritten;
    }
    if (sync) await fh.datasync();
  } finally {
    await fh.close();
  }
}

type RecordItem = { kind: 'record'; buf: Buffer; rv: number; done: (err?: Error) => void };
type QueueItem = RecordItem | { kind: 'barrier'; done: (err?: Error) => void };

export interface WalOptions {
  /** fdatasync before acknowledging (default true; off only for benchmarks comparing the cost). */
  fsync?: boolean;
  /** Preallocated size of each segment (default DEFAULT_SEGMENT_BYTES). */
  segmentBytes?: number;
  /** Called with the seconds each write+sync batch took and its record count. */
  onSync?: (seconds: number, records: number) => void;
  /** Called when the writer moves to a new segment (for metrics and tests). */
  onSwitch?: (segment: string) => void;
}

/** The writing side of the log: one open segment written in place, group commit, one spare. */
export class WalWriter {
  private fh: FileHandle | undefined;
  private current = '';
  /** Where the next record goes in the current segment. */
  private offset = 0;
  /** The current segment's size on disk (its preallocated size, or more for an oversized record). */
  private capacity = 0;
  private spare: Promise<void> | undefined;
  private queue: QueueItem[] = [];
  private flushing = false;
  private closed = false;
  /**
   * Set by a failed write or sync. After a failed fdatasync the kernel may have dropped the
   * dirty pages and the file's state is unknown (the 2018 PostgreSQL "fsyncgate" finding; etcd
   * exits on a WAL sync error), and a partly written batch would sit in the middle of the log
   * once later records follow it. So every later append fails with this error until a restart
   * recovers the log from disk.
   */
  private failed: Error | undefined;
  private readonly segmentBytes: number;

  private constructor(
    private readonly dir: string,
    private readonly opts: WalOptions,
  ) {
    this.segmentBytes = opts.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
  }

  /**
   * Continues the last segment after its last record (run recoverLog first), or makes a new
   * preallocated one starting at `firstRv`; then prepares the spare in the background.
   */
  static async open(dir: string, firstRv: number, opts: WalOptions = {}): Promise<WalWriter> {
    const w = new WalWriter(dir, opts);
    const segs = listSegments(dir);
    const last = segs[segs.length - 1];
    // A spare of the full size was zero-filled and is reused; a short one was cut off by a
    // crash while it was being prepared and is made again.
    const sparePath = join(dir, SPARE_NAME);
    let spareReady = false;
    try {
      spareReady = statSync(sparePath).size === w.segmentBytes;
    } catch {
      spareReady = false;
    }
    if (last) {
      const path = join(dir, last.name);
      const bytes = readFileSync(path);
      const read = readSegment(bytes);
      if (read.trailingBytes > 0) throw corrupt(path, read.validBytes, 'at open (recoverLog must run first)');
      w.current = last.name;
      w.offset = read.validBytes;
      w.capacity = bytes.length;
      w.fh = await open(path, 'r+');
      if (spareReady) w.spare = Promise.resolve();
    } else {
      if (!spareReady) await preallocate(sparePath, w.segmentBytes, opts.fsync !== false);
      w.spare = Promise.resolve();
      await w.switchTo(firstRv);
    }
    if (!w.spare) w.prepareSpare();
    return w;
  }

  /** Bytes used in the current segment. */
  get segmentBytesUsed(): number {
    return this.offset;
  }

  /** The current segment's file name. */
  get segment(): string {
    return this.current;
  }

  /** Resolves once the record is on disk (after fdatasync). `rv` names a segment it starts. */
  append(payload: unknown, rv: number): Promise<void> {
    if (this.failed) return Promise.reject(this.failed);
    const buf = encodeRecord(payload);
    return new Promise((resolve, reject) => {
      this.queue.push({ kind: 'record', buf, rv, done: (e) => (e ? reject(e) : resolve()) });
      this.kick();
    });
  }

  /** Resolves once every record appended before it is on disk. */
  barrier(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ kind: 'barrier', done: (e) => (e ? reject(e) : resolve()) });
      this.kick();
    });
  }

  /**
   * Deletes the segments whose every record is at or before `rv` (covered by a snapshot):
   * a segment ends where the next one starts, and the current segment is never deleted.
   */
  deleteSegmentsThrough(rv: number): void {
    const segs = listSegments(this.dir);
    segs.forEach((seg, i) => {
      const next = segs[i + 1];
      if (seg.name === this.current || !next || next.firstRv > rv + 1) return;
      unlinkSync(join(this.dir, seg.name));
    });
  }

  private prepareSpare(): void {
    const path = join(this.dir, SPARE_NAME);
    const p = preallocate(path, this.segmentBytes, this.opts.fsync !== false);
    // A failure surfaces at the next switch (which awaits this promise) instead of as an
    // unhandled rejection now.
    p.catch(() => undefined);
    this.spare = p;
  }

  /** Renames the spare to the segment starting at `firstRv`, makes it current, prepares the next spare. */
  private async switchTo(firstRv: number): Promise<void> {
    // A spare whose preparation failed (a full disk, say) is tried once more, on the write path.
    await (this.spare ?? Promise.reject(new Error('no spare'))).catch(() =>
      preallocate(join(this.dir, SPARE_NAME), this.segmentBytes, this.opts.fsync !== false),
    );
    this.spare = undefined;
    await this.fh?.close();
    this.fh = undefined;
    const name = segmentName(firstRv);
    const path = join(this.dir, name);
    await rename(join(this.dir, SPARE_NAME), path);
    // The rename must be durable before records in the new segment are acknowledged.
    fsyncDir(this.dir);
    this.fh = await open(path, 'r+');
    this.current = name;
    this.offset = 0;
    this.capacity = this.segmentBytes;
    this.opts.onSwitch?.(name);
  }

  private kick(): void {
    if (this.flushing || this.closed) return;
    this.flushing = true;
    setImmediate(() => void this.flush());
  }

  private takeBatch(): RecordItem[] {
    const batch: RecordItem[] = [];
    let bytes = 0;
    while (this.queue[0]?.kind === 'record') {
      const next = this.queue[0];
      if (batch.length > 0 && bytes + next.buf.length > MAX_BATCH_BYTES) break;
      batch.push(next);
      bytes += next.buf.length;
      this.queue.shift();
    }
    return batch;
  }

  private async flush(): Promise<void> {
    while (this.queue.length > 0) {
      const head = this.queue[0] as QueueItem;
      if (head.kind === 'barrier') {
        this.queue.shift();
        head.done();
        continue;
      }
      const batch = this.takeBatch();
      const started = process.hrtime.bigint();
      try {
        const bytes = batch.reduce((n, b) => n + b.buf.length, 0);
        // A batch never straddles two segments: a switch happens only between batches.
        if (this.offset > 0 && this.offset + bytes > this.capacity) {
          await this.switchTo((batch[0] as RecordItem).rv);
          this.prepareSpare();
        }
        const fh = this.fh as FileHandle;
        await fh.writev(
          batch.map((b) => b.buf),
          this.offset,
        );
        if (this.opts.fsync !== false) await fh.datasync();
        this.offset += bytes;
        if (this.offset > this.capacity) this.capacity = this.offset;
        this.opts.onSync?.(Number(process.hrtime.bigint() - started) / 1e9, batch.length);
        for (const b of batch) b.done();
      } catch (e) {
        this.failed = new ApiServerError(
          ApiServerErrorCodes.WAL_WRITE,
          `writing the write-ahead log ${join(this.dir, this.current)} failed (${(e as Error).message}); no write is accepted until the API server restarts and recovers the log`,
        );
        for (const b of batch) b.done(this.failed);
        for (const item of this.queue.splice(0)) item.done(this.failed);
      }
    }
    this.flushing = false;
  }

  /** Waits for queued writes and the spare being prepared, then closes the segment. */
  async close(): Promise<void> {
    while (this.flushing || this.queue.length > 0) await new Promise((r) => setTimeout(r, 2));
    this.closed = true;
    await this.spare?.catch(() => undefined);
    await this.fh?.close();
    this.fh = undefined;
  }
}
