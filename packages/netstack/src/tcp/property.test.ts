// Property: whatever the seeded loss, reordering and delay, both directions arrive byte-exact
// and both ends close (one in TIME-WAIT, or both when they closed together).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { collect, pattern, tcpPair } from '../testing/tcp-pair.js';
import type { TcpSocket } from './socket.js';

describe('TCP under random faults (fast-check, seeded)', () => {
  it('delivers both directions byte-exact and closes', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          seed: fc.integer({ min: 1, max: 1_000_000 }),
          loss: fc.double({ min: 0, max: 0.3, noNaN: true }),
          reorder: fc.double({ min: 0, max: 0.15, noNaN: true }),
          delayMs: fc.constantFrom(0, 1, 7),
          up: fc.integer({ min: 0, max: 150_000 }),
          down: fc.integer({ min: 0, max: 150_000 }),
          mtu: fc.constantFrom(1500, 1450, 576),
        }),
        async (p) => {
          const t = tcpPair({ seed: p.seed, loss: p.loss, reorder: p.reorder, delayMs: p.delayMs, mtu: p.mtu });
          const up = pattern(p.up, p.seed);
          const down = pattern(p.down, p.seed + 1);
          let server: ReturnType<typeof collect> | undefined;
          let serverSocket: TcpSocket | undefined;
          t.b
            .createServer((s) => {
              serverSocket = s;
              server = collect(s);
              s.end(down);
            })
            .listen(80);
          const client = t.a.connect({ host: '10.244.2.3', port: 80 });
          const got = collect(client);
          client.end(up);
          const ok = await t.pair.run(600_000, {
            stepMs: 5,
            until: () => got.ended() && (server?.ended() ?? false) && t.b.connections().every((c) => c.state === 'TIME-WAIT'),
          });
          expect(ok, t.pair.describe()).toBe(true);
          expect(got.buffer().equals(down)).toBe(true);
          expect(server?.buffer().equals(up)).toBe(true);
          expect(serverSocket?.bytesWritten).toBe(p.down);
          expect(client.bytesRead).toBe(p.down);
        },
      ),
      { numRuns: 60, seed: 4242 },
    );
  });
});
