// @podnet/kube-proxy: change trackers (desired state) and the iptables Proxier that renders
// Services and EndpointSlices into iptables-restore text (DESIGN §2, §5, §6.5).
export * from './categorize.js';
export * from './chain-names.js';
export * from './conntrack-cleanup.js';
export * from './endpoints-change-tracker.js';
export * from './errors.js';
export * from './iptables-proxier.js';
export * from './iptables-renderer.js';
export * from './jump-rules.js';
export * from './metrics.js';
export * from './proxier-modes.js';
export * from './service-change-tracker.js';
export * from './service-info.js';
export * from './service-port-name.js';
export * from './types.js';
