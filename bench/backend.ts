// The benchmark's upstream: a minimal node:http server on N loopback ports (argument, default 1).
// `/64k` answers 64 KiB, anything else a 3-byte body; WebSocket upgrades get an echo server (the
// held-load rows). Reports its ports to the parent over IPC.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';

const count = Number(process.argv[2] ?? '1');
const small = Buffer.from('ok\n');
const big = Buffer.alloc(64 * 1024, 'x');
const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
wss.on('connection', (ws) => ws.on('message', (data, binary) => ws.send(data, { binary })));

async function main(): Promise<void> {
  const ports: number[] = [];
  for (let i = 0; i < count; i++) {
    // x-port tells which port (backend) answered: the scale test uses it to see a change go live.
    const smallHeaders = { 'content-type': 'text/plain', 'content-length': String(small.length), 'x-port': '' };
    const bigHeaders = { 'content-type': 'text/plain', 'content-length': String(big.length), 'x-port': '' };
    const server = createServer((req, res) => {
      req.resume();
      if (req.url === '/64k') {
        res.writeHead(200, bigHeaders);
        res.end(big);
      } else {
        res.writeHead(200, smallHeaders);
        res.end(small);
      }
    });
    server.on('upgrade', (req, socket, head) =>
      wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws)),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    smallHeaders['x-port'] = bigHeaders['x-port'] = String(port);
    ports.push(port);
  }
  process.send?.({ type: 'ready', ports });
  process.on('disconnect', () => process.exit(0));
  process.on('SIGTERM', () => process.exit(0));
}

void main();
