// Error catalogue of the policy agent (DESIGN §6.10; the pattern of packages/wire/src/errors.ts).
export const NetpolErrorCodes = {
  /** A NetworkPolicy the agent cannot enforce as written (the API server's validation would refuse it). */
  INVALID_POLICY: 'PODNET_ERR_NETPOL_INVALID_POLICY',
  /** The agent was constructed with options it cannot work with. */
  CONFIG: 'PODNET_ERR_NETPOL_CONFIG',
  /** A reachability matrix (`podnet netpol probe --expect FILE`) that cannot be read or compared. */
  MATRIX: 'PODNET_ERR_NETPOL_MATRIX',
  /** iptables-restore refused the rendered payload (the previous rules stay in force). */
  APPLY: 'PODNET_ERR_NETPOL_APPLY',
} as const;

export type NetpolErrorCode = (typeof NetpolErrorCodes)[keyof typeof NetpolErrorCodes];

export class NetpolError extends Error {
  readonly code: NetpolErrorCode;
  constructor(code: NetpolErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'NetpolError';
    this.code = code;
  }
}
