// `podnet prometheus-config [--name NAME] [--state-dir DIR] [-o FILE] [--scrape-interval 5s]`:
// writes the scrape configuration for a running process-mode cluster (stdout without -o), with the
// read-only viewer token and the CA beside it in <state dir>/prometheus/. Then:
//   prometheus --config.file=FILE --web.listen-address=127.0.0.1:9090
import { writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ClusterError } from '../cluster/errors.js';
import { checkClusterName, requireRecord, stateDirFor } from '../cluster/state.js';
import type { Output } from '../pcap-read.js';
import { generatePrometheusConfig } from './prometheus-config.js';

export const PROMETHEUS_CONFIG_HELP = `Usage: podnet prometheus-config [--name NAME] [--state-dir DIR] [-o FILE] [--scrape-interval 5s]

Writes a Prometheus configuration scraping every component of the cluster \`podnet up\` started:
the API server and on every node the node-agent (:10250, https), both with the read-only viewer
token (written with the CA to <state dir>/prometheus/), kube-proxy (:10249) and cni-agent (:9099).
Without -o it prints it.
Run it with: prometheus --config.file=FILE --web.listen-address=127.0.0.1:9090`;

const INTERVAL = /^[0-9]+(ms|s|m)$/;

/** Exit status 0 on success; 2 for a usage mistake, 1 when there is no such cluster. */
export function runPrometheusConfig(argv: string[], io: Output): number {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        name: { type: 'string', default: 'podnet' },
        'state-dir': { type: 'string' },
        output: { type: 'string', short: 'o' },
        'scrape-interval': { type: 'string', default: '5s' },
        'live-page-port': { type: 'string', default: '8080' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    io.err(`podnet prometheus-config: ${(error as Error).message}\n${PROMETHEUS_CONFIG_HELP}`);
    return 2;
  }
  if (values.help) {
    io.out(PROMETHEUS_CONFIG_HELP);
    return 0;
  }
  const interval = values['scrape-interval'] as string;
  if (!INTERVAL.test(interval)) {
    io.err(`podnet prometheus-config: --scrape-interval "${interval}" is not a Prometheus duration like 5s, 500ms or 1m`);
    return 2;
  }
  const livePagePort = Number(values['live-page-port']);
  if (!Number.isInteger(livePagePort) || livePagePort < -1 || livePagePort > 65535) {
    io.err(`podnet prometheus-config: --live-page-port "${values['live-page-port']}" is not a port (-1: no control-plane job)`);
    return 2;
  }
  try {
    const name = checkClusterName(values.name as string);
    const stateDir = stateDirFor(name, values['state-dir'] as string | undefined);
    const record = requireRecord(stateDir, name);
    const output = values.output === undefined ? undefined : resolve(values.output as string);
    const secretsDir = output ? join(dirname(output), 'prometheus-secrets') : join(stateDir, 'prometheus');
    const generated = generatePrometheusConfig(record, { scrapeInterval: interval, secretsDir, livePagePort });
    if (output) {
      writeFileSync(output, generated.yaml);
      io.out(`podnet: wrote ${output} (${generated.targets.length} targets; token and CA in ${secretsDir})`);
    } else io.out(generated.yaml.trimEnd());
    return 0;
  } catch (error) {
    if (error instanceof ClusterError) {
      io.err(error.message);
      return 1;
    }
    throw error;
  }
}
