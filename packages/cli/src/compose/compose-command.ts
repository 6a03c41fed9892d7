// Which compose the machine has: the v2 plugin (`docker compose`) or Debian's v1
// (`docker-compose`); both read deploy/docker-compose.yml (no `version` key, profiles).
import { execa } from 'execa';
import { ComposeError, ComposeErrorCodes } from './errors.js';

export interface ComposeCommand {
  /** The program and its leading words: ['docker', 'compose'] or ['docker-compose']. */
  argv: [string, ...string[]];
  version: 'v1' | 'v2';
}

async function answers(argv: string[]): Promise<boolean> {
  const [cmd, ...args] = argv as [string, ...string[]];
  const r = await execa(cmd, [...args, 'version'], { reject: false, timeout: 20_000 });
  return r.exitCode === 0;
}

export async function findCompose(): Promise<ComposeCommand> {
  if (await answers(['docker', 'compose'])) return { argv: ['docker', 'compose'], version: 'v2' };
  if (await answers(['docker-compose'])) return { argv: ['docker-compose'], version: 'v1' };
  throw new ComposeError(
    ComposeErrorCodes.NO_COMPOSE,
    'neither `docker compose` nor `docker-compose` runs here.\n' +
      'Install Docker with compose (Debian: apt-get install docker.io docker-compose), or use the process runtime: podnet up',
  );
}
