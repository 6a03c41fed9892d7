// The podnet image's entrypoint (deploy/Dockerfile): runs one component per container, chosen by
// the first argument, configured from the environment docker-compose.yml sets.
//   control-plane  API server + controllers on the container address, port 6443. First makes the cluster credentials in
//                  /state/control-plane (serving certificate valid for the container's address and
//                  name) and writes the kubeconfigs every other container and the host use.
//                  Also writes Prometheus's credentials into /state/prometheus (see below).
//   node           a node-agent (supervising its cni-agent and kube-proxy), transport address and
//                  node IP both the container's compose address (DESIGN §4).
//   healthcheck    exit 0 when this container's API server answers /readyz over TLS verified with
//                  the cluster CA for the container address (docker-compose.yml's healthcheck).
//   help           this text.
// Components run in this process (argv set, main module imported), so PID 1 is the component and
// `docker compose kill node-2` kills the whole node at once, as a power cut would.
import { chownSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';

const ROOT = '/podnet';
const STATE = process.env.PODNET_STATE ?? '/state';
const env = (name, fallback) => {
  const v = process.env[name] ?? fallback;
  if (v === undefined || v === '') fail(`environment variable ${name} is not set (docker-compose.yml sets it)`);
  return v;
};
function fail(message) {
  process.stderr.write(`PODNET_ERR_ENTRYPOINT: ${message}\n`);
  process.exit(2);
}
async function run(main, args) {
  process.argv = [process.execPath, main, ...args];
  await import(main);
}

const [command = 'help', ...rest] = process.argv.slice(2);

if (command === 'control-plane') {
  const address = env('PODNET_ADDRESS');
  const cluster = env('PODNET_CLUSTER', 'podnet');
  const dataDir = `${STATE}/control-plane`;
  mkdirSync(dataDir, { recursive: true });
  const { loadOrCreateCredentials, kubeconfigYaml } = await import('@podnet/apiserver');
  const creds = await loadOrCreateCredentials(dataDir, ['control-plane', address]);
  const write = (file, url, user) => {
    const token = creds.tokens[user];
    if (!token) fail(`the credentials in ${dataDir}/pki have no token for "${user}"`);
    writeFileSync(`${STATE}/${file}.tmp`, kubeconfigYaml(url, creds.caPem, token, user, cluster), { mode: 0o600 });
  };
  const inside = `https://${address}:6443`;
  const files = [
    ['kubeconfig-node-agent', inside, 'node-agent'],
    ['kubeconfig-kube-proxy', inside, 'kube-proxy'],
    // The host reaches the API server through the port published on 127.0.0.1.
    ['kubeconfig', `https://127.0.0.1:${env('PODNET_API_PORT', '6443')}`, 'admin'],
  ];
  for (const [file, url, user] of files) write(file, url, user);
  // Renamed into place only when complete: nodes wait for the file to exist.
  for (const [file] of files) renameSync(`${STATE}/${file}.tmp`, `${STATE}/${file}`);
  writePrometheusSecrets(creds);
  const main = `${ROOT}/packages/controllers/dist/control-plane-main.js`;
  // The live page (port 8080) must listen on the container address for the published port to
  // reach it; only a control plane that has the live page knows the flag.
  const live = readFileSync(main, 'utf8').includes("'live-page-host'") ? ['--live-page-host', address, '--live-page-port', '8080'] : [];
  // The node lifecycle controller's timings, when compose sets them (defaults: the control plane's).
  const lifecycle = [
    ['PODNET_NODE_MONITOR_GRACE_PERIOD_MS', '--node-monitor-grace-period-ms'],
    ['PODNET_POD_EVICTION_TIMEOUT_MS', '--pod-eviction-timeout-ms'],
  ].flatMap(([name, flag]) => (process.env[name] ? [flag, process.env[name]] : []));
  await run(main, [
    ...live,
    ...lifecycle,
    '--data-dir',
    dataDir,
    // On the container's address, not 0.0.0.0: the controllers in this process reach the API
    // server at https://HOST:6443, which the serving certificate must name; the published port
    // reaches it there too.
    '--host',
    address,
    '--port',
    '6443',
    ...rest,
  ]);
} else if (command === 'node') {
  const node = env('PODNET_NODE');
  const address = env('PODNET_ADDRESS');
  const backend = env('PODNET_BACKEND', 'vxlan');
  const kubeconfig = `${STATE}/kubeconfig-node-agent`;
  const proxyKubeconfig = `${STATE}/kubeconfig-kube-proxy`;
  // The control plane writes the kubeconfigs at its start; depends_on orders the starts only.
  const deadline = Date.now() + Number(env('PODNET_WAIT_KUBECONFIG_MS', '120000'));
  while (!existsSync(kubeconfig) || !existsSync(proxyKubeconfig)) {
    if (Date.now() > deadline) fail(`${kubeconfig} did not appear: is the control-plane container running?`);
    await sleep(200);
  }
  const dataDir = '/var/lib/podnet/node';
  mkdirSync(dataDir, { recursive: true });
  const controlSocket = `${dataDir}/cni-agent.sock`;
  const kubeProxy = [
    process.execPath,
    `${ROOT}/packages/kube-proxy/dist/main.js`,
    '--node',
    node,
    '--kubeconfig',
    proxyKubeconfig,
    '--control-socket',
    controlSocket,
    '--metrics-address',
    `${address}:10249`,
    '--node-ip',
    address,
    '--min-sync-period',
    '10ms',
  ].join(' ');
  // The cni-agent refuses non-loopback transport addresses unless told (its real sockets here
  // talk to the other containers on the compose network).
  process.env.PODNET_ALLOW_NON_LOOPBACK = '1';
  await run(`${ROOT}/packages/node-agent/dist/main.js`, [
    '--node',
    node,
    '--kubeconfig',
    kubeconfig,
    '--transport-address',
    address,
    '--node-ip',
    address,
    '--data-dir',
    dataDir,
    '--backend',
    backend,
    '--control-socket',
    controlSocket,
    '--lease-interval-ms',
    env('PODNET_LEASE_INTERVAL_MS', '2000'),
    '--kube-proxy-command',
    kubeProxy,
    ...rest,
  ]);
} else if (command === 'healthcheck') {
  process.exit((await apiServerReady()) ? 0 : 1);
} else if (command === 'help' || command === '--help') {
  process.stdout.write('usage: podnet image: control-plane [FLAGS] | node [FLAGS] | help (see deploy/docker-compose.yml)\n');
} else {
  fail(`unknown component "${command}": use control-plane, node or help`);
}

/**
 * Prometheus's credentials (deploy/prometheus/prometheus.yml; the names are PROMETHEUS_SECRET_FILES
 * in packages/cli/src/compose/prometheus.ts): the read-only `viewer` token, for the API server's
 * /metrics and the kubelet API's /metrics (a node-agent checks a token it does not know with a
 * TokenReview and authorizes `get nodes/metrics` with a SubjectAccessReview, as the kubelet's
 * webhook modes), and the cluster CA. The nodes' own token, which may write everything, is not
 * among them: a node-token left by an older image is removed. The prometheus service mounts only
 * this directory, read-only; its image runs as nobody (uid 65534), so the token is 0400 and owned by it.
 */
function writePrometheusSecrets(creds) {
  const dir = `${STATE}/prometheus`;
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  rmSync(`${dir}/node-token`, { force: true });
  const nobody = 65534;
  const secrets = [
    ['apiserver-token', creds.tokens.viewer, 0o400],
    ['ca.crt', creds.caPem, 0o444],
  ];
  for (const [file, content, mode] of secrets) {
    if (!content) fail(`the credentials in ${STATE}/control-plane/pki have nothing for Prometheus's ${file}`);
    const tmp = `${dir}/${file}.tmp`;
    writeFileSync(tmp, content, { mode });
    chownSync(tmp, nobody, nobody);
    renameSync(tmp, `${dir}/${file}`);
  }
}

/** GET https://ADDRESS:6443/readyz, verified with the cluster CA for the address; false on anything else. */
function apiServerReady() {
  const address = process.env.PODNET_ADDRESS;
  const caFile = `${STATE}/prometheus/ca.crt`;
  if (!address || !existsSync(caFile)) return Promise.resolve(false);
  return new Promise((resolve) => {
    const req = request({ host: address, port: 6443, path: '/readyz', ca: readFileSync(caFile), timeout: 4000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}
