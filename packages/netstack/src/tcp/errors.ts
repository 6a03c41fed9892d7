// Errors of the emulated TCP: socket errors carry the errno names Node's `net` uses (so `http`
// and user code that switch on err.code work unchanged), and user mistakes carry a stable
// PODNET_ERR_* code with a message that says what was wrong and what to do (DESIGN §6.10).
import { constants } from 'node:os';

export const TcpErrorCodes = {
  /** A port, address or option given to connect()/listen() that is not valid. */
  INVALID_ARGUMENT: 'PODNET_ERR_TCP_INVALID_ARGUMENT',
  /** An operation on a server or socket in a state that does not allow it. */
  INVALID_STATE: 'PODNET_ERR_TCP_INVALID_STATE',
} as const;

export type TcpErrorCode = (typeof TcpErrorCodes)[keyof typeof TcpErrorCodes];

/** A caller mistake (bad port, bad address): thrown synchronously, like Node's ERR_SOCKET_BAD_PORT. */
export class TcpUsageError extends Error {
  readonly code: TcpErrorCode;
  constructor(code: TcpErrorCode, message: string) {
    super(message);
    this.name = 'TcpUsageError';
    this.code = code;
  }
}

/** The errno names a TCP socket reports (Linux's, as Node's `net` surfaces them). */
export type SocketErrno =
  | 'ECONNREFUSED'
  | 'ECONNRESET'
  | 'ETIMEDOUT'
  | 'EADDRINUSE'
  | 'EADDRNOTAVAIL'
  | 'EHOSTUNREACH'
  | 'ENETUNREACH'
  | 'EPIPE'
  | 'EMSGSIZE'
  | 'ENOPROTOOPT'
  | 'EPERM'
  | 'ENOBUFS';

export interface SocketError extends Error {
  code: SocketErrno;
  errno: number;
  syscall: string;
  address?: string;
  port?: number;
}

/**
 * Builds the error Node's `net` would give for the same failure, e.g.
 * "connect ECONNREFUSED 10.244.1.2:80" with code, errno (negative, as libuv reports it),
 * syscall, address and port.
 */
export function socketError(code: SocketErrno, syscall: string, address?: string, port?: number): SocketError {
  const where = address === undefined ? '' : port === undefined ? ` ${address}` : ` ${address}:${port}`;
  const err = new Error(`${syscall} ${code}${where}`) as SocketError;
  err.code = code;
  err.errno = -(constants.errno[code] ?? 0);
  err.syscall = syscall;
  if (address !== undefined) err.address = address;
  if (port !== undefined) err.port = port;
  return err;
}
