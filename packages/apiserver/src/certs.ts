// Cluster credentials, created with the cluster: a cluster CA (ECDSA P-256, self-signed,
// CA:TRUE), a serving certificate for 127.0.0.1/localhost (and any extra names) signed by it,
// bearer tokens for the admin and each component, and an admin kubeconfig. kubectl verifies the
// server against `certificate-authority-data` and never skips TLS verification (notes §0).
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { ApiServerError, ApiServerErrorCodes } from './errors.js';

// The `openssl` command makes the keys and certificates (Node 20 has no X.509 generation;
// DESIGN §8).

/** Identities with a token; `viewer` may only read (get, list, watch). */
export const COMPONENT_USERS = ['admin', 'controller-manager', 'scheduler', 'node-agent', 'kube-proxy', 'cni-agent', 'viewer'] as const;

export interface Credentials {
  caPem: string;
  /** The CA's key: signs the node-agents' serving certificates (kubelet-certs.ts). */
  caKeyPem?: string;
  certPem: string;
  keyPem: string;
  /**
   * The client certificate the API server presents to kubelets (kubeadm's
   * `apiserver-kubelet-client`: CN=apiserver-kubelet-client, O=kubeadm:cluster-admins, clientAuth),
   * as the real apiserver's --kubelet-client-certificate/--kubelet-client-key.
   */
  kubeletClient?: { certPem: string; keyPem: string };
  /** user → bearer token */
  tokens: Record<string, string>;
}

export function openssl(args: string[], cwd: string): void {
  try {
    execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (e) {
    const err = e as { code?: string; stderr?: Buffer };
    const why = err.code === 'ENOENT' ? 'the openssl command is not installed (apt-get install openssl)' : String(err.stderr ?? e);
    throw new ApiServerError(ApiServerErrorCodes.CREDENTIALS, `cannot create the cluster credentials: ${why}`);
  }
}

export async function createCredentials(extraSans: string[] = []): Promise<Credentials> {
  const dir = mkdtempSync(join(tmpdir(), 'podnet-pki-'));
  try {
    const isIp = (s: string) => /^[0-9.]+$/.test(s);
    const sans = [
      'DNS:localhost',
      'DNS:kubernetes',
      'DNS:kubernetes.default',
      'DNS:kubernetes.default.svc',
      'IP:127.0.0.1',
      ...extraSans.map((s) => (isIp(s) ? `IP:${s}` : `DNS:${s}`)),
    ];
    const curve = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
    // The CA: self-signed, CA:TRUE, may sign certificates (RFC 5280 §4.2.1.9, §4.2.1.3).
    openssl(
      [
        'req',
        '-x509',
        ...curve,
        '-keyout',
        'ca.key',
        '-out',
        'ca.crt',
        '-days',
        '3650',
        '-subj',
        '/CN=podnet-ca',
        '-addext',
        'basicConstraints=critical,CA:TRUE,pathlen:0',
        '-addext',
        'keyUsage=critical,keyCertSign,cRLSign,digitalSignature',
      ],
      dir,
    );
    openssl(['req', ...curve, '-keyout', 'apiserver.key', '-out', 'apiserver.csr', '-subj', '/CN=podnet-apiserver'], dir);
    writeFileSync(
      join(dir, 'ext.cnf'),
      `basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=${sans.join(',')}\n`,
    );
    openssl(
      [
        'x509',
        '-req',
        '-in',
        'apiserver.csr',
        '-CA',
        'ca.crt',
        '-CAkey',
        'ca.key',
        '-CAcreateserial',
        '-out',
        'apiserver.crt',
        '-days',
        '3650',
        '-extfile',
        'ext.cnf',
      ],
      dir,
    );
    const kubeletClient = makeKubeletClientCert(dir);
    const tokens: Record<string, string> = {};
    for (const u of COMPONENT_USERS) tokens[u] = randomBytes(24).toString('base64url');
    return {
      caPem: readFileSync(join(dir, 'ca.crt'), 'utf8'),
      caKeyPem: readFileSync(join(dir, 'ca.key'), 'utf8'),
      kubeletClient,
      certPem: readFileSync(join(dir, 'apiserver.crt'), 'utf8'),
      keyPem: readFileSync(join(dir, 'apiserver.key'), 'utf8'),
      tokens,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** In `dir` holding ca.crt and ca.key: the apiserver-kubelet-client certificate, signed by the CA. */
function makeKubeletClientCert(dir: string): { certPem: string; keyPem: string } {
  const curve = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  openssl(
    [
      'req',
      ...curve,
      '-keyout',
      'kubelet-client.key',
      '-out',
      'kubelet-client.csr',
      '-subj',
      `/O=kubeadm:cluster-admins/CN=${KUBELET_CLIENT_CN}`,
    ],
    dir,
  );
  writeFileSync(
    join(dir, 'kubelet-client.cnf'),
    'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n',
  );
  openssl(
    [
      'x509',
      '-req',
      '-in',
      'kubelet-client.csr',
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      'kubelet-client.crt',
      '-days',
      '3650',
      '-extfile',
      'kubelet-client.cnf',
    ],
    dir,
  );
  return { certPem: readFileSync(join(dir, 'kubelet-client.crt'), 'utf8'), keyPem: readFileSync(join(dir, 'kubelet-client.key'), 'utf8') };
}

/** The subject CN of the API server's client certificate towards kubelets (kubeadm's name). */
export const KUBELET_CLIENT_CN = 'apiserver-kubelet-client';

const FILES = {
  ca: 'pki/ca.crt',
  caKey: 'pki/ca.key',
  cert: 'pki/apiserver.crt',
  key: 'pki/apiserver.key',
  kubeletClientCert: 'pki/apiserver-kubelet-client.crt',
  kubeletClientKey: 'pki/apiserver-kubelet-client.key',
  tokens: 'pki/tokens.json',
};

/** Loads the credentials in `dataDir`, creating them on first use. */
export async function loadOrCreateCredentials(dataDir: string, extraSans: string[] = []): Promise<Credentials> {
  const p = (f: string) => join(dataDir, f);
  if (existsSync(p(FILES.tokens))) {
    try {
      const optional = (f: string) => (existsSync(p(f)) ? readFileSync(p(f), 'utf8') : undefined);
      // A data directory made before the CA key was kept has neither: the kubelet proxy then
      // says so (server.ts) instead of failing the start.
      const caKeyPem = optional(FILES.caKey);
      const kcCert = optional(FILES.kubeletClientCert);
      const kcKey = optional(FILES.kubeletClientKey);
      return {
        caPem: readFileSync(p(FILES.ca), 'utf8'),
        caKeyPem,
        certPem: readFileSync(p(FILES.cert), 'utf8'),
        keyPem: readFileSync(p(FILES.key), 'utf8'),
        kubeletClient: kcCert && kcKey ? { certPem: kcCert, keyPem: kcKey } : undefined,
        tokens: JSON.parse(readFileSync(p(FILES.tokens), 'utf8')) as Record<string, string>,
      };
    } catch (e) {
      throw new ApiServerError(
        ApiServerErrorCodes.CREDENTIALS,
        `cannot read the cluster credentials in ${join(dataDir, 'pki')} (${(e as Error).message}); restore them or start with a fresh data directory.`,
      );
    }
  }
  const c = await createCredentials(extraSans);
  mkdirSync(p('pki'), { recursive: true, mode: 0o700 });
  writeFileSync(p(FILES.ca), c.caPem);
  writeFileSync(p(FILES.cert), c.certPem);
  writeFileSync(p(FILES.key), c.keyPem, { mode: 0o600 });
  if (c.caKeyPem) writeFileSync(p(FILES.caKey), c.caKeyPem, { mode: 0o600 });
  if (c.kubeletClient) {
    writeFileSync(p(FILES.kubeletClientCert), c.kubeletClient.certPem);
    writeFileSync(p(FILES.kubeletClientKey), c.kubeletClient.keyPem, { mode: 0o600 });
  }
  writeFileSync(p(FILES.tokens), `${JSON.stringify(c.tokens, null, 2)}\n`, { mode: 0o600 });
  chmodSync(p(FILES.key), 0o600);
  return c;
}

/** A kubeconfig (clusters/users/contexts) for `user`, naming the server by URL. */
export function kubeconfigYaml(url: string, caPem: string, token: string, user = 'admin', cluster = 'podnet'): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: cluster, cluster: { server: url, 'certificate-authority-data': Buffer.from(caPem).toString('base64') } }],
    users: [{ name: `${cluster}-${user}`, user: { token } }],
    contexts: [{ name: cluster, context: { cluster, user: `${cluster}-${user}`, namespace: 'default' } }],
    'current-context': cluster,
  });
}
