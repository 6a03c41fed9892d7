// The bridge's FDB: learning from source MACs, forwarding to the learned port, flooding unknown
// and broadcast destinations, ageing on the clock (br_fdb.c), static entries.
import { type MacAddress, packetPool, parseMac } from '@podnet/wire';
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../../wire/src/testing/fake-clock.js';
import { settle } from '../testing/wait.js';
import { BridgeLink } from './bridge.js';
import { Fdb } from './fdb.js';
import { VethLink } from './veth.js';

function frame(dst: MacAddress, src: MacAddress, tag: string): Buffer {
  const f = packetPool.alloc(14 + tag.length);
  f.writeUIntBE(dst, 0, 6);
  f.writeUIntBE(src, 6, 6);
  f.writeUInt16BE(0x88b5, 12); // IEEE local experimental EtherType: not IPv4, so no br_netfilter
  f.write(tag, 14);
  return f;
}

function setup() {
  const clock = new FakeClock();
  const bridge = new BridgeLink({ mac: parseMac('0a:58:0a:f4:01:01'), clock });
  const stations: Array<{ mac: MacAddress; end: VethLink; got: string[] }> = [];
  for (let i = 1; i <= 3; i++) {
    const mac = 0x020000000000 + i;
    const [end, port] = VethLink.pair({ name: `eth${i}`, mac }, { name: `veth${i}`, mac: 0x0e0000000000 + i });
    const got: string[] = [];
    end.setReceiver((f) => got.push(f.subarray(14).toString()));
    bridge.addPort(port);
    stations.push({ mac, end, got });
  }
  const local: string[] = [];
  bridge.setReceiver((f, _l, physIn) => local.push(`${f.subarray(14).toString()}@${physIn}`));
  return { clock, bridge, stations, local };
}

describe('bridge', () => {
  it('floods unknown unicast, learns the source, then forwards to one port', async () => {
    const { bridge, stations, clock } = setup();
    const [s1, s2, s3] = stations as [(typeof stations)[0], (typeof stations)[0], (typeof stations)[0]];
    s1.end.transmit(frame(s2.mac, s1.mac, 'hello'));
    await settle();
    expect(s2.got).toEqual(['hello']);
    expect(s3.got).toEqual(['hello']); // flooded: s2 was not known yet
    expect(bridge.fdb.describe(clock.now(), (p) => p.name)).toEqual(['02:00:00:00:00:01 dev veth1']);
    s2.end.transmit(frame(s1.mac, s2.mac, 'reply'));
    await settle();
    expect(s1.got).toEqual(['reply']);
    expect(s3.got).toEqual(['hello']); // not flooded: s1 was learned
  });

  it('floods broadcasts to every other port and to its own stack', async () => {
    const { stations, local } = setup();
    const [s1, s2, s3] = stations as [(typeof stations)[0], (typeof stations)[0], (typeof stations)[0]];
    s1.end.transmit(frame(0xffffffffffff, s1.mac, 'who-has'));
    await settle();
    expect([s1.got, s2.got, s3.got]).toEqual([[], ['who-has'], ['who-has']]);
    expect(local).toEqual(['who-has@veth1']);
  });

  it('ages learned entries after ageing_time; static entries stay', async () => {
    const { bridge, stations, clock } = setup();
    const [s1, s2] = stations as [(typeof stations)[0], (typeof stations)[0]];
    s1.end.transmit(frame(s2.mac, s1.mac, 'x'));
    await settle();
    const port3 = bridge.ports[2];
    if (port3 === undefined) throw new Error('no port 3');
    bridge.fdb.addStatic(0x0200000000aa, port3, clock.now());
    clock.advance(300_000);
    expect(bridge.fdb.lookup(s1.mac, clock.now())?.name).toBe('veth1');
    clock.advance(1);
    expect(bridge.fdb.lookup(s1.mac, clock.now())).toBeUndefined();
    expect(bridge.fdb.lookup(0x0200000000aa, clock.now())?.name).toBe('veth3');
  });

  it('drops frames with a multicast source and frames back to their own port', async () => {
    const { bridge, stations } = setup();
    const [s1] = stations as [(typeof stations)[0]];
    s1.end.transmit(frame(0x020000000002, 0x010000000001, 'bad'));
    await settle();
    expect(bridge.counters.dropped('bad-source-mac')).toBe(1);
    s1.end.transmit(frame(0x020000000009, s1.mac, 'learn'));
    await settle();
    s1.end.transmit(frame(s1.mac, 0x020000000009, 'hairpin'));
    await settle();
    expect(bridge.counters.dropped('same-port')).toBe(1);
  });
});

describe('fdb', () => {
  it('a learned entry moves with the station; static wins', () => {
    const fdb = new Fdb<string>(1000);
    fdb.learn(1, 'a', 0);
    fdb.learn(1, 'b', 10);
    expect(fdb.lookup(1, 10)).toBe('b');
    fdb.addStatic(2, 'c', 0);
    fdb.learn(2, 'a', 20);
    expect(fdb.lookup(2, 5000)).toBe('c');
    fdb.flushPort('b');
    expect(fdb.lookup(1, 10)).toBeUndefined();
  });
});
