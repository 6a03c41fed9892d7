// kill -9 under writes across many segment switches: a child process appends records to a WAL
// with small preallocated segments (so switches and spare preparation happen all the time) and
// prints each rv once its append is acknowledged; the parent SIGKILLs it at a random moment,
// recovers the log, and checks that the records are exactly 1..N with every acknowledged one
// among them. The child runs the built module (dist/), as the API server does.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { recoverLog, SPARE_NAME } from './wal.ts';

const walJs = fileURLToPath(new URL('../../dist/store/wal.js', import.meta.url));
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const CHILD = `
import { recoverLog, WalWriter } from ${JSON.stringify(walJs)};
const dir = process.argv[1];
const last = recoverLog(dir).records.at(-1)?.rv ?? 0;
const w = await WalWriter.open(dir, last + 1, { segmentBytes: 8192 });
process.stdout.write('ready\\n');
let next = last + 1;
const worker = async () => {
  for (;;) {
    const rv = next++;
    await w.append({ rv, pad: 'x'.repeat(rv % 97) }, rv);
    process.stdout.write(\`ack \${rv}\\n\`);
  }
};
for (let i = 0; i < 8; i++) void worker();
`;

/** Runs the child until `killAfterMs` after it is ready, SIGKILLs it, returns the highest acknowledged rv. */
function runAndKill(dir: string, killAfterMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', CHILD, dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let maxAck = 0;
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      let nl = out.indexOf('\n');
      while (nl >= 0) {
        const line = out.slice(0, nl);
        out = out.slice(nl + 1);
        nl = out.indexOf('\n');
        if (line === 'ready') setTimeout(() => child.kill('SIGKILL'), killAfterMs);
        else if (line.startsWith('ack ')) maxAck = Math.max(maxAck, Number(line.slice(4)));
      }
    });
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    const bound = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('exit', (_code, signal) => {
      clearTimeout(bound);
      if (signal !== 'SIGKILL') reject(new Error(`child exited on its own: ${err}`));
      else resolve(maxAck);
    });
  });
}

describe('WAL under kill -9', () => {
  it('keeps every acknowledged record, in order without gaps, across SIGKILLs during segment switches', async () => {
    const dir = mkdtempSync(join(tmpdir(), `podnet-wal-crash-${process.pid}-`));
    dirs.push(dir);
    let acked = 0;
    // Seeded kill delays (a fixed list) so a failure can be replayed.
    for (const delay of [40, 170, 90, 260, 15, 130, 210, 60]) {
      acked = Math.max(acked, await runAndKill(dir, delay));
      const rvs = recoverLog(dir).records.map((r) => (r as { rv: number }).rv);
      expect(rvs.length).toBeGreaterThanOrEqual(acked);
      expect(rvs).toEqual(Array.from({ length: rvs.length }, (_, i) => i + 1));
    }
    expect(acked).toBeGreaterThan(0);
    const names = readdirSync(dir);
    expect(names.filter((n) => /^wal-\d{16}\.log$/.test(n)).length).toBeGreaterThan(3);
    // At most one spare (none when the last kill fell between a switch's rename and the next
    // spare's creation; the next start prepares it).
    expect(names.filter((n) => n.endsWith('.tmp') && n !== SPARE_NAME)).toEqual([]);
  }, 120_000);
});
