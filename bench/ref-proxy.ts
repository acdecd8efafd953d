// Reference proxies for the profile scenario: what Node itself reaches on this machine without our
// routing, metrics and safety work. Usage: ref-proxy <node|http-proxy-ka> <listen-port> <target-url>
//   node           http.request over a keep-alive agent, bodies piped (the lower bound of any Node engine)
//   http-proxy-ka  http-proxy 1.18.1 with a keep-alive agent (our engine, bare)
import http from 'node:http';
import httpProxy from 'http-proxy';

const [mode, portText, target = 'http://127.0.0.1:80'] = process.argv.slice(2);
const t = new URL(target);
const agent = new http.Agent({ keepAlive: true, maxSockets: 256, maxFreeSockets: 256 });
let handler: http.RequestListener;
if (mode === 'node') {
  handler = (req, res) => {
    const up = http.request({ host: t.hostname, port: t.port, method: req.method, path: req.url, headers: req.headers, agent }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    up.on('error', () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    req.pipe(up);
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
