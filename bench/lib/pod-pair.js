// Two emulated nodes in two OS processes (pod-peer.mjs), joined by one flannel backend over real
// UDP sockets on loopback transport addresses, and the operations the `kernel` group times on
// them: bulk TCP, TCP request/response, and the raw Node dgram ceilings between the same two
// processes, plus wire-byte counting on node-1's underlay (which sees both directions).
// Node to node over flannel.1 (netstack TCP over the vxlan link; no pod veth, bridge or
// netfilter): the endpoints are the node namespaces' own addresses (see pod-peer.mjs) — path
// 'node'. Path 'pod' puts them on the pods 10.244.N.2 behind veth + cni0 + netfilter, each node a
// node-agent process holding the pod and a cni-agent process holding the host network (pod-peer.mjs).
import { fileURLToPath } from 'node:url';
import { NODE_PROCESS_V8_FLAGS } from '@podnet/wire';
import { IpcChild } from './ipc-child.js';

const peerScript = fileURLToPath(new URL('./pod-peer.mjs', import.meta.url));

/**
 * Starts node-1 and node-2 with `backend` ('vxlan' | 'host-gw') on `${transport}.1` and `.2`;
 * `path` 'node' (node to node) or 'pod' (pod to pod across the real pod path). Both node
 * processes (and the cni-agent processes they fork) run with the V8 flags of a podnet node
 * process (NODE_PROCESS_V8_FLAGS), then `execArgv` (default: this process's).
 */
export async function startPodPair({ backend, transport = '127.0.61', path = 'node', execArgv = process.execArgv }) {
  const argv = [...NODE_PROCESS_V8_FLAGS, ...execArgv];
  const n1 = new IpcChild(peerScript, 'bench node-1', argv);
  const n2 = new IpcChild(peerScript, 'bench node-2', argv);
  let nextPort = 6000;
  try {
    const [r1, r2] = await Promise.all([
      n1.request({ cmd: 'init', index: 1, backend, transport, path }, 'ready'),
      n2.request({ cmd: 'init', index: 2, backend, transport, path }, 'ready'),
    ]);
    const peerOf = (r) => ({
      cmd: 'peer',
      port: r.port,
      rawPort: r.rawPort,
      vxlanPort: r.vxlanPort,
      uplinkPort: r.uplinkPort,
      vtepMac: r.vtepMac,
    });
    await Promise.all([n1.request(peerOf(r2), 'peered'), n2.request(peerOf(r1), 'peered')]);
  } catch (error) {
    await Promise.all([n1.close(), n2.close()]);
    throw error;
  }
  // Emulated TCP ports live inside node-2's namespace only: a fresh one per connection avoids TIME_WAIT.
  const port = () => nextPort++;
  return {
    backend,
    path,
    /** The node processes' pids (node-1, node-2), e.g. to read their CPU time from /proc. */
    pids: [n1.pid, n2.pid],
    /** Mbit/s of goodput at the receiver (first byte to FIN). */
    async bulk(bytes, timeoutMs = 120_000) {
      const p = port();
      await n2.request({ cmd: 'listen', port: p, mode: 'sink' }, 'listening');
      const received = n2.request(undefined, 'received', timeoutMs);
      await n1.request({ cmd: 'send', port: p, bytes }, 'sent', timeoutMs);
      const r = await received;
      if (r.bytes !== bytes) throw new Error(`${backend} bulk transfer delivered ${r.bytes} of ${bytes} bytes`);
      return (r.bytes * 8) / r.ms / 1000;
    },
    /** Request/response over one TCP connection: {rate: transactions/s, rounds done}. */
    async requestResponse(size, rounds, maxMs) {
      const p = port();
      await n2.request({ cmd: 'listen', port: p, mode: 'echo' }, 'listening');
      const r = await n1.request({ cmd: 'rr', port: p, size, rounds, maxMs }, 'rr-done', maxMs + 30_000);
      return { rate: (r.rounds * 1000) / r.ms, rounds: r.rounds };
    },
    /**
     * Raw dgram ceiling: Mbit/s of `size`-byte datagrams, node-1's process to node-2's; `offload`:
     * sent in runs with UDP GSO and received with UDP GRO (the netstack addon, as the tunnels use it).
     */
    async rawBulk(bytes, size, { offload = false, timeoutMs = 60_000 } = {}) {
      await n2.request({ cmd: 'raw-sink', expect: bytes, size, gro: offload }, 'raw-sinking');
      const received = n2.request(undefined, 'raw-received', timeoutMs);
      await n1.request({ cmd: 'raw-send', bytes, size, gso: offload }, 'raw-sent', timeoutMs);
      const r = await received;
      return (r.bytes * 8) / r.ms / 1000;
    },
    /** Raw dgram request/response: one `size`-byte datagram each way per transaction. */
    async rawRequestResponse(size, rounds, maxMs) {
      await n2.request({ cmd: 'raw-echo' }, 'raw-echoing');
      const r = await n1.request({ cmd: 'raw-rr', size, rounds, maxMs }, 'raw-rr-done', maxMs + 30_000);
      return (r.rounds * 1000) / r.ms;
    },
    /** Runs fn with node-1's underlay counted; returns {wireBytes, frames} of both directions. */
    async countWire(fn) {
      await n1.request({ cmd: 'count-start' }, 'counting');
      await fn();
      return n1.request({ cmd: 'count-stop' }, 'counted');
    },
    /**
     * Event-loop utilization of each process since the last call: node-1, node-2 and, on the pod
     * path, their cni-agent processes ({node1, node2, cni1, cni2}).
     */
    async eventLoopUtilization() {
      const [a, b] = await Promise.all([n1.request({ cmd: 'elu' }, 'elu'), n2.request({ cmd: 'elu' }, 'elu')]);
      return { node1: a.utilization, node2: b.utilization, cni1: a.cni, cni2: b.cni };
    },
    close: () => Promise.all([n1.close(), n2.close()]),
  };
}
