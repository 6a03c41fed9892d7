// Two emulated nodes in two OS processes (tcp-vxlan-peer.mjs), joined by VXLAN over real UDP
// sockets on 127.0.1.1 and 127.0.1.2, for the TCP acceptance test and the `tcp` benchmark.
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const peerScript = fileURLToPath(new URL('./tcp-vxlan-peer.mjs', import.meta.url));

class Peer {
  constructor(index) {
    this.index = index;
    this.child = fork(peerScript, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.waiters = [];
    this.errors = [];
    this.exited = false;
    this.child.on('message', (m) => {
      if (m.event === 'error') this.errors.push(m.message);
      for (const w of [...this.waiters]) {
        if (m.event === w.event || m.event === 'error') {
          this.waiters.splice(this.waiters.indexOf(w), 1);
          clearTimeout(w.timer);
          if (m.event === 'error') w.reject(new Error(`node-${this.index}: ${m.message}`));
          else w.resolve(m);
        }
      }
    });
    this.child.on('exit', (code, signal) => {
      this.exited = true;
      for (const w of this.waiters.splice(0)) {
        clearTimeout(w.timer);
        w.reject(new Error(`node-${this.index} exited (${code ?? signal}) while waiting for ${w.event}`));
      }
    });
  }

  /** Sends a command; resolves with the next message of the given event (bounded by timeoutMs). */
  request(msg, event, timeoutMs = 60_000) {
    return new Promise((resolve, reject) => {
      const w = { event, resolve, reject };
      w.timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        reject(new Error(`node-${this.index}: no ${event} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.push(w);
      if (msg) this.child.send(msg);
    });
  }

  /** Waits for an event without sending anything. */
  wait(event, timeoutMs) {
    return this.request(undefined, event, timeoutMs);
  }

  async close() {
    if (this.exited) return;
    const gone = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.send({ cmd: 'exit' });
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await gone;
    clearTimeout(timer);
  }
}

/** Starts node-1 and node-2, each with flannel.1 on 127.0.1.N, meshed for each other. */
export async function startTwoNodes({ faults, tcp } = {}) {
  const n1 = new Peer(1);
  const n2 = new Peer(2);
  try {
    const [r1, r2] = await Promise.all([
      n1.request({ cmd: 'init', index: 1, faults, tcp }, 'ready'),
      n2.request({ cmd: 'init', index: 2, faults, tcp }, 'ready'),
    ]);
    await Promise.all([
      n1.request({ cmd: 'peer', vxlanPort: r2.vxlanPort }, 'peered'),
      n2.request({ cmd: 'peer', vxlanPort: r1.vxlanPort }, 'peered'),
    ]);
    return {
      n1,
      n2,
      rawPorts: [r1.rawPort, r2.rawPort],
      close: () => Promise.all([n1.close(), n2.close()]),
    };
  } catch (error) {
    await Promise.all([n1.close(), n2.close()]);
    throw error;
  }
}

/** A bulk TCP transfer from node-1 to node-2 (10.244.2.0:port); both sides' reports. */
export async function tcpTransfer(nodes, { bytes, port = 5001, timeoutMs = 120_000, verify = true }) {
  await nodes.n2.request({ cmd: 'listen', port, verify }, 'listening');
  const received = nodes.n2.wait('received', timeoutMs);
  const sent = nodes.n1.request({ cmd: 'send', port, bytes, verify }, 'sent', timeoutMs);
  return { received: await received, sent: await sent };
}

/** Raw dgram from node-1's process to node-2's: the ceiling the TCP figure is compared with. */
export async function rawTransfer(nodes, { bytes, size, timeoutMs = 60_000 }) {
  await nodes.n2.request({ cmd: 'raw-receive', expect: bytes }, 'raw-ready');
  const received = nodes.n2.wait('raw-received', timeoutMs);
  const sent = await nodes.n1.request({ cmd: 'raw-send', bytes, size, port: nodes.rawPorts[1] }, 'raw-sent', timeoutMs);
  return { received: await received, sent };
}
