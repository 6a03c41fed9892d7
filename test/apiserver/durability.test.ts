// Durability: writes go on continuously while the API server process is killed with SIGKILL
// and restarted several times. Every acknowledged write must be there afterwards,
// resourceVersions never go backwards, and a watcher that resumes from the last
// resourceVersion it saw receives every event exactly once, in order, without gaps.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { get } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { api, credentials, type ServerProcess, startServer, waitFor } from './support.ts';

const LEASES = '/apis/coordination.k8s.io/v1/namespaces/default/leases';

interface Seen {
  type: string;
  name: string;
  rv: number;
}

/** A chunked-HTTP watcher that reconnects from the last resourceVersion it saw. */
class ResumingWatcher {
  events: Seen[] = [];
  lastRv: number;
  reconnects = 0;
  private stopped = false;
  private current?: ReturnType<typeof get>;
  constructor(
    private readonly url: () => string,
    private readonly ca: string,
    private readonly token: string,
    fromRv: number,
  ) {
    this.lastRv = fromRv;
    this.connect();
  }
  private connect(): void {
    if (this.stopped) return;
    const u = new URL(`${LEASES}?watch=true&resourceVersion=${this.lastRv}`, this.url());
    let buf = '';
    let retried = false;
    const retry = () => {
      if (this.stopped || retried) return;
      retried = true;
      this.reconnects++;
      setTimeout(() => this.connect(), 100);
    };
    const req = get(
      { host: u.hostname, port: u.port, path: u.pathname + u.search, ca: this.ca, headers: { authorization: `Bearer ${this.token}` } },
      (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          retry();
          return;
        }
        res.on('data', (d: Buffer) => {
          buf += d.toString();
          let nl = buf.indexOf('\n');
          while (nl >= 0) {
            const line = buf.slice(0, nl).trim();
            buf = buf.slice(nl + 1);
            nl = buf.indexOf('\n');
            if (!line) continue;
            const ev = JSON.parse(line) as { type: string; object: { metadata: { name: string; resourceVersion: string }; code?: number } };
            if (ev.type === 'ERROR') throw new Error(`watch ERROR: ${line}`);
            const rv = Number(ev.object.metadata.resourceVersion);
            this.events.push({ type: ev.type, name: ev.object.metadata.name, rv });
            this.lastRv = rv;
          }
        });
        // A killed server resets the connection: the response closes without a clean end.
        res.on('close', retry);
        res.on('error', () => {});
      },
    );
    req.on('error', retry);
    this.current = req;
  }
  stop(): void {
    this.stopped = true;
    this.current?.destroy();
  }
}

describe('apiserver durability under SIGKILL', () => {
  const dir = mkdtempSync(join(tmpdir(), `podnet-durability-${process.pid}-`));
  let server: ServerProcess | undefined;
  afterAll(async () => {
    server?.proc.kill('SIGKILL');
    await server?.exited;
    rmSync(dir, { recursive: true, force: true });
  });

  it('loses no acknowledged write across 4 SIGKILLs (WAL and snapshots); a resumed watcher sees every event once, in order', async () => {
    // Frequent snapshots, so kills also land during and after snapshot + WAL rotation.
    const flags = ['--snapshot-every', '75'];
    server = await startServer(dir, 0, flags);
    const { ca, token } = credentials(dir);
    const port = server.port;
    const base = () => (server as ServerProcess).url;
    const list0 = await api(base(), ca, token, 'GET', LEASES);
    const watcher = new ResumingWatcher(base, ca, token, Number(list0.body.metadata.resourceVersion));

    const acked = new Map<string, number>(); // name → resourceVersion of the acknowledgement
    const ackOrder: { rv: number; epoch: number }[] = [];
    let epoch = 0;
    let writing = true;
    let next = 0;
    const deadline = Date.now() + 40_000;
    const writer = async () => {
      while (writing && next < 3000 && Date.now() < deadline) {
        const name = `lease-${next++}`;
        for (;;) {
          try {
            const r = await api(base(), ca, token, 'POST', LEASES, {
              metadata: { name },
              spec: { holderIdentity: name, leaseDurationSeconds: 40 },
            });
            if (r.status === 201) {
              acked.set(name, Number(r.body.metadata.resourceVersion));
              ackOrder.push({ rv: Number(r.body.metadata.resourceVersion), epoch });
            }
            // 409 AlreadyExists: the create was durable but its reply was lost in the kill.
            if (r.status === 201 || r.status === 409) break;
            throw new Error(`unexpected ${r.status}`);
          } catch (e) {
            if (!writing || Date.now() > deadline) return;
            if (!/ECONNREFUSED|ECONNRESET|socket hang up|EPIPE/.test(String(e))) throw e;
            await new Promise((r) => setTimeout(r, 50));
          }
        }
      }
    };
    const writers = [writer(), writer(), writer(), writer()];
    for (let kill = 0; kill < 4; kill++) {
      const before = acked.size;
      await waitFor('writes between kills', () => (acked.size >= before + 40 ? true : undefined), 20_000);
      server.proc.kill('SIGKILL');
      await server.exited;
      epoch++;
      server = await startServer(dir, port, flags);
    }
    await waitFor('writes after the last restart', () => (ackOrder.some((a) => a.epoch === 4) ? true : undefined), 20_000);
    writing = false;
    await Promise.all(writers);

    const final = await api(base(), ca, token, 'GET', LEASES);
    const stored = new Map<string, number>(
      (final.body.items as { metadata: { name: string; resourceVersion: string } }[]).map((o) => [
        o.metadata.name,
        Number(o.metadata.resourceVersion),
      ]),
    );
    // Every acknowledged write is present, with the version it was acknowledged with.
    for (const [name, rv] of acked) expect(stored.get(name), name).toBe(rv);
    expect(acked.size).toBeGreaterThan(160);

    // resourceVersions never go backwards: every acknowledgement after a restart is newer
    // than every acknowledgement before it.
    for (let e = 1; e <= 4; e++) {
      const maxBefore = Math.max(...ackOrder.filter((a) => a.epoch < e).map((a) => a.rv));
      const minAfter = Math.min(...ackOrder.filter((a) => a.epoch >= e).map((a) => a.rv));
      expect(minAfter).toBeGreaterThan(maxBefore);
    }

    // The watcher: strictly increasing versions (no duplicates), one ADDED per stored lease (no gaps).
    const listRv = Number(final.body.metadata.resourceVersion);
    await waitFor('the watcher to catch up', () => (watcher.lastRv >= listRv ? true : undefined), 20_000).catch((e) => {
      throw new Error(
        `${e.message}: lastRv ${watcher.lastRv}, list ${listRv}, events ${watcher.events.length}, reconnects ${watcher.reconnects}, stored ${stored.size}`,
      );
    });
    watcher.stop();
    for (let i = 1; i < watcher.events.length; i++) expect(watcher.events[i]?.rv).toBeGreaterThan(watcher.events[i - 1]?.rv as number);
    const added = watcher.events.filter((e) => e.type === 'ADDED').map((e) => e.name);
    expect(new Set(added).size).toBe(added.length);
    expect(new Set(added)).toEqual(new Set(stored.keys()));
    for (const e of watcher.events) expect(stored.get(e.name)).toBe(e.rv);
    expect(watcher.reconnects).toBeGreaterThanOrEqual(4);
    // Snapshots happened and compacted the log: one snapshot file, few segments.
    const files = readdirSync(join(dir, 'store'));
    expect(files.filter((f) => /^snapshot-\d+\.json$/.test(f))).toHaveLength(1);
    expect(files.filter((f) => /^wal-\d+\.log$/.test(f)).length).toBeLessThanOrEqual(2);
  });
});
