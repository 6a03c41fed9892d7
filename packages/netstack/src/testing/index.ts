// Fakes and topologies for tests (DESIGN §6.8). Not part of the built package: tests import these
// from the sources (vitest aliases), child processes use node-process.mjs over dist/.

export * from './kernel-vxlan.js';
export * from './node-process.js';
export * from './recording-hooks.js';
export * from './topology.js';
export * from './two-nodes.js';
export * from './wait.js';
