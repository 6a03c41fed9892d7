// @podnet/netfilter: the node's netfilter table and the hook contract netstack calls (DESIGN §5).
export * from './hook.js';
