// Toolbox commands against a real emulated network (two pod namespaces on a cni0 bridge, from
// netstack's test topology): flags parsed like the real tools, output printed like them, and the
// real tools' usage errors for bad flags.
import http from 'node:http';
import type { Namespace, TcpSocket } from '@podnet/netstack';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BridgeTopology, podsOnBridge } from '../../../netstack/src/testing/topology.ts';
import type { ProcessContext } from '../runtime/process.js';
import { SocketScope } from '../runtime/socket-scope.js';
import { GetoptError, getopt, opt } from './getopt.js';
import { runCommand } from './index.js';
import { parseShell, ShellSyntaxError } from './shell.js';

let t: BridgeTopology;
let server: http.Server;
let clientNs: Namespace;
let serverIp: string;

async function sh(
  argv: string[],
  ns = clientNs,
  stdin?: AsyncIterable<Buffer>,
): Promise<{ status: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const ctx: ProcessContext = {
    net: new SocketScope(ns),
    hostname: 'client-pod',
    env: { GREETING: 'hello' },
    killed: new AbortController().signal,
    terminated: new AbortController().signal,
    podKey: 'default/client-pod',
    stdout: (x) => {
      stdout += x.toString();
    },
    stderr: (x) => {
      stderr += x.toString();
    },
    ...(stdin ? { stdin } : {}),
  };
  const status = await runCommand(argv, ctx);
  ctx.net.close();
  return { status, stdout, stderr };
}

beforeAll(async () => {
  t = podsOnBridge(2);
  clientNs = (t.pods[0] as { ns: Namespace }).ns;
  const target = t.pods[1] as { ns: Namespace; ip: string };
  serverIp = target.ip;
  server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      res.writeHead(req.url === '/missing' ? 404 : 200, { 'Content-Type': 'text/plain', 'X-Test': 'yes' });
      res.end(req.method === 'POST' ? `${req.method} ${req.headers['content-type']} ${body}` : `hello from ${req.url}`);
    });
  });
  // Through a SocketScope, as every container's sockets are (ss lists the scopes' listeners).
  const tcp = new SocketScope(target.ns).createServer((s: TcpSocket) => server.emit('connection', s));
  await new Promise<void>((r) => tcp.listen({ port: 8080 }, () => r()));
});
afterAll(async () => {
  await t.close();
});

describe('getopt and the shell', () => {
  it('parses bundled, attached and long options like getopt_long', () => {
    const p = getopt(['-qO-', '-m5', '--max-time=3', 'url', '-T', '2'], { short: 'qO:m:T:', long: ['max-time='] });
    expect(p.options).toEqual([
      ['q', true],
      ['O', '-'],
      ['m', '5'],
      ['max-time', '3'],
      ['T', '2'],
    ]);
    expect(p.operands).toEqual(['url']);
    expect(opt(p, 'm')).toBe('5');
    expect(() => getopt(['-Z'], { short: 'a' })).toThrow(GetoptError);
    expect(() => getopt(['-m'], { short: 'm:' })).toThrow(/requires an argument/);
  });

  it('splits && || ; lists with quotes, variables and redirections, and refuses pipes', () => {
    const cmds = parseShell(`echo "a b" && false || echo '$x' "$GREETING" >/dev/null; true 2>&1`, { GREETING: 'hi' });
    expect(cmds.map((c) => [c.op, c.argv])).toEqual([
      [undefined, ['echo', 'a b']],
      ['&&', ['false']],
      ['||', ['echo', '$x', 'hi']],
      [';', ['true']],
    ]);
    expect(cmds[2]?.discardStdout).toBe(true);
    expect(cmds[3]?.stderrToStdout).toBe(true);
    expect(() => parseShell('echo a | cat', {})).toThrow(ShellSyntaxError);
    expect(() => parseShell('echo "open', {})).toThrow(/unterminated/);
  });

  it('runs sh -c lists with && and || short-circuiting', async () => {
    expect(await sh(['sh', '-c', 'echo one && false && echo two || echo three'])).toEqual({
      status: 0,
      stdout: 'one\nthree\n',
      stderr: '',
    });
    expect((await sh(['sh', '-c', 'echo $GREETING; hostname; cat /etc/hostname'])).stdout).toBe('hello\nclient-pod\nclient-pod\n');
    const missing = await sh(['sh', '-c', 'nosuchtool']);
    expect(missing.status).toBe(127);
    expect(missing.stderr).toMatch(/^sh: nosuchtool: not found/);
    expect((await sh(['sleep', 'soon'])).stderr).toBe("sleep: invalid time interval 'soon'\nTry 'sleep --help' for more information.\n");
  });
});

describe('curl', () => {
  it('prints the body, and -s -o /dev/null -w "%{http_code}" prints only the code', async () => {
    expect(await sh(['curl', '-s', `http://${serverIp}:8080/hostname`])).toEqual({ status: 0, stdout: 'hello from /hostname', stderr: '' });
    expect((await sh(['curl', '-s', '-o', '/dev/null', '-w', '%{http_code}\\n', `http://${serverIp}:8080/missing`])).stdout).toBe('404\n');
  });

  it('-d POSTs form data; -v shows the request and response headers on stderr', async () => {
    const r = await sh(['curl', '-sv', '-d', 'a=1', `http://${serverIp}:8080/form`]);
    expect(r.stdout).toBe('POST application/x-www-form-urlencoded a=1');
    expect(r.stderr).toContain(`*   Trying ${serverIp}:8080...`);
    expect(r.stderr).toContain('> POST /form HTTP/1.1');
    expect(r.stderr).toContain('> User-Agent: curl/8.5.0');
    expect(r.stderr).toContain('< HTTP/1.1 200 OK');
    expect(r.stderr).toContain('< X-Test: yes');
  });

  it('exits 7 on a refused connection, 28 on -m timeout, 6 on an unresolvable host, 2 on a bad flag', async () => {
    const refused = await sh(['curl', `http://${serverIp}:9/`]);
    expect(refused.status).toBe(7);
    expect(refused.stderr).toMatch(
      new RegExp(
        `^curl: \\(7\\) Failed to connect to ${serverIp.replace(/\./g, '\\.')} port 9 after \\d+ ms: Couldn't connect to server\\n$`,
      ),
    );
    expect((await sh(['curl', '-s', `http://${serverIp}:9/`])).stderr).toBe('');
    const timeout = await sh(['curl', '-m', '0.3', 'http://10.244.1.200:80/']);
    expect(timeout.status).toBe(28);
    expect(timeout.stderr).toMatch(/^curl: \(28\) Operation timed out after \d+ milliseconds with 0 bytes received\n$/);
    const dns = await sh(['curl', 'http://web.default.svc:80/']);
    expect(dns).toMatchObject({ status: 6, stderr: 'curl: (6) Could not resolve host: web.default.svc\n' });
    expect(await sh(['curl', '-Z', 'http://x/'])).toEqual({
      status: 2,
      stdout: '',
      stderr: "curl: option -Z: is unknown\ncurl: try 'curl --help' or 'curl --manual' for more information\n",
    });
    expect((await sh(['curl'])).stderr).toBe("curl: no URL specified\ncurl: try 'curl --help' or 'curl --manual' for more information\n");
  });
});

describe('wget', () => {
  it('wget -qO- prints the body; errors as BusyBox prints them', async () => {
    expect(await sh(['wget', '-qO-', `http://${serverIp}:8080/x`])).toEqual({ status: 0, stdout: 'hello from /x', stderr: '' });
    const refused = await sh(['wget', '-qO-', `http://${serverIp}:9/`]);
    expect(refused).toMatchObject({ status: 1, stderr: `wget: can't connect to remote host (${serverIp}): Connection refused\n` });
    const missing = await sh(['wget', '-qO-', `http://${serverIp}:8080/missing`]);
    expect(missing.stderr).toBe('wget: server returned error: HTTP/1.1 404 Not Found\n');
    const bad = await sh(['wget', '-Z', 'x']);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/^wget: invalid option -- 'Z'\nBusyBox v1\.36\.1 .*multi-call binary\.\n\nUsage: wget /);
  });
});

describe('ping, traceroute, nc, ip, ss', () => {
  it('ping -c prints iputils lines and statistics', async () => {
    const r = await sh(['ping', '-c', '2', '-i', '0.05', '-s', '100', serverIp]);
    expect(r.status).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toBe(`PING ${serverIp} (${serverIp}) 100(128) bytes of data.`);
    expect(lines[1]).toMatch(new RegExp(`^108 bytes from ${serverIp.replace(/\./g, '\\.')}: icmp_seq=1 ttl=64 time=\\d+\\.\\d{3} ms$`));
    expect(r.stdout).toMatch(
      /\n--- .* ping statistics ---\n2 packets transmitted, 2 received, 0% packet loss, time \d+ms\nrtt min\/avg\/max\/mdev = [\d.]+\/[\d.]+\/[\d.]+\/[\d.]+ ms\n$/,
    );
  });

  it('ping with no reply reports 100% loss and exits 1; bad flags give the iputils usage', async () => {
    const r = await sh(['ping', '-c', '1', '-W', '0.2', '10.244.1.1']);
    expect(r.status).toBe(0);
    const none = await sh(['ping', '-c', '1', '-W', '0.2', '203.0.113.9']);
    expect(none.status).toBe(1);
    // The gateway has no route to TEST-NET-3: its ICMP unreachable counts as an error, as in iputils.
    expect(none.stdout).toMatch(/\nFrom 10\.244\.1\.1 icmp_seq=1 Destination (Net|Host) Unreachable\n/);
    expect(none.stdout).toMatch(/1 packets transmitted, 0 received, \+1 errors, 100% packet loss/);
    const bad = await sh(['ping', '-Z', serverIp]);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/^ping: invalid option -- 'Z'\n\nUsage\n {2}ping \[options\] <destination>/);
    expect((await sh(['ping', '-M', 'maybe', serverIp])).stderr).toBe('ping: invalid -M argument: maybe\n');
  });

  it('ping -M do with a packet over the MTU fails locally as iputils reports it', async () => {
    const r = await sh(['ping', '-c', '1', '-M', 'do', '-s', '1473', serverIp]);
    expect(r.status).toBe(1);
    expect(r.stdout).toContain(`PING ${serverIp} (${serverIp}) 1473(1501) bytes of data.\nping: local error: message too long, mtu=1500\n`);
    expect((await sh(['ping', '-c', '1', '-M', 'do', '-s', '1472', serverIp])).status).toBe(0);
  });

  it('traceroute lists the hops to the destination', async () => {
    const r = await sh(['traceroute', '-q', '1', '-w', '1', serverIp]);
    expect(r.stdout.split('\n')[0]).toBe(`traceroute to ${serverIp} (${serverIp}), 30 hops max, 46 byte packets`);
    expect(r.stdout.split('\n')[1]).toMatch(
      new RegExp(`^ 1  ${serverIp.replace(/\./g, '\\.')} \\(${serverIp.replace(/\./g, '\\.')}\\)  \\d+\\.\\d{3} ms$`),
    );
  });

  it('nc -zv reports an open port and a refused one', async () => {
    expect(await sh(['nc', '-zv', serverIp, '8080'])).toEqual({ status: 0, stdout: '', stderr: `${serverIp} (${serverIp}:8080) open\n` });
    expect(await sh(['nc', '-z', serverIp, '9'])).toEqual({
      status: 1,
      stdout: '',
      stderr: `nc: can't connect to remote host (${serverIp}): Connection refused\n`,
    });
    const bad = await sh(['nc', '-Q']);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/^nc: invalid option -- 'Q'\nBusyBox/);
  });

  it('nc -l receives what a nc client sends from its stdin; nc -u exchanges datagrams', async () => {
    const serverNs = (t.pods[1] as { ns: Namespace }).ns;
    const listening = sh(['nc', '-l', '-p', '9000'], serverNs);
    await new Promise((r) => setTimeout(r, 50));
    async function* input() {
      yield Buffer.from('hello over tcp\n');
    }
    const client = await sh(['nc', serverIp, '9000'], clientNs, input());
    expect(client.status).toBe(0);
    expect(await listening).toEqual({ status: 0, stdout: 'hello over tcp\n', stderr: '' });
    // A UDP echo in the other pod, and nc -u sending one datagram from stdin.
    const echo = serverNs.udp.createSocket();
    echo.on('message', (m: Buffer, r: { port: number; address: string }) => echo.send(Buffer.from(`echo:${m}`), r.port, r.address));
    await new Promise<void>((r) => echo.bind(9001, () => r()));
    async function* datagram() {
      yield Buffer.from('ping');
    }
    const udp = await sh(['nc', '-u', '-w', '1', serverIp, '9001'], clientNs, datagram());
    echo.close();
    expect(udp).toEqual({ status: 0, stdout: 'echo:ping', stderr: '' });
  });

  it('ip addr / ip route / ss print the namespace as iproute2 does', async () => {
    const addr = await sh(['ip', 'addr']);
    expect(addr.stdout).toMatch(
      /^1: lo: <LOOPBACK,UP,LOWER_UP> mtu \d+ qdisc noqueue state UNKNOWN group default qlen 1000\n {4}link\/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00\n {4}inet 127\.0\.0\.1\/8 scope host lo\n/,
    );
    expect(addr.stdout).toMatch(
      /2: eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 .*\n {4}link\/ether ([0-9a-f]{2}:){5}[0-9a-f]{2} brd ff:ff:ff:ff:ff:ff\n {4}inet 10\.244\.1\.\d+\/24 brd 10\.244\.1\.255 scope global eth0\n/,
    );
    const route = await sh(['ip', 'route']);
    expect(route.stdout).toMatch(/^default via 10\.244\.1\.1 dev eth0/m);
    expect(route.stdout).toMatch(/^10\.244\.1\.0\/24 dev eth0 proto kernel scope link src 10\.244\.1\.\d+/m);
    expect((await sh(['ip', 'bogus'])).stderr).toBe('Object "bogus" is unknown, try "ip help".\n');
    await sh(['ping', '-c', '1', serverIp]);
    expect((await sh(['ip', 'neigh'])).stdout).toMatch(
      new RegExp(`^${serverIp.replace(/\./g, '\\.')} dev eth0 lladdr ([0-9a-f]{2}:){5}[0-9a-f]{2} REACHABLE$`, 'm'),
    );
    const ss = await sh(['ss', '-tln'], (t.pods[1] as { ns: Namespace }).ns);
    expect(ss.stdout).toMatch(
      /^Netid +State +Recv-Q +Send-Q +Local Address:Port +Peer Address:Port\ntcp +LISTEN +0 +511 +0\.0\.0\.0:8080 +0\.0\.0\.0:\*\n$/,
    );
  });
});
