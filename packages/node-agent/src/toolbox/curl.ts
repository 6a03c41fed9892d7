// curl(1) (curl 8.x): -s, -S, -o, -w, -m, -v, -d, -X, -H, -f, -I, --connect-timeout. Exit codes and
// messages as curl's (libcurl-errors(3): 2 init/usage, 3 URL malformed, 6 resolve, 7 connect,
// 22 HTTP error with -f, 23 write error, 28 timeout, 56 recv failure).
import type { ProcessContext } from '../runtime/process.js';
import { type GetoptError, getopt, opt, opts } from './getopt.js';
import { FetchError, type FetchResult, httpFetch } from './http-fetch.js';

const USER_AGENT = 'curl/8.5.0';

const SPEC = {
  short: 'sSo:w:m:vd:X:H:fIiL',
  long: [
    'silent',
    'show-error',
    'output=',
    'write-out=',
    'max-time=',
    'verbose',
    'data=',
    'data-raw=',
    'request=',
    'header=',
    'fail',
    'head',
    'include',
    'location',
    'connect-timeout=',
  ],
  longToShort: {
    silent: 's',
    'show-error': 'S',
    output: 'o',
    'write-out': 'w',
    'max-time': 'm',
    verbose: 'v',
    data: 'd',
    'data-raw': 'd',
    request: 'X',
    header: 'H',
    fail: 'f',
    head: 'I',
    include: 'i',
    location: 'L',
  },
};

function writeOut(format: string, r: FetchResult | undefined, url: string, exitCode: number): string {
  return format
    .replace(/\\n/g, '\n')
    .replace(/\\t/g, '\t')
    .replace(/\\r/g, '\r')
    .replace(/%\{([a-z_]+)\}/g, (_m, name: string) => {
      switch (name) {
        case 'http_code':
        case 'response_code':
          return String(r?.status ?? 0).padStart(3, '0');
        case 'time_total':
          return ((r?.totalMs ?? 0) / 1000).toFixed(6);
        case 'time_connect':
          return ((r?.connectMs ?? 0) / 1000).toFixed(6);
        case 'remote_ip':
          return r?.remoteIp ?? '';
        case 'remote_port':
          return String(r?.remotePort ?? '');
        case 'size_download':
          return String(r?.body.length ?? 0);
        case 'url_effective':
          return url;
        case 'content_type':
          return String(r?.headers['content-type'] ?? '');
        case 'exitcode':
          return String(exitCode);
        default:
          return '';
      }
    });
}

export async function curl(argv: string[], ctx: ProcessContext): Promise<number> {
  let p: ReturnType<typeof getopt>;
  try {
    p = getopt(argv.slice(1), SPEC);
  } catch (e) {
    const g = e as GetoptError;
    if (g.kind === 'missing-value') ctx.stderr(`curl: option ${g.option}: requires parameter\n`);
    else ctx.stderr(`curl: option ${g.option}: is unknown\n`);
    ctx.stderr("curl: try 'curl --help' or 'curl --manual' for more information\n");
    return 2;
  }
  const silent = opt(p, 's') === true;
  const showError = !silent || opt(p, 'S') === true;
  const verbose = opt(p, 'v') === true;
  const target = p.operands[0];
  const err = (code: number, message: string) => {
    if (showError) ctx.stderr(`curl: (${code}) ${message}\n`);
    const w = opt(p, 'w');
    if (typeof w === 'string') ctx.stdout(writeOut(w, undefined, target ?? '', code));
    return code;
  };
  if (target === undefined) {
    ctx.stderr('curl: no URL specified\n');
    ctx.stderr("curl: try 'curl --help' or 'curl --manual' for more information\n");
    return 2;
  }
  let url: URL;
  try {
    url = new URL(/^[a-z]+:\/\//i.test(target) ? target : `http://${target}`);
  } catch {
    return err(3, 'URL rejected: Malformed input to a URL function');
  }
  if (url.protocol !== 'http:') return err(1, `Protocol "${url.protocol.replace(':', '')}" not supported`);
  const maxTime = opt(p, 'm');
  const timeoutMs = typeof maxTime === 'string' ? Number(maxTime) * 1000 : undefined;
  if (timeoutMs !== undefined && !(timeoutMs >= 0)) {
    ctx.stderr(`curl: option -m: expected a proper numerical parameter\n`);
    return 2;
  }
  const data = opts(p, 'd');
  const method = (opt(p, 'X') as string | undefined) ?? (opt(p, 'I') ? 'HEAD' : data.length > 0 ? 'POST' : 'GET');
  const headers: Record<string, string> = { 'User-Agent': USER_AGENT, Accept: '*/*' };
  if (data.length > 0) headers['Content-Type'] = 'application/x-www-form-urlencoded';
  for (const h of opts(p, 'H')) {
    const i = h.indexOf(':');
    if (i > 0) headers[h.slice(0, i).trim()] = h.slice(i + 1).trim();
  }
  const path = `${url.pathname}${url.search}`;
  if (verbose) ctx.stderr(`*   Trying ${url.hostname}:${url.port || 80}...\n`);
  let r: FetchResult;
  try {
    r = await httpFetch(ctx.net, {
      method,
      url,
      headers,
      ...(data.length > 0 ? { body: data.join('&') } : {}),
      ...(timeoutMs !== undefined ? { timeoutMs } : {}),
      signal: ctx.killed,
      onConnected: (ip, port) => {
        if (!verbose) return;
        ctx.stderr(`* Connected to ${url.hostname} (${ip}) port ${port}\n`);
        ctx.stderr(`> ${method} ${path} HTTP/1.1\n> Host: ${url.host}\n`);
        for (const [k, v] of Object.entries(headers)) ctx.stderr(`> ${k}: ${v}\n`);
        ctx.stderr('> \n');
      },
    });
  } catch (e) {
    const f = e as FetchError;
    if (!(f instanceof FetchError)) return err(56, String(e));
    switch (f.kind) {
      case 'resolve':
        return err(6, f.message);
      case 'refused':
      case 'unreachable':
        return err(7, `Failed to connect to ${url.hostname} port ${url.port || 80} after ${f.elapsedMs} ms: ${f.message}`);
      case 'timeout':
        return err(28, `Operation timed out after ${f.elapsedMs} milliseconds with 0 bytes received`);
      case 'aborted':
        return 137;
      default:
        return err(56, f.message);
    }
  }
  if (verbose) {
    ctx.stderr(`< HTTP/${r.httpVersion} ${r.status} ${r.statusText}\n`);
    for (let i = 0; i + 1 < r.rawHeaders.length; i += 2) ctx.stderr(`< ${r.rawHeaders[i]}: ${r.rawHeaders[i + 1]}\n`);
    ctx.stderr('< \n');
  }
  if (opt(p, 'f') === true && r.status >= 400) return err(22, `The requested URL returned error: ${r.status}`);
  const out = opt(p, 'o');
  const head = opt(p, 'i') === true || opt(p, 'I') === true;
  let text = '';
  if (head) {
    text += `HTTP/${r.httpVersion} ${r.status} ${r.statusText}\r\n`;
    for (let i = 0; i + 1 < r.rawHeaders.length; i += 2) text += `${r.rawHeaders[i]}: ${r.rawHeaders[i + 1]}\r\n`;
    text += '\r\n';
  }
  if (out === undefined || out === '-') {
    if (head) ctx.stdout(text);
    ctx.stdout(r.body);
  } else if (out !== '/dev/null') {
    // The toolbox has no writable filesystem: only /dev/null and stdout are destinations.
    return err(
      23,
      `Failure writing output to destination, passed ${r.body.length} returned 0 (${out}: the podnet toolbox has no filesystem; use -o /dev/null or -o -)`,
    );
  }
  if (verbose) ctx.stderr(`* Connection #0 to host ${url.hostname} left intact\n`);
  const w = opt(p, 'w');
  if (typeof w === 'string') ctx.stdout(writeOut(w, r, url.href, 0));
  return 0;
}

const WGET_USAGE = `BusyBox v1.36.1 (2023-05-18 22:34:17 UTC) multi-call binary.

Usage: wget [-cqS] [--spider] [-O FILE] [-o LOGFILE] [--header STR]
	[--post-data STR | --post-file FILE] [-Y on/off]
	[-P DIR] [-U AGENT] [-T SEC] URL...

Retrieve files via HTTP or FTP

	--spider	Only check URL existence: $? is 0 if exists
	--header STR	Add STR (of form 'header: value') to headers
	--post-data STR	Send STR using POST method
	-c		Continue retrieval of aborted transfer
	-q		Quiet
	-O FILE		Save to FILE ('-' for stdout)
	-T SEC		Network read timeout is SEC seconds
`;

/** BusyBox wget: -q, -O FILE ('-' = stdout), -T SEC, --spider, --header, --post-data. */
export async function wget(argv: string[], ctx: ProcessContext): Promise<number> {
  let p: ReturnType<typeof getopt>;
  try {
    p = getopt(argv.slice(1), {
      short: 'qO:T:cS',
      long: ['quiet', 'output-document=', 'timeout=', 'spider', 'header=', 'post-data='],
      longToShort: { quiet: 'q', 'output-document': 'O', timeout: 'T' },
    });
  } catch (e) {
    const g = e as GetoptError;
    ctx.stderr(
      g.option.startsWith('--') ? `wget: unrecognized option '${g.option}'\n` : `wget: invalid option -- '${g.option.slice(1)}'\n`,
    );
    ctx.stderr(WGET_USAGE);
    return 1;
  }
  const target = p.operands[0];
  if (target === undefined) {
    ctx.stderr(WGET_USAGE);
    return 1;
  }
  let url: URL;
  try {
    url = new URL(/^[a-z]+:\/\//i.test(target) ? target : `http://${target}`);
  } catch {
    ctx.stderr(`wget: bad address '${target}'\n`);
    return 1;
  }
  const quiet = opt(p, 'q') === true;
  const headers: Record<string, string> = { 'User-Agent': 'Wget', Connection: 'close' };
  for (const h of opts(p, 'header')) {
    const i = h.indexOf(':');
    if (i > 0) headers[h.slice(0, i).trim()] = h.slice(i + 1).trim();
  }
  const post = opt(p, 'post-data');
  const t = opt(p, 'T');
  if (!quiet) ctx.stderr(`Connecting to ${url.host} (${url.host})\n`);
  let r: FetchResult;
  try {
    r = await httpFetch(ctx.net, {
      url,
      headers,
      signal: ctx.killed,
      ...(typeof post === 'string' ? { method: 'POST', body: post } : {}),
      ...(typeof t === 'string' ? { timeoutMs: Number(t) * 1000 } : {}),
    });
  } catch (e) {
    const f = e as FetchError;
    if (f.kind === 'resolve') ctx.stderr(`wget: bad address '${url.hostname}'\n`);
    else if (f.kind === 'refused') ctx.stderr(`wget: can't connect to remote host (${url.hostname}): Connection refused\n`);
    else if (f.kind === 'unreachable') ctx.stderr(`wget: can't connect to remote host (${url.hostname}): No route to host\n`);
    else if (f.kind === 'timeout') ctx.stderr('wget: download timed out\n');
    else if (f.kind === 'aborted') return 137;
    else ctx.stderr(`wget: error getting response: ${f.message}\n`);
    return 1;
  }
  if (r.status >= 400) {
    ctx.stderr(`wget: server returned error: HTTP/${r.httpVersion} ${r.status} ${r.statusText}\n`);
    return 1;
  }
  if (opt(p, 'spider') === true) {
    if (!quiet) ctx.stderr('remote file exists\n');
    return 0;
  }
  const out = opt(p, 'O');
  if (out === '-') ctx.stdout(r.body);
  else if (out !== '/dev/null') {
    ctx.stderr(`wget: can't open '${out ?? (url.pathname.split('/').pop() || 'index.html')}': Read-only file system\n`);
    return 1;
  }
  if (!quiet && out !== '-') ctx.stderr(`saving to '${out}'\n`);
  return 0;
}
