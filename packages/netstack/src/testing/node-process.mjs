// A small emulated "node" in its own OS process, for tests that need two processes (DESIGN §2):
// it runs the built package (dist/), builds namespaces and links on command, and answers JSON
// lines on stdin with JSON lines on stdout: {"id": n, "op": "...", ...} → {"id": n, "ok": true, ...}
// or {"id": n, "ok": false, "error": "...", "code": "..."}. Plain JavaScript on purpose (no tsx):
// tests start it with `node node-process.mjs`, or inside a kernel namespace with
// `ip netns exec NS node node-process.mjs`. Other packages add operations with the `plugin` op
// (a module whose default export receives { namespaces, register(op, handler), netstack }).
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';

const netstack = await import(new URL('../../dist/index.js', import.meta.url).href);
const wire = await import('@podnet/wire');
const { Namespace, VxlanLink, UnixSocketVeth, UplinkLink, BridgeLink, VethLink, addVxlanRemoteNode } = netstack;
const { parseIpv4, parseMac, formatMac, SystemClock } = wire;

const namespaces = new Map();
const clock = new SystemClock();

function ns(name) {
  const n = namespaces.get(name);
  if (!n) throw new Error(`no namespace "${name}" in this process (have: ${[...namespaces.keys()].join(', ') || 'none'})`);
  return n;
}

const ops = {
  'create-namespace': ({ name, ipForward }) => {
    if (namespaces.has(name)) throw new Error(`namespace "${name}" exists`);
    namespaces.set(name, new Namespace({ name, clock, ipForward: ipForward ?? false }));
    return {};
  },
  'add-vxlan': async ({ ns: name, dev, mac, nodeIp, localAddress, port, mtu }) => {
    const link = new VxlanLink({
      name: dev ?? 'flannel.1',
      mac: parseMac(mac),
      nodeIp: parseIpv4(nodeIp),
      localAddress,
      port: port ?? 0,
      ...(mtu ? { mtu } : {}),
    });
    ns(name).addLink(link);
    await link.open();
    return { port: link.localPort, mac: formatMac(link.mac) };
  },
  'add-vxlan-peer': ({ ns: name, dev, podCidr, vtepMac, nodeIp, transport }) => {
    const n = ns(name);
    addVxlanRemoteNode(n, n.link(dev ?? 'flannel.1'), { podCidr, vtepMac: parseMac(vtepMac), nodeIp: parseIpv4(nodeIp), transport });
    return {};
  },
  'add-uplink': async ({ ns: name, dev, mac, nodeIp, localAddress, port }) => {
    const link = new UplinkLink({ name: dev ?? 'eth0', mac: parseMac(mac), nodeIp: parseIpv4(nodeIp), localAddress, port: port ?? 0 });
    ns(name).addLink(link);
    await link.open();
    return { port: link.localPort };
  },
  'add-uplink-peer': ({ ns: name, dev, nodeIp, transport }) => {
    ns(name)
      .link(dev ?? 'eth0')
      .setPeer(parseIpv4(nodeIp), transport);
    return {};
  },
  'add-unix-veth': async ({ ns: name, dev, mac, path, role, mtu }) => {
    const options = { name: dev, mac: parseMac(mac), path, ...(mtu ? { mtu } : {}) };
    const link = role === 'listen' ? await UnixSocketVeth.listen(options) : await UnixSocketVeth.connect(options);
    ns(name).addLink(link);
    return {};
  },
  'wait-connected': async ({ ns: name, dev }) => {
    await ns(name).link(dev).whenConnected();
    return {};
  },
  'add-bridge': ({ ns: name, dev, mac }) => {
    ns(name).addLink(new BridgeLink({ name: dev ?? 'cni0', mac: parseMac(mac), clock }));
    return {};
  },
  /** A veth pair between two namespaces of this process; `bridge` makes the second end its port. */
  'add-veth-pair': ({ a, b, bridge }) => {
    const [x, y] = VethLink.pair(
      { name: a.dev, mac: parseMac(a.mac), ...(a.mtu ? { mtu: a.mtu } : {}) },
      { name: b.dev, mac: parseMac(b.mac), ...(b.mtu ? { mtu: b.mtu } : {}) },
    );
    ns(a.ns).addLink(x);
    ns(b.ns).addLink(y);
    if (bridge) ns(b.ns).link(bridge).addPort(y);
    return {};
  },
  'set-forward': ({ ns: name, on }) => {
    ns(name).ipForward = on !== false;
    return {};
  },
  'add-address': ({ ns: name, dev, cidr }) => {
    ns(name).addAddress(dev, cidr);
    return {};
  },
  'add-route': ({ ns: name, ...spec }) => {
    ns(name).addRoute(spec);
    return {};
  },
  ping: async ({ ns: name, dst, timeoutMs, size, count }) => {
    const results = [];
    for (let i = 0; i < (count ?? 1); i++)
      results.push(await ns(name).ping(dst, { timeoutMs: timeoutMs ?? 2000, ...(size !== undefined ? { size } : {}) }));
    return { results };
  },
  'udp-echo': ({ ns: name, port, address }) =>
    new Promise((resolve, reject) => {
      const s = ns(name).udp.createSocket();
      s.on('message', (msg, rinfo) => s.send(Buffer.concat([Buffer.from('echo:'), msg]), rinfo.port, rinfo.address));
      s.on('error', reject);
      s.bind(port, address, () => resolve({ port: s.address().port }));
    }),
  'udp-request': ({ ns: name, dst, port, data, timeoutMs }) =>
    new Promise((resolve, reject) => {
      const s = ns(name).udp.createSocket();
      const timer = setTimeout(() => {
        s.close();
        reject(new Error(`no UDP reply from ${dst}:${port} within ${timeoutMs ?? 3000} ms`));
      }, timeoutMs ?? 3000);
      s.on('message', (msg, rinfo) => {
        clearTimeout(timer);
        s.close();
        resolve({ reply: msg.toString('utf8'), from: rinfo });
      });
      s.on('error', (e) => {
        clearTimeout(timer);
        s.close();
        reject(e);
      });
      s.connect(port, dst, () => s.send(Buffer.from(data)));
    }),
  counters: ({ ns: name }) => ({ counters: ns(name).counters() }),
  describe: ({ ns: name }) => ({ text: ns(name).describe() }),
  plugin: async ({ module }) => {
    const m = await import(module.startsWith('file:') ? module : pathToFileURL(module).href);
    await m.default({ namespaces, netstack, wire, register: (op, handler) => (ops[op] = handler) });
    return {};
  },
};

function reply(message) {
  process.stdout.write(`${JSON.stringify(message)}\n`);
}

const rl = createInterface({ input: process.stdin });
rl.on('line', async (line) => {
  let request;
  try {
    request = JSON.parse(line);
  } catch {
    reply({ id: null, ok: false, error: `not a JSON line: ${line.slice(0, 80)}` });
    return;
  }
  const op = ops[request.op];
  if (!op) {
    reply({ id: request.id, ok: false, error: `unknown op "${request.op}" (have: ${Object.keys(ops).join(', ')})` });
    return;
  }
  try {
    reply({ id: request.id, ok: true, ...(await op(request)) });
  } catch (error) {
    reply({ id: request.id, ok: false, error: String(error?.message ?? error), code: error?.code });
  }
});
rl.on('close', async () => {
  await Promise.all([...namespaces.values()].map((n) => n.close()));
  process.exit(0);
});
reply({ id: 0, ok: true, ready: true, pid: process.pid });
