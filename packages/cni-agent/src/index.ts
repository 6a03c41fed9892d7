// @podnet/cni-agent: the node's kernel (DESIGN §2): host namespace, CNI endpoint, IPAM, backends,
// NodePort listeners, and the node control socket (proto/podnet-node.proto).
export { CniAgentClient, type CniAgentClientOptions, type CniCall, type CniOutcome } from './control/client.js';
export * from './control/protocol.js';
export { ControlServer, type Handlers, toErrorBody } from './control/server.js';
export * from './errors.js';
