// @podnet/cni-agent: the node's kernel (DESIGN §2): host namespace, CNI endpoint, IPAM, backends,
// NodePort listeners, and the node control socket (proto/podnet-node.proto).

export { CniAgent, type CniAgentOptions, remoteNodeOf } from './agent.js';
export { type AgentArgs, parseArgs, USAGE } from './args.js';
export * from './backends/index.js';
export { CNI_VERSION, type NetworkConfig, parseNetworkConfig, SUPPORTED_VERSIONS } from './cni/config.js';
export { type Attachment, CniEndpoint, type CniEndpointOptions, hostVethName } from './cni/endpoint.js';
export { CniAgentClient, type CniAgentClientOptions, type CniCall, type CniOutcome } from './control/client.js';
export * from './control/protocol.js';
export { ControlServer, type Handlers, toErrorBody } from './control/server.js';
export * from './errors.js';
export { NodeExec } from './exec/node-exec.js';
export { EXTERNAL_CLIENT_ADDRESS, EXTERNAL_GATEWAY_ADDRESS, HostNetwork, type HostNetworkOptions } from './host/host-network.js';
export { ensureMasquerade, masqueradePayload } from './host/masquerade.js';
export { TracingHooks } from './host/tracing-hooks.js';
export { type Allocation, HostLocalIpam } from './ipam/host-local.js';
export { createMetrics, serveMetrics } from './metrics.js';
export { emulatedClientAddress, type NodePortKey, NodePortRelay, UDP_FLOW_IDLE_MS } from './nodeports/relay.js';
