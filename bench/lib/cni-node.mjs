// One emulated node's cni-agent process for the `kernel` group's pod path (pod-node.mjs builds
// it): the host network namespace, the backend's real UDP socket and the control socket. Its
// node-agent process (pod-peer.mjs) holds the pod namespace and drives this one over IPC:
//
//   {cmd:'init', index, backend, transport}  → {event:'ready', controlSocket, vxlanPort, uplinkPort, vtepMac}
//   {cmd:'peer', index, vxlanPort, uplinkPort, vtepMac}  → {event:'peered'}
//   {cmd:'count-start'} / {cmd:'count-stop'}  → {event:'counting'} / {event:'counted', wireBytes, frames}
//   {cmd:'exit'}
import { serveIpc } from './ipc-child.js';
import { createNodeHost } from './pod-node.mjs';
import { countUnderlay } from './underlay-count.js';

let node;
let backend;
let counting;

const send = serveIpc(
  {
    async init(msg) {
      backend = msg.backend;
      node = await createNodeHost(msg);
      send({ event: 'ready', controlSocket: node.controlSocket, vtepMac: node.vtepMac, ...node.ports });
    },
    peer(msg) {
      node.peer(msg);
      send({ event: 'peered' });
    },
    'count-start'() {
      counting = countUnderlay(node.underlay, backend);
      send({ event: 'counting' });
    },
    'count-stop'() {
      send({ event: 'counted', ...counting.stop() });
    },
    async exit() {
      await node?.close();
      process.exit(0);
    },
  },
  'cni-node',
);
