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

/**
 * Times `subject` and `reference` alternately within each repetition and keeps the ratio of
 * each pair, so both see the same machine state: on a shared 2-core VM the noise between
 * repetitions is larger than the difference being measured. Returns ns/op summaries of both
 * and the summary of the per-repetition ratios (subject / reference).
 */
export function timePaired(subject, reference, { iterations, referenceIterations = iterations, repetitions }) {
  subject(Math.ceil(iterations / 4));
  reference(Math.ceil(referenceIterations / 4));
  const a = [];
  const b = [];
  const ratios = [];
  for (let r = 0; r < repetitions; r++) {
    let start = process.hrtime.bigint();
    subject(iterations);
    const ta = Number(process.hrtime.bigint() - start) / iterations;
    start = process.hrtime.bigint();
    reference(referenceIterations);
    const tb = Number(process.hrtime.bigint() - start) / referenceIterations;
    a.push(ta);
    b.push(tb);
    ratios.push(ta / tb);
  }
  return { subject: summarize(a), reference: summarize(b), ratio: summarize(ratios) };
}
