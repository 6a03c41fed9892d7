// Which compose the machine has: the v2 plugin (`docker compose`) or Debian's v1
// (`docker-compose`); both read deploy/docker-compose.yml (no `version` key, profiles). The
// syntax follows the release the program reports, not its name: a `docker-compose` that reports
// 2.x is v2's standalone binary and takes v2 flags.
//
// Only v1 (Debian bookworm's docker-compose 1.29.2) runs on the machine the smoke test uses;
// the v2 argument vectors are pinned by compose-command.test.ts.
import { execa } from 'execa';
import { ComposeError, ComposeErrorCodes } from './errors.js';

export interface ComposeCommand {
  /** The program and its leading words: ['docker', 'compose'] or ['docker-compose']. */
  argv: [string, ...string[]];
  version: 'v1' | 'v2';
  /** What `version --short` printed, e.g. "1.29.2" or "2.29.1". */
  release: string;
  /** `up --wait` (v2.2.0+: wait until every started service is running, or healthy when it has a healthcheck). */
  supportsWait: boolean;
  /** `up --wait-timeout SECONDS` (v2.17.0+, docker/compose#10276). */
  supportsWaitTimeout: boolean;
}

export interface CommandResult {
  exitCode: number | undefined;
  stdout: string;
  stderr: string;
}

/** Runs a program (never through a shell); injectable so the selection is testable without fake binaries. */
export type CommandRunner = (program: string, args: string[]) => Promise<CommandResult>;

export const execaRunner: CommandRunner = async (program, args) => {
  const r = await execa(program, args, { reject: false, timeout: 20_000 });
  return { exitCode: r.exitCode, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? '') };
};

/** Oldest v1 that reads a Compose Specification file with `profiles` (1.28.0) and no `version` key. */
const V1_MINIMUM = [1, 28, 0] as const;

function parseRelease(text: string): [number, number, number] | undefined {
  const m = /(\d+)\.(\d+)\.(\d+)/.exec(text);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : undefined;
}

function atLeast(v: readonly number[], min: readonly number[]): boolean {
  for (let i = 0; i < min.length; i++) {
    const a = v[i] ?? 0;
    const b = min[i] ?? 0;
    if (a !== b) return a > b;
  }
  return true;
}

/**
 * The release `argv version --short` reports ("1.29.2", "2.29.1"), else the first x.y.z of
 * `argv version` ("docker-compose version 1.29.2, build ..."; "Docker Compose version v2.0.1");
 * undefined when the program does not run. Without the v2 plugin, `docker compose ...` exits
 * non-zero ("docker: unknown command: docker compose", or 125 for an unknown flag).
 */
async function releaseOf(run: CommandRunner, argv: [string, ...string[]]): Promise<[number, number, number] | undefined> {
  const [program, ...lead] = argv;
  for (const args of [['version', '--short'], ['version']]) {
    const r = await run(program, [...lead, ...args]).catch(() => undefined);
    const release = r && r.exitCode === 0 ? parseRelease(r.stdout) : undefined;
    if (release) return release;
  }
  return undefined;
}

export function composeCommandFor(argv: [string, ...string[]], release: [number, number, number]): ComposeCommand {
  const v2 = release[0] >= 2;
  if (!v2 && !atLeast(release, V1_MINIMUM)) {
    throw new ComposeError(
      ComposeErrorCodes.NO_COMPOSE,
      `${argv.join(' ')} ${release.join('.')} is too old for deploy/docker-compose.yml (profiles need 1.28.0 or newer).\n` +
        'Install a newer compose (Debian bookworm: apt-get install docker-compose gives 1.29.2), or use the process runtime: podnet up',
    );
  }
  return {
    argv,
    version: v2 ? 'v2' : 'v1',
    release: release.join('.'),
    supportsWait: v2 && atLeast(release, [2, 2, 0]),
    supportsWaitTimeout: v2 && atLeast(release, [2, 17, 0]),
  };
}

/** `docker compose` (the v2 plugin) first, then `docker-compose` (v1, or v2's standalone binary). */
export async function findCompose(run: CommandRunner = execaRunner): Promise<ComposeCommand> {
  for (const argv of [['docker', 'compose'], ['docker-compose']] as Array<[string, ...string[]]>) {
    const release = await releaseOf(run, argv);
    if (release) return composeCommandFor(argv, release);
  }
  throw new ComposeError(
    ComposeErrorCodes.NO_COMPOSE,
    'neither `docker compose` nor `docker-compose` runs here.\n' +
      'Install Docker with compose (Debian: apt-get install docker.io docker-compose), or use the process runtime: podnet up',
  );
}

export interface ComposeProject {
  project: string;
  files: string[];
  /** Profiles to enable (`--profile NAME`, a top-level flag in v1 1.28+ and v2). */
  profiles?: string[];
}

/** The program and arguments of `compose -p P -f F... [--profile X] SUBCOMMAND...` for either version. */
export function composeArgv(cmd: ComposeCommand, p: ComposeProject, subcommand: string[]): [string, string[]] {
  const [program, ...lead] = cmd.argv;
  return [
    program,
    [...lead, '-p', p.project, ...p.files.flatMap((f) => ['-f', f]), ...(p.profiles ?? []).flatMap((x) => ['--profile', x]), ...subcommand],
  ];
}

/**
 * `up -d` of the named services. v2 (2.2.0+) also waits (`--wait`) until each is running, or
 * healthy when it has a healthcheck (the control plane's: its API server answers /readyz), with
 * `--wait-timeout` (2.17.0+) bounding that; v1 has neither, and podnet's own readiness wait
 * (every Node Ready) follows in both cases.
 */
export function upArgv(cmd: ComposeCommand, p: ComposeProject, services: string[], waitTimeoutSeconds: number): [string, string[]] {
  const wait = cmd.supportsWait ? ['--wait', ...(cmd.supportsWaitTimeout ? ['--wait-timeout', String(waitTimeoutSeconds)] : [])] : [];
  return composeArgv(cmd, p, ['up', '-d', ...wait, ...services]);
}

/** `down`: containers, the network and anonymous volumes; SIGKILL after 10 s (same syntax in v1 and v2). */
export function downArgv(cmd: ComposeCommand, p: ComposeProject): [string, string[]] {
  return composeArgv(cmd, p, ['down', '--volumes', '--remove-orphans', '--timeout', '10']);
}
