// Hooks the cni-agent's data plane into its /metrics registry: the tunnel observer on the active
// backend's device (flannel.1 for vxlan, eth0 for host-gw) and the data-plane counters.
import type { Ipv4Address } from '@podnet/wire';
import type { Registry } from 'prom-client';
import type { Backend } from '../backends/backend.js';
import { VxlanBackend } from '../backends/vxlan.js';
import type { HostNetwork } from '../host/host-network.js';
import { registerDataPlaneMetrics } from './dataplane-metrics.js';
import { TunnelMetrics } from './tunnel-metrics.js';

/** Call once, after backend.open(): the vxlan device exists from then on. */
export function instrumentAgent(
  registry: Registry,
  host: HostNetwork,
  backend: Backend,
  peers: { nameOf(ip: Ipv4Address): string | undefined; known(): Ipv4Address[] },
): TunnelMetrics {
  const tunnel = new TunnelMetrics({
    backend: backend.name,
    peerName: (ip) => peers.nameOf(ip),
    knownPeers: () => peers.known(),
    now: () => performance.now(),
    noRouteDrops: () => host.ns.counters().ip?.drops['no-route'] ?? 0,
  });
  const device = backend instanceof VxlanBackend ? backend.device : host.eth0;
  if (device) device.tunnelObserver = tunnel;
  tunnel.register(registry);
  registerDataPlaneMetrics(registry, host);
  return tunnel;
}
