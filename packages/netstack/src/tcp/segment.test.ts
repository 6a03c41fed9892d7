// parseSegment's checks (RFC 9293 §3.1), and the one it skips for a super-frame whose checksum the
// stack already knows good (CHECKSUM_UNNECESSARY: GRO verified its segments, TSO built it whole).
import { parseIpv4 } from '@podnet/wire';
import { describe, expect, it } from 'vitest';
import { ACK, finishChecksum, HEADER_LENGTH, parseSegment, writeHeader } from './segment.js';

const SRC = parseIpv4('10.244.1.2');
const DST = parseIpv4('10.244.2.2');

function segment(payload: number): Buffer {
  const buf = Buffer.alloc(HEADER_LENGTH + payload, 0x61);
  writeHeader(buf, 40000, 80, 1000, 2000, ACK, 512, 0);
  finishChecksum(buf, buf.length, SRC, DST);
  return buf;
}

describe('parseSegment', () => {
  it('refuses a bad checksum, unless the stack says the checksum is known good', () => {
    const seg = segment(3000);
    expect(parseSegment(seg, SRC, DST).ok).toBe(true);
    seg[HEADER_LENGTH + 5] = 0x62;
    expect(parseSegment(seg, SRC, DST)).toEqual({ ok: false, reason: 'checksum' });
    expect(parseSegment(seg, SRC, DST, true).ok).toBe(true);
  });

  it('still refuses a malformed header when the checksum is known good', () => {
    const seg = segment(10);
    seg[12] = 0x40; // data offset 4 words: shorter than the fixed header
    expect(parseSegment(seg, SRC, DST, true)).toEqual({ ok: false, reason: 'malformed' });
  });
});
