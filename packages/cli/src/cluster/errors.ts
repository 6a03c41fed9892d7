// The cluster commands' error codes (DESIGN §6.10). A ClusterError is a run-time failure the user
// can act on (a port taken, a cluster already running, a node that never got Ready): the CLI
// prints its message (what, where, what to do) and exits 1, without a stack trace.
export const ClusterErrorCodes = {
  /** A cluster with this name is already running (`podnet up` twice). */
  ALREADY_RUNNING: 'PODNET_ERR_CLUSTER_RUNNING',
  /** A port or address the cluster needs is taken by another process. */
  PORT_IN_USE: 'PODNET_ERR_CLUSTER_PORT_IN_USE',
  /** No cluster state in the state directory (`podnet down` / `status` before `up`). */
  NOT_FOUND: 'PODNET_ERR_CLUSTER_NOT_FOUND',
  /** A component did not start or did not become ready within the bound. */
  START: 'PODNET_ERR_CLUSTER_START',
  /** A pod, node or container the command names does not exist or cannot be reached. */
  TARGET: 'PODNET_ERR_CLUSTER_TARGET',
  /** The API server or a node answered with a failure. */
  REMOTE: 'PODNET_ERR_CLUSTER_REMOTE',
} as const;

export type ClusterErrorCode = (typeof ClusterErrorCodes)[keyof typeof ClusterErrorCodes];

export class ClusterError extends Error {
  readonly code: ClusterErrorCode;
  constructor(code: ClusterErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ClusterError';
    this.code = code;
  }
}
