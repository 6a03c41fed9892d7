// Types of build.mjs, for the test setup that calls it.
export type UdpSegmentAddonBuild = { built: true; path: string; fresh: boolean } | { built: false; reason: string };
export function buildUdpSegmentAddon(options?: { quiet?: boolean }): UdpSegmentAddonBuild;
