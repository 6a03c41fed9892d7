// The compose cluster's address plan (DESIGN §4): the network 172.30.0.0/24, the control plane at
// .2, node-N at .(10+N); a node's transport address and node IP are both its container address.
// deploy/docker-compose.yml defines node-1..node-3; more nodes come from an override file made
// here (JSON is YAML, so compose reads it as it is).
import { NODE_PROCESS_V8_FLAGS } from '@podnet/wire';
import { ComposeError, ComposeErrorCodes } from './errors.js';

export const COMPOSE_SUBNET = '172.30.0.0/24';
export const CONTROL_PLANE_ADDRESS = '172.30.0.2';
export const STATIC_NODES = 3;
export const MAX_NODES = 20;
/** Container NodePorts node-1 publishes on 127.0.0.1 (deploy/docker-compose.yml). */
export const PUBLISHED_NODEPORTS = { first: 30080, last: 30089 } as const;

export interface ComposeNode {
  name: string;
  address: string;
}

export function composeNodes(count: number): ComposeNode[] {
  if (!Number.isInteger(count) || count < 1 || count > MAX_NODES) {
    throw new ComposeError(
      ComposeErrorCodes.USAGE,
      `--nodes must be an integer from 1 to ${MAX_NODES} for the compose runtime (got ${count})`,
    );
  }
  return Array.from({ length: count }, (_, i) => ({ name: `node-${i + 1}`, address: `172.30.0.${11 + i}` }));
}

/** A compose variable reference with its default, `${NAME:-default}`, resolved by compose itself. */
const composeVar = (name: string, fallback: string): string => `\${${name}:-${fallback}}`;

/**
 * Each node's metrics ports, published on 127.0.0.1 at a port docker picks (`127.0.0.1::PORT`:
 * no fixed host port to collide with); `compose port node-N 10250` or `docker port` tells which.
 */
export const PUBLISHED_METRICS_PORTS = [10250, 10249, 9099] as const;

export interface OverrideOptions {
  /** A generated Prometheus configuration (host path) for the prometheus service to mount instead of deploy/'s. */
  prometheusConfig?: string;
}

/**
 * The compose override document: services beyond deploy/docker-compose.yml's three nodes, and
 * the prometheus service's configuration when it was generated for another node count (compose
 * merges `volumes` by container path, so this mount replaces deploy/'s).
 */
export function overrideFor(nodes: ComposeNode[], options: OverrideOptions = {}): object | undefined {
  const extra = nodes.slice(STATIC_NODES);
  if (extra.length === 0 && !options.prometheusConfig) return undefined;
  const services: Record<string, object> = {};
  for (const n of extra) {
    services[n.name] = {
      image: composeVar('PODNET_IMAGE', 'podnet:local'),
      entrypoint: ['node', ...NODE_PROCESS_V8_FLAGS, '/podnet/deploy/entrypoint.mjs'],
      command: ['node'],
      depends_on: ['control-plane'],
      hostname: n.name,
      volumes: [`${composeVar('PODNET_STATE_DIR', './.state')}:/state:ro`],
      stop_grace_period: '10s',
      environment: {
        PODNET_NODE: n.name,
        PODNET_ADDRESS: n.address,
        PODNET_BACKEND: composeVar('PODNET_BACKEND', 'vxlan'),
        PODNET_ALLOW_NON_LOOPBACK: '1',
      },
      ports: PUBLISHED_METRICS_PORTS.map((p) => `127.0.0.1::${p}`),
      networks: { podnet: { ipv4_address: n.address } },
    };
  }
  if (options.prometheusConfig) services.prometheus = { volumes: [`${options.prometheusConfig}:/etc/prometheus/prometheus.yml:ro`] };
  return { services };
}
