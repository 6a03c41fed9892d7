// The offline podnet image for the compose smoke test (DESIGN §8): a tree prepared on the host
// (root package.json, proto/, every workspace's package.json and dist/, the production
// node_modules `npm ls --omit=dev` lists, deploy/entrypoint.mjs) built with the Dockerfile's
// `prebuilt` target over podnet-base:local (deploy/base-image.sh). The tag is a content hash of
// that tree, so the slow vfs build runs once per change of the built code.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = join(dirname(fileURLToPath(import.meta.url)), '../..');
export const BASE_IMAGE = 'podnet-base:local';

function imageExists(tag: string): boolean {
  return spawnSync('docker', ['image', 'inspect', tag], { stdio: 'ignore' }).status === 0;
}

/** Every regular file and symlink under dir (repository-relative), sorted; tests and build info left out. */
function walk(dir: string, out: string[]): void {
  for (const e of readdirSync(join(REPO, dir), { withFileTypes: true })) {
    const rel = join(dir, e.name);
    if (e.isDirectory()) walk(rel, out);
    else if (!/\.test\.(js|d\.ts)(\.map)?$|\.tsbuildinfo$/.test(e.name)) out.push(rel);
  }
}

export function preparedFiles(): { files: string[]; links: Array<[string, string]> } {
  const files: string[] = ['package.json', 'deploy/entrypoint.mjs'];
  walk('proto', files);
  const links: Array<[string, string]> = [];
  const workspaces = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { workspaces: string[] }).workspaces;
  for (const ws of workspaces) {
    files.push(join(ws, 'package.json'));
    walk(join(ws, 'dist'), files);
  }
  const deps = execFileSync('npm', ['ls', '--omit=dev', '--all', '--parseable'], { cwd: REPO, encoding: 'utf8' })
    .split('\n')
    .filter((p) => p.includes('/node_modules/'))
    .map((p) => relative(REPO, p));
  for (const dep of [...new Set(deps)]) {
    // Workspaces are symlinks in node_modules (npm workspaces); kept as links into packages/.
    if (lstatSync(join(REPO, dep)).isSymbolicLink()) links.push([dep, readlinkSync(join(REPO, dep))]);
    else walk(dep, files);
  }
  files.sort();
  links.sort((a, b) => a[0].localeCompare(b[0]));
  return { files, links };
}

export function treeHash(p: { files: string[]; links: Array<[string, string]> }): string {
  const h = createHash('sha256');
  for (const f of p.files)
    h.update(`${f}\0`)
      .update(readFileSync(join(REPO, f)))
      .update('\0');
  for (const [l, t] of p.links) h.update(`${l}\0->${t}\0`);
  // The Dockerfile's prebuilt stage is part of what the image is.
  h.update(readFileSync(join(REPO, 'deploy/Dockerfile')));
  return h.digest('hex').slice(0, 16);
}

export interface BuiltImage {
  tag: string;
  cached: boolean;
  files: number;
  buildMs: number;
}

/** Builds (or finds) the offline image; the base image too when missing. */
export function buildTestImage(log: (line: string) => void): BuiltImage {
  const started = Date.now();
  if (!imageExists(BASE_IMAGE)) {
    log(`building ${BASE_IMAGE} with deploy/base-image.sh (docker import)`);
    execFileSync(join(REPO, 'deploy/base-image.sh'), [BASE_IMAGE], { stdio: ['ignore', 'ignore', 'inherit'] });
  }
  const prepared = preparedFiles();
  const tag = `podnet-test:${treeHash(prepared)}`;
  if (imageExists(tag)) return { tag, cached: true, files: prepared.files.length, buildMs: Date.now() - started };
  const tree = mkdtempSync(join(tmpdir(), 'podnet-image-tree-'));
  try {
    for (const f of prepared.files) {
      mkdirSync(dirname(join(tree, f)), { recursive: true });
      cpSync(join(REPO, f), join(tree, f), { dereference: true });
    }
    for (const [l, t] of prepared.links) {
      mkdirSync(dirname(join(tree, l)), { recursive: true });
      symlinkSync(t, join(tree, l));
    }
    log(`building ${tag} from ${prepared.files.length} files (vfs: slow, cached by content hash)`);
    const r = spawnSync(
      'docker',
      [
        'build',
        '-q',
        '-f',
        join(REPO, 'deploy/Dockerfile'),
        '--target',
        'prebuilt',
        '--build-arg',
        `BASE_IMAGE=${BASE_IMAGE}`,
        '-t',
        tag,
        tree,
      ],
      { encoding: 'utf8', env: { ...process.env, DOCKER_BUILDKIT: '0' } },
    );
    if (r.status !== 0) throw new Error(`docker build of ${tag} failed (${r.status}):\n${r.stderr}`);
  } finally {
    rmSync(tree, { recursive: true, force: true });
  }
  return { tag, cached: false, files: prepared.files.length, buildMs: Date.now() - started };
}

/**
 * The prometheus service's image made from this machine's Prometheus (deploy/prometheus-image.sh),
 * tagged by a hash of the script and the binary: prom/prometheus cannot be pulled here.
 */
export function buildPrometheusImage(log: (line: string) => void): string {
  const script = join(REPO, 'deploy/prometheus-image.sh');
  const binary = execFileSync('sh', ['-c', 'command -v prometheus'], { encoding: 'utf8' }).trim();
  const h = createHash('sha256').update(readFileSync(script)).update(readFileSync(binary));
  const tag = `podnet-prometheus-test:${h.digest('hex').slice(0, 16)}`;
  if (imageExists(tag)) return tag;
  log(`building ${tag} with deploy/prometheus-image.sh (docker import of ${binary})`);
  execFileSync(script, [tag], { stdio: ['ignore', 'ignore', 'inherit'] });
  return tag;
}
