// Unit tests of the runtime's pure parts: the CRI log format, the kubelet's restart back-off,
// image matching and container argv, and the exec channel protocol's status line.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { containerArgv, findImage, repositoryOf } from '../images/index.js';
import { chooseExecProtocol, exitStatus } from '../server/exec-stream.js';
import { RestartBackoff } from './backoff.js';
import { CriLogWriter, parseCriLine, readCriLog, rfc3339Nano } from './cri-log.js';

describe('CRI log files', () => {
  it('writes one "<RFC3339Nano> <stream> F <line>" per line, buffering partial lines until newline or exit', () => {
    const dir = mkdtempSync(join(tmpdir(), `podnet-cri-${process.pid}-`));
    try {
      const w = new CriLogWriter(join(dir, 'c', '0.log'));
      w.write('stdout', 'one\ntw');
      w.write('stdout', 'o\n');
      w.write('stderr', 'no newline');
      w.flush();
      const text = readFileSync(w.path, 'utf8');
      const lines = text.trimEnd().split('\n');
      expect(lines).toHaveLength(3);
      expect(lines[0]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z stdout F one$/);
      expect(lines.map((l) => parseCriLine(l)?.content)).toEqual(['one', 'two', 'no newline']);
      expect(readCriLog(w.path).map((l) => l.stream)).toEqual(['stdout', 'stdout', 'stderr']);
      expect(w.tail).toEqual(['one', 'two', 'no newline']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('formats timestamps with nine fractional digits', () => {
    expect(rfc3339Nano(new Date('2026-12-01T19:00:00.123Z'))).toBe('2026-12-01T19:00:00.123000000Z');
  });
});

describe('restart back-off (kubelet doBackOff)', () => {
  it('restarts at once the first time, then waits 10 s doubling to 5 min, and resets after a long run', () => {
    const b = new RestartBackoff();
    expect([0, 1, 2, 3, 4, 5, 6, 7].map(() => b.next(1000))).toEqual([0, 10_000, 20_000, 40_000, 80_000, 160_000, 300_000, 300_000]);
    expect(b.next(11 * 60_000)).toBe(0);
  });
});

describe('built-in images', () => {
  it('matches real image references by repository', () => {
    expect(repositoryOf('registry.k8s.io/e2e-test-images/agnhost:2.53@sha256:abc')).toBe('registry.k8s.io/e2e-test-images/agnhost');
    expect(repositoryOf('docker.io/library/nginx:1.27')).toBe('nginx');
    expect(findImage('registry.k8s.io/e2e-test-images/agnhost:2.53')?.programs.agnhost).toBeDefined();
    expect(findImage('nginx:1.27-alpine')?.entrypoint).toEqual(['/docker-entrypoint.sh']);
    expect(findImage('busybox')?.cmd).toEqual(['sh']);
    expect(findImage('alpine:3.20')).toBe(findImage('busybox:1.36'));
    expect(findImage('podnet/loadgen:latest')?.programs.loadgen).toBeDefined();
    expect(findImage('registry.k8s.io/pause:3.10')).toBeDefined();
    expect(findImage('quay.io/someone/app:1')).toBeUndefined();
  });

  it('combines command/args with ENTRYPOINT/CMD as the kubelet does', () => {
    const agnhost = findImage('agnhost') as NonNullable<ReturnType<typeof findImage>>;
    expect(containerArgv(agnhost, undefined, ['netexec', '--http-port=8080'])).toEqual(['/agnhost', 'netexec', '--http-port=8080']);
    expect(containerArgv(agnhost, ['sleep'], ['10'])).toEqual(['sleep', '10']);
    const nginx = findImage('nginx') as NonNullable<ReturnType<typeof findImage>>;
    expect(containerArgv(nginx, undefined, undefined)).toEqual(['/docker-entrypoint.sh', 'nginx', '-g', 'daemon off;']);
  });
});

describe('exec channel protocol', () => {
  it('prefers v5, then v4, and reports exit codes as remotecommand v4 Status objects', () => {
    expect(chooseExecProtocol(new Set(['v4.channel.k8s.io', 'v5.channel.k8s.io']))).toBe('v5.channel.k8s.io');
    expect(chooseExecProtocol(new Set(['SPDY/3.1']))).toBe(false);
    expect(exitStatus(['true'], 0)).toEqual({ metadata: {}, status: 'Success' });
    expect(exitStatus(['sh', '-c', 'exit 3'], 3)).toEqual({
      metadata: {},
      status: 'Failure',
      message: 'command terminated with non-zero exit code: error executing command [sh -c exit 3], exit code 3',
      reason: 'NonZeroExitCode',
      details: { causes: [{ reason: 'ExitCode', message: '3' }] },
    });
  });
});

describe('probes before the node prober is attached', () => {
  it('wait without counting, then run as soon as the prober exists (a container may start first)', async () => {
    const { EventEmitter } = await import('node:events');
    const { ProbeWorker } = await import('./prober.js');
    let scope: unknown;
    const connects: string[] = [];
    const fakeScope = {
      connect(port: number, host: string) {
        connects.push(`${host}:${port}`);
        const s = Object.assign(new EventEmitter(), { destroy: () => undefined });
        setImmediate(() => s.emit('connect'));
        return s;
      },
    };
    const changes: boolean[] = [];
    const results: boolean[] = [];
    const worker = new ProbeWorker(
      'readiness',
      { tcpSocket: { port: 8080 }, periodSeconds: 60, failureThreshold: 1 },
      { podIp: '10.244.1.5', prober: () => scope as never, ports: [], exec: async () => ({ status: 0, output: '' }) },
      (ok) => changes.push(ok),
      (ok) => results.push(ok),
    );
    worker.start();
    await new Promise((r) => setTimeout(r, 700));
    // No prober yet: nothing was counted, so readiness has not been reported failed.
    expect(results).toEqual([]);
    expect(changes).toEqual([]);
    scope = fakeScope;
    await new Promise((r) => setTimeout(r, 700));
    worker.stop();
    expect(connects).toEqual(['10.244.1.5:8080']);
    expect(results).toEqual([true]);
    expect(changes).toEqual([true]);
    expect(worker.result).toBe(true);
  });
});
