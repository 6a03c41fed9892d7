import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Namespace, UnixSocketVeth } from '@podnet/netstack';
import { type Cidr, parseCidr, parseMac } from '@podnet/wire';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HostNetwork } from '../host/host-network.js';
import { CniEndpoint, hostVethName, socketsDirFor } from './endpoint.js';

const dir = mkdtempSync(join(tmpdir(), `podnet-cni-${process.pid}-`));
const config = { cniVersion: '1.0.0', name: 'podnet', type: 'podnet' };
let host: HostNetwork;
let podCidr: Cidr | undefined;
const pods: Namespace[] = [];

beforeAll(async () => {
  host = await HostNetwork.create({ node: `cni-test-${process.pid}`, nodeIp: '172.18.0.2', transportAddress: '127.0.0.1', uplinkPort: 0 });
});
afterAll(async () => {
  for (const p of pods) await p.close();
  await host.close();
  rmSync(dir, { recursive: true, force: true });
});

let current: CniEndpoint | undefined;
/** The endpoint of the current host (one per agent process). */
function endpoint(): CniEndpoint {
  current ??= new CniEndpoint({ dataDir: dir, host, mtu: 1450, podCidr: () => podCidr });
  return current;
}

async function add(e: CniEndpoint, containerId: string, cfg: object = config) {
  return e.handle({ command: 'ADD', containerId, netns: `pod-${containerId}`, ifname: 'eth0', config: JSON.stringify(cfg) });
}

describe('CNI endpoint', () => {
  it('answers 11 (try again later) before the node has a podCIDR', async () => {
    const r = await add(endpoint(), 'early');
    expect(r.cniError?.code).toBe(11);
    expect(r.cniError?.msg).toMatch(/no podCIDR yet/);
  });

  it('ADD returns the CNI 1.0 result, and the pod reaches its gateway through the unix-socket veth', async () => {
    podCidr = parseCidr('10.244.1.0/24');
    host.configurePodCidr(podCidr, 1450);
    const e = endpoint();
    const r = await add(e, 'web-1');
    expect(r.cniError).toBeUndefined();
    const result = JSON.parse(r.result ?? '');
    expect(result.cniVersion).toBe('1.0.0');
    expect(result.interfaces).toHaveLength(3);
    expect(result.interfaces[1].name).toBe(hostVethName('web-1', 'eth0'));
    expect(result.interfaces[1].name).toMatch(/^veth[0-9a-f]{8}$/);
    expect(result.interfaces[2]).toMatchObject({ name: 'eth0', sandbox: 'pod-web-1', mtu: 1450 });
    expect(result.ips).toEqual([{ address: '10.244.1.2/24', gateway: '10.244.1.1', interface: 2 }]);
    expect(result.routes).toEqual([{ dst: '0.0.0.0/0', gw: '10.244.1.1' }]);
    expect(result.dns).toEqual({});
    const link = e.attach('web-1', 'eth0');
    expect(link.mtu).toBe(1450);
    const pod = new Namespace({ name: `pod-web-1-${process.pid}` });
    pods.push(pod);
    pod.addLink(await UnixSocketVeth.connect({ name: 'eth0', mac: parseMac(link.containerMac), mtu: link.mtu, path: link.socketPath }));
    pod.addAddress('eth0', result.ips[0].address);
    pod.addRoute({ dst: 'default', via: '10.244.1.1', dev: 'eth0' });
    const ping = await pod.ping('10.244.1.1', { timeoutMs: 3000 });
    expect(ping.from).toBe('10.244.1.1');
    // CHECK of a good attachment passes; with a wrong prevResult it fails with a clear message.
    const check = await e.handle({
      command: 'CHECK',
      containerId: 'web-1',
      netns: 'pod-web-1',
      ifname: 'eth0',
      config: JSON.stringify({ ...config, prevResult: result }),
    });
    expect(check).toEqual({ result: '' });
    const bad = await e.handle({
      command: 'CHECK',
      containerId: 'web-1',
      netns: 'pod-web-1',
      ifname: 'eth0',
      config: JSON.stringify({ ...config, prevResult: { ips: [{ address: '10.244.1.99/24' }] } }),
    });
    expect(bad.cniError?.msg).toMatch(/prevResult does not list 10\.244\.1\.2\/24/);
    const unknown = await e.handle({ command: 'CHECK', containerId: 'nope', netns: 'x', ifname: 'eth0', config: JSON.stringify(config) });
    expect(unknown.cniError?.code).toBe(3);
  });

  it('DEL releases and is idempotent; an unknown container deletes fine', async () => {
    const e = endpoint();
    const r = await add(e, 'tmp-1');
    expect(JSON.parse(r.result ?? '').ips[0].address).toBe('10.244.1.3/24');
    expect(await e.handle({ command: 'DEL', containerId: 'tmp-1', ifname: 'eth0', config: JSON.stringify(config) })).toEqual({
      result: '',
    });
    expect(await e.handle({ command: 'DEL', containerId: 'tmp-1', ifname: 'eth0', config: JSON.stringify(config) })).toEqual({
      result: '',
    });
    expect(await e.handle({ command: 'DEL', containerId: 'never-added', ifname: 'eth0', config: JSON.stringify(config) })).toEqual({
      result: '',
    });
    expect(host.ns.link(hostVethName('tmp-1', 'eth0'))).toBeUndefined();
  });

  it('keeps allocations across a restart (no double allocation) and re-creates the host veths', async () => {
    // A new host namespace and endpoint over the same data dir, as after an agent restart.
    await host.close();
    host = await HostNetwork.create({
      node: `cni-test-${process.pid}`,
      nodeIp: '172.18.0.2',
      transportAddress: '127.0.0.1',
      uplinkPort: 0,
    });
    host.configurePodCidr(podCidr as Cidr, 1450);
    current = undefined;
    const before = endpoint();
    expect(await before.restore()).toBe(1);
    expect(host.ns.link(hostVethName('web-1', 'eth0'))).toBeDefined();
    expect(host.cni0?.ports.map((p) => p.name)).toEqual([hostVethName('web-1', 'eth0')]);
    const r = await add(before, 'web-2');
    // .3 was freed by the DEL above; host-local continues after the last reserved address.
    expect(JSON.parse(r.result ?? '').ips[0].address).toBe('10.244.1.4/24');
    const again = await add(before, 'web-1');
    expect(JSON.parse(again.result ?? '').ips[0].address).toBe('10.244.1.2/24');
  });

  it('bad config and bad environment get the CNI error codes and messages', async () => {
    const e = endpoint();
    const cases: Array<[object | string, number, RegExp]> = [
      ['not json', 6, /not JSON/],
      [{ name: 'podnet', type: 'podnet' }, 7, /"cniVersion" is missing/],
      [{ cniVersion: '9.9.9', name: 'podnet', type: 'podnet' }, 1, /incompatible CNI versions/],
      [{ cniVersion: '1.0.0', type: 'podnet' }, 7, /"name" is missing/],
      [{ cniVersion: '1.0.0', name: 'podnet' }, 7, /"type" is missing/],
      [{ ...config, mtu: 9000 }, 7, /exceeds the backend's pod MTU 1450/],
    ];
    for (const [cfg, code, msg] of cases) {
      const r = await e.handle({
        command: 'ADD',
        containerId: 'bad',
        netns: 'n',
        ifname: 'eth0',
        config: typeof cfg === 'string' ? cfg : JSON.stringify(cfg),
      });
      expect(r.cniError?.code, JSON.stringify(cfg)).toBe(code);
      expect(r.cniError?.msg).toMatch(msg);
    }
    expect((await e.handle({ command: 'ADD', containerId: '', netns: 'n', config: JSON.stringify(config) })).cniError?.code).toBe(4);
    expect((await e.handle({ command: 'ADD', containerId: 'x', netns: '', config: JSON.stringify(config) })).cniError?.code).toBe(4);
    expect((await e.handle({ command: 'BOGUS', containerId: 'x', config: '' })).cniError?.code).toBe(4);
    const v = JSON.parse((await e.handle({ command: 'VERSION' })).result ?? '');
    expect(v).toEqual({ cniVersion: '1.0.0', supportedVersions: ['0.3.0', '0.3.1', '0.4.0', '1.0.0'] });
  });
});

describe('veth socket paths', () => {
  it('stay under the data dir, or move to a short temp dir when sun_path (108 bytes) would overflow', () => {
    expect(socketsDirFor('/var/lib/podnet/node-1')).toBe('/var/lib/podnet/node-1/veth');
    const deep = `/tmp/${'x'.repeat(100)}`;
    const dirFor = socketsDirFor(deep);
    expect(dirFor).toMatch(/podnet-veth-[0-9a-f]{12}$/);
    expect(Buffer.byteLength(join(dirFor, 'veth12345678.sock'))).toBeLessThan(108);
    expect(socketsDirFor(deep)).toBe(dirFor);
  });
});
