import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CniAgentError } from '../errors.js';
import { CniAgentClient } from './client.js';
import { decodeRequest, decodeResponse, encodeRequest, encodeResponse, FrameReader, MAX_FRAME_BYTES } from './protocol.js';
import { ControlServer, type Handlers } from './server.js';

const dir = mkdtempSync(join(tmpdir(), `podnet-cni-proto-${process.pid}-`));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('node control protocol', () => {
  it('round-trips a request and a response, keeping optional fields absent', () => {
    const req = encodeRequest(7, 'conntrackDelete', { filter: { protocol: 'udp', origDst: '10.96.0.10', dport: 53 } });
    const frames = new FrameReader().push(req);
    expect(frames).toHaveLength(1);
    const decoded = decodeRequest(frames[0] as Buffer);
    expect(decoded.id).toBe(7);
    expect(decoded.method).toBe('conntrackDelete');
    const filter = (decoded.body as { filter: Record<string, unknown> }).filter;
    expect(filter.protocol).toBe('udp');
    expect(filter.dport).toBe(53);
    expect(filter.sport).toBeUndefined();
    const res = decodeResponse(
      (
        new FrameReader().push(
          encodeResponse({ id: 7, error: { code: 'PODNET_ERR_NETFILTER_RESTORE', message: 'x', line: 3, word: '-Z' } }),
        ) as Buffer[]
      )[0] as Buffer,
    );
    expect(res.error).toEqual({ code: 'PODNET_ERR_NETFILTER_RESTORE', message: 'x', line: 3, word: '-Z' });
  });

  it('reassembles frames split at any byte and refuses an oversized length', () => {
    const a = encodeRequest(1, 'status', {});
    const b = encodeRequest(2, 'iptablesSave', { table: 'nat', counters: true });
    const all = Buffer.concat([a, b]);
    const reader = new FrameReader();
    const out: Buffer[] = [];
    for (let i = 0; i < all.length; i++) out.push(...reader.push(all.subarray(i, i + 1)));
    expect(out.map((f) => decodeRequest(f).id)).toEqual([1, 2]);
    const bad = Buffer.alloc(4);
    bad.writeUInt32BE(MAX_FRAME_BYTES + 1);
    expect(() => new FrameReader().push(bad)).toThrow(/exceeds/);
  });

  it('client and server: pipelined requests answered out of order, errors with code/line/word, garbage closes', async () => {
    const path = join(dir, 'control.sock');
    const handlers = {
      status: () => ({
        node: 'node-1',
        backend: 'vxlan',
        podCidr: '',
        nodeIp: '',
        transportAddress: '',
        vtepMac: '',
        pods: 0,
        peers: [],
        nodePorts: 0,
        ready: false,
        uptimeSeconds: 1,
        pid: 1,
        mtu: 1450,
      }),
      iptablesSave: async () => {
        await new Promise((r) => setTimeout(r, 50));
        return { text: 'slow' };
      },
      iptablesRestore: () => {
        throw Object.assign(new Error('iptables-restore: line 2 failed: bad'), {
          code: 'PODNET_ERR_NETFILTER_RESTORE',
          line: 2,
          word: '--bogus',
        });
      },
    } as unknown as Handlers;
    const server = await ControlServer.listen(path, handlers);
    const client = new CniAgentClient(path);
    const [save, status] = await Promise.all([client.iptablesSave(), client.status()]);
    expect(save).toBe('slow');
    expect(status.node).toBe('node-1');
    const err = await client.iptablesRestore('*filter\n-A FOO --bogus\nCOMMIT\n').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CniAgentError);
    expect((err as CniAgentError).code).toBe('PODNET_ERR_NETFILTER_RESTORE');
    expect((err as CniAgentError).line).toBe(2);
    expect((err as CniAgentError).word).toBe('--bogus');
    // Bytes that are no Request: the server answers id 0 with an error and closes.
    const raw = net.createConnection(path);
    const got = await new Promise<Buffer>((resolve) => {
      const chunks: Buffer[] = [];
      raw.on('data', (d) => chunks.push(d));
      raw.on('close', () => resolve(Buffer.concat(chunks)));
      raw.write(Buffer.from([0, 0, 0, 3, 0xff, 0xff, 0xff]));
    });
    const res = decodeResponse(new FrameReader().push(got)[0] as Buffer);
    expect(res.id).toBe(0);
    expect(res.error?.code).toBe('PODNET_ERR_CONTROL');
    client.close();
    await server.close();
    const unreachable = await new CniAgentClient(join(dir, 'nope.sock')).status().catch((e: unknown) => e);
    expect((unreachable as CniAgentError).code).toBe('PODNET_ERR_CONTROL_UNREACHABLE');
  });

  it('a client reconnects after the agent restarts; requests in flight fail with a clear error', async () => {
    const path = join(dir, 'restart.sock');
    let release: (() => void) | undefined;
    const handlers = {
      iptablesSave: () => new Promise((resolve) => (release = () => resolve({ text: 'late' }))),
      status: () => ({ node: 'again' }),
    } as unknown as Handlers;
    const first = await ControlServer.listen(path, handlers);
    const client = new CniAgentClient({ socketPath: path, timeoutMs: 5000 });
    const inFlight = client.iptablesSave().catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 50));
    await first.close();
    const err = (await inFlight) as CniAgentError;
    expect(err.code).toBe('PODNET_ERR_CONTROL');
    expect(err.message).toMatch(/closed the control socket .* before answering/);
    release?.();
    const second = await ControlServer.listen(path, handlers);
    expect((await client.status()).node).toBe('again');
    client.close();
    await second.close();
  });
});
