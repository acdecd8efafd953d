// The "what Node peers do" competitor: http-proxy 1.18.1 with no agent (a new upstream connection
// per request, Connection: close), one process; WebSocket upgrades through its ws(). Usage:
// plain-proxy <listen-port> <target-url>
import { createServer } from 'node:http';
import httpProxy from 'http-proxy';

const port = Number(process.argv[2]);
const target = process.argv[3] ?? 'http://127.0.0.1:80';
const proxy = httpProxy.createProxyServer({ target });
const server = createServer((req, res) =>
  proxy.web(req, res, {}, () => {
    if (!res.headersSent) res.writeHead(502);
    res.end();
  }),
);
server.on('upgrade', (req, socket, head) => {
  socket.on('error', () => socket.destroy());
  proxy.ws(req, socket, head, {}, () => socket.destroy());
});
server.listen(port, '127.0.0.1', () => process.send?.({ type: 'ready' }));
process.on('disconnect', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
