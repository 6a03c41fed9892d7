// The CNI network configuration as the runtime passes it (CNI spec 1.0, SPEC.md "Section 1:
// Network configuration format"): a plugin configuration, or a configuration list whose first
// plugin is podnet's. Checked up front, so a bad config fails with the spec's error code and a
// message that names the field, before anything is allocated.
import { CniError, CniErrorCode } from '../errors.js';

export const CNI_VERSION = '1.0.0';
/** The versions whose config and result shapes this endpoint speaks (the 0.3/0.4 results are a subset of 1.0's). */
export const SUPPORTED_VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0'];
const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

export interface NetworkConfig {
  cniVersion: string;
  name: string;
  type: string;
  /** An MTU the runtime asks for; at most the backend's MTU. */
  mtu?: number;
  dns?: { nameservers?: string[]; domain?: string; search?: string[]; options?: string[] };
  prevResult?: Record<string, unknown>;
}

function invalid(msg: string, details = ''): CniError {
  return new CniError(CniErrorCode.INVALID_NETWORK_CONFIG, msg, details);
}

export function parseNetworkConfig(text: string, backendMtu: number): NetworkConfig {
  if (!text?.trim())
    throw new CniError(CniErrorCode.DECODE_FAILURE, 'no network configuration on stdin', 'pass the CNI network config JSON');
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new CniError(CniErrorCode.DECODE_FAILURE, 'the network configuration is not JSON', (error as Error).message);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw invalid('the network configuration must be a JSON object');
  let obj = raw as Record<string, unknown>;
  if (Array.isArray(obj.plugins)) {
    const first = obj.plugins[0];
    if (typeof first !== 'object' || first === null) throw invalid('"plugins" is empty', 'a configuration list needs at least one plugin');
    obj = { cniVersion: obj.cniVersion, name: obj.name, ...(first as Record<string, unknown>) };
  }
  const version = obj.cniVersion;
  if (typeof version !== 'string' || version === '') throw invalid('"cniVersion" is missing', `use "${CNI_VERSION}"`);
  if (!SUPPORTED_VERSIONS.includes(version)) {
    throw new CniError(
      CniErrorCode.INCOMPATIBLE_VERSION,
      `incompatible CNI versions: config is "${version}", plugin supports [${SUPPORTED_VERSIONS.join(' ')}]`,
    );
  }
  if (typeof obj.name !== 'string' || !NAME_RE.test(obj.name)) {
    throw invalid(
      '"name" is missing or invalid',
      'the network name must start with a letter or digit and hold only letters, digits, "_", "." and "-"',
    );
  }
  if (typeof obj.type !== 'string' || obj.type === '') throw invalid('"type" is missing', 'name the plugin, e.g. "podnet"');
  const config: NetworkConfig = { cniVersion: version, name: obj.name, type: obj.type };
  if (obj.mtu !== undefined) {
    if (typeof obj.mtu !== 'number' || !Number.isInteger(obj.mtu) || obj.mtu < 576) {
      throw invalid(`"mtu" ${JSON.stringify(obj.mtu)} is not an integer of at least 576`);
    }
    if (obj.mtu > backendMtu)
      throw invalid(`"mtu" ${obj.mtu} exceeds the backend's pod MTU ${backendMtu}`, 'leave it out to get the backend MTU');
    config.mtu = obj.mtu;
  }
  if (obj.dns !== undefined) {
    if (typeof obj.dns !== 'object' || obj.dns === null) throw invalid('"dns" must be an object');
    config.dns = obj.dns as NetworkConfig['dns'] & object;
  }
  if (obj.prevResult !== undefined) {
    if (typeof obj.prevResult !== 'object' || obj.prevResult === null) throw invalid('"prevResult" must be an object');
    config.prevResult = obj.prevResult as Record<string, unknown>;
  }
  return config;
}
