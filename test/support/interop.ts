// Interop tests run against real tools (tshark, ip netns, the kernel). Where a tool is
// missing they skip with a loud reason; under PODNET_REQUIRE_INTEROP=1 (set by .ci/run, and
// right on machines like these: root, Debian) a missing tool fails the run instead (DESIGN §7).
import { describe, it } from 'vitest';
import { udpSegmentationState } from '../../packages/netstack/src/links/udp-segmentation.ts';
import { hasCommand, isRoot } from './tools.ts';

export interface InteropNeeds {
  commands?: string[];
  root?: boolean;
  /** The UDP segmentation addon (packages/netstack/native), built by the build step with the C compiler. */
  udpSegmentation?: boolean;
}

export function missingFor(needs: InteropNeeds): string[] {
  const missing = (needs.commands ?? []).filter((c) => !hasCommand(c)).map((c) => `command "${c}"`);
  if (needs.root && !isRoot()) missing.push('root (network namespaces)');
  if (needs.udpSegmentation) {
    const state = udpSegmentationState();
    if (!state.available) missing.push(`UDP segmentation offload (${state.reason})`);
  }
  return missing;
}

export const interopRequired = process.env.PODNET_REQUIRE_INTEROP === '1';

/** describe() for an interop suite: runs it, or skips loudly, or fails when interop is required. */
export function describeInterop(name: string, needs: InteropNeeds, body: () => void): void {
  const missing = missingFor(needs);
  if (missing.length === 0) {
    describe(name, body);
    return;
  }
  const reason = `interop "${name}" cannot run: missing ${missing.join(', ')}`;
  if (interopRequired) {
    describe(name, () => {
      it('has the real tools it needs (PODNET_REQUIRE_INTEROP=1)', () => {
        throw new Error(`${reason}. Install them (the test setup apt-gets them as root) or unset PODNET_REQUIRE_INTEROP.`);
      });
    });
    return;
  }
  process.stderr.write(`\n*** SKIPPED: ${reason} ***\n\n`);
  describe.skip(name, body);
}
