// Reading a kubeconfig file (the format of client-go tools/clientcmd/api/v1 types.go): the
// current context names a cluster (server URL + CA) and a user (bearer token). podnet always
// talks HTTPS with the cluster CA and never skips verification (shared/notes §0), so a
// kubeconfig asking for `insecure-skip-tls-verify` is refused with a clear error.
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parse } from 'yaml';
import { ClientError, ClientErrorCodes } from './errors.js';

export interface Credentials {
  /** https://127.0.0.1:6443 */
  server: string;
  /** PEM of the cluster CA that signed the server's certificate. */
  caPem: string;
  token: string;
}

interface NamedCluster {
  name?: string;
  cluster?: {
    server?: string;
    'certificate-authority-data'?: string;
    'certificate-authority'?: string;
    'insecure-skip-tls-verify'?: boolean;
  };
}
interface NamedUser {
  name?: string;
  user?: { token?: string; tokenFile?: string };
}
interface NamedContext {
  name?: string;
  context?: { cluster?: string; user?: string };
}
interface KubeconfigFile {
  'current-context'?: string;
  clusters?: NamedCluster[];
  users?: NamedUser[];
  contexts?: NamedContext[];
}

function fail(where: string, what: string): never {
  throw new ClientError(ClientErrorCodes.KUBECONFIG, `kubeconfig ${where}: ${what}`);
}

/** Loads credentials from a kubeconfig file, using `context` or the file's current-context. */
export function loadKubeconfig(path: string, context?: string): Credentials {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    fail(path, `cannot be read (${(err as Error).message}); pass the file podnet wrote when it created the cluster`);
  }
  let doc: KubeconfigFile;
  try {
    doc = (parse(text) ?? {}) as KubeconfigFile;
  } catch (err) {
    fail(path, `is not valid YAML: ${(err as Error).message}`);
  }
  return credentialsFromKubeconfig(doc, path, context);
}

/** The same, for a kubeconfig already parsed (an object shaped like the YAML file). */
export function credentialsFromKubeconfig(doc: KubeconfigFile, path = '<inline>', context?: string): Credentials {
  const ctxName = context ?? doc['current-context'];
  if (!ctxName) fail(path, 'has no current-context and none was given');
  const ctx = doc.contexts?.find((c) => c.name === ctxName)?.context;
  if (!ctx) fail(path, `has no context named "${ctxName}"`);
  const cluster = doc.clusters?.find((c) => c.name === ctx.cluster)?.cluster;
  if (!cluster) fail(path, `context "${ctxName}" names cluster "${ctx.cluster}", which is not in clusters[]`);
  if (!cluster.server) fail(path, `cluster "${ctx.cluster}" has no server`);
  if (cluster['insecure-skip-tls-verify']) {
    fail(
      path,
      `cluster "${ctx.cluster}" sets insecure-skip-tls-verify; podnet verifies the server with the cluster CA: remove it and set certificate-authority-data`,
    );
  }
  let caPem: string;
  if (cluster['certificate-authority-data']) {
    caPem = Buffer.from(cluster['certificate-authority-data'], 'base64').toString('utf8');
  } else if (cluster['certificate-authority']) {
    const caPath = resolveFrom(path, cluster['certificate-authority']);
    try {
      caPem = readFileSync(caPath, 'utf8');
    } catch (err) {
      fail(path, `certificate-authority ${caPath} cannot be read (${(err as Error).message})`);
    }
  } else {
    fail(path, `cluster "${ctx.cluster}" has neither certificate-authority-data nor certificate-authority`);
  }
  if (!caPem.includes('BEGIN CERTIFICATE')) fail(path, `the CA of cluster "${ctx.cluster}" is not a PEM certificate`);
  const user = doc.users?.find((u) => u.name === ctx.user)?.user;
  if (!user) fail(path, `context "${ctxName}" names user "${ctx.user}", which is not in users[]`);
  let token = user.token;
  if (!token && user.tokenFile) {
    try {
      token = readFileSync(resolveFrom(path, user.tokenFile), 'utf8').trim();
    } catch (err) {
      fail(path, `tokenFile ${user.tokenFile} cannot be read (${(err as Error).message})`);
    }
  }
  if (!token) fail(path, `user "${ctx.user}" has no token (podnet authenticates with bearer tokens)`);
  return { server: cluster.server.replace(/\/+$/, ''), caPem, token };
}

function resolveFrom(kubeconfigPath: string, p: string): string {
  // clientcmd resolves relative paths against the kubeconfig's directory (loader.go ResolvePaths).
  return isAbsolute(p) || kubeconfigPath === '<inline>' ? p : resolve(dirname(kubeconfigPath), p);
}
