// The Internet checksum (RFC 1071) used by IPv4, ICMP, UDP and TCP, and its incremental
// update (RFC 1624), which NAT uses to rewrite an address or port without re-summing.

/**
 * One's-complement sum of the 16-bit big-endian words of buf[start, end), added to `initial`.
 * An odd trailing byte is padded with zero on the right (RFC 1071 §4.1). The result is folded
 * to 16 bits but not complemented, so partial sums can be chained (pseudo-header + segment).
 */
export function onesComplementSum(buf: Uint8Array, start: number, end: number, initial = 0): number {
  let sum = initial;
  let i = start;
  const last = end - 1;
  // Unrolled by 8 bytes: the data plane sums every payload twice (verify and compute).
  for (; i + 7 < end; i += 8) {
    sum +=
      (((buf[i] as number) << 8) | (buf[i + 1] as number)) +
      (((buf[i + 2] as number) << 8) | (buf[i + 3] as number)) +
      (((buf[i + 4] as number) << 8) | (buf[i + 5] as number)) +
      (((buf[i + 6] as number) << 8) | (buf[i + 7] as number));
  }
  for (; i < last; i += 2) sum += ((buf[i] as number) << 8) | (buf[i + 1] as number);
  if (i === last) sum += (buf[i] as number) << 8;
  return fold(sum);
}

/** Folds carries into the low 16 bits (end-around carry). */
export function fold(sum: number): number {
  let s = sum;
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return s;
}

/** The checksum field value for buf[start, end): the complement of the folded sum. */
export function internetChecksum(buf: Uint8Array, start = 0, end = buf.length, initial = 0): number {
  return ~onesComplementSum(buf, start, end, initial) & 0xffff;
}

/**
 * Sum of the IPv4 pseudo-header used by TCP and UDP (RFC 9293 §3.1, RFC 768):
 * source address, destination address, zero, protocol, and the TCP/UDP length.
 */
export function pseudoHeaderSum(src: number, dst: number, protocol: number, length: number): number {
  return fold((src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + protocol + length);
}

/**
 * RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'), for one 16-bit word m changed to m'.
 * Returns the new checksum field value.
 */
export function updateChecksum16(checksum: number, oldWord: number, newWord: number): number {
  const sum = (~checksum & 0xffff) + (~oldWord & 0xffff) + (newWord & 0xffff);
  return ~fold(sum) & 0xffff;
}

/** RFC 1624 update for a 32-bit value (an IPv4 address) changed from old to new. */
export function updateChecksum32(checksum: number, oldValue: number, newValue: number): number {
  const c = updateChecksum16(checksum, oldValue >>> 16, newValue >>> 16);
  return updateChecksum16(c, oldValue & 0xffff, newValue & 0xffff);
}
