// Types of chart.js for the TypeScript smoke test (test/bench-smoke.test.ts).
import type { BenchGroup } from './report.js';
export function chartFileName(group: string): string;
export function renderGroupChart(name: string, group: BenchGroup): string;
