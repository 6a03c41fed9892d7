// @podnet/netpol: NetworkPolicy enforcement for a node (issue 8): semantics, the pure renderer of
// filter-table chains, the change tracker, the policy agent a cni-agent hosts, metrics, and the
// "which policy decided" reading of a netfilter trace.

export * from './agent.js';
export * from './chain-names.js';
export * from './change-tracker.js';
export * from './decided.js';
export * from './errors.js';
export * from './informers.js';
export * from './matrix.js';
export * from './metrics.js';
export * from './renderer.js';
export * from './semantics.js';
export * from './types.js';
