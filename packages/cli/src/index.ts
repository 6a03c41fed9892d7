// @podnet/cli: the `podnet` command.

export { buildDemoSession, DEMO } from './demo-session.js';
export { main } from './main.js';
