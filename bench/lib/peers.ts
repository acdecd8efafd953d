// The native programs the balancer is measured against, and the fast static backend: nginx (static and
// as a proxy), HAProxy and Caddy. Each gets its config written to its own folder in the work dir, runs in
// the foreground in its own process group (stopping it stops its workers), listens on 127.0.0.1 only, and
// is checked from /proc for anything listening beyond loopback before it is used.
import { mkdirSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import type { Endpoint } from './components.js';
import { get } from './http.js';
import { assertLoopbackOnly } from './listeners.js';
import { start, type Proc } from './procs.js';
import { freePort, waitFor } from './util.js';

export interface Peer extends Endpoint {
  readonly proc: Proc;
  readonly port: number;
  /** What it listens on (from /proc), for results.json. */
  readonly listening: readonly string[];
}

/** Requests per keep-alive connection: high enough that no run ever reaches it. */
const NO_CAP = 1_000_000_000;

/** Status of one GET over TLS (the bench's certificates are self-made: not verified). */
export function httpsStatus(url: string, timeoutMs = 5000): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { rejectUnauthorized: false, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`timeout: ${url}`)));
    req.on('error', reject);
    req.end();
  });
}

async function ready(name: string, proc: Proc, port: number, tls = false): Promise<Peer> {
  const url = `${tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  const status = (): Promise<number | undefined> =>
    (tls ? httpsStatus(`${url}/`) : get(`${url}/`).then((r) => r.status)).catch(() => undefined);
  await waitFor(
    name,
    async () => {
      if (!proc.alive()) throw new Error(`${name} exited: ${proc.tail()}`);
      return (await status()) === 200;
    },
    15_000,
    50,
  );
  try {
    return { name, url, port, proc, listening: assertLoopbackOnly(name, proc.pid) };
  } catch (err) {
    await proc.stop();
    throw err;
  }
}

function folder(work: string, name: string): string {
  const dir = join(work, name);
  mkdirSync(join(dir, 'logs'), { recursive: true });
  return dir;
}

function startNginx(name: string, dir: string, http: string): Proc {
  const conf = `
worker_processes 1;
daemon off;
${process.getuid?.() === 0 ? 'user root root; # as root, workers would run as nobody and not read the work dir' : ''}
pid ${dir}/nginx.pid;
error_log ${dir}/logs/error.log warn;
events { worker_connections 8192; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  keepalive_requests ${NO_CAP};
  keepalive_timeout 3600s;
${http}
}
`;
  writeFileSync(join(dir, 'nginx.conf'), conf);
  const args = ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'logs', 'error.log')];
  return start(name, 'nginx', args, {}, true);
}

/**
 * The fast backend: nginx, one worker, `/` a 3-byte body and `/64k` a 64 KiB file (sendfile), client
 * keep-alive without a request cap (nginx closes after 1,000 requests by default, and then every proxy
 * in front would measure reconnects) and a long idle timeout.
 */
export async function startNginxStatic(work: string, name = 'nginx-static'): Promise<Peer> {
  const dir = folder(work, name);
  writeFileSync(join(dir, '64k.bin'), Buffer.alloc(64 * 1024, 'x'));
  const port = await freePort();
  const proc = startNginx(
    name,
    dir,
    `  default_type text/plain;
  sendfile on;
  tcp_nopush on;
  open_file_cache max=16 inactive=1h;
  server {
    listen 127.0.0.1:${port} backlog=4096;
    location = /64k { alias ${dir}/64k.bin; }
    location / { return 200 "ok\\n"; }
  }`,
  );
  return ready(name, proc, port);
}

export interface TlsFiles {
  readonly cert: string;
  readonly key: string;
}

/**
 * nginx as a reverse proxy: one worker, upstream keep-alive (64 idle, no request cap), no access log;
 * `/ws` passes WebSocket upgrades.
 * With `tls` it listens with `ssl http2` instead (HTTP/2 or HTTP/1.1 by ALPN, TLS 1.2 and 1.3, a
 * session cache and tickets, as the balancer's --tls-listen), and `url` is https.
 */
export async function startNginxProxy(
  work: string,
  backendPort: number,
  name = 'nginx',
  tls?: TlsFiles,
): Promise<Peer> {
  const dir = folder(work, `${name}-proxy-${backendPort}`);
  const port = await freePort();
  const listen = tls
    ? `listen 127.0.0.1:${port} ssl http2 backlog=4096;
    ssl_certificate ${tls.cert};
    ssl_certificate_key ${tls.key};
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache shared:bench:1m;
    ssl_session_tickets on;`
    : `listen 127.0.0.1:${port} backlog=4096;`;
  const proc = startNginx(
    `${name}-${backendPort}`,
    dir,
    `  upstream backend {
    server 127.0.0.1:${backendPort};
    keepalive 64;
    keepalive_requests ${NO_CAP};
    keepalive_timeout 4s; # below Node's 5 s server keep-alive, for the node:http backend
  }
  server {
    ${listen}
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffers 16 8k;
      proxy_max_temp_file_size 0;
    }
    # WebSockets (the websocket scenario; the backend echoes on any path): Upgrade and Connection are
    # hop-by-hop, so nginx passes them only when told to; an upgraded connection is never reused.
    location /ws {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection "upgrade";
    }
  }`,
  );
  const peer = await ready(`${name}-${backendPort}`, proc, port, tls !== undefined);
  return { ...peer, name };
}

/** HAProxy: one thread, mode http, `http-reuse always` (idle server connections shared), no logging. */
export async function startHaproxy(work: string, backendPort: number, name = 'haproxy'): Promise<Peer> {
  const dir = folder(work, `${name}-${backendPort}`);
  const port = await freePort();
  // No `log` line anywhere: HAProxy then logs nothing. No stats socket, no stats page.
  const conf = `global
  nbthread 1
  maxconn 8192

defaults
  mode http
  option http-keep-alive
  http-reuse always
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  timeout http-keep-alive 60s

frontend bench
  bind 127.0.0.1:${port}
  default_backend upstream

backend upstream
  server s1 127.0.0.1:${backendPort}
`;
  const file = join(dir, 'haproxy.cfg');
  writeFileSync(file, conf);
  // -db: stay in the foreground, one process (no master-worker mode).
  const proc = start(`${name}-${backendPort}`, 'haproxy', ['-db', '-f', file], {}, true);
  const peer = await ready(`${name}-${backendPort}`, proc, port);
  return { ...peer, name };
}

/**
 * Caddy 2 `reverse_proxy` from a JSON config: admin endpoint off (its default is localhost:2019),
 * automatic HTTPS off (no :80/:443 listeners, no certificates), no access log, runtime log at ERROR,
 * storage and config dirs inside the work dir, GOMAXPROCS left at Caddy's default (all cores).
 */
export async function startCaddy(work: string, backendPort: number, name = 'caddy'): Promise<Peer> {
  const dir = folder(work, `${name}-${backendPort}`);
  const port = await freePort();
  const config = {
    admin: { disabled: true, config: { persist: false } },
    logging: { logs: { default: { level: 'ERROR' } } },
    storage: { module: 'file_system', root: join(dir, 'data') },
    apps: {
      http: {
        grace_period: '1s',
        servers: {
          bench: {
            listen: [`127.0.0.1:${port}`],
            automatic_https: { disable: true },
            routes: [{ handle: [{ handler: 'reverse_proxy', upstreams: [{ dial: `127.0.0.1:${backendPort}` }] }] }],
          },
        },
      },
    },
  };
  const file = join(dir, 'caddy.json');
  writeFileSync(file, JSON.stringify(config, null, 2));
  const env = { HOME: dir, XDG_CONFIG_HOME: join(dir, 'config'), XDG_DATA_HOME: join(dir, 'data') };
  const proc = start(`${name}-${backendPort}`, 'caddy', ['run', '--config', file], env, true);
  const peer = await ready(`${name}-${backendPort}`, proc, port);
  return { ...peer, name };
}
