// A loopback TCP proxy in front of the Docker socket that can stall the engine's answers: while
// stalled, every API request except the event stream is held (never forwarded), as a hung dockerd
// would behave, while an open or newly opened event stream keeps flowing. Requests are recognised
// per chunk: Node sends one request at a time per socket, and the Docker GETs have no body.
import { connect, createServer, type Server, type Socket } from 'node:net';

export interface DockerProxy {
  /** For --docker-host. */
  readonly url: string;
  stall(on: boolean): void;
  /** API requests held since the proxy started (event stream requests never are). */
  held(): number;
  close(): Promise<void>;
}

const EVENTS = /^GET \/(?:v[\d.]+\/)?events[?/ ]/;

export async function startDockerProxy(socketPath = '/var/run/docker.sock'): Promise<DockerProxy> {
  const sockets = new Set<Socket>();
  const waiting: Array<() => void> = [];
  let stalled = false;
  let held = 0;
  const server: Server = createServer((client) => {
    const upstream = connect(socketPath);
    sockets.add(client).add(upstream);
    const done = (): void => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', done).on('close', done);
    upstream.on('error', done).on('close', done);
    upstream.pipe(client);
    // Held chunks of this connection, forwarded in order once the stall ends.
    let queue: Buffer[] | undefined;
    client.on('data', (chunk: Buffer) => {
      if (queue) return void queue.push(chunk);
      if (stalled && !EVENTS.test(chunk.toString('latin1', 0, 64))) {
        held++;
        queue = [chunk];
        waiting.push(() => {
          for (const c of queue ?? []) upstream.write(c);
          queue = undefined;
        });
        return;
      }
      upstream.write(chunk);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    url: `tcp://127.0.0.1:${port}`,
    stall(on) {
      stalled = on;
      if (!on) for (const release of waiting.splice(0)) release();
    },
    held: () => held,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        sockets.clear();
        server.close(() => resolve());
      }),
  };
}
