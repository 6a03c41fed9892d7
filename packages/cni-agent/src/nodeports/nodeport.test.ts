// NodePort end to end on one node: kube-proxy's IptablesProxier applies its payloads through the
// control-socket client; a real curl and a Node http request to 127.0.1.1:<nodePort> enter the
// host namespace through the NodePort relay, are DNATed by KUBE-NODEPORTS to an emulated pod
// server (netstack TCP + Node http), and get its answer; iptables-save -c counters rise. Also the
// control socket's refusal of a bad iptables-restore (line/word, rules unchanged).
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { KubeClient } from '@podnet/client';
import { IptablesProxier } from '@podnet/kube-proxy';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiServerProcess, startApiServerProcess } from '../../../client/src/testing/apiserver-process.js';
import { CniAgentError } from '../errors.js';
import { type AgentProcess, attachPod, startAgentProcess, type TestPod, waitFor } from '../testing/agent-process.js';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), `podnet-nodeport-${process.pid}-`));
const NODE = 'np-node-1';
let api: ApiServerProcess;
let kube: KubeClient;
let agent: AgentProcess;
let pod: TestPod;
let proxier: IptablesProxier;
let nodePort = 0;
let udpNodePort = 0;
let echoNodePort = 0;
const podErrors: string[] = [];

beforeAll(async () => {
  api = await startApiServerProcess();
  kube = new KubeClient({ kubeconfig: api.kubeconfigPath });
  const created = await kube.resource('nodes').create({
    metadata: { name: NODE, annotations: { 'podnet.dev/transport-address': '127.0.1.1' } },
    spec: { podCIDR: '10.244.7.0/24', podCIDRs: ['10.244.7.0/24'] },
  } as never);
  await kube
    .resource('nodes')
    .updateStatus({ ...(created as object), status: { addresses: [{ type: 'InternalIP', address: '172.18.0.2' }] } } as never);
  agent = await startAgentProcess({
    node: NODE,
    kubeconfig: api.kubeconfigPath,
    transportAddress: '127.0.1.1',
    nodeIp: '172.18.0.2',
    dir,
    backend: 'vxlan',
  });
  await waitFor('agent ready', async () => (await agent.client.status()).ready);
  pod = await attachPod(agent.client, 'np-web');
  // The pod's server: Node's http over the emulated TCP (netstack), answering with the source it saw.
  const web = http.createServer((req, res) => res.end(`hello from np-web, you are ${req.socket.remoteAddress}:${req.socket.remotePort}\n`));
  await new Promise<void>((resolve) => pod.ns.tcp.createServer((s) => web.emit('connection', s)).listen(8080, resolve));
  // UDP echo in the pod.
  const udp = pod.ns.udp.createSocket();
  udp.on('message', (msg: Buffer, rinfo: { address: string; port: number }) =>
    udp.send(Buffer.concat([Buffer.from('udp:'), msg]), rinfo.port, rinfo.address),
  );
  udp.bind(5353);
  // A half-close server: answers only after the client's FIN, then closes; records resets.
  pod.ns.tcp
    .createServer({ allowHalfOpen: true }, (s) => {
      let got = '';
      s.on('data', (d: Buffer) => {
        got += d.toString();
      });
      s.on('end', () => s.end(`after your FIN I got "${got}"`));
      s.on('error', (e: NodeJS.ErrnoException) => podErrors.push(e.code ?? e.message));
    })
    .listen(9090);

  const svc = (await kube.resource('services').create({
    metadata: { name: 'np-web', namespace: 'default' },
    spec: {
      type: 'NodePort',
      selector: { app: 'np-web' },
      ports: [
        { name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' },
        { name: 'dns', port: 53, targetPort: 5353, protocol: 'UDP' },
        { name: 'halfclose', port: 9000, targetPort: 9090, protocol: 'TCP' },
      ],
    },
  } as never)) as { spec: { ports: Array<{ nodePort: number; protocol: string }> } };
  nodePort = svc.spec.ports.find((p) => p.protocol === 'TCP')?.nodePort ?? 0;
  echoNodePort = svc.spec.ports.find((p) => p.protocol === 'TCP' && p.nodePort !== nodePort)?.nodePort ?? 0;
  udpNodePort = svc.spec.ports.find((p) => p.protocol === 'UDP')?.nodePort ?? 0;
  const slice = {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: 'np-web-x1', namespace: 'default', labels: { 'kubernetes.io/service-name': 'np-web' } },
    addressType: 'IPv4',
    endpoints: [{ addresses: [pod.ip], conditions: { ready: true, serving: true, terminating: false }, nodeName: NODE }],
    ports: [
      { name: 'http', port: 8080, protocol: 'TCP' },
      { name: 'dns', port: 5353, protocol: 'UDP' },
      { name: 'halfclose', port: 9090, protocol: 'TCP' },
    ],
  };
  proxier = new IptablesProxier({
    hostname: NODE,
    nodeIP: '172.18.0.2',
    clusterCIDR: '10.244.0.0/16',
    registry: new Registry(),
    ...agent.client.proxierHooks(),
    minSyncPeriodMs: 10,
  });
  proxier.onServiceAdd(svc as never);
  proxier.onEndpointSliceAdd(slice as never);
  proxier.onServicesSynced();
  proxier.onEndpointSlicesSynced();
  proxier.start();
  await waitFor('kube-proxy rules applied', async () =>
    (await agent.client.iptablesSave({ table: 'nat' })).includes(`--dport ${nodePort}`),
  );
  await waitFor('NodePort listeners open', async () => (await agent.client.status()).nodePorts >= 3);
});

afterAll(async () => {
  proxier?.stop();
  await pod?.ns.close();
  await agent?.stop();
  kube?.close();
  await api?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** iptables-save without the chain counters (background traffic moves them). */
function rulesOf(save: string): string {
  return save.replace(/ \[\d+:\d+\]$/gm, '');
}

function nodePortRuleCounters(save: string): number {
  const line = save.split('\n').find((l) => l.includes('-A KUBE-NODEPORTS') && l.includes(`--dport ${nodePort}`));
  const m = /^\[(\d+):(\d+)\]/.exec(line ?? '');
  return m ? Number(m[1]) : -1;
}

describe('NodePort through kube-proxy rules', () => {
  it('a real curl and a Node http request to 127.0.1.1:<nodePort> reach the pod; counters rise', async () => {
    const before = nodePortRuleCounters(await agent.client.iptablesSave({ table: 'nat', counters: true }));
    expect(before).toBe(0);
    const { stdout } = await run('curl', ['-s', '-m', '10', `http://127.0.1.1:${nodePort}/`]);
    // externalTrafficPolicy Cluster: masqueraded to the node's cni0 address on the way to the pod.
    expect(stdout).toMatch(/^hello from np-web, you are 10\.244\.7\.1:\d+\n$/);
    const body = await new Promise<string>((resolve, reject) => {
      http
        .get({ host: '127.0.1.1', port: nodePort, path: '/', agent: false }, (res) => {
          let b = '';
          res.on('data', (d: Buffer) => {
            b += d.toString();
          });
          res.on('end', () => resolve(b));
        })
        .on('error', reject);
    });
    expect(body).toMatch(/^hello from np-web/);
    const after = nodePortRuleCounters(await agent.client.iptablesSave({ table: 'nat', counters: true }));
    expect(after).toBeGreaterThanOrEqual(2);
    const ct = await agent.client.conntrackList({ protocol: 'tcp', origSrc: '203.0.113.1' });
    expect(ct.count).toBeGreaterThanOrEqual(1);
    expect(ct.text).toContain(`dport=${nodePort}`);
  });

  it('externalTrafficPolicy Local keeps the client address (203.0.113.1 for a loopback client)', async () => {
    const current = (await kube.resource('services').get('np-web', { namespace: 'default' } as never)) as { spec: object };
    const updated = { ...current, spec: { ...current.spec, externalTrafficPolicy: 'Local' } };
    proxier.onServiceUpdate(current as never, updated as never);
    await waitFor('Local rules', async () => (await agent.client.iptablesSave({ table: 'nat' })).includes('-j KUBE-SVL-'));
    const { stdout } = await run('curl', ['-s', '-m', '10', '--local-port', '41000-41999', `http://127.0.1.1:${nodePort}/`]);
    const m = /^hello from np-web, you are 203\.0\.113\.1:(\d+)\n$/.exec(stdout);
    expect(m, stdout).not.toBeNull();
    // The real source port is kept (no masquerade under Local, and the port was free).
    expect(Number(m?.[1])).toBeGreaterThanOrEqual(41000);
    expect(Number(m?.[1])).toBeLessThanOrEqual(41999);
  });

  it('a real half-close (FIN) reaches the pod and its answer and FIN come back; a real reset resets the pod side', async () => {
    const net = await import('node:net');
    const answer = await new Promise<string>((resolve, reject) => {
      const c = net.connect({ host: '127.0.1.1', port: echoNodePort, allowHalfOpen: true });
      let got = '';
      const t = setTimeout(() => reject(new Error(`no answer (got "${got}")`)), 10_000);
      c.on('connect', () => c.end('request'));
      c.on('data', (d: Buffer) => {
        got += d.toString();
      });
      c.on('end', () => {
        clearTimeout(t);
        resolve(got);
      });
      c.on('error', reject);
    });
    expect(answer).toBe('after your FIN I got "request"');
    const c = net.connect({ host: '127.0.1.1', port: echoNodePort });
    await new Promise<void>((resolve) => c.on('connect', () => resolve()));
    c.write('partial');
    await new Promise((r) => setTimeout(r, 200));
    c.resetAndDestroy();
    await waitFor('the pod side sees the reset', () => podErrors.includes('ECONNRESET'), 10_000);
  });

  it('UDP NodePort: datagrams relayed both ways', async () => {
    const dgram = await import('node:dgram');
    const s = dgram.createSocket('udp4');
    const reply = await new Promise<string>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('no UDP reply')), 10_000);
      s.on('message', (m) => {
        clearTimeout(t);
        resolve(m.toString());
      });
      s.send('ping', udpNodePort, '127.0.1.1');
    });
    s.close();
    expect(reply).toBe('udp:ping');
  });

  it('a NodePort Service without endpoints: the REJECT inside resets the real connection', async () => {
    const empty = (await kube.resource('services').create({
      metadata: { name: 'np-empty', namespace: 'default' },
      spec: { type: 'NodePort', selector: { app: 'none' }, ports: [{ port: 80, targetPort: 8080, protocol: 'TCP' }] },
    } as never)) as { spec: { ports: Array<{ nodePort: number }> } };
    const port = empty.spec.ports[0]?.nodePort as number;
    proxier.onServiceAdd(empty as never);
    await waitFor('REJECT rule', async () => (await agent.client.iptablesSave({ table: 'filter' })).includes(`--dport ${port} -j REJECT`));
    await waitFor('listener', async () => (await agent.client.status()).nodePorts >= 4);
    // The real handshake completes in this machine's kernel before the relay learns of the REJECT
    // inside, so the client sees a reset (ECONNRESET), never a refusal (ECONNREFUSED, no listener).
    // Whether the RST lands before or after the client checked its connect is a race, which curl
    // reports as exit 7 or 56; a Node socket names the cause either way.
    const net = await import('node:net');
    const code = await new Promise<string | undefined>((resolve) => {
      const c = net.connect({ host: '127.0.1.1', port });
      c.setTimeout(10_000, () => {
        c.destroy();
        resolve('ETIMEDOUT');
      });
      c.on('connect', () => c.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
      c.on('error', (e: NodeJS.ErrnoException) => resolve(e.code));
      c.on('close', () => resolve(undefined));
    });
    expect(code).toBe('ECONNRESET');
    const err = (await run('curl', ['-sS', '-m', '10', `http://127.0.1.1:${port}/`]).then(
      () => undefined,
      (e: unknown) => e,
    )) as { code?: number } | undefined;
    expect([7, 56]).toContain(err?.code);
  });
});

describe('control socket', () => {
  it('bad iptables-restore input returns the line/word error and leaves the rules unchanged', async () => {
    const before = await agent.client.iptablesSave();
    const bad =
      '*filter\n:PODNET-TEST - [0:0]\n-A PODNET-TEST -p tcp --dport 80 -j ACCEPT\n-A PODNET-TEST --bogus-option 1 -j ACCEPT\nCOMMIT\n';
    const error = await agent.client.iptablesRestore(bad, { noflush: true }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CniAgentError);
    const e = error as CniAgentError;
    expect(e.code).toMatch(/^PODNET_ERR_/);
    expect(e.line).toBe(4);
    expect(e.word).toBe('--bogus-option');
    expect(e.message).toMatch(/line 4/);
    expect(rulesOf(await agent.client.iptablesSave())).toBe(rulesOf(before));
    // The same through `iptables-restore` as a node command: exit 1 and the message on stderr.
    const r = await agent.client.exec(['iptables-restore', '--noflush'], bad);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/line 4/);
    expect(rulesOf(await agent.client.iptablesSave())).toBe(rulesOf(before));
  });

  it('node commands print as the real tools', async () => {
    const s = await agent.client.exec(['iptables', '-t', 'nat', '-S', 'FLANNEL-POSTRTG']);
    expect(s.exitCode, s.stderr).toBe(0);
    expect(s.stdout).toContain(
      '-A FLANNEL-POSTRTG -s 10.244.0.0/16 ! -d 224.0.0.0/4 -m comment --comment "flanneld masq" -j MASQUERADE --random-fully',
    );
    // kube-proxy's --noflush payloads left flannel's jumps in place.
    const post = await agent.client.exec(['iptables', '-t', 'nat', '-S', 'POSTROUTING']);
    expect(post.stdout).toContain('-A POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG');
    expect(post.stdout).toContain('-j KUBE-POSTROUTING');
    const neigh = await agent.client.exec(['ip', 'neigh']);
    expect(neigh.stdout).toMatch(/10\.244\.7\.2 dev cni0 lladdr 0a:58:0a:f4:07:02 (REACHABLE|STALE)/);
    const addr = await agent.client.exec(['ip', 'addr']);
    expect(addr.stdout).toContain('inet 10.244.7.1/24 scope global cni0');
    expect(addr.stdout).toContain('inet 172.18.0.2/24 scope global eth0');
    const unknown = await agent.client.exec(['tcpdump']);
    expect(unknown.exitCode).toBe(127);
    const list = await agent.client.exec(['iptables', '-t', 'nat', '-L', 'KUBE-NODEPORTS', '-n']);
    expect(list.stdout).toMatch(/^Chain KUBE-NODEPORTS/);
  });
});
