// The live page itself: one HTML document with inline CSS and JS (no build step, no CDN, DESIGN
// §4). It opens an EventSource on /events and redraws from what the server pushes: `cluster`
// (nodes, pods, Services with endpoints) and `history`/`point` (the metrics charts). Charts are
// drawn on <canvas> by hand so nothing is fetched from anywhere but the control plane.

export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>podnet cluster</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; background: #fafafa; }
  h1 { font-size: 1.3em; margin: 0 0 .3em; } h2 { font-size: 1.1em; margin: 1.2em 0 .4em; }
  #status { color: #666; font-size: .9em; }
  .grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(18em, 1fr)); gap: .8em; }
  .card { background: #fff; border: 1px solid #ddd; border-radius: 6px; padding: .6em .8em; }
  .card h3 { font-size: 1em; margin: 0 0 .3em; }
  ul { margin: 0; padding-left: 1.1em; } li { margin: .1em 0; }
  .ok { color: #137333; } .bad { color: #b3261e; } .muted { color: #888; }
  code { font: 12px ui-monospace, monospace; }
  canvas { width: 100%; height: 160px; background: #fff; border: 1px solid #ddd; border-radius: 6px; }
  .legend { font-size: .85em; color: #555; }
</style>
</head>
<body>
<h1>podnet cluster</h1>
<div id="status">connecting…</div>
<h2>Nodes</h2>
<div id="nodes" class="grid"></div>
<h2>Services</h2>
<div id="services" class="grid"></div>
<h2>Encapsulation overhead</h2>
<canvas id="overhead-chart" width="900" height="160"></canvas>
<div class="legend" id="overhead-legend">overhead bytes / inner bytes sent, per scrape interval</div>
<h2>Network programming latency (p99)</h2>
<canvas id="latency-chart" width="900" height="160"></canvas>
<div class="legend" id="latency-legend">kubeproxy_network_programming_duration_seconds p99, per scrape interval</div>
<script>
"use strict";
const el = (tag, attrs, ...children) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  for (const c of children) e.append(c);
  return e;
};
let history = [];

function renderCluster(s) {
  const nodes = document.getElementById('nodes');
  nodes.replaceChildren(...s.nodes.map((n) => {
    const pods = s.pods.filter((p) => p.node === n.name);
    return el('div', { class: 'card node', 'data-node': n.name },
      el('h3', {}, n.name + ' ', el('span', { class: n.ready === 'True' ? 'ok' : 'bad' }, n.ready === 'True' ? 'Ready' : 'NotReady')),
      el('div', { class: 'muted' }, (n.internalIP || '?') + ' · pods ' + (n.podCIDR || '?')),
      el('ul', {}, ...pods.map((p) => el('li', { class: 'pod', 'data-pod': p.namespace + '/' + p.name },
        el('code', {}, p.name), ' ', el('span', {}, p.ip || 'no IP'), ' ',
        el('span', { class: p.ready ? 'ok' : 'bad' }, p.terminating ? 'Terminating' : p.ready ? 'Ready' : p.phase)))));
  }));
  const unscheduled = s.pods.filter((p) => !p.node);
  if (unscheduled.length) nodes.append(el('div', { class: 'card' }, el('h3', {}, 'Pending (unscheduled)'),
    el('ul', {}, ...unscheduled.map((p) => el('li', {}, el('code', {}, p.name))))));
  document.getElementById('services').replaceChildren(...s.services.map((svc) =>
    el('div', { class: 'card service', 'data-service': svc.namespace + '/' + svc.name },
      el('h3', {}, svc.namespace + '/' + svc.name),
      el('div', { class: 'muted' }, svc.type + ' ' + (svc.clusterIP || '') + ' ' + svc.ports.join(', ')),
      el('ul', { class: 'endpoints' }, ...(svc.endpoints.length ? svc.endpoints.map((e) =>
        el('li', { class: 'endpoint', 'data-ip': e.ip, 'data-ready': String(e.ready) },
          el('code', {}, e.ip), ' ', e.pod ? e.pod + ' on ' + e.node + ' ' : '',
          el('span', { class: e.ready ? 'ok' : 'bad' }, e.terminating ? 'terminating' : e.ready ? 'ready' : 'not ready')))
        : [el('li', { class: 'muted' }, 'no endpoints')])))));
}

function drawChart(id, series, format) {
  const c = document.getElementById(id);
  const ctx = c.getContext('2d');
  const w = c.width, h = c.height, pad = 40;
  ctx.clearRect(0, 0, w, h);
  const all = series.flatMap((s) => s.points.map((p) => p[1]));
  const max = Math.max(1e-9, ...all) * 1.15;
  const t1 = Date.now(), t0 = t1 - 5 * 60 * 1000;
  ctx.strokeStyle = '#ddd'; ctx.fillStyle = '#666'; ctx.font = '11px sans-serif';
  for (let i = 0; i <= 4; i++) {
    const y = h - pad / 2 - (i / 4) * (h - pad);
    ctx.beginPath(); ctx.moveTo(pad, y); ctx.lineTo(w - 5, y); ctx.stroke();
    ctx.fillText(format((i / 4) * max), 2, y + 3);
  }
  const colors = ['#1a73e8', '#e8710a', '#137333', '#a142f4'];
  series.forEach((s, k) => {
    ctx.strokeStyle = colors[k % colors.length]; ctx.lineWidth = 2; ctx.beginPath();
    s.points.forEach(([t, v], i) => {
      const x = pad + ((t - t0) / (t1 - t0)) * (w - pad - 5);
      const y = h - pad / 2 - (v / max) * (h - pad);
      if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
    });
    ctx.stroke();
    ctx.fillStyle = colors[k % colors.length];
    ctx.fillText(s.name, w - 120, 14 + 12 * k);
  });
}

function renderCharts() {
  const backends = [...new Set(history.flatMap((p) => Object.keys(p.overheadRatio)))];
  drawChart('overhead-chart', backends.map((b) => ({ name: b,
    points: history.filter((p) => p.overheadRatio[b] !== undefined).map((p) => [p.time, p.overheadRatio[b]]) })),
    (v) => (v * 100).toFixed(1) + '%');
  const last = history.at(-1);
  const ratios = last ? Object.entries(last.overheadRatio).map(([b, r]) => b + ' ' + (r * 100).toFixed(2) + '%') : [];
  document.getElementById('overhead-legend').textContent = 'overhead bytes / inner bytes sent, per scrape interval' +
    (ratios.length ? ' · now: ' + ratios.join(', ') : ' · no tunnel traffic in the last interval') +
    (last ? ' · ' + last.up + '/' + last.targets + ' targets up' : '');
  drawChart('latency-chart', [{ name: 'p99', points: history.filter((p) => p.programmingP99Seconds !== undefined)
    .map((p) => [p.time, p.programmingP99Seconds]) }], (v) => v.toFixed(2) + ' s');
  const total = last && last.programmingP99SecondsTotal;
  document.getElementById('latency-legend').textContent = 'kubeproxy_network_programming_duration_seconds p99, per scrape interval' +
    (total !== undefined ? ' · since start: ' + total.toFixed(3) + ' s' : '');
}

const source = new EventSource('events');
source.addEventListener('cluster', (e) => {
  renderCluster(JSON.parse(e.data));
  document.getElementById('status').textContent = 'live · updated ' + new Date().toLocaleTimeString();
});
source.addEventListener('history', (e) => { history = JSON.parse(e.data); renderCharts(); });
source.addEventListener('point', (e) => {
  history.push(JSON.parse(e.data));
  history = history.filter((p) => p.time > Date.now() - 5 * 60 * 1000);
  renderCharts();
});
source.onerror = () => { document.getElementById('status').textContent = 'disconnected: retrying…'; };
</script>
</body>
</html>
`;
