// Is a TCP port free? Binding it is the only reliable test (another process may hold it on
// 0.0.0.0, on this address, or on 127.0.0.1 only).
import net from 'node:net';

export function portFree(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(true)));
  });
}
