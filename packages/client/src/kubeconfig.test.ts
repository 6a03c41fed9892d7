import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { credentialsFromKubeconfig, loadKubeconfig } from './kubeconfig.js';

const pem = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
const doc = (cluster: Record<string, unknown>, user: Record<string, unknown> = { token: 'tok' }) => ({
  'current-context': 'podnet',
  clusters: [{ name: 'podnet', cluster: { server: 'https://127.0.0.1:6443/', ...cluster } }],
  users: [{ name: 'admin', user }],
  contexts: [{ name: 'podnet', context: { cluster: 'podnet', user: 'admin' } }],
});

describe('kubeconfig', () => {
  it('reads server, CA data and token of the current context from a YAML file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'podnet-kc-'));
    const path = join(dir, 'kubeconfig');
    writeFileSync(
      path,
      `apiVersion: v1\nkind: Config\ncurrent-context: podnet\nclusters:\n- name: podnet\n  cluster:\n    server: https://127.0.0.1:6443\n    certificate-authority: ca.crt\nusers:\n- name: admin\n  user:\n    token: abc\ncontexts:\n- name: podnet\n  context: {cluster: podnet, user: admin}\n`,
    );
    writeFileSync(join(dir, 'ca.crt'), pem);
    expect(loadKubeconfig(path)).toEqual({ server: 'https://127.0.0.1:6443', caPem: pem, token: 'abc' });
  });
  it('decodes certificate-authority-data', () => {
    const c = credentialsFromKubeconfig(doc({ 'certificate-authority-data': Buffer.from(pem).toString('base64') }));
    expect(c.caPem).toBe(pem);
    expect(c.server).toBe('https://127.0.0.1:6443');
  });
  it('refuses insecure-skip-tls-verify, a missing CA, a missing token, an unknown context', () => {
    const ca = { 'certificate-authority-data': Buffer.from(pem).toString('base64') };
    expect(() => credentialsFromKubeconfig(doc({ ...ca, 'insecure-skip-tls-verify': true }))).toThrow(/insecure-skip-tls-verify/);
    expect(() => credentialsFromKubeconfig(doc({}))).toThrow(/neither certificate-authority-data nor certificate-authority/);
    expect(() => credentialsFromKubeconfig(doc(ca, {}))).toThrow(/has no token/);
    expect(() => credentialsFromKubeconfig(doc(ca), '<inline>', 'other')).toThrow(/no context named "other"/);
    expect(() => loadKubeconfig('/nonexistent/kubeconfig')).toThrow(/PODNET_ERR_KUBECONFIG|cannot be read/);
  });
});
