// Proxier modes chosen by name (DESIGN §6.4), as kube-proxy's --proxy-mode: iptables first;
// ipvs and nftables would be further entries implementing the same Proxier interface.
import { KubeProxyError, KubeProxyErrorCodes } from './errors.js';
import { IptablesProxier, type IptablesProxierOptions, type Proxier } from './iptables-proxier.js';

export const PROXIER_MODES = {
  iptables: (options: IptablesProxierOptions): Proxier => new IptablesProxier(options),
} satisfies Record<string, (options: IptablesProxierOptions) => Proxier>;

export type ProxyMode = keyof typeof PROXIER_MODES;

/** The proxier for `--proxy-mode`; an unknown mode is a configuration error naming the known ones. */
export function createProxier(mode: string, options: IptablesProxierOptions): Proxier {
  const make = (PROXIER_MODES as Record<string, (o: IptablesProxierOptions) => Proxier>)[mode];
  if (!make) {
    throw new KubeProxyError(
      KubeProxyErrorCodes.CONFIG,
      `kube-proxy: unknown proxy mode "${mode}"; podnet implements: ${Object.keys(PROXIER_MODES).join(', ')}`,
    );
  }
  return make(options);
}
