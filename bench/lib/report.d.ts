// Types of report.js for the TypeScript smoke test (test/bench-smoke.test.ts).
export interface BenchReference {
  name: string;
  value: number | null;
  min?: number;
  max?: number;
  unavailable?: string;
}
export interface BenchFigure {
  name: string;
  unit: string;
  decimals?: number;
  value: number | null;
  min?: number;
  max?: number;
  unavailable?: string;
  reference?: BenchReference;
  ratio?: number;
  ratioMin?: number;
  ratioMax?: number;
  goal?: string;
  met?: boolean;
}
export interface BenchGroup {
  title?: string;
  description?: string;
  figures: BenchFigure[];
  notes?: string[];
  ranAt?: string;
  elapsedMs?: number;
  error?: string;
}
export interface BenchResults {
  date: string;
  machine: { cpus: number; cpuModel: string; memoryGiB: number; node: string; platform: string };
  groups: Record<string, BenchGroup>;
}
export function isMeasured(figure: BenchFigure): boolean;
export function renderBenchmarksMarkdown(results: BenchResults, options?: { chartDir?: string }): string;
