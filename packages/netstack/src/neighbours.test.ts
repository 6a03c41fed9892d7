import { type Ipv4Address, type MacAddress, parseIpv4, SeededRng } from '@podnet/wire';
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../wire/src/testing/fake-clock.js';
import { type NeighbourHost, NeighbourTable } from './neighbours.js';

class Host implements NeighbourHost {
  readonly clock = new FakeClock();
  readonly rng = new SeededRng(7);
  requests: Array<{ target: Ipv4Address; to?: MacAddress }> = [];
  sent: Array<{ frame: Buffer; mac: MacAddress }> = [];
  failed: Buffer[] = [];
  overflow = 0;
  sendArpRequest(_dev: string, target: Ipv4Address, to?: MacAddress): void {
    this.requests.push(to === undefined ? { target } : { target, to });
  }
  transmitResolved(_dev: string, frame: Buffer, mac: MacAddress): void {
    this.sent.push({ frame, mac });
  }
  resolutionFailed(_dev: string, _ip: Ipv4Address, frames: Buffer[]): void {
    this.failed.push(...frames);
  }
  queueOverflow(): void {
    this.overflow++;
  }
}

const IP = parseIpv4('10.244.1.3');
const MAC = 0x0a580af40103;

describe('neighbour cache', () => {
  it('a permanent entry answered from the last-lookup shortcut follows replace, delete and a change of state', () => {
    const h = new Host();
    const t = new NeighbourTable(h);
    t.add('flannel.1', IP, MAC);
    expect(t.resolve('flannel.1', IP, Buffer.from('a'))).toBe(MAC);
    expect(t.resolve('flannel.1', IP, Buffer.from('b'))).toBe(MAC);
    // Another device with the same IP is another entry (none here): resolution starts.
    expect(t.resolve('eth0', IP, Buffer.from('c'))).toBeUndefined();
    expect(h.requests).toEqual([{ target: IP }]);
    // `ip neigh replace` with a new MAC is seen at once.
    t.add('flannel.1', IP, MAC + 1);
    expect(t.resolve('flannel.1', IP, Buffer.from('d'))).toBe(MAC + 1);
    // Deleted: the next frame starts resolution instead of using the remembered entry.
    expect(t.delete('flannel.1', IP)).toBe(true);
    expect(t.resolve('flannel.1', IP, Buffer.from('e'))).toBeUndefined();
    expect(h.requests).toHaveLength(2);
    // Re-added as reachable (not permanent): it ages like any other entry.
    t.add('flannel.1', IP, MAC, { permanent: false });
    expect(t.resolve('flannel.1', IP, Buffer.from('f'))).toBe(MAC);
    h.clock.advance(60_000);
    expect(t.resolve('flannel.1', IP, Buffer.from('g'))).toBe(MAC);
    expect(t.get('flannel.1', IP)?.state).toBe('stale');
    t.close();
    expect(t.resolve('flannel.1', IP, Buffer.from('h'))).toBeUndefined();
  });

  it('queues while resolving and sends the queue when the reply comes', () => {
    const h = new Host();
    const t = new NeighbourTable(h);
    expect(t.resolve('eth0', IP, Buffer.from('one'))).toBeUndefined();
    expect(t.resolve('eth0', IP, Buffer.from('two'))).toBeUndefined();
    expect(h.requests).toEqual([{ target: IP }]);
    expect(t.get('eth0', IP)?.state).toBe('incomplete');
    t.learn('eth0', IP, MAC, 'reply');
    expect(h.sent.map((s) => [s.frame.toString(), s.mac])).toEqual([
      ['one', MAC],
      ['two', MAC],
    ]);
    expect(t.get('eth0', IP)).toEqual({ dev: 'eth0', ip: IP, mac: MAC, state: 'reachable' });
    expect(t.resolve('eth0', IP, Buffer.from('three'))).toBe(MAC);
  });

  it('ages reachable to stale on the clock; in use and unconfirmed for 5 s, it is re-probed by unicast', () => {
    const h = new Host();
    const t = new NeighbourTable(h, { baseReachableMs: 30_000 });
    t.resolve('eth0', IP, Buffer.from('x'));
    t.learn('eth0', IP, MAC, 'reply');
    h.clock.advance(14_000); // below 0.5 × 30 s: still reachable whatever the random factor
    expect(t.get('eth0', IP)?.state).toBe('reachable');
    h.clock.advance(31_000); // beyond 1.5 × 30 s: stale for sure
    expect(t.get('eth0', IP)?.state).toBe('stale');
    expect(t.resolve('eth0', IP, Buffer.from('y'))).toBe(MAC); // a stale entry is still used (DELAY)
    expect(h.requests).toHaveLength(1);
    h.clock.advance(5000); // delay_first_probe_time without confirmation: a unicast probe
    expect(t.resolve('eth0', IP, Buffer.from('z'))).toBe(MAC);
    expect(h.requests.at(-1)).toEqual({ target: IP, to: MAC });
    t.learn('eth0', IP, MAC, 'reply');
    expect(t.get('eth0', IP)?.state).toBe('reachable');
  });

  it('fails after 3 requests one second apart and reports every waiting packet', () => {
    const h = new Host();
    const t = new NeighbourTable(h);
    t.resolve('eth0', IP, Buffer.from('a'));
    t.resolve('eth0', IP, Buffer.from('b'));
    h.clock.advance(999);
    expect(h.requests).toHaveLength(1);
    h.clock.advance(1);
    expect(h.requests).toHaveLength(2);
    h.clock.advance(1000);
    expect(h.requests).toHaveLength(3);
    expect(h.failed).toHaveLength(0);
    h.clock.advance(1000);
    expect(h.failed.map((f) => f.toString())).toEqual(['a', 'b']);
    expect(t.get('eth0', IP)).toBeUndefined();
    expect(h.clock.pendingTimers).toBe(0);
  });

  it('forgets a stale entry after 3 unanswered unicast probes', () => {
    const h = new Host();
    const t = new NeighbourTable(h);
    t.learn('eth0', IP, MAC, 'request');
    t.resolve('eth0', IP, Buffer.from('a'));
    for (let i = 0; i < 3; i++) {
      h.clock.advance(5000);
      t.resolve('eth0', IP, Buffer.from('b'));
    }
    expect(h.requests.filter((r) => r.to === MAC)).toHaveLength(3);
    h.clock.advance(5000);
    expect(t.resolve('eth0', IP, Buffer.from('c'))).toBe(MAC);
    expect(t.get('eth0', IP)).toBeUndefined();
  });

  it('bounds the queue (unres_qlen), dropping the oldest', () => {
    const h = new Host();
    const t = new NeighbourTable(h, { queueLimit: 2 });
    for (const s of ['1', '2', '3']) t.resolve('eth0', IP, Buffer.from(s));
    expect(h.overflow).toBe(1);
    t.learn('eth0', IP, MAC, 'reply');
    expect(h.sent.map((s) => s.frame.toString())).toEqual(['2', '3']);
  });

  it('permanent entries never age and are not changed by ARP', () => {
    const h = new Host();
    const t = new NeighbourTable(h);
    t.add('flannel.1', IP, MAC, { permanent: true });
    h.clock.advance(3_600_000);
    t.learn('flannel.1', IP, 0x020000000001, 'reply');
    expect(t.get('flannel.1', IP)).toEqual({ dev: 'flannel.1', ip: IP, mac: MAC, state: 'permanent' });
    expect(t.show()).toEqual(['10.244.1.3 dev flannel.1 lladdr 0a:58:0a:f4:01:03 PERMANENT']);
  });

  it('learns from requests (stale), ignores unsolicited replies for unknown neighbours', () => {
    const h = new Host();
    const t = new NeighbourTable(h);
    t.learn('eth0', IP, MAC, 'reply');
    expect(t.get('eth0', IP)).toBeUndefined();
    t.learn('eth0', IP, MAC, 'request');
    expect(t.get('eth0', IP)?.state).toBe('stale');
  });
});
