// Listening and closing test servers on loopback: port 0, so parallel runs never fight over ports.
import type { Server as HttpServer } from 'node:http';
import type { Server as NetServer } from 'node:net';

/** Listens on 127.0.0.1 at a port the kernel picks; resolves with that port. */
export function listen(server: NetServer): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const addr = server.address();
      resolve(typeof addr === 'object' && addr !== null ? addr.port : 0);
    });
  });
}

/** Closes an HTTP server now: kept-alive connections would otherwise hold `close()` open. */
export function closeHttp(server: HttpServer): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}
