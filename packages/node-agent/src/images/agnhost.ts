// agnhost (kubernetes/test/images/agnhost), the e2e image: `netexec` (HTTP + UDP test server:
// /hostname, /echo?msg=, /clientip, /healthz, /shutdown, /exit?code=, /dial, UDP "hostname" /
// "echo X" / "clientip"), `serve-hostname` (port 9376), and `pause`. Flags as agnhost parses them
// (Go pflag: --http-port=8080 or --http-port 8080).
import type http from 'node:http';
import type { ProcessContext } from '../runtime/process.js';
import { aborted, EXIT_SIGTERM } from '../runtime/process.js';
import { httpFetch } from '../toolbox/http-fetch.js';

function flags(argv: string[]): Map<string, string> {
  const m = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (!a.startsWith('--')) continue;
    const eq = a.indexOf('=');
    if (eq > 0) m.set(a.slice(2, eq), a.slice(eq + 1));
    else if (argv[i + 1] !== undefined && !(argv[i + 1] as string).startsWith('--')) m.set(a.slice(2), argv[++i] as string);
    else m.set(a.slice(2), 'true');
  }
  return m;
}

const KNOWN_NETEXEC = new Set([
  'http-port',
  'udp-port',
  'sctp-port',
  'delay-shutdown',
  'http-override',
  'tls-cert-file',
  'tls-private-key-file',
]);

async function netexec(args: string[], ctx: ProcessContext): Promise<number> {
  const f = flags(args);
  for (const k of f.keys()) {
    if (!KNOWN_NETEXEC.has(k)) {
      ctx.stderr(`Error: unknown flag: --${k}\n`);
      return 1;
    }
  }
  const httpPort = Number(f.get('http-port') ?? 8080);
  const udpPort = Number(f.get('udp-port') ?? 8081);
  const delayShutdown = Number(f.get('delay-shutdown') ?? 0);
  let exitWith: ((code: number) => void) | undefined;
  const exited = new Promise<number>((resolve) => {
    exitWith = resolve;
  });
  const handler: http.RequestListener = (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const reply = (status: number, body: string, type = 'text/plain; charset=utf-8') => {
      res.writeHead(status, { 'Content-Type': type });
      res.end(body);
    };
    ctx.stdout(`GET ${url.pathname}${url.search}\n`);
    switch (url.pathname) {
      case '/':
        return reply(200, `NOW: ${new Date().toISOString()}`);
      case '/hostname':
        return reply(200, ctx.hostname);
      case '/echo':
        return reply(200, url.searchParams.get('msg') ?? '');
      case '/clientip':
        return reply(200, `${req.socket.remoteAddress}:${req.socket.remotePort}`);
      case '/healthz':
        return reply(200, 'ok');
      case '/header': {
        const key = (url.searchParams.get('key') ?? '').toLowerCase();
        return reply(200, String(req.headers[key] ?? ''));
      }
      case '/shutdown':
        reply(200, '');
        ctx.stdout('Shutting down\n');
        setImmediate(() => exitWith?.(0));
        return;
      case '/exit': {
        const code = Number(url.searchParams.get('code') ?? 0);
        if (!Number.isInteger(code) || code < 0 || code > 127) return reply(400, `bad exit code: ${url.searchParams.get('code')}`);
        reply(200, '');
        setImmediate(() => exitWith?.(code));
        return;
      }
      case '/dial':
        return void dial(url, ctx).then((r) => reply(r.status, r.body, 'application/json'));
      default:
        return reply(404, '404 page not found');
    }
  };
  try {
    await ctx.net.listenHttp(httpPort, handler);
  } catch (e) {
    ctx.stderr(
      `F1201 19:00:00.000000       1 netexec.go:243] listen tcp :${httpPort}: bind: ${(e as NodeJS.ErrnoException).code === 'EADDRINUSE' ? 'address already in use (EADDRINUSE)' : (e as Error).message}\n`,
    );
    return 255;
  }
  ctx.stdout(`Started HTTP server on port ${httpPort}\n`);
  if (udpPort > 0) {
    const udp = ctx.net.udpSocket();
    const bound = new Promise<Error | undefined>((resolve) => {
      udp.once('error', (e: Error) => resolve(e));
      udp.bind(udpPort, () => resolve(undefined));
    });
    const err = await bound;
    if (err) {
      ctx.stderr(
        `F1201 19:00:00.000000       1 netexec.go:255] listen udp :${udpPort}: bind: ${(err as NodeJS.ErrnoException).code === 'EADDRINUSE' ? 'address already in use (EADDRINUSE)' : err.message}\n`,
      );
      return 255;
    }
    udp.on('message', (msg: Buffer, rinfo: { address: string; port: number }) => {
      const text = msg.toString().trim();
      let answer: string | undefined;
      if (text === 'hostname') answer = ctx.hostname;
      else if (text.startsWith('echo ')) answer = text.slice(5);
      else if (text === 'clientip') answer = `${rinfo.address}:${rinfo.port}`;
      if (answer !== undefined) udp.send(Buffer.from(answer), rinfo.port, rinfo.address);
    });
    ctx.stdout(`Started UDP server on port ${udpPort}\n`);
  }
  const term = aborted(ctx.terminated).then(async () => {
    ctx.stdout('Received SIGTERM\n');
    if (delayShutdown > 0) {
      ctx.stdout(`Sleeping ${delayShutdown} seconds before terminating...\n`);
      await ctx.net.sleep(delayShutdown * 1000, ctx.killed).catch(() => undefined);
      return 0;
    }
    return EXIT_SIGTERM;
  });
  return Promise.race([exited, term]);
}

/** /dial?request=hostname&host=IP&port=8080&protocol=http&tries=1: agnhost's connectivity probe. */
async function dial(url: URL, ctx: ProcessContext): Promise<{ status: number; body: string }> {
  const q = url.searchParams;
  const host = q.get('host');
  const port = Number(q.get('port'));
  const request = q.get('request') ?? 'hostname';
  const protocol = q.get('protocol') ?? 'http';
  const tries = Math.min(Number(q.get('tries') ?? 1), 100);
  if (!host || !port) return { status: 400, body: JSON.stringify({ errors: ['host and port are required'] }) };
  const responses: string[] = [];
  const errors: string[] = [];
  for (let i = 0; i < tries; i++) {
    if (protocol === 'http') {
      try {
        const r = await httpFetch(ctx.net, { url: new URL(`http://${host}:${port}/${request.replace(/^\//, '')}`), timeoutMs: 5000 });
        responses.push(r.body.toString());
      } catch (e) {
        errors.push((e as Error).message);
      }
    } else if (protocol === 'udp') {
      const answer = await new Promise<string | undefined>((resolve) => {
        const s = ctx.net.udpSocket();
        const t = setTimeout(() => {
          s.close();
          resolve(undefined);
        }, 2000);
        s.on('message', (m: Buffer) => {
          clearTimeout(t);
          s.close();
          resolve(m.toString());
        });
        s.send(Buffer.from(request), port, host);
      });
      if (answer === undefined) errors.push(`reading from udp connection failed. err:'read udp: i/o timeout'`);
      else responses.push(answer);
    } else return { status: 400, body: JSON.stringify({ errors: [`unsupported protocol ${protocol}`] }) };
  }
  return { status: 200, body: JSON.stringify({ responses, errors }) };
}

async function serveHostname(args: string[], ctx: ProcessContext): Promise<number> {
  const port = Number(flags(args).get('port') ?? 9376);
  try {
    await ctx.net.listenHttp(port, (_req, res) => res.end(ctx.hostname));
  } catch (e) {
    ctx.stderr(`listen tcp :${port}: bind: ${(e as Error).message}\n`);
    return 1;
  }
  ctx.stdout(`Serving on port ${port}.\n`);
  await aborted(ctx.terminated);
  return EXIT_SIGTERM;
}

export async function agnhost(argv: string[], ctx: ProcessContext): Promise<number> {
  const sub = argv[1];
  switch (sub) {
    case 'netexec':
      return netexec(argv.slice(2), ctx);
    case 'serve-hostname':
      return serveHostname(argv.slice(2), ctx);
    case 'pause':
      ctx.stdout('Paused\n');
      await aborted(ctx.terminated);
      return EXIT_SIGTERM;
    default:
      ctx.stderr(
        `Error: unknown command "${sub ?? ''}" for "agnhost"\nRun 'agnhost --help' for usage.\n(podnet's agnhost has: netexec, serve-hostname, pause)\n`,
      );
      return 1;
  }
}
