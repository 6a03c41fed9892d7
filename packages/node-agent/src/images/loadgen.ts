// podnet/loadgen: calls a URL at a fixed rate from inside the pod and records successes, failures
// and latency; logs one JSON line per second and serves its counters on a port (JSON at `/`,
// Prometheus text at `/metrics`). Args: --url URL [--rate N] [--timeout-ms MS] [--port P]
// (or env URL, RATE). Bounded: at most 1000 requests/s, at most 256 in flight.
import type { ProcessContext } from '../runtime/process.js';
import { aborted, EXIT_SIGTERM } from '../runtime/process.js';
import { httpFetch } from '../toolbox/http-fetch.js';

const MAX_RATE = 1000;
const MAX_IN_FLIGHT = 256;

function flag(argv: string[], name: string): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === `--${name}`) return argv[i + 1];
    if (a.startsWith(`--${name}=`)) return a.slice(name.length + 3);
  }
  return undefined;
}

function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
}

export async function loadgen(argv: string[], ctx: ProcessContext): Promise<number> {
  const target = flag(argv, 'url') ?? ctx.env.URL;
  const rate = Number(flag(argv, 'rate') ?? ctx.env.RATE ?? 10);
  const timeoutMs = Number(flag(argv, 'timeout-ms') ?? 2000);
  const port = Number(flag(argv, 'port') ?? 8080);
  let url: URL;
  try {
    if (!target) throw new Error('missing');
    url = new URL(target);
  } catch {
    ctx.stderr(
      `loadgen: --url must be an http:// URL (got ${target === undefined ? 'nothing' : JSON.stringify(target)})\nusage: loadgen --url http://IP:PORT/PATH [--rate N] [--timeout-ms MS] [--port P]\n`,
    );
    return 2;
  }
  if (!(rate > 0 && rate <= MAX_RATE)) {
    ctx.stderr(`loadgen: --rate must be between 1 and ${MAX_RATE} requests per second (got ${rate})\n`);
    return 2;
  }
  const totals = { requests: 0, successes: 0, failures: 0 };
  const byAnswer = new Map<string, number>();
  let window: number[] = [];
  let windowOk = 0;
  let windowFailed = 0;
  let inFlight = 0;
  const fire = () => {
    if (inFlight >= MAX_IN_FLIGHT) {
      totals.failures++;
      windowFailed++;
      return;
    }
    inFlight++;
    totals.requests++;
    const t0 = performance.now();
    httpFetch(ctx.net, { url, timeoutMs, signal: ctx.killed, headers: { 'User-Agent': 'podnet-loadgen/0.1' } }).then(
      (r) => {
        inFlight--;
        if (r.status >= 200 && r.status < 400) {
          totals.successes++;
          windowOk++;
          const answer = r.body.toString().slice(0, 64);
          byAnswer.set(answer, (byAnswer.get(answer) ?? 0) + 1);
        } else {
          totals.failures++;
          windowFailed++;
        }
        window.push(performance.now() - t0);
      },
      () => {
        inFlight--;
        totals.failures++;
        windowFailed++;
      },
    );
  };
  try {
    await ctx.net.listenHttp(port, (req, res) => {
      if (req.url === '/metrics') {
        res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4' });
        res.end(
          `loadgen_requests_total ${totals.requests}\nloadgen_successes_total ${totals.successes}\nloadgen_failures_total ${totals.failures}\n`,
        );
        return;
      }
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ url: url.href, rate, ...totals, answers: Object.fromEntries(byAnswer) }));
    });
  } catch (e) {
    ctx.stderr(`loadgen: cannot serve counters on port ${port}: ${(e as Error).message}\n`);
    return 1;
  }
  ctx.stdout(`loadgen: calling ${url.href} at ${rate}/s; counters on :${port}\n`);
  const interval = Math.max(1, Math.round(1000 / rate));
  ctx.net.setInterval(fire, interval);
  ctx.net.setInterval(() => {
    const sorted = [...window].sort((a, b) => a - b);
    ctx.stdout(
      `${JSON.stringify({ time: new Date().toISOString(), ok: windowOk, failed: windowFailed, p50_ms: Number(percentile(sorted, 0.5).toFixed(2)), p99_ms: Number(percentile(sorted, 0.99).toFixed(2)), total_ok: totals.successes, total_failed: totals.failures })}\n`,
    );
    window = [];
    windowOk = 0;
    windowFailed = 0;
  }, 1000);
  await aborted(ctx.terminated);
  return EXIT_SIGTERM;
}
