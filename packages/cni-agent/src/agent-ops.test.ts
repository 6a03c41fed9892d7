// One cni-agent process: a restart (SIGKILL) keeps allocations and re-creates the pods' host
// veths; pod traffic leaving the cluster CIDR is masqueraded (FLANNEL-POSTRTG); /metrics; trace;
// capture to a pcap file; bad command-line flags.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { KubeClient } from '@podnet/client';
import { UnixSocketVeth } from '@podnet/netstack';
import { parseMac, pcap } from '@podnet/wire';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiServerProcess, startApiServerProcess } from '../../client/src/testing/apiserver-process.js';
import {
  type AgentProcess,
  type AgentProcessOptions,
  attachPod,
  startAgentProcess,
  type TestPod,
  waitFor,
} from './testing/agent-process.js';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), `podnet-cni-ops-${process.pid}-`));
const NODE = 'ops-node-1';
let api: ApiServerProcess;
let kube: KubeClient;
let agent: AgentProcess;
let options: AgentProcessOptions;
const pods: TestPod[] = [];

beforeAll(async () => {
  api = await startApiServerProcess();
  kube = new KubeClient({ kubeconfig: api.kubeconfigPath });
  await kube.resource('nodes').create({
    metadata: { name: NODE, annotations: { 'podnet.dev/transport-address': '127.0.1.1' } },
    spec: { podCIDR: '10.244.8.0/24', podCIDRs: ['10.244.8.0/24'] },
  } as never);
  options = { node: NODE, kubeconfig: api.kubeconfigPath, transportAddress: '127.0.1.1', nodeIp: '172.18.0.2', dir, backend: 'vxlan' };
  agent = await startAgentProcess(options);
  await waitFor('agent ready', async () => (await agent.client.status()).ready);
  pods.push(await attachPod(agent.client, 'ops-a'));
});

afterAll(async () => {
  for (const p of pods) await p.ns.close();
  await agent?.stop();
  kube?.close();
  await api?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('cni-agent operations', () => {
  it('masquerades pod traffic leaving the cluster CIDR (ping to the outside, conntrack shows the SNAT)', async () => {
    const pod = pods[0] as TestPod;
    const reply = await pod.ns.ping('203.0.113.1', { timeoutMs: 3000 });
    expect(reply.from).toBe('203.0.113.1');
    const ct = await agent.client.conntrackList({ protocol: 'icmp', origSrc: pod.ip });
    // Reply direction: the outside answered the host's ext0 address, not the pod.
    expect(ct.text).toMatch(
      new RegExp(`src=${pod.ip.replaceAll('.', '\\.')} dst=203\\.0\\.113\\.1 .*src=203\\.0\\.113\\.1 dst=203\\.0\\.113\\.254`),
    );
    const save = await agent.client.iptablesSave({ table: 'nat', counters: true });
    const masq = save.split('\n').find((l) => l.includes('-A FLANNEL-POSTRTG -s 10.244.0.0/16 ! -d 224.0.0.0/4'));
    expect(masq).toMatch(/^\[[1-9]\d*:\d+\]/);
  });

  it('serves /metrics on the transport address with {component, node}', async () => {
    const url = /"metrics":"(http:\/\/127\.0\.1\.1:\d+\/metrics)"/.exec(agent.logs())?.[1];
    expect(url).toBeDefined();
    const text = await (await fetch(url as string)).text();
    expect(text).toContain(`podnet_cni_pods{component="cni-agent",node="${NODE}"} 1`);
    expect(text).toMatch(/podnet_interface_tx_packets\{interface="cni0",component="cni-agent",node="ops-node-1"\} [1-9]/);
    expect(text).toContain('podnet_cni_calls_total{command="ADD",result="ok"');
  });

  it('traces a packet through the host namespace rules', async () => {
    const pod = pods[0] as TestPod;
    const id = await agent.client.traceStart({ protocol: 'icmp', src: pod.ip, dst: '203.0.113.1', maxPackets: 1 });
    await pod.ns.ping('203.0.113.1', { timeoutMs: 3000 });
    const r = await agent.client.traceResults(id, true);
    expect(r.packets).toBe(1);
    const lines = r.events.map((e) => e.line);
    expect(
      lines.some((l) => /^TRACE: nat:FLANNEL-POSTRTG:rule:5 .*SRC=10\.244\.8\.2 DST=203\.0\.113\.1 PROTO=ICMP/.test(l)),
      lines.join('\n'),
    ).toBe(true);
    const gone = await agent.client.traceResults(id).catch((e: Error) => e);
    expect((gone as Error).message).toMatch(/does not exist/);
  });

  it('captures an interface to a pcap file that tshark reads', async () => {
    const pod = pods[0] as TestPod;
    const path = join(dir, 'cni0.pcap');
    const id = await agent.client.captureStart({ iface: 'cni0', path });
    await pod.ns.ping('10.244.8.1', { timeoutMs: 3000 });
    const done = await agent.client.captureStop(id);
    expect(done.packets).toBeGreaterThanOrEqual(2);
    const file = pcap.decode(readFileSync(path));
    expect(file.records.length).toBe(done.packets);
    const { stdout } = await run('tshark', ['-r', path, '-Y', 'icmp', '-T', 'fields', '-e', 'ip.src', '-e', 'ip.dst']);
    expect(stdout).toContain('10.244.8.2\t10.244.8.1');
    const bad = await agent.client.captureStart({ iface: 'eth9', path }).catch((e: Error) => e);
    expect((bad as Error).message).toMatch(/no interface "eth9".*have: lo, eth0, ext0, flannel\.1, cni0/);
  });

  it('after SIGKILL and restart: allocations kept, host veths re-created, no double allocation', async () => {
    agent.child.kill('SIGKILL');
    await new Promise<void>((r) =>
      agent.child.exitCode !== null || agent.child.signalCode !== null ? r() : agent.child.once('exit', () => r()),
    );
    agent.client.close();
    agent = await startAgentProcess(options);
    await waitFor('restarted agent ready', async () => (await agent.client.status()).ready);
    expect((await agent.client.status()).pods).toBe(1);
    // The node-agent reconnects the pod's eth0 after a cni-agent restart.
    const pod = pods[0] as TestPod;
    const link = await agent.client.attach(pod.containerId, 'eth0');
    await pod.ns.removeLink('eth0');
    pod.ns.addLink(await UnixSocketVeth.connect({ name: 'eth0', mac: parseMac(link.containerMac), mtu: link.mtu, path: link.socketPath }));
    pod.ns.addAddress('eth0', `${pod.ip}/24`);
    pod.ns.addRoute({ dst: 'default', via: '10.244.8.1', dev: 'eth0' });
    await waitFor(
      'pod reaches its gateway after the restart',
      async () => (await pod.ns.ping('10.244.8.1', { timeoutMs: 1000 })).from === '10.244.8.1',
    );
    const second = await attachPod(agent.client, 'ops-b');
    pods.push(second);
    expect(second.ip).toBe('10.244.8.3');
    const again = await agent.client.add({
      containerId: pod.containerId,
      netns: 'ops-a',
      config: { cniVersion: '1.0.0', name: 'podnet', type: 'podnet' },
    });
    const ips = again.ok ? (again.result?.ips as Array<{ address: string }> | undefined) : undefined;
    expect(ips?.[0]?.address).toBe('10.244.8.2/24');
  });

  it('a second agent on a taken VXLAN port fails to start and says why', async () => {
    const node = (await kube.resource('nodes').get(NODE)) as { metadata: { annotations: Record<string, string> } };
    const port = Number(node.metadata.annotations['podnet.dev/vxlan-port']);
    expect(port).toBeGreaterThan(0);
    const err = (await startAgentProcess({ ...options, node: 'ops-dup', vxlanPort: port }).catch((e: unknown) => e)) as Error;
    expect(err.message).toMatch(/exited with 1/);
    expect(err.message).toContain(`cannot bind UDP 127.0.1.1:${port}`);
  });

  it('refuses bad flags with a clear message and exit code 2', async () => {
    const main = join(import.meta.dirname, '..', 'dist', 'main.js');
    const err = (await run(process.execPath, [main, '--node', 'x', '--backend', 'wireguard']).catch((e: unknown) => e)) as {
      code: number;
      stderr: string;
    };
    expect(err.code).toBe(2);
    expect(err.stderr).toMatch(/^cni-agent: --kubeconfig is required\nusage: cni-agent/);
    const err2 = (await run(process.execPath, [
      main,
      '--node',
      'x',
      '--kubeconfig',
      'k',
      '--transport-address',
      '127.0.1.1',
      '--node-ip',
      '172.18.0.2',
      '--control-socket',
      's',
      '--data-dir',
      'd',
      '--backend',
      'wireguard',
    ]).catch((e: unknown) => e)) as { code: number; stderr: string };
    expect(err2.stderr).toMatch(/--backend "wireguard" is not one of vxlan, host-gw/);
    const err3 = (await run(process.execPath, [main, '--bogus']).catch((e: unknown) => e)) as { stderr: string };
    expect(err3.stderr).toMatch(/unknown flag "--bogus"/);
  });
});
