import { componentLogger } from '@podnet/client';
import { describe, expect, it } from 'vitest';
import { WorkQueue } from './work-queue.js';

const log = componentLogger('test', {}, undefined).child({});
log.level = 'silent';

describe('WorkQueue', () => {
  it('dedupes queued keys and reruns a key added while it was processing', async () => {
    const runs: string[] = [];
    let release: (() => void) | undefined;
    const q = new WorkQueue(async (k) => {
      runs.push(k);
      if (runs.length === 1) await new Promise<void>((r) => (release = r));
    }, log);
    q.add('a');
    await new Promise((r) => setTimeout(r, 5));
    q.add('a'); // while processing: dirty
    q.add('b');
    q.add('b'); // deduped
    release?.();
    await q.idle();
    expect(runs).toEqual(['a', 'b', 'a']);
  });
  it('retries a failing key with back-off until it succeeds', async () => {
    let calls = 0;
    const q = new WorkQueue(
      async () => {
        calls++;
        if (calls < 3) throw new Error('not yet');
      },
      log,
      { retryBaseMs: 5 },
    );
    q.add('x');
    for (let i = 0; i < 100 && calls < 3; i++) await new Promise((r) => setTimeout(r, 10));
    expect(calls).toBe(3);
    q.stop();
  });
});
