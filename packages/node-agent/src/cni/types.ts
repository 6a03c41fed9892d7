// What the runtime needs from a CNI implementation (CNI spec 1.0 SPEC.md §3-5): ADD returns the
// result (interfaces, ips, routes) plus, as podnet's CNI 1.1-style extension, where the sandbox's
// eth0 connects (`socketPath`, the unix-socket veth of DESIGN §2) and its MTU and MAC.

export interface CniInterface {
  name: string;
  mac?: string;
  mtu?: number;
  sandbox?: string;
  socketPath?: string;
}

export interface CniResult {
  cniVersion: string;
  interfaces?: CniInterface[];
  ips?: { address: string; gateway?: string; interface?: number }[];
  routes?: { dst: string; gw?: string; mtu?: number }[];
  dns?: { nameservers?: string[] };
}

export interface CniCallArgs {
  /** CNI_CONTAINERID: the sandbox id. */
  containerId: string;
  /** CNI_NETNS: the sandbox namespace's name. */
  netns: string;
  ifname: string;
  podNamespace: string;
  podName: string;
  podUid: string;
}

/** The pod-side wiring an ADD result stands for. */
export interface SandboxNetwork {
  /** eth0's address with its prefix (10.244.1.5/24). */
  address: string;
  gateway?: string;
  routes: { dst: string; gw?: string }[];
  mtu: number;
  mac: string;
  /** The unix socket the pod's eth0 connects to. */
  socketPath: string;
  result: CniResult;
}

export interface CniPlugin {
  readonly name: string;
  add(args: CniCallArgs): Promise<SandboxNetwork>;
  /** Idempotent (SPEC.md: DEL of an unknown container is not an error). */
  del(args: CniCallArgs): Promise<void>;
  check(args: CniCallArgs, prevResult: CniResult): Promise<void>;
  close(): Promise<void>;
}

/** The network configuration list the runtime hands the plugin (SPEC.md §1, cniVersion 1.0.0). */
export const DEFAULT_CNI_CONFIG = {
  cniVersion: '1.0.0',
  name: 'podnet',
  plugins: [{ type: 'podnet', bridge: 'cni0', isGateway: true, ipMasq: true, ipam: { type: 'host-local' } }],
};

export function cniArgsString(a: CniCallArgs): string {
  return `IgnoreUnknown=1;K8S_POD_NAMESPACE=${a.podNamespace};K8S_POD_NAME=${a.podName};K8S_POD_INFRA_CONTAINER_ID=${a.containerId};K8S_POD_UID=${a.podUid}`;
}

/** Reads the sandbox wiring out of an ADD result (the interface with `sandbox` set, its IP, routes). */
export function sandboxNetworkOf(result: CniResult, fallback: { socketPath?: string; mac?: string; mtu?: number } = {}): SandboxNetwork {
  const ifaces = result.interfaces ?? [];
  const podIfIndex = ifaces.findIndex((i) => i.sandbox !== undefined && i.sandbox !== '');
  const podIf = podIfIndex >= 0 ? ifaces[podIfIndex] : undefined;
  const ip = (result.ips ?? []).find((i) => i.interface === undefined || i.interface === podIfIndex) ?? result.ips?.[0];
  if (!ip) throw new Error('the CNI ADD result has no ips[] entry for the pod interface');
  const socketPath = podIf?.socketPath ?? fallback.socketPath;
  if (!socketPath) throw new Error('the CNI ADD result names no socketPath for the pod interface (and attach gave none)');
  const mac = podIf?.mac ?? fallback.mac;
  if (!mac) throw new Error('the CNI ADD result names no MAC for the pod interface');
  const routeMtu = (result.routes ?? []).find((r) => r.mtu !== undefined)?.mtu;
  return {
    address: ip.address,
    ...(ip.gateway !== undefined ? { gateway: ip.gateway } : {}),
    routes: (result.routes ?? []).map((r) => ({ dst: r.dst, ...(r.gw !== undefined ? { gw: r.gw } : {}) })),
    mtu: podIf?.mtu ?? fallback.mtu ?? routeMtu ?? 1500,
    mac,
    socketPath,
    result,
  };
}
