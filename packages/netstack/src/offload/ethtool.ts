// `ethtool -k DEV` and `ethtool -K DEV FEATURE on|off ...` for the segmentation offloads a podnet
// link has (ethtool(8); the feature names are the kernel's, net/ethtool/common.c
// netdev_features_strings): tcp-segmentation-offload (tso), generic-segmentation-offload (gso:
// always on, as software GSO is in Linux), generic-receive-offload (gro). A feature this kind of
// link cannot change is shown `[fixed]`, and asking to change it fails as ethtool does.
import type { Link } from '../links/link.js';

const NAMES: Record<string, 'tso' | 'gso' | 'gro'> = {
  tso: 'tso',
  'tcp-segmentation-offload': 'tso',
  gso: 'gso',
  'generic-segmentation-offload': 'gso',
  gro: 'gro',
  'generic-receive-offload': 'gro',
};

const LONG = { tso: 'tcp-segmentation-offload', gso: 'generic-segmentation-offload', gro: 'generic-receive-offload' } as const;

const onOff = (on: boolean, fixed: boolean) => `${on ? 'on' : 'off'}${fixed ? ' [fixed]' : ''}`;

/** What `ethtool -k DEV` prints for the offloads podnet models. */
export function ethtoolShow(link: Link): string {
  const f = link.offloadFeatures;
  return [
    `Features for ${link.name}:`,
    `${LONG.tso}: ${onOff(f.tso, f.tsoFixed)}`,
    `${LONG.gso}: ${onOff(true, true)}`,
    `${LONG.gro}: ${onOff(f.gro, f.groFixed)}`,
    '',
  ].join('\n');
}

/**
 * `ethtool -K DEV FEATURE on|off ...`: every pair is checked before any is applied, so a bad
 * request changes nothing. Returns the error text (ethtool's wording, exit status 1) or undefined.
 */
export function ethtoolSet(link: Link, args: readonly string[]): { error: string; exitCode: number } | undefined {
  if (args.length === 0 || args.length % 2 !== 0) {
    return { error: `ethtool -K ${link.name}: give FEATURE on|off pairs, e.g. "gro off" or "tso on"`, exitCode: 1 };
  }
  const changes: Array<['tso' | 'gro', boolean]> = [];
  const f = link.offloadFeatures;
  for (let i = 0; i < args.length; i += 2) {
    const name = NAMES[args[i] as string];
    const value = args[i + 1];
    if (name === undefined) {
      return { error: `ethtool: bad command line argument(s)\nunknown feature "${args[i]}": podnet models tso, gso and gro`, exitCode: 1 };
    }
    if (value !== 'on' && value !== 'off')
      return { error: `ethtool: bad command line argument(s)\n"${value}" is not on or off`, exitCode: 1 };
    const want = value === 'on';
    const fixed = name === 'gso' ? true : name === 'tso' ? f.tsoFixed : f.groFixed;
    const now = name === 'gso' ? true : f[name];
    if (fixed && want !== now) return { error: `Cannot change ${LONG[name]}\nCould not change any device features`, exitCode: 1 };
    if (name !== 'gso') changes.push([name, want]);
  }
  for (const [name, want] of changes) link[name] = want;
  return undefined;
}
