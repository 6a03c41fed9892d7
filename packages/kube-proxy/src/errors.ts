// kube-proxy's error codes (DESIGN §6.10): stable `PODNET_ERR_*` codes, with messages that say
// what was wrong, where, and what to do. The catalogue pattern follows packages/wire/src/errors.ts.

export const KubeProxyErrorCodes = {
  /** A Service or EndpointSlice the trackers cannot use (a missing name, a bad IP). */
  INVALID_OBJECT: 'PODNET_ERR_KUBE_PROXY_INVALID_OBJECT',
  /** A proxier or runner option out of range (a negative period, a bad CIDR). */
  CONFIG: 'PODNET_ERR_KUBE_PROXY_CONFIG',
  /** The injected apply() rejected a payload (iptables-restore failed on the node). */
  APPLY: 'PODNET_ERR_KUBE_PROXY_APPLY',
} as const;

export type KubeProxyErrorCode = (typeof KubeProxyErrorCodes)[keyof typeof KubeProxyErrorCodes];

export class KubeProxyError extends Error {
  readonly code: KubeProxyErrorCode;
  constructor(code: KubeProxyErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'KubeProxyError';
    this.code = code;
  }
}
