// One SVG chart per benchmark group (docs/benchmarks/<group>.svg): a horizontal bar per figure,
// its ratio to the reference measured in the same run, on a log scale (ratios here span 0.01× to
// 100×), with the reference (1×) drawn as a line and the spread of the ratio as a whisker.
// Hand-written SVG 1.1, no dependency, so the docs render on GitHub and in any browser.

const WIDTH = 760;
const LABEL = 330;
const ROW = 26;
const TOP = 46;
const PLOT = WIDTH - LABEL - 70;

export const chartFileName = (group) => `${group.replace(/[^a-z0-9-]/gi, '_')}.svg`;

const xmlEscape = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** Decades of the log axis covering every ratio and 1× (at least 0.1× to 10×). */
function axis(ratios) {
  const logs = ratios.filter((r) => Number.isFinite(r) && r > 0).map(Math.log10);
  const lo = Math.min(-1, Math.floor(Math.min(0, ...logs)));
  const hi = Math.max(1, Math.ceil(Math.max(0, ...logs)));
  return { lo, hi, x: (r) => LABEL + ((Math.log10(Math.min(Math.max(r, 10 ** lo), 10 ** hi)) - lo) / (hi - lo)) * PLOT };
}

export function renderGroupChart(name, group) {
  const figures = group.figures;
  const ratios = figures.flatMap((f) => [f.ratio, f.ratioMin, f.ratioMax]);
  const { lo, hi, x } = axis(ratios);
  const height = TOP + figures.length * ROW + 30;
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif" font-size="12">`,
    `<title>${xmlEscape(group.title ?? name)}: ratio to the reference (log scale)</title>`,
    `<rect width="${WIDTH}" height="${height}" fill="#fff"/>`,
    `<text x="8" y="18" font-weight="bold">${xmlEscape(group.title ?? name)}</text>`,
    `<text x="8" y="34" fill="#555">figure / its reference (see the table for what each reference is; log scale; whisker: spread of per-repetition ratios)</text>`,
  ];
  for (let d = lo; d <= hi; d++) {
    const gx = x(10 ** d).toFixed(1);
    out.push(
      `<line x1="${gx}" y1="${TOP - 6}" x2="${gx}" y2="${height - 24}" stroke="${d === 0 ? '#000' : '#ddd'}" stroke-width="${d === 0 ? 1.5 : 1}"/>`,
    );
    out.push(
      `<text x="${gx}" y="${height - 10}" text-anchor="middle" fill="#555">${10 ** d >= 1 ? 10 ** d : (10 ** d).toFixed(-d)}×</text>`,
    );
  }
  figures.forEach((f, i) => {
    const y = TOP + i * ROW;
    const label = f.name.length > 52 ? `${f.name.slice(0, 50)}…` : f.name;
    out.push(`<text x="8" y="${y + 15}">${xmlEscape(label)}</text>`);
    if (!Number.isFinite(f.ratio) || f.ratio <= 0) {
      out.push(
        `<text x="${LABEL + 4}" y="${y + 15}" fill="#a00">${xmlEscape(f.unavailable ? `not available: ${f.unavailable}` : 'no ratio').slice(0, 60)}</text>`,
      );
      return;
    }
    const x0 = x(1);
    const x1 = x(f.ratio);
    const color = f.goal === undefined ? '#6b8fb5' : f.met ? '#3a9a4a' : '#c0392b';
    out.push(
      `<rect x="${Math.min(x0, x1).toFixed(1)}" y="${y + 4}" width="${Math.max(1, Math.abs(x1 - x0)).toFixed(1)}" height="${ROW - 10}" fill="${color}"/>`,
    );
    if (Number.isFinite(f.ratioMin) && Number.isFinite(f.ratioMax)) {
      const cy = y + ROW / 2 - 1;
      out.push(`<line x1="${x(f.ratioMin).toFixed(1)}" y1="${cy}" x2="${x(f.ratioMax).toFixed(1)}" y2="${cy}" stroke="#222"/>`);
    }
    out.push(`<text x="${(Math.max(x0, x1) + 4).toFixed(1)}" y="${y + 15}">${f.ratio.toFixed(2)}×</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
