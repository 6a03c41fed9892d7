// @podnet/apiserver
export { ClusterIpAllocator, NodePortAllocator, ServiceAllocators } from './allocators.js';
export { COMPONENT_USERS, type Credentials, createCredentials, kubeconfigYaml, loadOrCreateCredentials } from './certs.js';
export { ApiServerError, ApiServerErrorCodes } from './errors.js';
export { type ApiServer, type ApiServerOptions, startApiServer } from './server.js';
export { Store, type StoreOptions } from './store/store.js';
