// nginx-like static server: port 80, the default "Welcome to nginx!" index page, the 404 page, and
// access-log lines in nginx's "combined" format on stdout (as the official image links them).
import type { ProcessContext } from '../runtime/process.js';
import { aborted } from '../runtime/process.js';

export const NGINX_INDEX = `<!DOCTYPE html>
<html>
<head>
<title>Welcome to nginx!</title>
<style>
html { color-scheme: light dark; }
body { width: 35em; margin: 0 auto;
font-family: Tahoma, Verdana, Arial, sans-serif; }
</style>
</head>
<body>
<h1>Welcome to nginx!</h1>
<p>If you see this page, the nginx web server is successfully installed and
working. Further configuration is required.</p>

<p>For online documentation and support please refer to
<a href="http://nginx.org/">nginx.org</a>.<br/>
Commercial support is available at
<a href="http://nginx.com/">nginx.com</a>.</p>

<p><em>Thank you for using nginx.</em></p>
</body>
</html>
`;

const NOT_FOUND = `<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n<center><h1>404 Not Found</h1></center>\r\n<hr><center>nginx/1.27.3</center>\r\n</body>\r\n</html>\r\n`;

function logTime(d: Date): string {
  const mon = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'][d.getUTCMonth()];
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(d.getUTCDate())}/${mon}/${d.getUTCFullYear()}:${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}

export async function nginx(_argv: string[], ctx: ProcessContext): Promise<number> {
  try {
    await ctx.net.listenHttp(80, (req, res) => {
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      const ok = path === '/' || path === '/index.html';
      const body = ok ? NGINX_INDEX : NOT_FOUND;
      res.writeHead(ok ? 200 : 404, { Server: 'nginx/1.27.3', 'Content-Type': 'text/html', 'Content-Length': Buffer.byteLength(body) });
      res.end(req.method === 'HEAD' ? undefined : body);
      ctx.stdout(
        `${req.socket.remoteAddress} - - [${logTime(new Date())}] "${req.method} ${req.url} HTTP/${req.httpVersion}" ${ok ? 200 : 404} ${Buffer.byteLength(body)} "-" "${req.headers['user-agent'] ?? '-'}" "-"\n`,
      );
    });
  } catch (e) {
    ctx.stderr(
      `nginx: [emerg] bind() to 0.0.0.0:80 failed (98: ${(e as NodeJS.ErrnoException).code === 'EADDRINUSE' ? 'Address already in use' : (e as Error).message})\n`,
    );
    return 1;
  }
  ctx.stderr('/docker-entrypoint.sh: Configuration complete; ready for start up\n');
  await aborted(ctx.terminated);
  // nginx treats SIGTERM as a fast shutdown and exits 0.
  return 0;
}
