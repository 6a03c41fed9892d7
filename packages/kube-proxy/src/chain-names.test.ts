import { describe, expect, it } from 'vitest';
import {
  base32,
  clusterPolicyChainName,
  endpointChainName,
  externalChainName,
  firewallChainName,
  isServiceChainName,
} from './chain-names.js';

describe('chain names', () => {
  it('base32 follows RFC 4648 §10 test vectors (padding omitted)', () => {
    const enc = (s: string) => base32(new TextEncoder().encode(s));
    expect(enc('')).toBe('');
    expect(enc('f')).toBe('MY');
    expect(enc('fo')).toBe('MZXQ');
    expect(enc('foo')).toBe('MZXW6');
    expect(enc('foob')).toBe('MZXW6YQ');
    expect(enc('fooba')).toBe('MZXW6YTB');
    expect(enc('foobar')).toBe('MZXW6YTBOI');
  });

  // Expected names from upstream pkg/proxy/iptables/proxier_test.go (TestOverallIPTablesRules).
  it('hashes service ports exactly as kube-proxy does', () => {
    expect(clusterPolicyChainName('ns1/svc1:p80', 'TCP')).toBe('KUBE-SVC-XPGD46QRK7WJZT7O');
    expect(clusterPolicyChainName('ns2/svc2:p80', 'tcp')).toBe('KUBE-SVC-GNZBNJ2PO5MGZ6GT');
    expect(externalChainName('ns2/svc2:p80', 'tcp')).toBe('KUBE-EXT-GNZBNJ2PO5MGZ6GT');
    expect(clusterPolicyChainName('ns3/svc3:p80', 'tcp')).toBe('KUBE-SVC-X27LE4BHSL4DOUIK');
    expect(clusterPolicyChainName('ns4/svc4:p80', 'tcp')).toBe('KUBE-SVC-4SW47YFZTEDKD3PK');
    expect(firewallChainName('ns5/svc5:p80', 'tcp')).toBe('KUBE-FW-NUKIZ6OKUXPJNT4C');
  });

  it('hashes endpoints exactly as kube-proxy does', () => {
    expect(endpointChainName('ns1/svc1:p80', 'tcp', '10.180.0.1:80')).toBe('KUBE-SEP-SXIVWICOYRO3J4NJ');
    expect(endpointChainName('ns2/svc2:p80', 'tcp', '10.180.0.2:80')).toBe('KUBE-SEP-RS4RBKLTHTF2IUXJ');
    expect(endpointChainName('ns3/svc3:p80', 'tcp', '10.180.0.3:80')).toBe('KUBE-SEP-OYPFS5VJICHGATKP');
    expect(endpointChainName('ns4/svc4:p80', 'tcp', '10.180.0.4:80')).toBe('KUBE-SEP-UKSFD7AGPMPPLUHC');
    expect(endpointChainName('ns4/svc4:p80', 'tcp', '10.180.0.5:80')).toBe('KUBE-SEP-C6EBXVWJJZMIWKLZ');
    expect(endpointChainName('ns5/svc5:p80', 'tcp', '10.180.0.3:80')).toBe('KUBE-SEP-I77PXRDZVX7PMWMN');
  });

  it('chain names fit the 28-character iptables limit and are recognised as service chains', () => {
    const name = endpointChainName('a-very-long-namespace-name/a-very-long-service-name:https', 'sctp', '10.244.255.254:65535');
    expect(name.length).toBeLessThanOrEqual(28);
    expect(isServiceChainName(name)).toBe(true);
    expect(isServiceChainName('KUBE-SERVICES')).toBe(false);
    expect(isServiceChainName('KUBE-MARK-MASQ')).toBe(false);
  });
});
