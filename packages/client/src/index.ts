// @podnet/client: the REST + watch client and informer cache every podnet component uses.
export { Backoff, type BackoffOptions, sleep } from './backoff.js';
export * from './errors.js';
export { type EventHandlers, Informer, type InformerOptions, type InformerStats } from './informer.js';
export { type Credentials, credentialsFromKubeconfig, loadKubeconfig } from './kubeconfig.js';
export { componentLogger, type Logger, rootLogger } from './logger.js';
export { type KubeObject, type ListMeta, type ObjectList, type ObjectMetaLike, objectKey } from './object.js';
export { protobufWatchCodec } from './protobuf-codec.js';
export { apiVersionOf, collectionPath, objectPath, type ResourceInfo, type ResourceName, resources } from './resources.js';
export {
  type ClientOptions,
  type DeleteOptions,
  KubeClient,
  type ListOptions,
  type PatchOptions,
  type PatchType,
  ResourceClient,
  type WriteOptions,
} from './rest-client.js';
export { formatSelector } from './selector-format.js';
export { type IndexFunc, Store } from './store.js';
export { type RawRequest, type RawResponse, Transport, type TransportOptions } from './transport.js';
export {
  checkEvent,
  jsonWatchCodec,
  type OpenWatchOptions,
  openWatch,
  Watch,
  type WatchCodec,
  type WatchEnd,
  type WatchEvent,
  type WatchEventType,
  type WatchOptions,
} from './watch.js';
