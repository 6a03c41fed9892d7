// @podnet/node-agent: the kubelet and container runtime of a podnet node (DESIGN §2).
export { KUBELET_CERT_PATH, obtainServingCert, type ServingCert } from './certs.js';
export { CniAgentPlugin } from './cni/cni-agent-plugin.js';
export { LocalBridgeCni, type LocalBridgeCniOptions } from './cni/local-bridge-cni.js';
export * from './cni/types.js';
export * from './errors.js';
export { BUILTIN_IMAGES, type BuiltinImage, containerArgv, findImage, repositoryOf, supportedImagesText } from './images/index.js';
export * from './kube-types.js';
export { NodeAgentMetrics } from './metrics.js';
export { KUBELET_VERSION, NodeAgent, type NodeAgentOptions, TRANSPORT_ADDRESS_ANNOTATION } from './node-agent.js';
export { type BackoffConfig, KUBELET_BACKOFF, RestartBackoff } from './runtime/backoff.js';
export { CriLogWriter, containerLogPath, parseCriLine, readCriLog, rfc3339Nano } from './runtime/cri-log.js';
export { PodRuntime } from './runtime/pod-runtime.js';
export type { ProcessContext, ProcessIo, ProcessMain } from './runtime/process.js';
export { Sandbox } from './runtime/sandbox.js';
export { SocketScope } from './runtime/socket-scope.js';
export { EXEC_PROTOCOLS, exitStatus } from './server/exec-stream.js';
export { Supervised, type SupervisedOptions } from './supervisor.js';
export { COMMANDS, runCommand } from './toolbox/index.js';
