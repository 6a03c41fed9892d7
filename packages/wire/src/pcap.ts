// libpcap capture files ("pcap", the classic format tcpdump and Wireshark write; see the
// pcap-savefile(5) man page and draft-ietf-opsawg-pcap).
//
// File header (24 bytes), in the writer's byte order:
//   0 magic  4 version major  6 version minor  8 thiszone  12 sigfigs  16 snaplen  20 linktype
// Record header (16 bytes), then incl_len bytes of frame:
//   0 ts_sec  4 ts_usec (or ts_nsec)  8 incl_len  12 orig_len
//
// Magic 0xa1b2c3d4 means microsecond timestamps, 0xa1b23c4d nanosecond ones; read byte-swapped,
// the file was written on a machine of the other byte order.
import { createReadStream, createWriteStream } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { ErrorCodes, PodnetError } from './errors.js';

export const MAGIC_MICROSECONDS = 0xa1b2c3d4;
export const MAGIC_NANOSECONDS = 0xa1b23c4d;
export const FILE_HEADER_LENGTH = 24;
export const RECORD_HEADER_LENGTH = 16;
export const LINKTYPE_ETHERNET = 1;
export const DEFAULT_SNAPLEN = 262144;
/** Frames larger than this are taken as corruption whatever the snaplen says (libpcap's own bound). */
export const MAX_RECORD_LENGTH = 262144;

export interface PcapHeader {
  byteOrder: 'le' | 'be';
  nanoseconds: boolean;
  versionMajor: number;
  versionMinor: number;
  thiszone: number;
  sigfigs: number;
  snaplen: number;
  /** LINKTYPE_ETHERNET (1) for every file podnet writes; others are kept as numbers. */
  linkType: number;
}

export interface PcapRecord {
  seconds: number;
  /** 0..999,999,999; a microsecond file's value times 1000. */
  nanoseconds: number;
  /** The frame's length on the wire (may exceed data.length when the capture was cut at snaplen). */
  originalLength: number;
  data: Buffer;
}

export interface PcapFile {
  header: PcapHeader;
  records: PcapRecord[];
}

/** A pcap file that is truncated or not a pcap file. */
export class PcapError extends PodnetError {
  /** 1-based number of the frame that could not be read (0: the file header). */
  readonly frameNumber: number;
  /** Offset in the file where that frame's record (or the header) starts. */
  readonly byteOffset: number;
  constructor(frameNumber: number, byteOffset: number, reason: string) {
    super(
      ErrorCodes.PCAP,
      frameNumber === 0 ? `file header at byte ${byteOffset}: ${reason}` : `frame ${frameNumber} at byte ${byteOffset}: ${reason}`,
    );
    this.name = 'PcapError';
    this.frameNumber = frameNumber;
    this.byteOffset = byteOffset;
  }
}

export function defaultHeader(options: Partial<PcapHeader> = {}): PcapHeader {
  return {
    byteOrder: 'le',
    nanoseconds: false,
    versionMajor: 2,
    versionMinor: 4,
    thiszone: 0,
    sigfigs: 0,
    snaplen: DEFAULT_SNAPLEN,
    linkType: LINKTYPE_ETHERNET,
    ...options,
  };
}

export function decodeHeader(buf: Buffer, offset = 0): PcapHeader {
  if (buf.length - offset < FILE_HEADER_LENGTH) {
    throw new PcapError(0, offset, `truncated file header: need 24 bytes, have ${Math.max(0, buf.length - offset)}`);
  }
  const le = buf.readUInt32LE(offset);
  const be = buf.readUInt32BE(offset);
  let byteOrder: 'le' | 'be';
  let nanoseconds: boolean;
  if (le === MAGIC_MICROSECONDS || le === MAGIC_NANOSECONDS) {
    byteOrder = 'le';
    nanoseconds = le === MAGIC_NANOSECONDS;
  } else if (be === MAGIC_MICROSECONDS || be === MAGIC_NANOSECONDS) {
    byteOrder = 'be';
    nanoseconds = be === MAGIC_NANOSECONDS;
  } else {
    const hint = be === 0x0a0d0d0a ? ' (this is a pcapng file: convert it with `editcap -F pcap IN OUT`)' : '';
    throw new PcapError(0, offset, `not a pcap file: magic number 0x${be.toString(16).padStart(8, '0')}${hint}`);
  }
  const r16 = (at: number) => (byteOrder === 'le' ? buf.readUInt16LE(offset + at) : buf.readUInt16BE(offset + at));
  const r32 = (at: number) => (byteOrder === 'le' ? buf.readUInt32LE(offset + at) : buf.readUInt32BE(offset + at));
  const thiszoneRaw = r32(8);
  return {
    byteOrder,
    nanoseconds,
    versionMajor: r16(4),
    versionMinor: r16(6),
    thiszone: thiszoneRaw | 0,
    sigfigs: r32(12),
    snaplen: r32(16),
    // The upper bits of the link-type field carry FCS information (pcap-linktype(7)); keep them.
    linkType: r32(20),
  };
}

export function encodeHeader(header: PcapHeader, buf: Buffer = Buffer.alloc(FILE_HEADER_LENGTH), offset = 0): Buffer {
  const le = header.byteOrder === 'le';
  const w16 = (v: number, at: number) => (le ? buf.writeUInt16LE(v, offset + at) : buf.writeUInt16BE(v, offset + at));
  const w32 = (v: number, at: number) => (le ? buf.writeUInt32LE(v >>> 0, offset + at) : buf.writeUInt32BE(v >>> 0, offset + at));
  w32(header.nanoseconds ? MAGIC_NANOSECONDS : MAGIC_MICROSECONDS, 0);
  w16(header.versionMajor, 4);
  w16(header.versionMinor, 6);
  w32(header.thiszone, 8);
  w32(header.sigfigs, 12);
  w32(header.snaplen, 16);
  w32(header.linkType, 20);
  return buf;
}

/**
 * Reads the record at `offset`; `frameNumber` and `fileOffset` (where the record starts in
 * the file, when `buf` is only part of it) only name it in errors.
 */
export function decodeRecord(header: PcapHeader, buf: Buffer, offset: number, frameNumber: number, fileOffset = offset): PcapRecord {
  const left = buf.length - offset;
  if (left < RECORD_HEADER_LENGTH) {
    throw new PcapError(frameNumber, fileOffset, `truncated record header: need 16 bytes, only ${left} remain (file truncated?)`);
  }
  const r32 = (at: number) => (header.byteOrder === 'le' ? buf.readUInt32LE(offset + at) : buf.readUInt32BE(offset + at));
  const seconds = r32(0);
  const fraction = r32(4);
  const captured = r32(8);
  const originalLength = r32(12);
  checkRecordLength(header, captured, frameNumber, fileOffset);
  if (fraction >= (header.nanoseconds ? 1e9 : 1e6)) {
    throw new PcapError(frameNumber, fileOffset, `timestamp fraction ${fraction} is not below one second (corrupt record?)`);
  }
  if (left - RECORD_HEADER_LENGTH < captured) {
    throw new PcapError(
      frameNumber,
      fileOffset,
      `record header says ${captured} captured bytes but only ${left - RECORD_HEADER_LENGTH} remain (file truncated?)`,
    );
  }
  const start = offset + RECORD_HEADER_LENGTH;
  return {
    seconds,
    nanoseconds: header.nanoseconds ? fraction : fraction * 1000,
    originalLength,
    data: buf.subarray(start, start + captured),
  };
}

function checkRecordLength(header: PcapHeader, captured: number, frameNumber: number, offset: number): void {
  if (captured > Math.max(header.snaplen, MAX_RECORD_LENGTH)) {
    throw new PcapError(
      frameNumber,
      offset,
      `record claims ${captured} captured bytes, more than the snapshot length ${header.snaplen} (corrupt file?)`,
    );
  }
}

export function recordLength(record: PcapRecord): number {
  return RECORD_HEADER_LENGTH + record.data.length;
}

export function encodeRecord(header: PcapHeader, record: PcapRecord, buf?: Buffer, offset = 0): Buffer {
  const out = buf ?? Buffer.alloc(recordLength(record));
  const le = header.byteOrder === 'le';
  const w32 = (v: number, at: number) => (le ? out.writeUInt32LE(v >>> 0, offset + at) : out.writeUInt32BE(v >>> 0, offset + at));
  if (!Number.isInteger(record.nanoseconds) || record.nanoseconds < 0 || record.nanoseconds >= 1e9) {
    throw new PodnetError(ErrorCodes.PCAP, `pcap: record nanoseconds ${record.nanoseconds} must be 0..999999999`);
  }
  w32(record.seconds, 0);
  w32(header.nanoseconds ? record.nanoseconds : Math.floor(record.nanoseconds / 1000), 4);
  w32(record.data.length, 8);
  w32(Math.max(record.originalLength, record.data.length), 12);
  record.data.copy(out, offset + RECORD_HEADER_LENGTH);
  return out;
}

/** Decodes a whole file held in memory. */
export function decode(buf: Buffer): PcapFile {
  const header = decodeHeader(buf);
  const records: PcapRecord[] = [];
  let offset = FILE_HEADER_LENGTH;
  while (offset < buf.length) {
    const record = decodeRecord(header, buf, offset, records.length + 1);
    records.push(record);
    offset += recordLength(record);
  }
  return { header, records };
}

export function encode(file: PcapFile): Buffer {
  let length = FILE_HEADER_LENGTH;
  for (const r of file.records) length += recordLength(r);
  const out = Buffer.alloc(length);
  encodeHeader(file.header, out, 0);
  let offset = FILE_HEADER_LENGTH;
  for (const r of file.records) {
    encodeRecord(file.header, r, out, offset);
    offset += recordLength(r);
  }
  return out;
}

/**
 * Streams the records of a pcap file (a path or a Readable) without holding the file in
 * memory. On a truncated or corrupt file every complete record is yielded first, then a
 * PcapError names the frame and the byte offset where reading stopped.
 */
export async function* readPcap(
  source: string | Readable,
): AsyncGenerator<PcapRecord & { frameNumber: number; byteOffset: number }, PcapHeader | undefined> {
  const stream = typeof source === 'string' ? createReadStream(source) : source;
  let pending: Buffer = Buffer.alloc(0);
  let fileOffset = 0; // file offset of pending[0]
  let header: PcapHeader | undefined;
  let frameNumber = 0;
  for await (const chunk of stream as AsyncIterable<Buffer | string>) {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    pending = pending.length === 0 ? bytes : Buffer.concat([pending, bytes]);
    if (header === undefined) {
      if (pending.length < FILE_HEADER_LENGTH) continue;
      header = decodeHeader(pending);
      pending = pending.subarray(FILE_HEADER_LENGTH);
      fileOffset = FILE_HEADER_LENGTH;
    }
    // Yield every record that is complete in what we have.
    while (pending.length >= RECORD_HEADER_LENGTH) {
      const captured = header.byteOrder === 'le' ? pending.readUInt32LE(8) : pending.readUInt32BE(8);
      checkRecordLength(header, captured, frameNumber + 1, fileOffset);
      if (pending.length < RECORD_HEADER_LENGTH + captured) break;
      frameNumber++;
      const record = decodeRecord(header, pending, 0, frameNumber, fileOffset);
      // Copy the frame out of the shared chunk, so holding one record does not pin the stream's buffers.
      yield { ...record, data: Buffer.from(record.data), frameNumber, byteOffset: fileOffset };
      const consumed = recordLength(record);
      pending = pending.subarray(consumed);
      fileOffset += consumed;
    }
  }
  if (header === undefined) {
    // Let decodeHeader produce the precise message (empty file, short header, bad magic).
    decodeHeader(pending);
    return undefined;
  }
  if (pending.length > 0) {
    // Throws the right truncation error for the partial record.
    decodeRecord(header, pending, 0, frameNumber + 1, fileOffset);
    throw new PcapError(frameNumber + 1, fileOffset, 'truncated record (file truncated?)');
  }
  return header;
}

/** Reads just the file header of a pcap file (a path or a Readable). */
export async function readPcapHeader(source: string | Readable): Promise<PcapHeader> {
  const stream = typeof source === 'string' ? createReadStream(source, { start: 0, end: FILE_HEADER_LENGTH - 1 }) : source;
  const chunks: Buffer[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(chunk);
  return decodeHeader(Buffer.concat(chunks));
}

/** Writes a pcap file as frames arrive (a capture tap), to a path or a Writable. */
export class PcapWriter {
  readonly header: PcapHeader;
  private readonly stream: Writable;
  private frames = 0;
  private failure: Error | undefined;

  constructor(target: string | Writable, options: Partial<PcapHeader> = {}) {
    this.header = defaultHeader(options);
    this.stream = typeof target === 'string' ? createWriteStream(target) : target;
    // A file that cannot be opened fails asynchronously: keep the error for close() to report.
    this.stream.on('error', (error) => {
      this.failure ??= error;
    });
    this.stream.write(encodeHeader(this.header));
  }

  /** Frames written so far. */
  get count(): number {
    return this.frames;
  }

  /**
   * Appends one frame. `timestamp` defaults to now; `originalLength` to the frame's length.
   * Frames longer than the snapshot length are cut to it, as a capture would be.
   */
  write(data: Buffer, timestamp: { seconds: number; nanoseconds: number } = nowTimestamp(), originalLength = data.length): boolean {
    const captured = data.length > this.header.snaplen ? data.subarray(0, this.header.snaplen) : data;
    this.frames++;
    return this.stream.write(
      encodeRecord(this.header, {
        seconds: timestamp.seconds,
        nanoseconds: timestamp.nanoseconds,
        originalLength: Math.max(originalLength, data.length),
        data: captured,
      }),
    );
  }

  /** Ends the stream; resolves once everything is flushed, rejects if writing failed. */
  close(): Promise<void> {
    return new Promise((resolve, reject) => {
      const settle = (error?: Error | null) => {
        const failure = this.failure ?? error ?? undefined;
        if (failure) reject(failure);
        else resolve();
      };
      if (this.stream.destroyed || this.stream.writableFinished) settle();
      else {
        this.stream.once('close', () => settle());
        this.stream.end();
      }
    });
  }
}

export function nowTimestamp(): { seconds: number; nanoseconds: number } {
  const ns = process.hrtime.bigint();
  const wall = BigInt(Date.now()) * 1_000_000n + (ns % 1_000_000n);
  return { seconds: Number(wall / 1_000_000_000n), nanoseconds: Number(wall % 1_000_000_000n) };
}
