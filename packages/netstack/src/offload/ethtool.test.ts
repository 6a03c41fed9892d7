// ethtool -k / -K over podnet's links: what is shown, what can change, and that a refused request
// changes nothing.
import { macFromIpv4, parseIpv4 } from '@podnet/wire';
import { describe, expect, it } from 'vitest';
import { VethLink } from '../links/veth.js';
import { VxlanLink } from '../links/vxlan.js';
import { ethtoolSet, ethtoolShow } from './ethtool.js';

const veth = () => VethLink.pair({ name: 'eth0', mac: 0x0a580af40102 }, { name: 'vethpod', mac: 0x0e0000000001 })[0];
const vxlan = () =>
  new VxlanLink({ mac: macFromIpv4(parseIpv4('10.244.1.0')), nodeIp: parseIpv4('172.18.0.2'), localAddress: '127.0.0.1' });

describe('ethtool', () => {
  it('-k: a veth carries super-frames (tso on) and has no batched receive (gro off [fixed]); flannel.1 the other way round', () => {
    expect(ethtoolShow(veth())).toBe(
      'Features for eth0:\ntcp-segmentation-offload: on\ngeneric-segmentation-offload: on [fixed]\ngeneric-receive-offload: off [fixed]\n',
    );
    expect(ethtoolShow(vxlan())).toBe(
      'Features for flannel.1:\ntcp-segmentation-offload: off [fixed]\ngeneric-segmentation-offload: on [fixed]\ngeneric-receive-offload: on\n',
    );
  });

  it('-K tso off on a veth: it no longer carries super-frames (TCP then sends MSS-sized segments on it)', () => {
    const link = veth();
    expect(ethtoolSet(link, ['tso', 'off'])).toBeUndefined();
    expect(link.carriesGso).toBe(false);
    expect(ethtoolShow(link)).toContain('tcp-segmentation-offload: off\n');
    expect(ethtoolSet(link, ['tcp-segmentation-offload', 'on'])).toBeUndefined();
    expect(link.carriesGso).toBe(true);
  });

  it('refuses a fixed feature, an unknown one, a value that is not on/off, or a lone word, and applies nothing of it', () => {
    const link = vxlan();
    expect(ethtoolSet(link, ['gro', 'off', 'tso', 'on'])).toEqual({
      error: 'Cannot change tcp-segmentation-offload\nCould not change any device features',
      exitCode: 1,
    });
    expect(link.gro).toBe(true);
    expect(ethtoolSet(link, ['gso', 'off'])?.error).toMatch(/^Cannot change generic-segmentation-offload/);
    expect(ethtoolSet(link, ['lro', 'off'])?.error).toMatch(/unknown feature "lro"/);
    expect(ethtoolSet(link, ['gro', 'maybe'])?.error).toMatch(/"maybe" is not on or off/);
    expect(ethtoolSet(link, ['gro'])?.error).toMatch(/FEATURE on\|off pairs/);
    // Asking for what a fixed feature already is, is fine (ethtool says nothing).
    expect(ethtoolSet(link, ['tso', 'off', 'gso', 'on', 'gro', 'off'])).toBeUndefined();
    expect(link.gro).toBe(false);
  });
});
