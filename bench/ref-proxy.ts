// Reference proxies for the profile scenario: what Node itself reaches on this machine without our
// routing, metrics and safety work. Usage: ref-proxy <node|http-proxy-ka|undici> <listen-port> <target-url>
//   node           http.request over a keep-alive agent, bodies piped (our engine, bare)
//   http-proxy-ka  http-proxy 1.18.1 with a keep-alive agent
//   undici         undici's Pool (llhttp, its own connection pool) as the upstream client, response
//                  streamed into the node:http response: the candidate replacement engine
import http from 'node:http';
import httpProxy from 'http-proxy';
import { Pool } from 'undici';

const [mode, portText, target = 'http://127.0.0.1:80'] = process.argv.slice(2);
const t = new URL(target);
const agent = new http.Agent({ keepAlive: true, maxSockets: 256, maxFreeSockets: 256 });
let handler: http.RequestListener;
if (mode === 'node') {
  handler = (req, res) => {
    const up = http.request(
      { host: t.hostname, port: t.port, method: req.method, path: req.url, headers: req.headers, agent },
      (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      },
    );
    up.on('error', () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    req.pipe(up);
  };
} else if (mode === 'undici') {
  const pool = new Pool(t.origin, { connections: 256, pipelining: 1 });
  // undici refuses hop-by-hop request headers; a real engine strips them anyway.
  const hop = new Set([
    'connection',
    'keep-alive',
    'transfer-encoding',
    'upgrade',
    'proxy-connection',
    'te',
    'trailer',
    'expect',
  ]);
  handler = (req, res) => {
    const headers: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(req.headers)) if (v !== undefined && !hop.has(k)) headers[k] = v;
    const hasBody = req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
    pool
      .stream(
        { path: req.url ?? '/', method: (req.method ?? 'GET') as 'GET', headers, body: hasBody ? req : null },
        ({ statusCode, headers: h }) => {
          res.writeHead(statusCode, h as http.OutgoingHttpHeaders);
          return res;
        },
      )
      .catch(() => {
        if (!res.headersSent) res.writeHead(502);
        res.end();
      });
  };
} else {
  const proxy = httpProxy.createProxyServer({ target, agent });
  handler = (req, res) =>
    proxy.web(req, res, {}, () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
}
http.createServer(handler).listen(Number(portText), '127.0.0.1', () => process.send?.({ type: 'ready' }));
process.on('disconnect', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
