// @podnet/controllers: scheduler, Deployment/ReplicaSet, EndpointSlice + Endpoints, node IPAM and
// node lifecycle controllers, started together by startControllers().

export { type ControlPlane, type ControlPlaneOptions, startControlPlane } from './control-plane.js';
export { desiredSlices, desiredSubsets, MAX_ENDPOINTS_PER_SLICE } from './endpoints/desired-endpoints.js';
export { MANAGED_BY, MANAGED_BY_LABEL, SERVICE_NAME_LABEL, TRIGGER_TIME } from './endpoints/endpointslice-controller.js';
export * from './kube-types.js';
export { type LivePage, type LivePageOptions, startLivePage } from './live-page/live-page-server.js';
export { CidrAllocator } from './nodes/cidr-allocator.js';
export { NOT_READY_TAINT, UNREACHABLE_TAINT } from './nodes/node-lifecycle-controller.js';
export type { ControllerOptions } from './runtime/controller-context.js';
export { EventRecorder } from './runtime/event-recorder.js';
export { chooseNode, tolerates, unfitReason } from './scheduler/choose-node.js';
export {
  CONTROLLER_NAMES,
  type ControllerName,
  type RunningControllers,
  type StartControllersOptions,
  startControllers,
} from './start-controllers.js';
export { HASH_LABEL, REVISION } from './workloads/deployment-controller.js';
export { resolveFenceposts, rollingStep } from './workloads/rolling.js';
export { computeTemplateHash } from './workloads/template-hash.js';
