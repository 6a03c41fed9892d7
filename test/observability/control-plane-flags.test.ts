// The control-plane process and its live page flags: a bad --live-page-port is refused before
// anything starts (exit 2, PODNET_ERR_USAGE, no data directory written); a taken port is logged and
// the control plane runs on without the page; a free one prints "podnet live page on URL".
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const MAIN = join(import.meta.dirname, '..', '..', 'packages', 'controllers', 'dist', 'control-plane-main.js');
const root = mkdtempSync(join(tmpdir(), `podnet-obs-cp-${process.pid}-`));
const children: ChildProcess[] = [];
afterAll(async () => {
  for (const c of children)
    if (c.exitCode === null && c.signalCode === null) {
      const exited = new Promise((r) => c.once('exit', r));
      c.kill('SIGTERM');
      await exited;
    }
  rmSync(root, { recursive: true, force: true });
});

function start(args: string[]): {
  child: ChildProcess;
  output: () => string;
  waitFor: (re: RegExp) => Promise<RegExpExecArray>;
  exit: Promise<number | null>;
} {
  const child = spawn(process.execPath, [MAIN, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, PODNET_LIVE_PAGE_PORT: '' },
  });
  children.push(child);
  let out = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const exit = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const waitFor = async (re: RegExp) => {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const m = re.exec(out);
      if (m) return m;
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`no ${re} in:\n${out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  return { child, output: () => out, waitFor, exit };
}

describe('control-plane-main live page flags', () => {
  it('refuses a bad --live-page-port before starting anything', async () => {
    const dataDir = join(root, 'bad');
    const p = start(['--data-dir', dataDir, '--port', '0', '--live-page-port', 'eighty']);
    expect(await p.exit).toBe(2);
    expect(p.output()).toContain('PODNET_ERR_USAGE: --live-page-port must be a port (0: any free one, -1: off), got "eighty"');
    expect(existsSync(dataDir)).toBe(false);
  });

  it('runs without the page when its port is taken, and serves it on a free one', async () => {
    const holder = net.createServer();
    await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
    const taken = (holder.address() as net.AddressInfo).port;
    try {
      const a = start(['--data-dir', join(root, 'taken'), '--port', '0', '--live-page-port', String(taken)]);
      await a.waitFor(/podnet control plane ready on https:\/\/127\.0\.0\.1:\d+/);
      await a.waitFor(/live page not started: cannot listen on 127\.0\.0\.1:\d+/);
      expect(a.child.exitCode).toBeNull();
      expect(a.output()).not.toContain('podnet live page on');
    } finally {
      holder.close();
    }
    const b = start(['--data-dir', join(root, 'free'), '--port', '0', '--live-page-port', '0']);
    const url = (await b.waitFor(/podnet live page on (http:\/\/127\.0\.0\.1:\d+\/)/))[1] as string;
    const res = await fetch(url);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('<title>podnet cluster</title>');
    expect((await fetch(`${url}api/cluster`, { method: 'POST' })).status).toBe(405);
    // The controllers' informers are in the control plane's /metrics.
    const metrics = await (await fetch(`${url}metrics`)).text();
    expect(metrics).toMatch(/podnet_controller_informer_watches_total\{component="control-plane",resource="pods",namespace=""\} [1-9]/);
    expect(metrics).toMatch(/podnet_controller_informer_objects\{component="control-plane",resource="pods",namespace=""\} 0/);
    expect(metrics).toMatch(
      /podnet_controller_informer_lists_total\{component="control-plane",resource="endpointslices",namespace=""\} [1-9]/,
    );
  });
});
