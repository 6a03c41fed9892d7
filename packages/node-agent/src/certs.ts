// The kubelet's serving certificate: self-signed, as the kubelet makes one when it has no
// --tls-cert-file (pkg/kubelet/certificate: "self-signed cert for hostname"). The API server's
// proxy does not verify it (packages/apiserver: as the real apiserver without
// --kubelet-certificate-authority). Node 20 has no X.509 generation, so openssl makes it.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export function loadOrCreateServingCert(dir: string, node: string, address: string): { certPem: string; keyPem: string } {
  mkdirSync(dir, { recursive: true });
  const cert = join(dir, 'kubelet.crt');
  const key = join(dir, 'kubelet.key');
  if (!existsSync(cert) || !existsSync(key)) {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '3650',
        '-subj',
        `/CN=${node}@podnet`,
        '-addext',
        `subjectAltName=DNS:${node},IP:${address}`,
        '-keyout',
        key,
        '-out',
        cert,
      ],
      { stdio: 'ignore' },
    );
  }
  return { certPem: readFileSync(cert, 'utf8'), keyPem: readFileSync(key, 'utf8') };
}
