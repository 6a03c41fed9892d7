// The kubelet's serving certificate, signed by the cluster CA so the API server can verify it
// (the real apiserver's --kubelet-certificate-authority). As kubelet --rotate-server-certificates
// does through a certificates.k8s.io CSR, the node-agent keeps its private key to itself: it
// generates the key and a PKCS#10 CSR at start and sends only the CSR to the API server's
// `POST /podnet/v1/kubelet-serving-certificate` (authenticated with its bearer token; see
// packages/apiserver/src/kubelet-certs.ts), which signs it for DNS:<node>, IP:<address>.
// A certificate already on disk is reused while it still chains to the cluster CA, names the
// address and is valid for another day. Node 20 has no X.509 generation, so openssl does it.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Transport } from '@podnet/client';
import { NodeAgentError, NodeAgentErrorCodes } from './errors.js';

export const KUBELET_CERT_PATH = '/podnet/v1/kubelet-serving-certificate';

export interface ServingCert {
  certPem: string;
  keyPem: string;
  /** The cluster CA: verifies the API server's client certificate (kubelet --client-ca-file). */
  caPem: string;
}

function openssl(args: string[], cwd: string): string {
  try {
    return execFileSync('openssl', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  } catch (e) {
    const err = e as { code?: string; stderr?: string; stdout?: string };
    if (err.code === 'ENOENT')
      throw new NodeAgentError(NodeAgentErrorCodes.CERT, 'the openssl command is not installed (apt-get install openssl)');
    throw Object.assign(new Error(`openssl ${args[0]}: ${err.stderr || err.stdout || String(e)}`), { openssl: true });
  }
}

function stillGood(dir: string, address: string): boolean {
  if (!['kubelet.crt', 'kubelet.key', 'ca.crt'].every((f) => existsSync(join(dir, f)))) return false;
  try {
    openssl(['verify', '-CAfile', 'ca.crt', 'kubelet.crt'], dir);
    // Two calls: with -checkend, openssl 3.0 prints (and checks) nothing for -checkip.
    const ip = openssl(['x509', '-in', 'kubelet.crt', '-noout', '-checkip', address], dir);
    openssl(['x509', '-in', 'kubelet.crt', '-noout', '-checkend', '86400'], dir); // exits 1 when expiring
    return /does match/.test(ip);
  } catch {
    return false;
  }
}

/**
 * Loads DIR/kubelet.{crt,key} when still valid for the cluster CA and the address, else makes a
 * new key and CSR and has the API server sign it. Throws PODNET_ERR_NODE_CERT naming the cause.
 */
export async function obtainServingCert(dir: string, node: string, address: string, transport: Transport): Promise<ServingCert> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const caFromKubeconfig = transport.caPem;
  if (caFromKubeconfig) writeFileSync(join(dir, 'ca.crt'), caFromKubeconfig);
  if (caFromKubeconfig && stillGood(dir, address)) {
    return {
      certPem: readFileSync(join(dir, 'kubelet.crt'), 'utf8'),
      keyPem: readFileSync(join(dir, 'kubelet.key'), 'utf8'),
      caPem: caFromKubeconfig,
    };
  }
  openssl(
    [
      'req',
      '-new',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-subj',
      `/O=system:nodes/CN=system:node:${node}`,
      '-keyout',
      'kubelet.key',
      '-out',
      'kubelet.csr',
    ],
    dir,
  );
  const csr = readFileSync(join(dir, 'kubelet.csr'), 'utf8');
  let res: { status: number; body: Buffer };
  try {
    res = await transport.request({ method: 'POST', path: KUBELET_CERT_PATH, body: { nodeName: node, address, csr } });
  } catch (e) {
    // The client turns an answered refusal into a typed error carrying the HTTP status.
    const status = (e as { httpStatus?: number }).httpStatus;
    throw new NodeAgentError(
      NodeAgentErrorCodes.CERT,
      status
        ? `the API server refused to sign the kubelet serving certificate (HTTP ${status}: ${(e as Error).message})`
        : `cannot reach the API server to sign the kubelet serving certificate: ${(e as Error).message}`,
      { cause: e },
    );
  }
  let answer: { certificate?: string; ca?: string; message?: string };
  try {
    answer = JSON.parse(res.body.toString('utf8'));
  } catch {
    answer = {};
  }
  if (res.status !== 201 || !answer.certificate || !answer.ca)
    throw new NodeAgentError(
      NodeAgentErrorCodes.CERT,
      `the API server refused to sign the kubelet serving certificate (HTTP ${res.status}${answer.message ? `: ${answer.message}` : ''})`,
    );
  const caPem = caFromKubeconfig ?? answer.ca;
  writeFileSync(join(dir, 'kubelet.crt'), answer.certificate);
  writeFileSync(join(dir, 'ca.crt'), caPem);
  return { certPem: answer.certificate, keyPem: readFileSync(join(dir, 'kubelet.key'), 'utf8'), caPem };
}
