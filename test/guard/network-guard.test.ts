// The network guard of DESIGN §7 must refuse real traffic to emulated addresses in every
// child process a test starts. The probes run in a fresh, empty network namespace
// (unshare --net), so even a broken guard could not send anything off the machine.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { expect, it, onTestFinished } from 'vitest';
import { describeInterop } from '../support/interop.ts';
import { isAllowedAddress } from './network-guard.mjs';

it('is installed in this test worker and passed to child processes', () => {
  expect((globalThis as Record<symbol, unknown>)[Symbol.for('podnet.networkGuard')]).toBe(true);
  expect(process.env.NODE_OPTIONS).toMatch(/--import=file:.*network-guard\.mjs/);
  expect(process.env.PODNET_GUARD_LOG).toBeTruthy();
});

it('allows loopback and only the networks a test registered', () => {
  expect(isAllowedAddress('127.0.0.1')).toBe(true);
  expect(isAllowedAddress('127.0.1.3')).toBe(true);
  expect(isAllowedAddress('::1')).toBe(true);
  expect(isAllowedAddress('::ffff:127.0.0.1')).toBe(true);
  expect(isAllowedAddress('localhost')).toBe(true);
  for (const emulated of ['10.96.0.1', '10.244.1.2', '172.18.0.2', '192.168.1.1', '8.8.8.8', '2001:db8::1', 'example.com']) {
    expect(isAllowedAddress(emulated)).toBe(false);
  }
});

describeInterop('network guard in child processes', { commands: ['unshare', 'ip'], root: true }, () => {
  it('refuses TCP, HTTP, UDP and fetch to emulated addresses, allows loopback and registered test networks', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'podnet-guard-test-'));
    const log = join(dir, 'guard.log');
    const child = join(import.meta.dirname, 'probe-child.mjs');
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const r = await execa('unshare', ['--net', 'sh', '-c', `ip link set lo up && exec "${process.execPath}" "${child}"`], {
      // Our own log file, so these deliberate refusals do not fail this test through setup.ts.
      env: { PODNET_GUARD_LOG: log, PODNET_GUARD_ALLOW: '192.0.2.0/24' },
      timeout: 30_000,
      reject: false,
    });
    expect(r.exitCode, r.stderr).toBe(0);
    const results = JSON.parse(r.stdout.trim().split('\n').pop() as string);
    expect(results).toEqual({
      tcpServiceIp: 'refused',
      tcpOptionsForm: 'refused',
      httpRequest: 'refused',
      httpsRequest: 'refused',
      udpSend: 'refused',
      udpSendOffsetForm: 'refused',
      udpConnect: 'refused',
      udpSegmentSend: 'refused',
      tcpHostName: 'refused',
      fetch: 'refused',
      loopback: 'allowed',
      allowedTestNetwork: 'error:ENETUNREACH',
    });
    // Every refusal is also written to the log, which fails the owning test even if swallowed.
    const logged = readFileSync(log, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(logged.map((e) => e.address)).toEqual(
      expect.arrayContaining(['10.96.0.1', '10.244.1.2', '10.96.0.10', '172.18.0.3', '10.244.2.3', '10.244.2.4']),
    );
    expect(r.stderr).toContain('podnet network guard: refused');
  });
});
