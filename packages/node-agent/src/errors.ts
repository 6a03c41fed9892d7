// The node-agent's error codes (DESIGN §6.10): stable `PODNET_ERR_*` codes with messages that say
// what was wrong, where, and what to do.

export const NodeAgentErrorCodes = {
  /** A bad command-line flag or value. */
  USAGE: 'PODNET_ERR_USAGE',
  /** The manifest names an image no built-in image provides (ErrImagePull). */
  IMAGE_PULL: 'PODNET_ERR_IMAGE_PULL',
  /** CNI ADD/DEL/CHECK failed (the sandbox has no network). */
  CNI: 'PODNET_ERR_CNI',
  /** A request to the kubelet server names a pod or container this node does not run. */
  NOT_FOUND: 'PODNET_ERR_NOT_FOUND',
  /** A kubelet server request that is malformed (bad query, missing command). */
  BAD_REQUEST: 'PODNET_ERR_BAD_REQUEST',
  /** A supervised child process could not be started. */
  SUPERVISOR: 'PODNET_ERR_SUPERVISOR',
  /** The kubelet serving certificate could not be made or signed by the API server. */
  CERT: 'PODNET_ERR_NODE_CERT',
} as const;

export type NodeAgentErrorCode = (typeof NodeAgentErrorCodes)[keyof typeof NodeAgentErrorCodes];

export class NodeAgentError extends Error {
  readonly code: NodeAgentErrorCode;
  constructor(code: NodeAgentErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'NodeAgentError';
    this.code = code;
  }
}
