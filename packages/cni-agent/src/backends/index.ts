// Backends by name (DESIGN §6.4), conformance checked with `satisfies`.
import { CniAgentError, CniAgentErrorCodes } from '../errors.js';
import { BACKEND_NAMES, type Backend, type BackendName } from './backend.js';
import { HostGwBackend } from './host-gw.js';
import { VxlanBackend, type VxlanBackendOptions } from './vxlan.js';

export interface BackendOptions extends VxlanBackendOptions {}

export const BACKENDS = {
  vxlan: (o: BackendOptions) => new VxlanBackend(o),
  'host-gw': (_o: BackendOptions) => new HostGwBackend(),
} satisfies Record<BackendName, (o: BackendOptions) => Backend>;

export function createBackend(name: string, options: BackendOptions): Backend {
  if (!(BACKEND_NAMES as readonly string[]).includes(name)) {
    throw new CniAgentError(CniAgentErrorCodes.USAGE, `unknown backend "${name}": choose one of ${BACKEND_NAMES.join(', ')}`);
  }
  return BACKENDS[name as BackendName](options);
}

export * from './backend.js';
export { HOST_GW_MTU, HostGwBackend } from './host-gw.js';
export { VXLAN_MTU, VXLAN_PORT, VXLAN_VNI, VxlanBackend, vtepMacFor } from './vxlan.js';
