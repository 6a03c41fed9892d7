// The compose runtime's error codes (DESIGN §6.10): what failed, where, and what to do; the CLI
// prints the message and exits 1, without a stack trace.
export const ComposeErrorCodes = {
  /** Neither `docker compose` (v2) nor `docker-compose` (v1) runs here, or no daemon answers. */
  NO_COMPOSE: 'PODNET_ERR_COMPOSE_UNAVAILABLE',
  /** A bad option (node count, port range). */
  USAGE: 'PODNET_ERR_COMPOSE_USAGE',
  /** docker compose failed, or the cluster did not become ready within the bound. */
  START: 'PODNET_ERR_COMPOSE_START',
  /** No compose cluster recorded in the state directory (`down`/`status` before `up`). */
  NOT_FOUND: 'PODNET_ERR_COMPOSE_NOT_FOUND',
} as const;

export type ComposeErrorCode = (typeof ComposeErrorCodes)[keyof typeof ComposeErrorCodes];

export class ComposeError extends Error {
  readonly code: ComposeErrorCode;
  constructor(code: ComposeErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ComposeError';
    this.code = code;
  }
}
