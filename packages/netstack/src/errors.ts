// The netstack's error codes (DESIGN §6.10): every error a caller can meet names what was wrong,
// where, and what to do, under a stable PODNET_ERR_* code.
import { PodnetError } from '@podnet/wire';

export const NetstackErrorCodes = {
  /** A configuration call with a bad argument (unknown interface, bad CIDR, duplicate name, ...). */
  CONFIG: 'PODNET_ERR_NETSTACK_CONFIG',
  /** A socket call that the socket's state does not allow (send on a closed socket, bind twice). */
  SOCKET: 'PODNET_ERR_NETSTACK_SOCKET',
  /** A ping that got no reply in time. */
  PING_TIMEOUT: 'PODNET_ERR_PING_TIMEOUT',
  /** A ping answered by an ICMP error (unreachable, time exceeded). */
  PING_ERROR: 'PODNET_ERR_PING_ERROR',
  /** A link's real socket could not be opened (address in use, path not found). */
  LINK_IO: 'PODNET_ERR_LINK_IO',
} as const;

export type NetstackErrorCode = (typeof NetstackErrorCodes)[keyof typeof NetstackErrorCodes];

/** An error of this package. `code` is either a PODNET_ERR_* code or, for socket errors, an errno name. */
export class NetstackError extends PodnetError {
  readonly netstackCode: NetstackErrorCode | string;
  constructor(code: NetstackErrorCode, message: string, options?: { cause?: unknown }) {
    // PodnetError's code type is wire's catalogue; ours extends it, so widen it here.
    super(code as never, message, options);
    this.name = 'NetstackError';
    this.netstackCode = code;
  }
}

export function configError(message: string): NetstackError {
  return new NetstackError(NetstackErrorCodes.CONFIG, message);
}

/** A Node-style system error (err.code = 'ECONNREFUSED', ...), as dgram and net emit them. */
export class SystemError extends Error {
  readonly code: string;
  readonly errno: string;
  readonly syscall: string;
  readonly address?: string;
  readonly port?: number;
  constructor(code: string, syscall: string, message: string, where?: { address?: string; port?: number }) {
    super(`${syscall} ${code}${where?.address ? ` ${where.address}${where.port !== undefined ? `:${where.port}` : ''}` : ''}: ${message}`);
    this.name = 'SystemError';
    this.code = code;
    this.errno = code;
    this.syscall = syscall;
    if (where?.address !== undefined) this.address = where.address;
    if (where?.port !== undefined) this.port = where.port;
  }
}
