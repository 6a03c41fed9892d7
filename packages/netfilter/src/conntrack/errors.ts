// Error codes of conntrack and NAT (DESIGN §6.10). A user mistake (a bad `conntrack` filter, a NAT
// range whose bounds are reversed) gets one of these, never a stack trace.
import { PodnetError } from '@podnet/wire';

export const ConntrackErrorCodes = {
  /** A `conntrack` command line or filter the real conntrack tool would refuse. */
  CONNTRACK_USAGE: 'PODNET_ERR_CONNTRACK_USAGE',
  /** A NAT range that cannot be used (bounds reversed, port range without a port protocol). */
  NAT_RANGE: 'PODNET_ERR_NAT_RANGE',
  /** Options given to the connection tracker that are out of range. */
  CONNTRACK_CONFIG: 'PODNET_ERR_CONNTRACK_CONFIG',
} as const;

export type ConntrackErrorCode = (typeof ConntrackErrorCodes)[keyof typeof ConntrackErrorCodes];

export class ConntrackError extends PodnetError {
  constructor(code: ConntrackErrorCode, message: string) {
    // PodnetError's code type lists only the wire catalogue; each package keeps its own codes.
    super(code as never, message);
    this.name = 'ConntrackError';
  }
}
