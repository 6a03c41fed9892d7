#!/usr/bin/env node
// The `podnet` command. The code lives in ../dist (built by `npm run build`, or by the
// bootstrap behind `npm start` / `npm test`).
let main;
try {
  ({ main } = await import('../dist/main.js'));
} catch (error) {
  if (error?.code !== 'ERR_MODULE_NOT_FOUND') throw error;
  process.stderr.write('podnet: the command is not built yet; run `npm start` or `npm run build` in the repository first\n');
  process.exit(1);
}
process.exitCode = await main(process.argv.slice(2));
