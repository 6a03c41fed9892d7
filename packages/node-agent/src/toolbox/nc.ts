// BusyBox nc(1): `nc HOST PORT` (TCP; stdin to the peer, the peer to stdout), `-u` (UDP), `-z`
// (connect and close: a port scan), `-v`, `-w SECS` (timeout), `-l -p PORT` / `-l PORT` (listen for
// one connection or datagram and print what arrives). `--sctp -z` (ncat's flag): one SCTP INIT,
// see sctp-probe.ts.
import type { TcpSocket } from '@podnet/netstack';
import type { ProcessContext } from '../runtime/process.js';
import { type GetoptError, getopt, opt } from './getopt.js';
import { resolveHost } from './http-fetch.js';
import { sctpProbe } from './sctp-probe.js';

const NC_USAGE = `BusyBox v1.36.1 (2023-05-18 22:34:17 UTC) multi-call binary.

Usage: nc [-iN] [-wN] [-l] [-p PORT] [-f FILE|IPADDR PORT] [-e PROG]

Open a pipe to IP:PORT or FILE

	-l	Listen for connection
	-p PORT	Local port
	-u	UDP mode
	-z	Zero-I/O mode (scanning)
	-v	Verbose
	-w SEC	Timeout for connects and final net reads
`;

async function pumpStdin(ctx: ProcessContext, write: (b: Buffer) => void): Promise<void> {
  if (!ctx.stdin) return;
  for await (const chunk of ctx.stdin) write(chunk);
}

export async function nc(argv: string[], ctx: ProcessContext): Promise<number> {
  let p: ReturnType<typeof getopt>;
  try {
    p = getopt(argv.slice(1), { short: 'lp:uzvw:ni:', long: ['sctp'] });
  } catch (e) {
    const g = e as GetoptError;
    ctx.stderr(
      g.kind === 'unknown'
        ? `nc: ${g.option.startsWith('--') ? `unrecognized option '${g.option}'` : `invalid option -- '${g.option.slice(1)}'`}\n`
        : `nc: option requires an argument -- '${g.option.slice(1)}'\n`,
    );
    ctx.stderr(NC_USAGE);
    return 1;
  }
  const udp = opt(p, 'u') === true;
  const sctpMode = opt(p, 'sctp') === true;
  const verbose = opt(p, 'v') === true;
  const w = opt(p, 'w');
  const waitMs = typeof w === 'string' ? Number(w) * 1000 : undefined;
  if (opt(p, 'l') === true) {
    const portText = (opt(p, 'p') as string | undefined) ?? p.operands[0];
    const port = Number(portText);
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      ctx.stderr(NC_USAGE);
      return 1;
    }
    return udp ? listenUdp(ctx, port, verbose) : listenTcp(ctx, port, verbose);
  }
  const [host, portText] = p.operands;
  if (host === undefined || portText === undefined) {
    ctx.stderr(NC_USAGE);
    return 1;
  }
  const ip = resolveHost(host);
  if (ip === undefined) {
    ctx.stderr(`nc: bad address '${host}'\n`);
    return 1;
  }
  const port = Number(portText);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    ctx.stderr(`nc: bad port '${portText}'\n`);
    return 1;
  }
  if (sctpMode) {
    if (opt(p, 'z') !== true || udp) {
      // Only the probe exists: an association (data transfer) needs an SCTP endpoint podnet lacks.
      ctx.stderr('nc: --sctp supports only -z (send one INIT and report the answer); SCTP associations are not implemented\n');
      return 1;
    }
    return sctpProbe(ctx, ip, port, waitMs, verbose);
  }
  return udp
    ? sendUdp(ctx, ip, port, waitMs, opt(p, 'z') === true)
    : connectTcp(ctx, host, ip, port, waitMs, opt(p, 'z') === true, verbose);
}

function connectTcp(
  ctx: ProcessContext,
  host: string,
  ip: string,
  port: number,
  waitMs: number | undefined,
  zero: boolean,
  verbose: boolean,
): Promise<number> {
  return new Promise((resolve) => {
    const socket: TcpSocket = ctx.net.connect(port, ip);
    let timer: NodeJS.Timeout | undefined;
    if (waitMs !== undefined) {
      timer = setTimeout(() => {
        socket.destroy();
        ctx.stderr(`nc: timeout\n`);
        resolve(1);
      }, waitMs);
    }
    socket.once('connect', () => {
      if (zero) {
        clearTimeout(timer);
        if (verbose) ctx.stderr(`${host} (${ip}:${port}) open\n`);
        socket.end();
        resolve(0);
        return;
      }
      socket.on('data', (d: Buffer) => ctx.stdout(d));
      void pumpStdin(ctx, (b) => socket.write(b)).then(() => socket.end());
    });
    socket.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      const why =
        e.code === 'ECONNREFUSED' ? 'Connection refused' : e.code === 'ETIMEDOUT' ? 'Connection timed out' : (e.code ?? e.message);
      ctx.stderr(`nc: can't connect to remote host (${ip}): ${why}\n`);
      resolve(1);
    });
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(0);
    });
    ctx.killed.addEventListener('abort', () => resolve(137), { once: true });
  });
}

function sendUdp(ctx: ProcessContext, ip: string, port: number, waitMs: number | undefined, zero: boolean): Promise<number> {
  return new Promise((resolve) => {
    const socket = ctx.net.udpSocket();
    socket.on('error', (e: Error & { code?: string }) => {
      if (e.code === 'ECONNREFUSED') {
        ctx.stderr(`nc: read: Connection refused\n`);
        resolve(1);
      }
    });
    socket.on('message', (m: Buffer) => ctx.stdout(m));
    socket.connect(port, ip, () => {
      if (zero) {
        socket.send(Buffer.alloc(0));
      } else {
        void pumpStdin(ctx, (b) => socket.send(b));
      }
      setTimeout(() => {
        try {
          socket.close();
        } catch {
          // closed by a kill
        }
        resolve(0);
      }, waitMs ?? 1000);
    });
  });
}

function listenTcp(ctx: ProcessContext, port: number, verbose: boolean): Promise<number> {
  return new Promise((resolve) => {
    const server = ctx.net.createServer((socket) => {
      if (verbose) ctx.stderr(`connect to [${socket.localAddress}]:${port} from [${socket.remoteAddress}]:${socket.remotePort}\n`);
      server.close();
      socket.on('data', (d: Buffer) => ctx.stdout(d));
      void pumpStdin(ctx, (b) => socket.write(b));
      socket.on('close', () => resolve(0));
      socket.on('error', () => resolve(1));
    });
    server.once('error', (e: NodeJS.ErrnoException) => {
      ctx.stderr(`nc: bind: ${e.code === 'EADDRINUSE' ? 'Address already in use' : e.message}\n`);
      resolve(1);
    });
    server.listen({ port, host: '0.0.0.0' }, () => {
      if (verbose) ctx.stderr(`listening on [::]:${port} ...\n`);
    });
    ctx.killed.addEventListener('abort', () => resolve(137), { once: true });
    ctx.terminated.addEventListener('abort', () => resolve(143), { once: true });
  });
}

function listenUdp(ctx: ProcessContext, port: number, verbose: boolean): Promise<number> {
  return new Promise((resolve) => {
    const socket = ctx.net.udpSocket();
    socket.on('error', (e: Error & { code?: string }) => {
      ctx.stderr(`nc: bind: ${e.code === 'EADDRINUSE' ? 'Address already in use' : e.message}\n`);
      resolve(1);
    });
    socket.on('message', (m: Buffer, rinfo: { address: string; port: number }) => {
      if (verbose) ctx.stderr(`received from ${rinfo.address}:${rinfo.port}\n`);
      ctx.stdout(m);
    });
    socket.bind(port);
    ctx.killed.addEventListener('abort', () => resolve(137), { once: true });
    ctx.terminated.addEventListener('abort', () => resolve(143), { once: true });
  });
}
