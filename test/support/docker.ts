// Docker for the compose smoke test (DESIGN §8): installs Debian's docker.io and docker-compose
// when missing (root, apt-get), starts `dockerd --storage-driver=vfs` in the background when no
// daemon answers (vfs: works inside any filesystem, overlay may not), and waits for `docker info`.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, openSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { ensureDebianTools, hasCommand, isRoot } from './tools.ts';

const DOCKER_TOOLS = { docker: 'docker.io', dockerd: 'docker.io', 'docker-compose': 'docker-compose' };

export function dockerAnswers(): boolean {
  return spawnSync('docker', ['info'], { stdio: 'ignore', timeout: 20_000 }).status === 0;
}

/** Ensures a docker daemon answers; returns what it did, for the test log. */
export async function ensureDocker(timeoutMs = 60_000): Promise<string> {
  await ensureDebianTools(DOCKER_TOOLS);
  if (dockerAnswers()) return 'docker daemon already running';
  if (!isRoot() || !hasCommand('dockerd'))
    throw new Error('no docker daemon answers and dockerd cannot be started here (needs root and docker.io)');
  mkdirSync('/var/log/podnet', { recursive: true });
  const log = openSync('/var/log/podnet/dockerd.log', 'a');
  // Detached: the daemon outlives the test run, as a system service would (the next run reuses it).
  const child = spawn('dockerd', ['--storage-driver=vfs'], { detached: true, stdio: ['ignore', log, log] });
  child.unref();
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (dockerAnswers()) return `started dockerd --storage-driver=vfs (pid ${child.pid}, log /var/log/podnet/dockerd.log)`;
    if (child.exitCode !== null) break;
    await sleep(500);
  }
  throw new Error(`dockerd did not answer within ${timeoutMs / 1000} s; see /var/log/podnet/dockerd.log`);
}
