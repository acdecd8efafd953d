// A loopback TCP proxy a test can cut: to make etcd or Docker unreachable, or to sever a watch.
import { connect, createServer, type Server, type Socket } from 'node:net';

export interface TcpProxy {
  readonly port: number;
  /** Destroys every open connection (the peer sees a reset), new ones still work. */
  cut(): void;
  /** While blocked, new connections are refused-by-reset and existing ones are cut. */
  block(on: boolean): void;
  close(): Promise<void>;
}

export async function startTcpProxy(
  target: { port: number; host?: string } | { path: string },
  listenPort = 0,
): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  let blocked = false;
  const server: Server = createServer((client) => {
    if (blocked) return void client.destroy();
    const upstream = 'path' in target ? connect(target.path) : connect(target.port, target.host ?? '127.0.0.1');
    sockets.add(client).add(upstream);
    const done = (): void => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', done).on('close', done);
    upstream.on('error', done).on('close', done);
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(listenPort, '127.0.0.1', resolve));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  const cut = (): void => {
    for (const s of sockets) s.destroy();
    sockets.clear();
  };
  return {
    port,
    cut,
    block(on) {
      blocked = on;
      if (on) cut();
    },
    close: () =>
      new Promise<void>((resolve) => {
        cut();
        server.close(() => resolve());
      }),
  };
}
