// @podnet/netstack: the emulated kernel of every node and pod (DESIGN §2-3).
export * from './transport.js';
export * from './tcp/index.js';
