// A small netperf TCP_RR-like pair on the Linux kernel's TCP, run inside a network namespace
// with `ip netns exec` by the `kernel` benchmark group:
//   node kernel-rr.mjs server ADDRESS PORT            echoes every byte back; prints "listening"
//   node kernel-rr.mjs client HOST PORT SIZE ROUNDS MAXMS
//                                                     SIZE bytes out, SIZE back, one at a time;
//                                                     prints {"rounds":N,"ms":T} and exits
// Nagle is off on both ends (TCP_NODELAY, as netperf's TCP_RR sets it), so each request is one segment.
import net from 'node:net';

const [mode, host, portText, sizeText, roundsText, maxMsText] = process.argv.slice(2);
const port = Number(portText);

if (mode === 'server') {
  const server = net.createServer((socket) => {
    socket.setNoDelay(true);
    socket.on('data', (d) => socket.write(d));
    socket.on('end', () => {
      socket.end();
      server.close();
    });
  });
  server.listen(port, host, () => process.stdout.write('listening\n'));
} else if (mode === 'client') {
  const size = Number(sizeText);
  const rounds = Number(roundsText);
  const maxMs = Number(maxMsText);
  const request = Buffer.alloc(size, 0x5a);
  const socket = net.connect({ host, port, noDelay: true });
  let done = 0;
  let pending = size;
  let start;
  socket.on('connect', () => {
    start = performance.now();
    socket.write(request);
  });
  socket.on('data', (d) => {
    pending -= d.length;
    if (pending > 0) return;
    done++;
    if (done >= rounds || performance.now() - start > maxMs) {
      process.stdout.write(`${JSON.stringify({ rounds: done, ms: performance.now() - start })}\n`);
      socket.end();
      return;
    }
    pending = size;
    socket.write(request);
  });
  socket.on('error', (e) => {
    process.stderr.write(`kernel-rr client: ${e.message}\n`);
    process.exit(1);
  });
} else {
  process.stderr.write('usage: kernel-rr.mjs server ADDRESS PORT | client HOST PORT SIZE ROUNDS MAXMS\n');
  process.exit(2);
}
