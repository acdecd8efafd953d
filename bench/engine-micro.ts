// Micro-benchmark of the upstream engine (not a test): wrk → node:http front server → upstream →
// a fast raw-socket backend (a fixed response per request, no HTTP library), each in its own
// process. Rows: the backend direct, the front server with the engine, and the same front server
// with `http.request` over a keep-alive Agent (what the HTTP edge uses today). Prints req/s, p99
// and the front process's CPU µs per request (utime + stime from /proc during the run).
//   npx tsc -p bench/tsconfig.json && node dist/bench/engine-micro.js [--seconds 10] [--connections 64]
//     [--size 3] [--only direct,engine,agent]
import { fork, spawnSync, type ChildProcess } from 'node:child_process';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { ResponseHeaders } from '../balancer/proxy/engine/header-fields.js';
import type { ResponseSink, UpstreamAttempt } from '../balancer/proxy/engine/upstream-attempt.js';
import { UpstreamEngine } from '../balancer/proxy/engine/upstream-engine.js';
import { forwardResponseHeaders, stripHopByHop } from '../balancer/proxy/forwarded.js';
import type { Backend } from '../balancer/types.js';
import { cpuSeconds } from './lib/proc-stats.js';

const SELF = fileURLToPath(import.meta.url);

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : (process.argv[i + 1] ?? fallback);
}

function ready(server: http.Server | ReturnType<typeof createServer>): void {
  server.listen(0, '127.0.0.1', () => {
    const a = server.address();
    process.send?.({ port: typeof a === 'object' && a !== null ? a.port : 0 });
  });
  process.on('disconnect', () => process.exit(0));
}

/** Answers every request head (GET, no body) with one fixed response; requests counted by CRLF CRLF. */
function backend(size: number): void {
  const body = 'x'.repeat(Math.max(0, size - 1)) + '\n';
  const one = Buffer.from(
    `HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
  );
  const server = createServer((sock: Socket) => {
    sock.setNoDelay(true);
    let tail = 0; // how much of CRLF CRLF the previous read ended with
    sock.on('data', (d: Buffer) => {
      let n = 0;
      for (let i = 0; i < d.length; i++) {
        const c = d[i];
        if ((c === 0x0d && (tail === 0 || tail === 2)) || (c === 0x0a && (tail === 1 || tail === 3))) {
          if (++tail === 4) {
            n++;
            tail = 0;
          }
        } else tail = c === 0x0d ? 1 : 0;
      }
      if (n === 1) sock.write(one);
      else if (n > 1) sock.write(Buffer.concat(Array.from({ length: n }, () => one)));
    });
    sock.on('error', () => undefined);
  });
  ready(server);
}

let ids = 0;

/** The sink an HTTP exchange would be: forward the head, stream the body with backpressure. */
class Relay implements ResponseSink {
  attempt: UpstreamAttempt | undefined;
  constructor(private readonly res: ServerResponse) {}
  readonly onDrain = (): void => this.attempt?.resume();
  readonly onClose = (): void => {
    if (!this.res.writableFinished) this.attempt?.abort();
  };
  onInterim(status: number, headers: ResponseHeaders): void {
    if (status === 100) this.res.writeContinue();
    else this.res.writeEarlyHints(headers as Record<string, string | string[]>);
  }
  onResponse(status: number, reason: string, headers: ResponseHeaders): void {
    forwardResponseHeaders(headers, { connection: 'keep-alive', requestId: String(++ids) }, this.res);
    this.res.statusCode = status;
    if (reason !== '') this.res.statusMessage = reason;
  }
  onData(chunk: Buffer): boolean {
    if (this.res.write(chunk)) return true;
    this.res.once('drain', this.onDrain);
    return false;
  }
  onTrailers(): void {}
  onEnd(): void {
    this.res.end();
  }
  onError(): void {
    if (this.res.headersSent) this.res.destroy();
    else this.res.writeHead(502).end('bad gateway\n');
  }
}

function backendFor(port: number): Backend {
  return {
    id: 'bench/b',
    service: 'bench',
    instance: 'b',
    entry: { host: '127.0.0.1', port, weight: 1, tags: [], draining: false },
    target: `http://127.0.0.1:${port}`,
    health: { unhealthy: false },
  };
}

function prepare(req: IncomingMessage): IncomingMessage['headers'] {
  const headers = req.headers;
  stripHopByHop(headers, { direction: 'request' });
  headers['x-forwarded-for'] = req.socket.remoteAddress ?? '';
  return headers;
}

function engineProxy(backendPort: number): void {
  const engine = new UpstreamEngine();
  const pool = engine.pool(backendFor(backendPort));
  const server = http.createServer((req, res) => {
    const headers = prepare(req);
    const sink = new Relay(res);
    const hasBody = headers['content-length'] !== undefined || headers['transfer-encoding'] !== undefined;
    sink.attempt = pool.request(req.method ?? 'GET', req.url ?? '/', headers, hasBody ? req : undefined, sink);
    res.once('close', sink.onClose);
  });
  server.keepAliveTimeout = 60_000;
  ready(server);
}

function agentProxy(backendPort: number): void {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256, maxFreeSockets: 256, scheduling: 'lifo' });
  const server = http.createServer((req, res) => {
    const headers = prepare(req);
    const up = http.request({
      hostname: '127.0.0.1',
      port: backendPort,
      method: req.method,
      path: req.url,
      headers,
      agent,
    });
    up.on('response', (pr) => {
      forwardResponseHeaders(pr.headers, { connection: 'keep-alive', requestId: String(++ids) }, res);
      res.statusCode = pr.statusCode ?? 502;
      pr.pipe(res);
    });
    up.on('error', () => (res.headersSent ? res.destroy() : res.writeHead(502).end()));
    req.pipe(up);
  });
  server.keepAliveTimeout = 60_000;
  ready(server);
}

function start(role: string, ...args: string[]): Promise<{ child: ChildProcess; port: number }> {
  const child = fork(SELF, ['child', role, ...args], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    child.once('message', (m: { port: number }) => resolve({ child, port: m.port }));
    child.once('exit', (code) => reject(new Error(`${role} exited ${code}`)));
  });
}

interface Row {
  name: string;
  rps: number;
  p99: string;
  cpuUs: number;
  backendCpuUs: number;
}

function wrk(port: number, seconds: number, connections: number): { rps: number; requests: number; p99: string } {
  const r = spawnSync('wrk', ['-t1', `-c${connections}`, `-d${seconds}s`, '--latency', `http://127.0.0.1:${port}/`], {
    encoding: 'utf8',
    timeout: (seconds + 30) * 1000,
  });
  if (r.status !== 0) throw new Error(`wrk failed: ${r.stderr}${r.stdout}`);
  const out = r.stdout;
  const errors = /Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)/.exec(out);
  if (errors) process.stderr.write(`wrk: ${errors[0]}\n`);
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]),
    requests: Number(/(\d+) requests in/.exec(out)?.[1]),
    p99: /^\s*99%\s+(\S+)/m.exec(out)?.[1] ?? '?',
  };
}

async function main(): Promise<void> {
  const seconds = Number(arg('seconds', '10'));
  const connections = Number(arg('connections', '64'));
  const size = arg('size', '3');
  const only = arg('only', 'direct,engine,agent').split(',');
  const back = await start('backend', size);
  const rows: Row[] = [];
  try {
    for (const name of only) {
      const front = name === 'direct' ? undefined : await start(name, String(back.port));
      const port = front?.port ?? back.port;
      const pid = front?.child.pid ?? (back.child.pid as number);
      wrk(port, 1, connections); // warm-up (JIT, pool)
      const cpu0 = cpuSeconds(pid);
      const bcpu0 = cpuSeconds(back.child.pid as number);
      const w = wrk(port, seconds, connections);
      const cpu = cpuSeconds(pid) - cpu0;
      const bcpu = cpuSeconds(back.child.pid as number) - bcpu0;
      rows.push({
        name,
        rps: Math.round(w.rps),
        p99: w.p99,
        cpuUs: Math.round((cpu * 1e6) / w.requests),
        backendCpuUs: Math.round((bcpu * 1e6) / w.requests),
      });
      front?.child.kill();
    }
  } finally {
    back.child.kill();
  }
  console.log(`wrk -t1 -c${connections} -d${seconds}s, ${size}-byte body, node ${process.version}`);
  console.log('row      req/s    p99        CPU µs/req (front)   backend CPU µs/req');
  for (const r of rows) {
    console.log(
      `${r.name.padEnd(8)} ${String(r.rps).padStart(7)}  ${r.p99.padEnd(9)}  ` +
        `${String(r.name === 'direct' ? '-' : r.cpuUs).padStart(8)}` +
        `             ${String(r.backendCpuUs).padStart(4)}`,
    );
  }
}

if (process.argv[2] === 'child') {
  const role = process.argv[3];
  const a = process.argv[4] ?? '';
  if (role === 'backend') backend(Number(a));
  else if (role === 'engine') engineProxy(Number(a));
  else if (role === 'agent') agentProxy(Number(a));
  else throw new Error(`unknown role ${role}`);
} else {
  main().catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
