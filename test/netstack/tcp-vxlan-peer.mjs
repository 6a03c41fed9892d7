// One emulated node in its own OS process, for the two-process TCP acceptance test and the `tcp`
// benchmark: a namespace whose flannel.1 VXLAN device binds a real UDP socket on the node's
// transport address (127.0.1.N), programmed for the other node as flannel would, with TCP (or raw
// dgram, for the benchmark's ceiling) driven by the parent over the IPC channel. Runs the built
// dist/ of @podnet/netstack and @podnet/wire.
//
//   parent → child: {cmd: 'init', index, faults?}      child → parent: {event: 'ready', vxlanPort, rawPort}
//   {cmd: 'peer', vxlanPort, rawPort}                  {event: 'peered'}
//   {cmd: 'listen', port}                              {event: 'listening'} … {event: 'received', …}
//   {cmd: 'send', port, bytes, chunk}                  {event: 'sent', …}
//   {cmd: 'raw-receive', expect}                       {event: 'raw-received', …}
//   {cmd: 'raw-send', bytes, size}                     {event: 'raw-sent', …}
//   {cmd: 'exit'}
import { createHash } from 'node:crypto';
import dgram from 'node:dgram';
import { addVxlanRemoteNode, Namespace, VxlanLink } from '@podnet/netstack';
import { ipv4, macFromIpv4, parseIpv4, tcp } from '@podnet/wire';

const send = (m) => process.send?.(m);
let ns;
let vxlan;
let index;
let raw;
let synMss;

/** Deterministic payload, made once: the sender writes slices of it over and over. */
const PATTERN = Buffer.allocUnsafe(1 << 20);
for (let n = 0; n < PATTERN.length; n++) PATTERN[n] = (Math.imul(n, 2654435761) + (n >>> 13) + (n >>> 7)) & 0xff;

async function init(msg) {
  index = msg.index;
  ns = new Namespace({ name: `node-${index}`, ...(msg.tcp ? { tcp: msg.tcp } : {}) });
  vxlan = ns.addLink(
    new VxlanLink({
      mac: macFromIpv4(parseIpv4(`10.244.${index}.0`)) + 0x10000000000,
      nodeIp: parseIpv4(`172.18.0.${index + 1}`),
      localAddress: `127.0.1.${index}`,
      port: 0,
    }),
  );
  await vxlan.open();
  ns.addAddress('flannel.1', `10.244.${index}.0/32`);
  if (msg.faults) ns.setFaults('flannel.1', msg.faults);
  // Acceptance (3): watch the SYN on the underlay, as a capture of the real datagrams shows it.
  const untap = vxlan.tapUnderlay({
    write: (frame) => {
      // outer Ethernet 14 + IPv4 20 + UDP 8 + VXLAN 8, then the inner Ethernet frame.
      const inner = ipv4.decode(frame, 50 + 14);
      if (inner.protocol !== 6) return;
      const seg = tcp.decode(inner.payload);
      if (seg.flags & tcp.TcpFlags.SYN) {
        synMss = seg.options.find((o) => o.kind === 'mss')?.value;
        untap();
      }
    },
  });
  raw = dgram.createSocket('udp4');
  await new Promise((resolve) => raw.bind(0, `127.0.1.${index}`, resolve));
  send({ event: 'ready', vxlanPort: vxlan.localPort, rawPort: raw.address().port });
}

function peer(msg) {
  const other = index === 1 ? 2 : 1;
  addVxlanRemoteNode(ns, vxlan, {
    podCidr: `10.244.${other}.0/24`,
    vtepMac: macFromIpv4(parseIpv4(`10.244.${other}.0`)) + 0x10000000000,
    nodeIp: parseIpv4(`172.18.0.${other + 1}`),
    transport: { address: `127.0.1.${other}`, port: msg.vxlanPort },
  });
  send({ event: 'peered' });
}

function listen(msg) {
  const server = ns.tcp.createServer((socket) => {
    // The test verifies with sha256; the benchmark only counts (hashing would be part of the figure).
    const hash = msg.verify === false ? undefined : createHash('sha256');
    let bytes = 0;
    let first;
    let cpu;
    socket.on('data', (d) => {
      if (first === undefined) {
        first = performance.now();
        cpu = process.cpuUsage();
      }
      bytes += d.length;
      hash?.update(d);
    });
    socket.on('end', () => {
      const ms = performance.now() - (first ?? performance.now());
      const used = process.cpuUsage(cpu);
      const cpuMs = (used.user + used.system) / 1000;
      send({ event: 'received', bytes, sha256: hash?.digest('hex'), ms, cpuMs, info: socket.tcpInfo(), counters: ns.tcp.counters, synMss });
      socket.end();
    });
    socket.on('error', (e) => send({ event: 'error', message: e.message }));
  });
  server.listen(msg.port, () => send({ event: 'listening' }));
}

function sendData(msg) {
  const other = index === 1 ? 2 : 1;
  const socket = ns.tcp.connect({ host: `10.244.${other}.0`, port: msg.port });
  const hash = msg.verify === false ? undefined : createHash('sha256');
  const chunk = msg.chunk ?? 65536;
  let offset = 0;
  let start;
  let info;
  const pump = () => {
    while (offset < msg.bytes) {
      const at = offset % PATTERN.length;
      const n = Math.min(chunk, msg.bytes - offset, PATTERN.length - at);
      const buf = PATTERN.subarray(at, at + n);
      hash?.update(buf);
      offset += n;
      if (!socket.write(buf)) {
        socket.once('drain', pump);
        return;
      }
    }
    info = socket.tcpInfo();
    socket.end();
  };
  let cpu;
  socket.on('connect', () => {
    start = performance.now();
    cpu = process.cpuUsage();
    pump();
  });
  socket.resume();
  socket.on('close', () => {
    const used = process.cpuUsage(cpu);
    send({
      event: 'sent',
      cpuMs: (used.user + used.system) / 1000,
      bytes: offset,
      sha256: hash?.digest('hex'),
      ms: performance.now() - start,
      info,
      counters: ns.tcp.counters,
      synMss,
    });
  });
  socket.on('error', (e) => send({ event: 'error', message: e.message }));
}

/**
 * The ceiling: raw datagrams of the TCP payload size between the same two processes, as fast as
 * the receiver takes them. Blasting without feedback would mostly measure the receiver's socket
 * dropping (the sender can write 3-4 times faster than a Node receiver reads), so the receiver
 * returns a 4-byte count every 32 datagrams and the sender keeps at most 64 unacknowledged: less
 * than the receive buffer holds, so nothing is lost and nothing is resent.
 */
const RAW_WINDOW = 64;
const RAW_ACK_EVERY = 32;

function rawReceive(msg) {
  let bytes = 0;
  let datagrams = 0;
  let first;
  let last;
  const ack = Buffer.alloc(4);
  // Should a datagram be lost after all, end once the sender has gone quiet for half a second.
  const idle = setInterval(() => {
    if (last !== undefined && performance.now() - last > 500) done();
  }, 100);
  let peerAddress;
  let peerPort;
  const done = () => {
    clearInterval(idle);
    raw.removeAllListeners('message');
    // The final count releases the sender even when a datagram went missing.
    if (peerPort !== undefined && bytes < msg.expect) raw.send(Buffer.from([0xff, 0xff, 0xff, 0xff]), peerPort, peerAddress);
    send({ event: 'raw-received', bytes, datagrams, ms: (last ?? 0) - (first ?? 0) });
  };
  raw.on('message', (m, rinfo) => {
    peerAddress = rinfo.address;
    peerPort = rinfo.port;
    const now = performance.now();
    first ??= now;
    last = now;
    bytes += m.length;
    datagrams++;
    if (datagrams % RAW_ACK_EVERY === 0 || bytes >= msg.expect) {
      ack.writeUInt32BE(datagrams >>> 0);
      raw.send(ack, rinfo.port, rinfo.address);
    }
    if (bytes >= msg.expect) done();
  });
  send({ event: 'raw-ready' });
}

function rawSend(msg) {
  const other = index === 1 ? 2 : 1;
  const datagram = PATTERN.subarray(0, msg.size);
  const total = Math.ceil(msg.bytes / msg.size);
  const start = performance.now();
  let sent = 0;
  let acked = 0;
  return new Promise((resolve) => {
    const pump = () => {
      while (sent < total && sent - acked < RAW_WINDOW) {
        raw.send(datagram, msg.port, `127.0.1.${other}`);
        sent++;
      }
    };
    const stall = setInterval(() => {
      // A lost datagram would stop the count short of the window: forget it after 20 ms.
      if (sent < total && sent - acked >= RAW_WINDOW && performance.now() - lastAck > 20) {
        acked = sent - RAW_WINDOW / 2;
        pump();
      }
    }, 10);
    let lastAck = performance.now();
    raw.on('message', (m) => {
      if (m.length !== 4) return;
      lastAck = performance.now();
      acked = Math.max(acked, m.readUInt32BE(0));
      if (acked >= total) {
        clearInterval(stall);
        raw.removeAllListeners('message');
        send({ event: 'raw-sent', bytes: sent * msg.size, ms: performance.now() - start });
        resolve();
        return;
      }
      pump();
    });
    pump();
  });
}

process.on('message', (msg) => {
  const run = async () => {
    switch (msg.cmd) {
      case 'init':
        return init(msg);
      case 'peer':
        return peer(msg);
      case 'listen':
        return listen(msg);
      case 'send':
        return sendData(msg);
      case 'raw-receive':
        return rawReceive(msg);
      case 'raw-send':
        return rawSend(msg);
      case 'exit':
        await ns?.close();
        raw?.close();
        process.exit(0);
    }
  };
  run().catch((e) => send({ event: 'error', message: e.stack ?? String(e) }));
});
