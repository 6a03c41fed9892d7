// The built-in images, chosen by the manifest's image reference so real manifests work
// (`registry.k8s.io/e2e-test-images/agnhost:2.53`, `nginx:1.27`, `busybox`, `alpine:3.20`, ...).
// An image is an entrypoint, a default command, and the programs it adds to the toolbox.
import { aborted, EXIT_SIGTERM, type ProcessMain } from '../runtime/process.js';
import { COMMANDS, runCommand } from '../toolbox/index.js';
import { agnhost } from './agnhost.js';
import { loadgen } from './loadgen.js';
import { nginx } from './nginx.js';

export interface BuiltinImage {
  /** What the image is, for the ErrImagePull message. */
  name: string;
  /** Matches the repository part of a reference (registry and tag stripped). */
  matches(repository: string): boolean;
  /** The image's ENTRYPOINT and CMD (used when the container sets no command/args). */
  entrypoint: string[];
  cmd: string[];
  /** Programs beyond the toolbox, by basename. */
  programs: Record<string, ProcessMain>;
}

const pause: ProcessMain = async (_argv, ctx) => {
  await aborted(ctx.terminated);
  return EXIT_SIGTERM;
};

const last = (repo: string) => repo.slice(repo.lastIndexOf('/') + 1);

export const BUILTIN_IMAGES: BuiltinImage[] = [
  {
    name: 'registry.k8s.io/e2e-test-images/agnhost:* (netexec, serve-hostname, pause)',
    matches: (r) => last(r) === 'agnhost',
    entrypoint: ['/agnhost'],
    cmd: [],
    programs: { agnhost },
  },
  {
    name: 'nginx* (static server on port 80)',
    matches: (r) => last(r).startsWith('nginx'),
    entrypoint: ['/docker-entrypoint.sh'],
    cmd: ['nginx', '-g', 'daemon off;'],
    programs: { nginx, 'docker-entrypoint.sh': (argv, ctx) => nginx(argv, ctx) },
  },
  {
    name: 'busybox* / alpine* (toolbox: sh, sleep, curl, wget, ping, nc, traceroute, ip, ss, ...)',
    matches: (r) => last(r).startsWith('busybox') || last(r).startsWith('alpine'),
    entrypoint: [],
    cmd: ['sh'],
    programs: {},
  },
  {
    name: 'podnet/loadgen (--url URL --rate N --port P)',
    matches: (r) => r === 'podnet/loadgen' || r.endsWith('/podnet/loadgen') || last(r) === 'loadgen',
    entrypoint: ['/loadgen'],
    cmd: [],
    programs: { loadgen },
  },
  {
    name: 'registry.k8s.io/pause:*',
    matches: (r) => last(r) === 'pause',
    entrypoint: ['/pause'],
    cmd: [],
    programs: { pause },
  },
];

/** The repository of a reference: `registry.k8s.io/e2e-test-images/agnhost:2.53@sha256:..` → `registry.k8s.io/e2e-test-images/agnhost`. */
export function repositoryOf(reference: string): string {
  let r = reference.split('@')[0] as string;
  const slash = r.lastIndexOf('/');
  const colon = r.lastIndexOf(':');
  if (colon > slash) r = r.slice(0, colon);
  return r.replace(/^docker\.io\/(library\/)?/, '');
}

export function findImage(reference: string): BuiltinImage | undefined {
  const repo = repositoryOf(reference.trim());
  if (repo === '') return undefined;
  return BUILTIN_IMAGES.find((i) => i.matches(repo));
}

export function supportedImagesText(): string {
  return BUILTIN_IMAGES.map((i) => i.name).join('; ');
}

/** The argv a container runs: Kubernetes' command/args over the image's ENTRYPOINT/CMD (as the kubelet's kuberuntime does). */
export function containerArgv(image: BuiltinImage, command: string[] | undefined, args: string[] | undefined): string[] {
  if (command && command.length > 0) return [...command, ...(args ?? [])];
  return [...image.entrypoint, ...(args ?? image.cmd)];
}

/** Runs a program of the image, else a toolbox command. */
export function imageMain(image: BuiltinImage): ProcessMain {
  return (argv, ctx) => {
    const program = argv[0] ?? '';
    const name = program.slice(program.lastIndexOf('/') + 1);
    const own = image.programs[name];
    if (own) return own(argv, ctx);
    if (COMMANDS[name] === undefined && argv.length === 0) return Promise.resolve(0);
    return runCommand(argv, ctx);
  };
}
