// @podnet/api: Kubernetes object types podnet uses, defaults, validation, selectors, patches,
// and the protobuf watch codec (proto/podnet-watch.proto).
export * from './api-schema.js';
export * from './defaults.js';
export * from './patch.js';
export * from './patch-tags.js';
export * from './proto.js';
export * from './resources.js';
export * from './selectors.js';
export * from './validation.js';
