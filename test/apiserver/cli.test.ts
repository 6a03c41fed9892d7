// The API server process entry: clear, coded errors for bad flags, a busy port, a bad data dir.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { mainJs, startServer } from './support.ts';

describe('podnet apiserver command line', () => {
  const dir = mkdtempSync(join(tmpdir(), `podnet-apiserver-cli-${process.pid}-`));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const run = (args: string[]) => execa(process.execPath, [mainJs, ...args], { reject: false, timeout: 30_000 });

  it('refuses unknown flags, a missing --data-dir and a bad port with PODNET_ERR_USAGE (exit 2)', async () => {
    const unknown = await run(['--data-dir', dir, '--prot', '1']);
    expect(unknown.exitCode).toBe(2);
    expect(unknown.stderr).toContain('PODNET_ERR_USAGE: unknown flag --prot');
    const missing = await run([]);
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr).toContain('--data-dir is required');
    const port = await run(['--data-dir', dir, '--port', 'http']);
    expect(port.exitCode).toBe(2);
    expect(port.stderr).toContain('--port must be a non-negative integer, got "http"');
  });

  it('says so when the port is taken or the data dir is unusable (exit 1, no stack trace)', async () => {
    const first = await startServer(join(dir, 'a'));
    try {
      const busy = await run(['--data-dir', join(dir, 'b'), '--port', String(first.port)]);
      expect(busy.exitCode).toBe(1);
      expect(busy.stderr).toContain(`127.0.0.1:${first.port} is already in use`);
      expect(busy.stderr).not.toMatch(/\n\s+at /);
      // A second server on the same data directory would interleave the WAL: refused.
      const shared = await run(['--data-dir', join(dir, 'a'), '--port', '0']);
      expect(shared.exitCode).toBe(1);
      expect(shared.stderr).toContain(`is in use by process ${first.proc.pid}`);
    } finally {
      first.proc.kill('SIGTERM');
      await first.exited;
    }
    const file = join(dir, 'not-a-dir');
    writeFileSync(file, 'x');
    const bad = await run(['--data-dir', file, '--port', '0']);
    expect(bad.exitCode).toBe(1);
    expect(bad.stderr).toContain(`cannot use --data-dir ${file}`);
    expect(bad.stderr).not.toMatch(/\n\s+at /);
  });
});
