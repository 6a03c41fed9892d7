// Timing helpers for `npm run bench`. Each figure is the median of several repetitions, with
// the spread (min..max) kept, so one noisy repetition on a 2-core machine cannot decide it.

/** Runs fn(iterations) repeatedly; returns nanoseconds per operation for each repetition. */
export function timeRepetitions(fn, { iterations, repetitions, warmup = Math.ceil(iterations / 4) }) {
  fn(warmup);
  const samples = [];
  for (let r = 0; r < repetitions; r++) {
    const start = process.hrtime.bigint();
    fn(iterations);
    const elapsed = Number(process.hrtime.bigint() - start);
    samples.push(elapsed / iterations);
  }
  return summarize(samples);
}

export function summarize(samples) {
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  return { median, min: sorted[0], max: sorted[sorted.length - 1], samples };
}
