// Kubelet serving certificates signed by the cluster CA, so the API server can verify the
// node-agents it proxies `kubectl logs`/`exec` to (the real apiserver's
// --kubelet-certificate-authority). Kubernetes does this with the certificates.k8s.io CSR flow
// (kubelet --rotate-server-certificates: a `kubernetes.io/kubelet-serving` CSR, approved, then
// signed by kube-controller-manager). podnet keeps one synchronous step instead: the node-agent
// generates its key and a CSR at start and POSTs it, authenticated with its bearer token, to
//   POST /podnet/v1/kubelet-serving-certificate  {nodeName, address, csr}  →  {certificate, ca}
// The API server signs it for 825 days with serverAuth only and SANs DNS:<nodeName>, IP:<address>
// (the names the apiserver dials and checks), ignoring whatever names the CSR itself asks for,
// as the kubelet-serving signer only issues node names and addresses.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openssl } from './certs.js';
import { ApiError, badRequest } from './status.js';

export const KUBELET_CERT_PATH = '/podnet/v1/kubelet-serving-certificate';

/** Identities allowed to obtain a kubelet serving certificate. */
export const KUBELET_CERT_USERS = new Set(['node-agent', 'admin']);

const DNS1123 = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;

export interface KubeletCertRequest {
  nodeName: string;
  address: string;
  csr: string;
}

/** Checks the request body's shape; every failure names the field (400 BadRequest). */
export function parseKubeletCertRequest(body: unknown): KubeletCertRequest {
  const b = (body ?? {}) as Record<string, unknown>;
  const { nodeName, address, csr } = b;
  if (typeof nodeName !== 'string' || nodeName.length > 253 || !DNS1123.test(nodeName))
    throw badRequest(`${KUBELET_CERT_PATH}: "nodeName" must be a DNS-1123 subdomain (the Node's name), got ${JSON.stringify(nodeName)}`);
  if (typeof address !== 'string' || !IPV4.test(address))
    throw badRequest(`${KUBELET_CERT_PATH}: "address" must be the node's IPv4 transport address, got ${JSON.stringify(address)}`);
  if (typeof csr !== 'string' || !csr.includes('-----BEGIN CERTIFICATE REQUEST-----'))
    throw badRequest(`${KUBELET_CERT_PATH}: "csr" must be a PEM "CERTIFICATE REQUEST" (openssl req -new)`);
  return { nodeName, address, csr };
}

/** Signs the CSR with the cluster CA for the node's name and address; 400 when the CSR is invalid. */
export function signKubeletServingCert(caPem: string, caKeyPem: string, r: KubeletCertRequest): string {
  const dir = mkdtempSync(join(tmpdir(), 'podnet-kubelet-csr-'));
  try {
    writeFileSync(join(dir, 'ca.crt'), caPem);
    writeFileSync(join(dir, 'ca.key'), caKeyPem, { mode: 0o600 });
    writeFileSync(join(dir, 'node.csr'), r.csr);
    try {
      // -verify checks the CSR's self-signature: the requester holds the private key.
      openssl(['req', '-in', 'node.csr', '-noout', '-verify'], dir);
    } catch {
      throw badRequest(`${KUBELET_CERT_PATH}: the CSR is not a valid, self-signed PKCS#10 request`);
    }
    writeFileSync(
      join(dir, 'ext.cnf'),
      `basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:${r.nodeName},IP:${r.address}\n`,
    );
    openssl(
      [
        'x509',
        '-req',
        '-in',
        'node.csr',
        '-CA',
        'ca.crt',
        '-CAkey',
        'ca.key',
        '-CAcreateserial',
        '-out',
        'node.crt',
        '-days',
        '825',
        '-subj',
        `/O=system:nodes/CN=system:node:${r.nodeName}`,
        '-extfile',
        'ext.cnf',
      ],
      dir,
    );
    return readFileSync(join(dir, 'node.crt'), 'utf8');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** 503 when the cluster's data directory predates the kept CA key. */
export function noCaKey(): ApiError {
  return new ApiError(
    503,
    'ServiceUnavailable',
    'this API server has no cluster CA key (pki/ca.key), so it cannot sign kubelet serving certificates; recreate the cluster data directory',
  );
}
