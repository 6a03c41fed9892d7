import { describe, expect, it } from 'vitest';
import { ReassemblyQueue } from './reassembly.js';
import { RttEstimator } from './rtt.js';
import { SendBuffer } from './send-buffer.js';
import { seqAdd, seqDiff, seqGe, seqGt, seqLe, seqLt, seqMax } from './seq.js';

describe('sequence arithmetic (RFC 9293 §3.4)', () => {
  it('compares across the 2^32 wrap', () => {
    const near = 0xffff_fff0;
    const after = seqAdd(near, 0x20);
    expect(after).toBe(0x10);
    expect(seqLt(near, after)).toBe(true);
    expect(seqGt(after, near)).toBe(true);
    expect(seqLe(after, after) && seqGe(after, after)).toBe(true);
    expect(seqDiff(after, near)).toBe(0x20);
    expect(seqDiff(near, after)).toBe(-0x20);
    expect(seqMax(near, after)).toBe(after);
  });
});

describe('SendBuffer', () => {
  it('copies slices that span chunks and drops acknowledged bytes', () => {
    const b = new SendBuffer();
    b.push(Buffer.from('hello '));
    b.push(Buffer.from('wide '));
    b.push(Buffer.from('world'));
    expect(b.length).toBe(16);
    const out = Buffer.alloc(8, 0x2e);
    b.copyOut(4, 6, out, 1);
    expect(out.toString()).toBe('.o wide.');
    b.consume(7);
    expect(b.length).toBe(9);
    const rest = Buffer.alloc(9);
    b.copyOut(0, 9, rest, 0);
    expect(rest.toString()).toBe('ide world');
    expect(() => b.copyOut(5, 5, rest, 0)).toThrow(/holds 9 bytes/);
  });
});

describe('ReassemblyQueue', () => {
  it('delivers held segments in order once the hole is filled, trimming overlaps', () => {
    const q = new ReassemblyQueue();
    q.insert(110, Buffer.from('klmno'), false);
    q.insert(105, Buffer.from('fghijkl'), false);
    q.insert(115, Buffer.from('pq'), true);
    expect(q.bytes).toBe(14);
    const got: string[] = [];
    // Nothing follows 100 yet.
    expect(q.drain(100, (d) => got.push(d.toString()))).toEqual({ rcvNxt: 100, fin: false });
    const r = q.drain(105, (d) => got.push(d.toString()));
    expect(got.join('')).toBe('fghijklmnopq');
    expect(r).toEqual({ rcvNxt: 117, fin: true });
    expect(q.size).toBe(0);
  });
});

describe('RttEstimator (RFC 6298)', () => {
  it('starts at the initial RTO, follows §2.2-2.3, clamps to the minimum and backs off', () => {
    const r = new RttEstimator(1000, 200, 120_000);
    expect(r.rto).toBe(1000);
    r.sample(100);
    // SRTT = 100, RTTVAR = 50, RTO = 100 + 4*50 = 300
    expect(r.srtt).toBe(100);
    expect(r.rto).toBe(300);
    r.sample(100);
    // RTTVAR = 3/4*50 + 1/4*0 = 37.5; SRTT = 100; RTO = 250
    expect(r.rto).toBe(250);
    for (let i = 0; i < 20; i++) r.sample(1);
    expect(r.rto).toBe(200);
    r.backoff();
    r.backoff();
    expect(r.rto).toBe(800);
    r.resetBackoff();
    expect(r.rto).toBe(200);
    for (let i = 0; i < 40; i++) r.backoff();
    expect(r.rto).toBe(120_000);
  });
});
