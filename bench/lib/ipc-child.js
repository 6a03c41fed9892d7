// A forked bench process driven over IPC: send a command, wait for the event that answers it
// (bounded), or the child's error/exit. Used for the emulated nodes (pod-pair.js → pod-peer.mjs)
// and, on the pod path, for each node's cni-agent side (pod-peer.mjs → cni-node.mjs).
import { fork } from 'node:child_process';

export class IpcChild {
  /**
   * @param {string} script the module to fork
   * @param {string} label names the child in errors, e.g. 'bench node-1'
   * @param {string[]} execArgv e.g. ['--cpu-prof', '--cpu-prof-dir=DIR'] for a profiling run
   */
  constructor(script, label, execArgv) {
    this.label = label;
    this.child = fork(script, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv });
    this.waiters = [];
    this.exited = false;
    this.child.on('message', (m) => {
      for (const w of [...this.waiters]) {
        if (m.event !== w.event && m.event !== 'error') continue;
        this.waiters.splice(this.waiters.indexOf(w), 1);
        clearTimeout(w.timer);
        if (m.event === 'error') w.reject(new Error(`${this.label}: ${m.message}`));
        else w.resolve(m);
      }
    });
    this.child.on('exit', (code, signal) => {
      this.exited = true;
      for (const w of this.waiters.splice(0)) {
        clearTimeout(w.timer);
        w.reject(new Error(`${this.label} exited (${code ?? signal}) while waiting for ${w.event}`));
      }
    });
  }

  get pid() {
    return this.child.pid;
  }

  /** Sends msg (if any) and resolves with the next `event` from the child, bounded by timeoutMs. */
  request(msg, event, timeoutMs = 60_000) {
    return new Promise((resolve, reject) => {
      const w = { event, resolve, reject };
      w.timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        reject(new Error(`${this.label}: no ${event} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.push(w);
      if (msg) this.child.send(msg);
    });
  }

  /** Asks the child to exit ({cmd:'exit'}); SIGKILL after 5 s. */
  async close() {
    if (this.exited) return;
    const gone = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.send({ cmd: 'exit' });
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await gone;
    clearTimeout(timer);
  }
}

/**
 * The child side: runs `commands[msg.cmd](msg)` for each IPC message, reporting a thrown error as
 * {event:'error'}; exits when the parent goes away, so a dead bench never leaves one behind.
 */
export function serveIpc(commands, name) {
  const send = (m) => process.send?.(m);
  // Every bench child answers 'elu' with its event loop's utilization since the last 'elu' (the
  // share of wall time spent running callbacks, syscalls included), to find a pipeline's bottleneck.
  let lastElu = performance.eventLoopUtilization();
  const all = {
    elu() {
      const now = performance.eventLoopUtilization();
      send({ event: 'elu', utilization: performance.eventLoopUtilization(now, lastElu).utilization });
      lastElu = now;
    },
    ...commands,
  };
  process.on('message', (msg) => {
    const command = all[msg.cmd];
    if (!command) return send({ event: 'error', message: `${name}: unknown command ${msg.cmd}` });
    Promise.resolve()
      .then(() => command(msg))
      .catch((e) => send({ event: 'error', message: e.stack ?? String(e) }));
  });
  process.on('disconnect', () => process.exit(0));
  return send;
}
