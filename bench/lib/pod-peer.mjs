// One emulated node in its own OS process for the `kernel` benchmark group, with either flannel
// backend: vxlan (flannel.1 on a real UDP socket, flannel's vxlan_network.go programming) or
// host-gw (eth0 uplink, one Ethernet frame per real datagram, `podCIDR via nodeIP dev eth0` as
// flannel's hostgw backend routes). Two paths:
// - 'node': the TCP endpoint is the node namespace's own address: 10.244.N.1 on eth0 (host-gw) or
//   the flannel.1 address 10.244.N.0 (vxlan), so what is measured is node to node over flannel.1
//   (netstack TCP over the vxlan link; no pod veth, bridge or netfilter).
// - 'pod': the real pod path, laid out in processes as a podnet node is (DESIGN §2). This process
//   is the node-agent: it holds the pod namespace, set up by node-agent's own Sandbox through its
//   CniAgentPlugin (CNI ADD + attach over the control socket). The node's cni-agent is a child
//   process (cni-node.mjs, built by pod-node.mjs): host network, cni0, netfilter with conntrack,
//   flannel masquerade and kube-proxy's Services, the backend's UDP socket. The pod's eth0 reaches
//   cni0 over the unix-socket veth between the two processes; the endpoint is the pod 10.244.N.2.
// Driven by the parent (pod-pair.js) over IPC:
//
//   {cmd:'init', index, backend, transport, path}  → {event:'ready', port, rawPort, vxlanPort, uplinkPort, vtepMac}
//   {cmd:'peer', port, rawPort, vxlanPort, uplinkPort, vtepMac}  → {event:'peered'}
//   {cmd:'listen', port, mode:'sink'|'echo'}  → {event:'listening'}; sink: {event:'received', bytes, ms}
//   {cmd:'send', port, bytes}                 → {event:'sent', bytes, ms}
//   {cmd:'rr', port, size, rounds, maxMs}     → {event:'rr-done', rounds, ms}
//   {cmd:'raw-echo'}                          → {event:'raw-echoing'}   (answers every datagram)
//   {cmd:'raw-rr', size, rounds, maxMs}       → {event:'raw-rr-done', rounds, ms}
//   {cmd:'raw-sink', expect, size, gro}       → {event:'raw-sinking'} … {event:'raw-received', bytes, ms}
//   {cmd:'raw-send', bytes, size, gso}        → {event:'raw-sent'}
//     gro/gso: the raw socket with UDP_GRO set / sending runs of RUN datagrams with UDP_SEGMENT
//     (the netstack addon, as the tunnel links use it); {event:'error'} when this process has no addon.
//   {cmd:'count-start'} / {cmd:'count-stop'}  → {event:'counting'} / {event:'counted', wireBytes, frames}
//   {cmd:'exit'}
import dgram from 'node:dgram';
import { constants } from 'node:os';
import { fileURLToPath } from 'node:url';
import { CniAgentClient } from '@podnet/cni-agent';
import { addVxlanRemoteNode, Namespace, UdpSegmentSocket, UplinkLink, VxlanLink } from '@podnet/netstack';
import { CniAgentPlugin, Sandbox } from '@podnet/node-agent';
import { macFromIpv4, parseIpv4 } from '@podnet/wire';
import { IpcChild, serveIpc } from './ipc-child.js';
import { podAddress } from './pod-node.mjs';
import { countUnderlay } from './underlay-count.js';

const cniNodeScript = fileURLToPath(new URL('./cni-node.mjs', import.meta.url));
let ns;
let link;
let backend;
let index;
let transport;
let path = 'node';
/** Path 'pod': this node's cni-agent process, and the pod's sandbox. */
let cniNode;
let sandbox;
let raw;
let counting;
let lastElu = performance.eventLoopUtilization();

const other = () => (index === 1 ? 2 : 1);
const endpoint = (n) => (path === 'pod' ? podAddress(n) : backend === 'vxlan' ? `10.244.${n}.0` : `10.244.${n}.1`);
const PAYLOAD = Buffer.alloc(1 << 16, 0x5a);

async function init(msg) {
  index = msg.index;
  backend = msg.backend;
  transport = msg.transport;
  path = msg.path ?? 'node';
  let hostPorts = {};
  if (path === 'pod') {
    cniNode = new IpcChild(cniNodeScript, `bench cni-agent node-${index}`, process.execArgv);
    const r = await cniNode.request({ cmd: 'init', index, backend, transport }, 'ready');
    hostPorts = { vxlanPort: r.vxlanPort, uplinkPort: r.uplinkPort, vtepMac: r.vtepMac };
    const cni = new CniAgentPlugin(new CniAgentClient({ socketPath: r.controlSocket }));
    sandbox = new Sandbox(cni, { namespace: 'default', name: `bench-pod-${index}`, uid: `bench-${process.pid}-${index}` });
    const net = await sandbox.setUp();
    if (net.address !== `${podAddress(index)}/24`)
      throw new Error(`node-${index}: the pod got ${net.address}, not ${podAddress(index)}/24`);
    ns = sandbox.ns;
  } else if (path !== 'node') {
    throw new Error(`pod-peer: path "${path}" is not node or pod`);
  } else if (backend === 'vxlan') {
    ns = new Namespace({ name: `node-${index}` });
    link = ns.addLink(
      new VxlanLink({
        mac: macFromIpv4(parseIpv4(`10.244.${index}.0`)) + 0x10000000000,
        nodeIp: parseIpv4(`172.18.0.${index + 1}`),
        localAddress: `${transport}.${index}`,
        port: 0,
      }),
    );
    await link.open();
    ns.addAddress('flannel.1', `10.244.${index}.0/32`);
  } else if (backend === 'host-gw') {
    ns = new Namespace({ name: `node-${index}` });
    link = ns.addLink(
      new UplinkLink({
        mac: macFromIpv4(parseIpv4(`172.18.0.${index + 1}`)),
        nodeIp: parseIpv4(`172.18.0.${index + 1}`),
        localAddress: `${transport}.${index}`,
        port: 0,
      }),
    );
    await link.open();
    ns.addAddress('eth0', `172.18.0.${index + 1}/24`);
    ns.addAddress('eth0', `10.244.${index}.1/32`);
  } else {
    throw new Error(`pod-peer: backend "${backend}" is not vxlan or host-gw`);
  }
  raw = dgram.createSocket('udp4');
  await new Promise((resolve) => raw.bind(0, `${transport}.${index}`, resolve));
  send({ event: 'ready', port: link?.localPort ?? 0, rawPort: raw.address().port, ...hostPorts });
}

async function peer(msg) {
  const o = other();
  const remote = { address: `${transport}.${o}`, port: msg.port };
  if (cniNode) {
    await cniNode.request({ cmd: 'peer', index: o, vxlanPort: msg.vxlanPort, uplinkPort: msg.uplinkPort, vtepMac: msg.vtepMac }, 'peered');
  } else if (backend === 'vxlan') {
    addVxlanRemoteNode(ns, link, {
      podCidr: `10.244.${o}.0/24`,
      vtepMac: macFromIpv4(parseIpv4(`10.244.${o}.0`)) + 0x10000000000,
      nodeIp: parseIpv4(`172.18.0.${o + 1}`),
      transport: remote,
    });
  } else {
    link.setPeer(parseIpv4(`172.18.0.${o + 1}`), remote);
    ns.addRoute({ dst: `10.244.${o}.0/24`, via: `172.18.0.${o + 1}`, dev: 'eth0' });
  }
  peer.rawPort = msg.rawPort;
  send({ event: 'peered' });
}

async function countStart() {
  if (cniNode) await cniNode.request({ cmd: 'count-start' }, 'counting');
  else counting = countUnderlay(link, backend);
  send({ event: 'counting' });
}

async function countStop() {
  if (cniNode) {
    const { wireBytes, frames } = await cniNode.request({ cmd: 'count-stop' }, 'counted');
    send({ event: 'counted', wireBytes, frames });
    return;
  }
  send({ event: 'counted', ...counting.stop() });
  counting = undefined;
}

function listen(msg) {
  const server = ns.tcp.createServer((socket) => {
    if (msg.mode === 'echo') {
      socket.on('data', (d) => socket.write(d));
      socket.on('end', () => socket.end());
      socket.on('error', (e) => send({ event: 'error', message: e.message }));
      return;
    }
    let bytes = 0;
    let first;
    socket.on('data', (d) => {
      first ??= performance.now();
      bytes += d.length;
    });
    socket.on('end', () => {
      send({ event: 'received', bytes, ms: performance.now() - (first ?? performance.now()) });
      socket.end();
      server.close();
    });
    socket.on('error', (e) => send({ event: 'error', message: e.message }));
  });
  server.listen(msg.port, () => send({ event: 'listening' }));
}

function sendBulk(msg) {
  const socket = ns.tcp.connect({ host: endpoint(other()), port: msg.port });
  let offset = 0;
  let start;
  const pump = () => {
    while (offset < msg.bytes) {
      const n = Math.min(PAYLOAD.length, msg.bytes - offset);
      offset += n;
      if (!socket.write(n === PAYLOAD.length ? PAYLOAD : PAYLOAD.subarray(0, n))) {
        socket.once('drain', pump);
        return;
      }
    }
    socket.end();
  };
  socket.on('connect', () => {
    start = performance.now();
    pump();
  });
  socket.resume();
  socket.on('close', () => send({ event: 'sent', bytes: offset, ms: performance.now() - start }));
  socket.on('error', (e) => send({ event: 'error', message: e.message }));
}

/** Request/response over one TCP connection: `size` bytes out, the same echoed back, one at a time. */
function requestResponse(msg) {
  const socket = ns.tcp.connect({ host: endpoint(other()), port: msg.port });
  const request = PAYLOAD.subarray(0, msg.size);
  let rounds = 0;
  let pending = 0;
  let start;
  const finish = () => {
    const ms = performance.now() - start;
    socket.end();
    send({ event: 'rr-done', rounds, ms });
  };
  socket.on('connect', () => {
    start = performance.now();
    pending = msg.size;
    socket.write(request);
  });
  socket.on('data', (d) => {
    pending -= d.length;
    if (pending > 0) return;
    rounds++;
    if (rounds >= msg.rounds || performance.now() - start > msg.maxMs) return finish();
    pending = msg.size;
    socket.write(request);
  });
  socket.on('error', (e) => send({ event: 'error', message: e.message }));
}

function rawEcho() {
  raw.removeAllListeners('message');
  raw.on('message', (m, rinfo) => raw.send(m, rinfo.port, rinfo.address));
  send({ event: 'raw-echoing' });
}

function rawRequestResponse(msg) {
  const request = PAYLOAD.subarray(0, msg.size);
  const target = `${transport}.${other()}`;
  let rounds = 0;
  const start = performance.now();
  raw.removeAllListeners('message');
  // A datagram lost on loopback is resent after 50 ms, so a loss cannot stall the loop.
  let retry;
  const ask = () => {
    clearTimeout(retry);
    retry = setTimeout(ask, 50);
    raw.send(request, peer.rawPort, target);
  };
  raw.on('message', () => {
    rounds++;
    if (rounds >= msg.rounds || performance.now() - start > msg.maxMs) {
      clearTimeout(retry);
      raw.removeAllListeners('message');
      send({ event: 'raw-rr-done', rounds, ms: performance.now() - start });
      return;
    }
    ask();
  });
  ask();
}

// Raw bulk: the receiver counts and returns a 4-byte running count every ACK_EVERY datagrams; the
// sender keeps at most WINDOW unacknowledged (fewer than a default receive buffer holds), so the
// ceiling measures what a Node receiver takes, not what its socket drops.
const WINDOW = 64;
const ACK_EVERY = 32;
/** Datagrams per UDP GSO send in the raw ceiling with offloads (half the window, as the ACKs come). */
const RUN = 32;
const EAGAIN = constants.errno.EAGAIN;

/** The raw socket's UDP offload, or an error event naming why there is none. */
function rawOffload() {
  const udp = UdpSegmentSocket.attach(raw);
  if (udp instanceof UdpSegmentSocket) return udp;
  send({ event: 'error', message: `no UDP segmentation offload in this process: ${udp.reason}` });
  return undefined;
}

function rawSink(msg) {
  raw.removeAllListeners('message');
  if (msg.gro) {
    const udp = rawOffload();
    if (udp === undefined) return;
    udp.enableReceiveCoalescing();
  }
  // With UDP_GRO one message may hold a run of `size`-byte datagrams.
  const size = msg.size ?? 1;
  let bytes = 0;
  let datagrams = 0;
  let first;
  let last;
  const ack = Buffer.alloc(4);
  const idle = setInterval(() => {
    if (last !== undefined && performance.now() - last > 500) done(true);
  }, 100);
  let from;
  const done = (short) => {
    clearInterval(idle);
    raw.removeAllListeners('message');
    if (short && from) raw.send(Buffer.from([0xff, 0xff, 0xff, 0xff]), from.port, from.address);
    send({ event: 'raw-received', bytes, datagrams, ms: (last ?? 0) - (first ?? 0) });
  };
  raw.on('message', (m, rinfo) => {
    from = rinfo;
    const now = performance.now();
    first ??= now;
    last = now;
    bytes += m.length;
    const before = datagrams;
    datagrams += msg.gro ? Math.ceil(m.length / size) : 1;
    if (Math.floor(datagrams / ACK_EVERY) !== Math.floor(before / ACK_EVERY) || bytes >= msg.expect) {
      ack.writeUInt32BE(datagrams >>> 0);
      raw.send(ack, rinfo.port, rinfo.address);
    }
    if (bytes >= msg.expect) done(false);
  });
  send({ event: 'raw-sinking' });
}

function rawSend(msg) {
  raw.removeAllListeners('message');
  const datagram = PAYLOAD.subarray(0, msg.size);
  const target = `${transport}.${other()}`;
  const total = Math.ceil(msg.bytes / msg.size);
  const udp = msg.gso ? rawOffload() : undefined;
  if (msg.gso && udp === undefined) return;
  const run = udp ? Buffer.alloc(RUN * msg.size, 0x5a) : undefined;
  let sent = 0;
  let acked = 0;
  let lastAck = performance.now();
  const pump = () => {
    while (sent < total && sent - acked < WINDOW) {
      if (udp === undefined) {
        raw.send(datagram, peer.rawPort, target);
        sent++;
        continue;
      }
      const n = Math.min(RUN, total - sent, WINDOW - (sent - acked));
      const r = udp.send(run, n * msg.size, n > 1 ? msg.size : 0, target, peer.rawPort);
      // EAGAIN (a full socket buffer): the next ACK or the stall timer pumps again. Anything else ends the run.
      if (r === -EAGAIN) return;
      if (r < 0) {
        clearInterval(stall);
        raw.removeAllListeners('message');
        send({ event: 'error', message: `raw UDP GSO send refused (errno ${-r})` });
        return;
      }
      sent += n;
    }
  };
  const stall = setInterval(() => {
    if (sent < total && sent - acked >= WINDOW && performance.now() - lastAck > 20) {
      acked = sent - WINDOW / 2;
      pump();
    }
  }, 10);
  raw.on('message', (m) => {
    if (m.length !== 4) return;
    lastAck = performance.now();
    acked = Math.max(acked, m.readUInt32BE(0));
    if (acked >= total) {
      clearInterval(stall);
      raw.removeAllListeners('message');
      send({ event: 'raw-sent', datagrams: sent });
      return;
    }
    pump();
  });
  pump();
}

const send = serveIpc(
  {
    init,
    peer,
    listen,
    send: sendBulk,
    rr: requestResponse,
    'raw-echo': rawEcho,
    'raw-rr': rawRequestResponse,
    'raw-sink': rawSink,
    'raw-send': rawSend,
    'count-start': countStart,
    'count-stop': countStop,
    /** This process's event-loop utilization since the last ask, and its cni-agent's on the pod path. */
    async elu() {
      const now = performance.eventLoopUtilization();
      const own = performance.eventLoopUtilization(now, lastElu).utilization;
      lastElu = now;
      const cni = cniNode ? (await cniNode.request({ cmd: 'elu' }, 'elu')).utilization : undefined;
      send({ event: 'elu', utilization: own, cni });
    },
    exit: async () => {
      if (sandbox) await sandbox.ns.close();
      else await ns?.close();
      await cniNode?.close();
      raw?.close();
      process.exit(0);
    },
  },
  'pod-peer',
);
