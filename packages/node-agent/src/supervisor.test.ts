// The supervisor restarts a dying child with back-off and reports each restart; stop() ends it.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { Supervised } from './supervisor.js';

describe('Supervised', () => {
  it('restarts a child that exits, with growing back-off, and stops it with SIGTERM', async () => {
    const dir = mkdtempSync(join(tmpdir(), `podnet-sup-${process.pid}-`));
    try {
      const marker = join(dir, 'starts');
      // Each start appends a line; the first two exit at once, the third stays up.
      const script = `const fs=require('fs');fs.appendFileSync(${JSON.stringify(marker)},'x\\n');const n=fs.readFileSync(${JSON.stringify(marker)},'utf8').split('\\n').length-1;if(n<3)process.exit(1);setInterval(()=>{},1000);`;
      const restarts: number[] = [];
      const s = new Supervised({
        name: 'kube-proxy',
        argv: [process.execPath, '-e', script],
        log: pino({ level: 'silent' }),
        initialBackoffMs: 50,
        onRestart: (n) => restarts.push(n),
      });
      s.start();
      const deadline = Date.now() + 10_000;
      const starts = () => {
        try {
          return readFileSync(marker, 'utf8');
        } catch {
          return '';
        }
      };
      while ((restarts.length < 2 || starts() !== 'x\nx\nx\n') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(restarts).toEqual([1, 2]);
      expect(starts()).toBe('x\nx\nx\n');
      expect(s.pid).toBeGreaterThan(0);
      await s.stop(2000);
      expect(() => process.kill(s.pid as number, 0)).toThrow();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
