#!/usr/bin/env node
// The API server process: `node packages/apiserver/dist/main.js --data-dir D [--port P] [--host H]`.
// Prints one line "podnet apiserver listening on URL" on stdout when ready; logs go to stderr.
import { ApiServerError, ApiServerErrorCodes } from './errors.js';
import { startApiServer } from './server.js';

function usage(msg: string): never {
  process.stderr.write(
    `${ApiServerErrorCodes.USAGE}: ${msg}\nusage: podnet-apiserver --data-dir DIR [--port 6443] [--host 127.0.0.1] [--watch-cache-size N] [--snapshot-every N] [--log-level info] [--rate-limit REQ_PER_S] [--san NAME,IP]\n`,
  );
  process.exit(2);
}

function parseArgs(argv: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (!a.startsWith('--')) usage(`unexpected argument "${a}"`);
    const [k, inline] = a.slice(2).split('=', 2) as [string, string | undefined];
    const v = inline ?? argv[++i];
    if (v === undefined) usage(`--${k} needs a value`);
    out[k] = v;
  }
  return out;
}

const known = new Set(['data-dir', 'port', 'host', 'watch-cache-size', 'snapshot-every', 'log-level', 'san', 'fsync', 'rate-limit']);
const args = parseArgs(process.argv.slice(2));
for (const k of Object.keys(args)) if (!known.has(k)) usage(`unknown flag --${k}`);
if (!args['data-dir']) usage('--data-dir is required');
const num = (k: string) => {
  if (args[k] === undefined) return undefined;
  const n = Number(args[k]);
  if (!Number.isInteger(n) || n < 0) usage(`--${k} must be a non-negative integer, got "${args[k]}"`);
  return n;
};

try {
  const server = await startApiServer({
    dataDir: args['data-dir'],
    port: num('port') ?? 6443,
    host: args.host ?? '127.0.0.1',
    watchCacheSize: num('watch-cache-size'),
    snapshotEvery: num('snapshot-every'),
    logLevel: args['log-level'],
    extraSans: args.san ? args.san.split(',') : undefined,
    // --fsync false exists only so benchmarks can show what fdatasync costs.
    fsync: args.fsync === undefined ? true : args.fsync !== 'false',
    rateLimit: args['rate-limit'] ? { perSecond: Number(args['rate-limit']), burst: 2 * Number(args['rate-limit']) } : undefined,
  });
  process.stdout.write(`podnet apiserver listening on ${server.url}\n`);
  const stop = () => {
    void server.close().then(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
} catch (e) {
  const err = e as NodeJS.ErrnoException;
  const msg =
    e instanceof ApiServerError
      ? e.message
      : err.code === 'EADDRINUSE'
        ? `${ApiServerErrorCodes.USAGE}: ${args.host ?? '127.0.0.1'}:${args.port ?? 6443} is already in use (another API server?); stop it or pick another --port`
        : err.code === 'EACCES' || err.code === 'ENOTDIR' || err.code === 'EEXIST'
          ? `${ApiServerErrorCodes.USAGE}: cannot use --data-dir ${args['data-dir']}: ${err.message}`
          : err.message;
  process.stderr.write(`podnet apiserver: ${msg}\n`);
  process.exit(1);
}
