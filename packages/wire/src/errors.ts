// The catalogue of podnet error codes (DESIGN §6.10). Every error a user can meet carries
// a stable `PODNET_ERR_*` code, a message that says what was wrong, where, and what to do.
// Later packages add their codes here so the catalogue stays one list.

export const ErrorCodes = {
  /** Bytes that do not form a valid header of the named protocol. */
  DECODE: 'PODNET_ERR_DECODE',
  /** A Repr that cannot be encoded (a field out of range, a missing pseudo-header). */
  ENCODE: 'PODNET_ERR_ENCODE',
  /** Text that is not a valid address, CIDR or MAC. */
  PARSE_ADDRESS: 'PODNET_ERR_PARSE_ADDRESS',
  /** A pcap file that is truncated or not a pcap file. */
  PCAP: 'PODNET_ERR_PCAP',
  /** A command-line usage error. */
  USAGE: 'PODNET_ERR_USAGE',
  /** A sync runner (BoundedFrequencyRunner) given intervals it cannot keep (min > max, negative, ...). */
  RUNNER_CONFIG: 'PODNET_ERR_RUNNER_CONFIG',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

export class PodnetError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PodnetError';
    this.code = code;
  }
}

/**
 * Malformed input to a decoder (DESIGN §6.3): never a crash, always this typed error,
 * naming the protocol, the byte offset at which the problem was found, and why.
 */
export class DecodeError extends PodnetError {
  readonly protocol: string;
  readonly offset: number;
  readonly reason: string;
  constructor(protocol: string, offset: number, reason: string) {
    super(ErrorCodes.DECODE, `${protocol}: ${reason} (at byte ${offset})`);
    this.name = 'DecodeError';
    this.protocol = protocol;
    this.offset = offset;
    this.reason = reason;
  }
}

/** A Repr that cannot be put on the wire as it is (a programming or user error, not bad bytes). */
export class EncodeError extends PodnetError {
  readonly protocol: string;
  constructor(protocol: string, reason: string) {
    super(ErrorCodes.ENCODE, `${protocol}: cannot encode: ${reason}`);
    this.name = 'EncodeError';
    this.protocol = protocol;
  }
}

/** Throws a DecodeError unless `end - offset >= need`. */
export function needBytes(protocol: string, offset: number, end: number, need: number, what = 'header'): void {
  if (end - offset < need) {
    throw new DecodeError(protocol, offset, `truncated ${what}: need ${need} bytes, have ${Math.max(0, end - offset)}`);
  }
}

/** Checks the (buf, offset, end) triple every decoder takes; returns the effective end. */
export function checkBounds(protocol: string, buf: Uint8Array, offset: number, end: number | undefined): number {
  const e = end ?? buf.length;
  if (!Number.isInteger(offset) || offset < 0 || offset > buf.length || !Number.isInteger(e) || e < offset || e > buf.length) {
    throw new DecodeError(protocol, offset, `bad bounds [${offset}, ${e}) for a buffer of ${buf.length} bytes`);
  }
  return e;
}
