// The cni-agent's error codes (DESIGN §6.10; the catalogue pattern of packages/wire/src/errors.ts).
// CNI failures additionally carry the CNI spec's numeric error code (SPEC.md "Error"), because
// that is what a runtime acts on (11: try again later).
import { PodnetError } from '@podnet/wire';

export const CniAgentErrorCodes = {
  /** A command-line flag of the cni-agent process is missing or malformed. */
  USAGE: 'PODNET_ERR_CNI_AGENT_USAGE',
  /** A CNI call failed (the CNI error code says how). */
  CNI: 'PODNET_ERR_CNI',
  /** The IPAM range is exhausted or its data directory is unusable. */
  IPAM: 'PODNET_ERR_IPAM',
  /** A control-socket request was malformed, or the socket broke. */
  CONTROL: 'PODNET_ERR_CONTROL',
  /** The control socket could not be reached (is the cni-agent running?). */
  CONTROL_UNREACHABLE: 'PODNET_ERR_CONTROL_UNREACHABLE',
  /** A control request got no answer within its deadline. */
  CONTROL_TIMEOUT: 'PODNET_ERR_CONTROL_TIMEOUT',
  /** A node command (`ip`, `bridge`, `conntrack`, `iptables`) was used wrongly. */
  EXEC: 'PODNET_ERR_NODE_EXEC',
  /** A backend could not program a remote node (bad annotation, missing podCIDR). */
  BACKEND: 'PODNET_ERR_BACKEND',
  /** A capture or trace request named something that does not exist. */
  OBSERVE: 'PODNET_ERR_OBSERVE',
} as const;

export type CniAgentErrorCode = (typeof CniAgentErrorCodes)[keyof typeof CniAgentErrorCodes];

export class CniAgentError extends PodnetError {
  /** For iptables-restore failures relayed over the socket. */
  readonly line: number | undefined;
  readonly word: string | undefined;
  constructor(code: CniAgentErrorCode | string, message: string, options: { cause?: unknown; line?: number; word?: string } = {}) {
    super(code as never, message, options);
    this.name = 'CniAgentError';
    this.line = options.line;
    this.word = options.word;
  }
}

/** CNI spec error codes (SPEC.md "Error": well-known error codes). */
export const CniErrorCode = {
  INCOMPATIBLE_VERSION: 1,
  UNSUPPORTED_FIELD: 2,
  UNKNOWN_CONTAINER: 3,
  INVALID_ENV: 4,
  IO_FAILURE: 5,
  DECODE_FAILURE: 6,
  INVALID_NETWORK_CONFIG: 7,
  TRY_AGAIN_LATER: 11,
} as const;

/** A CNI error as a plugin prints it on stdout ({cniVersion, code, msg, details}). */
export class CniError extends Error {
  readonly cniCode: number;
  readonly msg: string;
  readonly details: string;
  constructor(cniCode: number, msg: string, details = '') {
    super(`CNI error ${cniCode}: ${msg}${details ? ` (${details})` : ''}`);
    this.name = 'CniError';
    this.cniCode = cniCode;
    this.msg = msg;
    this.details = details;
  }
}
