// @podnet/api: Kubernetes object types podnet uses, defaults, validation, selectors, patches,
// and the protobuf watch codec (proto/podnet-watch.proto).
export * from './proto.js';
