// Compose v1/v2 selection and the exact argument vectors for both, with an injected command
// runner (no fake binaries on PATH). Only v1 runs on the test machine (test/compose uses it for
// real); these pin what v2 would be given.
import { describe, expect, it } from 'vitest';
import { type CommandRunner, composeArgv, composeCommandFor, downArgv, findCompose, upArgv } from './compose-command.js';
import { ComposeErrorCodes } from './errors.js';

/** A runner answering from a table keyed by the full command line; records every call. */
function runner(answers: Record<string, { exitCode: number; stdout?: string }>): CommandRunner & { calls: string[] } {
  const calls: string[] = [];
  const run = async (program: string, args: string[]) => {
    const line = [program, ...args].join(' ');
    calls.push(line);
    const a = answers[line];
    if (!a) throw Object.assign(new Error(`spawn ${program} ENOENT`), { code: 'ENOENT' });
    return { exitCode: a.exitCode, stdout: a.stdout ?? '', stderr: '' };
  };
  return Object.assign(run, { calls });
}

const project = { project: 'podnet', files: ['/repo/deploy/docker-compose.yml', '/state/docker-compose.nodes.json'] };

describe('findCompose', () => {
  it('prefers the v2 plugin when `docker compose` answers', async () => {
    const run = runner({ 'docker compose version --short': { exitCode: 0, stdout: '2.29.1\n' } });
    const cmd = await findCompose(run);
    expect(cmd).toEqual({ argv: ['docker', 'compose'], version: 'v2', release: '2.29.1', supportsWait: true, supportsWaitTimeout: true });
    expect(run.calls).toEqual(['docker compose version --short']);
  });

  it("falls back to Debian's docker-compose v1 when docker has no compose plugin (as on this machine)", async () => {
    // What docker 26 without the plugin does: exit 125 for --short, 1 for the bare subcommand.
    const run = runner({
      'docker compose version --short': { exitCode: 125, stdout: '' },
      'docker compose version': { exitCode: 1, stdout: '' },
      'docker-compose version --short': { exitCode: 0, stdout: '1.29.2' },
    });
    const cmd = await findCompose(run);
    expect(cmd).toEqual({ argv: ['docker-compose'], version: 'v1', release: '1.29.2', supportsWait: false, supportsWaitTimeout: false });
    expect(run.calls).toEqual(['docker compose version --short', 'docker compose version', 'docker-compose version --short']);
  });

  it('reads the release from `version` when --short is not understood, and takes a v2 standalone docker-compose as v2', async () => {
    const run = runner({
      'docker compose version --short': { exitCode: 1 },
      'docker compose version': { exitCode: 1 },
      'docker-compose version --short': { exitCode: 1 },
      'docker-compose version': { exitCode: 0, stdout: 'Docker Compose version v2.20.2\n' },
    });
    const cmd = await findCompose(run);
    expect(cmd).toMatchObject({
      argv: ['docker-compose'],
      version: 'v2',
      release: '2.20.2',
      supportsWait: true,
      supportsWaitTimeout: true,
    });
  });

  it('says how to get compose when neither runs', async () => {
    await expect(findCompose(runner({}))).rejects.toMatchObject({
      code: ComposeErrorCodes.NO_COMPOSE,
      message: expect.stringContaining('apt-get install docker.io docker-compose'),
    });
  });

  it('refuses a v1 too old for profiles, naming the release', async () => {
    const run = runner({ 'docker-compose version --short': { exitCode: 0, stdout: '1.25.0' } });
    await expect(findCompose(run)).rejects.toMatchObject({
      code: ComposeErrorCodes.NO_COMPOSE,
      message: expect.stringContaining('docker-compose 1.25.0 is too old'),
    });
  });

  it('knows which v2 releases have up --wait (2.2.0) and --wait-timeout (2.17.0)', () => {
    const v = (r: [number, number, number]) => composeCommandFor(['docker', 'compose'], r);
    expect(
      [v([2, 1, 0]), v([2, 2, 0]), v([2, 16, 9]), v([2, 17, 0]), v([3, 0, 0])].map((c) => [c.supportsWait, c.supportsWaitTimeout]),
    ).toEqual([
      [false, false],
      [true, false],
      [true, false],
      [true, true],
      [true, true],
    ]);
    expect(composeCommandFor(['docker-compose'], [1, 28, 0])).toMatchObject({ version: 'v1', supportsWait: false });
  });
});

describe('argument vectors', () => {
  const v1 = composeCommandFor(['docker-compose'], [1, 29, 2]);
  const v2 = composeCommandFor(['docker', 'compose'], [2, 29, 1]);
  const v2NoTimeout = composeCommandFor(['docker', 'compose'], [2, 10, 0]);
  const files = ['-f', '/repo/deploy/docker-compose.yml', '-f', '/state/docker-compose.nodes.json'];

  it('v1 up: docker-compose -p P -f F... [--profile X] up -d SERVICES, no --wait', () => {
    expect(upArgv(v1, { ...project, profiles: ['observability'] }, ['control-plane', 'node-1'], 180)).toEqual([
      'docker-compose',
      ['-p', 'podnet', ...files, '--profile', 'observability', 'up', '-d', 'control-plane', 'node-1'],
    ]);
  });

  it('v2 up: docker compose -p P -f F... up -d --wait --wait-timeout S SERVICES', () => {
    expect(upArgv(v2, project, ['control-plane', 'node-1'], 180)).toEqual([
      'docker',
      ['compose', '-p', 'podnet', ...files, 'up', '-d', '--wait', '--wait-timeout', '180', 'control-plane', 'node-1'],
    ]);
    expect(upArgv(v2NoTimeout, project, ['control-plane'], 180)).toEqual([
      'docker',
      ['compose', '-p', 'podnet', ...files, 'up', '-d', '--wait', 'control-plane'],
    ]);
  });

  it('down, kill, ps and logs take the same words in both versions after the program', () => {
    expect(downArgv(v1, { ...project, profiles: ['observability'] })).toEqual([
      'docker-compose',
      ['-p', 'podnet', ...files, '--profile', 'observability', 'down', '--volumes', '--remove-orphans', '--timeout', '10'],
    ]);
    expect(downArgv(v2, project)).toEqual([
      'docker',
      ['compose', '-p', 'podnet', ...files, 'down', '--volumes', '--remove-orphans', '--timeout', '10'],
    ]);
    expect(composeArgv(v1, project, ['kill', 'node-2'])).toEqual(['docker-compose', ['-p', 'podnet', ...files, 'kill', 'node-2']]);
    expect(composeArgv(v2, project, ['kill', 'node-2'])).toEqual(['docker', ['compose', '-p', 'podnet', ...files, 'kill', 'node-2']]);
    expect(composeArgv(v2, project, ['ps', '-q', 'node-1'])[1].slice(-3)).toEqual(['ps', '-q', 'node-1']);
  });
});
