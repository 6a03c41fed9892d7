// Acceptance (2) and (3) of issue 3 for TCP: two OS processes, one emulated node each, joined by
// VXLAN over real UDP sockets on 127.0.1.1 and 127.0.1.2. A 20 MB TCP transfer arrives
// byte-exact (sha256) through 3% loss and reordering injected on flannel.1 (seeded), and the SYN
// that crosses the tunnel carries MSS 1410 (1450 - 40), as the underlay capture shows.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTwoNodes, type TwoNodes, tcpTransfer } from './two-process-vxlan.mjs';

const MB = 1 << 20;

describe('TCP across two processes over VXLAN', () => {
  let nodes: TwoNodes | undefined;
  beforeAll(async () => {
    nodes = await startTwoNodes({ faults: { loss: 0.03, reorder: 0.03 } });
  });
  afterAll(async () => {
    await nodes?.close();
  });

  it('moves 20 MB byte-exact through 3% loss and reordering, with MSS 1410 on the SYN', { timeout: 180_000 }, async () => {
    if (!nodes) throw new Error('nodes did not start');
    const { sent, received } = await tcpTransfer(nodes, { bytes: 20 * MB, timeoutMs: 150_000 });
    expect(received.bytes).toBe(20 * MB);
    expect(received.sha256).toBe(sent.sha256);
    // Acceptance (3): the SYN on the wire (node-1's underlay tap) and both ends' view of the MSS.
    expect(sent.synMss).toBe(1410);
    expect(received.info?.peerMss).toBe(1410);
    expect(sent.info?.mss).toBe(1410);
    // The loss was real and TCP repaired it.
    expect(sent.counters?.retransmissions).toBeGreaterThan(0);
    expect(sent.counters?.fastRetransmits).toBeGreaterThan(0);
    expect(nodes.n1.errors).toEqual([]);
    expect(nodes.n2.errors).toEqual([]);
  });
});
