// Types for the network guard (plain JavaScript, so that child processes can --import it).
export function isAllowedAddress(address: string | undefined | null): boolean;
export class NetworkGuardError extends Error {
  readonly code: 'PODNET_ERR_NETWORK_GUARD';
  constructor(what: string, address: string, port?: number);
}
