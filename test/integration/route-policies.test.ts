// Every route policy field end to end: routes written to a real etcd (and one given as a JSON
// --route), read by the balancer program, exercised over real sockets against real backends that
// report what reached them. Each route has its own host, so the cases do not interfere.
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBalancerProgram, type BalancerProgram } from '../helpers/balancer-program.js';
import { startEtcd, type EtcdServer } from '../helpers/etcd.js';
import { stopAllPrograms } from '../helpers/program.js';
import { makeTlsPki, type TlsTestPki } from '../helpers/tls-certs.js';
import { delay, waitFor } from '../helpers/wait.js';

let etcd: EtcdServer;
let client: Etcd3;
let bal: BalancerProgram;
let pki: TlsTestPki;
const servers: Server[] = [];
/** Per backend name: request bodies that arrived whole, and requests whose body was cut off. */
const uploads = new Map<string, { complete: number; aborted: number }>();
let deadPort = 0;

interface Seen {
  readonly name: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
}

/** A backend that answers with JSON of what reached it; `/slow` answers after 1.5 s. */
async function backend(name: string): Promise<number> {
  const counts = { complete: 0, aborted: 0 };
  uploads.set(name, counts);
  const server = createServer((req, res) => {
    let bytes = 0;
    req.on('data', (c: Buffer) => (bytes += c.length));
    req.on('aborted', () => counts.aborted++);
    req.on('error', () => undefined);
    req.on('end', () => {
      if (bytes > 0) counts.complete++;
      const seen: Seen = { name, url: req.url ?? '', headers: req.headers };
      const answer = (): void => {
        res.setHeader('content-type', 'application/json');
        res.setHeader('x-internal', 'secret');
        res.setHeader('x-backend', name);
        res.end(JSON.stringify(seen));
      };
      if (req.url === '/slow') setTimeout(answer, 1_500);
      else answer();
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as AddressInfo).port;
}

interface Reply {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

function send(
  host: string,
  path: string,
  opts: { method?: string; headers?: Record<string, string>; body?: string | string[] } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port: bal.proxyPort, path, method: opts.method ?? 'GET', agent: false },
      (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        res.on('error', reject);
      },
    );
    req.setHeader('host', host);
    for (const [k, v] of Object.entries(opts.headers ?? {})) req.setHeader(k, v);
    // A body cut off by the balancer's 413 may fail to write: only the response matters.
    req.on('error', (err) => (req.writableFinished ? undefined : reject(err)));
    const body = opts.body;
    if (typeof body === 'string') req.end(body);
    else if (Array.isArray(body)) {
      void (async () => {
        for (const part of body) {
          if (req.destroyed) return;
          req.write(part);
          await delay(100);
        }
        req.end();
      })();
    } else req.end();
  });
}

const seen = (r: Reply): Seen => JSON.parse(r.body) as Seen;

async function metric(name: string): Promise<number> {
  const text = await (await fetch(`${bal.admin}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) if (line.startsWith(name)) sum += Number(line.split(' ').pop());
  return sum;
}

interface TableRoute {
  host: string | null;
  source: string;
  services: Array<{ name: string; weight: number }> | null;
  policies: Record<string, unknown>;
}

async function tableRoutes(): Promise<TableRoute[]> {
  return ((await (await fetch(`${bal.admin}/api/table`)).json()) as { routes: TableRoute[] }).routes;
}

const ROUTES: Record<string, Record<string, unknown>> = {
  strip: { host: 'strip.test', pathPrefix: '/api', stripPrefix: true, addPrefix: '/v2', service: 'web' },
  'strip-string': { host: 'strip2.test', pathPrefix: '/api/v1', stripPrefix: '/api', service: 'web' },
  headers: {
    host: 'headers.test',
    service: 'web',
    requestHeaders: { set: { 'X-Env': 'prod' }, remove: ['x-debug'] },
    responseHeaders: { set: { 'Cache-Control': 'no-store' }, remove: ['x-internal'] },
  },
  redirect: { host: 'old.test', redirect: { to: 'https://new.example', code: 301 } },
  'redirect-fixed': { host: 'fixed.test', redirect: { to: 'https://new.example/landing', keepPath: false } },
  timeout: { host: 'timeout.test', service: 'web', timeout: '300ms' },
  'no-retries': { host: 'noretry.test', service: 'flaky', retries: 0 },
  retries: { host: 'retry.test', service: 'flaky2' },
  body: { host: 'body.test', service: 'web', maxBodyBytes: 10 },
  rate: { host: 'rate.test', service: 'web', rateLimit: { average: 1, burst: 2, period: '10s' } },
  allow: { host: 'allow.test', service: 'web', allow: ['10.0.0.0/8'] },
  'allow-local': { host: 'local.test', service: 'web', allow: ['127.0.0.1/32', '::1'] },
  deny: { host: 'deny.test', service: 'web', deny: ['127.0.0.0/8'] },
  split: {
    host: 'split.test',
    services: [
      { name: 'web', weight: 90 },
      { name: 'canary', weight: 10 },
    ],
  },
  'split-sticky': {
    host: 'sticky.test',
    sticky: true,
    services: [
      { name: 'web', weight: 1 },
      { name: 'canary', weight: 1 },
    ],
  },
  secure: { host: 'secure.test', service: 'web', httpsRedirect: true },
  // Invalid in one field: rejected whole, so its host falls through to the default service.
  invalid: { host: 'invalid.test', service: 'web', stripPrefix: true, rateLimit: { average: -1 } },
  'bad-header': { host: 'badheader.test', service: 'web', requestHeaders: { set: { 'X-Forwarded-For': '1.2.3.4' } } },
};

beforeAll(async () => {
  etcd = await startEtcd();
  client = etcd.client();
  pki = await makeTlsPki();
  const cert = await pki.issue({ dns: ['secure.test'] });
  const put = async (service: string, id: string, port: number): Promise<void> => {
    await client.put(`/services/${service}/${id}`).value(JSON.stringify({ host: '127.0.0.1', port }));
  };
  await put('web', 'w1', await backend('web'));
  await put('canary', 'c1', await backend('canary'));
  await put('fallback', 'f1', await backend('fallback'));
  // Two backends, one of which refuses connections: with retries the live one always answers.
  const dead = createServer();
  await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
  deadPort = (dead.address() as AddressInfo).port;
  await new Promise<void>((r) => dead.close(() => r()));
  for (const s of ['flaky', 'flaky2']) {
    await put(s, 'dead', deadPort);
    await put(s, 'live', await backend(s));
  }
  for (const [name, value] of Object.entries(ROUTES)) await client.put(`/routes/${name}`).value(JSON.stringify(value));
  bal = await startBalancerProgram(etcd.endpoint, [
    ...['--default-service', 'fallback', '--retries', '2', '--trusted-proxies', '127.0.0.1/32'],
    ...['--route', JSON.stringify({ host: 'flag.test', pathPrefix: '/x', stripPrefix: true, service: 'web' })],
    ...['--tls-listen', '127.0.0.1:0', '--tls-cert', cert.certFile, '--tls-key', cert.keyFile],
  ]);
});

afterAll(async () => {
  await stopAllPrograms();
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    s.close();
  }
  pki?.cleanup();
  await etcd?.destroy();
});

describe('route policies through etcd, the balancer and real sockets', () => {
  it('stripPrefix true strips the pathPrefix, addPrefix goes in front, the query is kept', async () => {
    expect(seen(await send('strip.test', '/api/users?x=1')).url).toBe('/v2/users?x=1');
    // The bare prefix strips to `/`, as Traefik's stripPrefix does; addPrefix then goes in front of it.
    expect(seen(await send('strip.test', '/api?x=1')).url).toBe('/v2/?x=1');
    expect(seen(await send('strip2.test', '/api/v1/items')).url).toBe('/v1/items');
  });

  it('a JSON --route carries policies too', async () => {
    expect(seen(await send('flag.test', '/x/y?z')).url).toBe('/y?z');
  });

  it('requestHeaders and responseHeaders set and remove', async () => {
    const r = await send('headers.test', '/', { headers: { 'x-debug': '1', 'x-env': 'dev' } });
    const got = seen(r).headers;
    expect(got['x-env']).toBe('prod');
    expect(got['x-debug']).toBeUndefined();
    expect(r.headers['cache-control']).toBe('no-store');
    expect(r.headers['x-internal']).toBeUndefined();
    expect(r.headers['x-backend']).toBe('web');
  });

  it('redirect answers without a backend, with the path and query appended unless keepPath is false', async () => {
    const r = await send('old.test', '/a/b?q=1');
    expect(r.status).toBe(301);
    expect(r.headers.location).toBe('https://new.example/a/b?q=1');
    const fixed = await send('fixed.test', '/a/b?q=1');
    expect(fixed.status).toBe(308);
    expect(fixed.headers.location).toBe('https://new.example/landing');
  });

  it('httpsRedirect sends plain requests of that route to the TLS listener, except ACME challenges', async () => {
    const r = await send('secure.test', '/login?next=/home');
    expect(r.status).toBe(308);
    expect(r.headers.location).toBe(`https://secure.test:${bal.tlsPort}/login?next=/home`);
    const acme = await send('secure.test', '/.well-known/acme-challenge/token1');
    expect(acme.status).toBe(200);
    expect(seen(acme).url).toBe('/.well-known/acme-challenge/token1');
    // Other routes on the plain listener are not redirected.
    expect((await send('strip.test', '/api/x')).status).toBe(200);
  });

  it('timeout overrides --upstream-timeout for that route: 504 after ~300 ms', async () => {
    const t0 = performance.now();
    const r = await send('timeout.test', '/slow');
    const ms = performance.now() - t0;
    expect(r.status).toBe(504);
    expect(ms).toBeLessThan(1_400);
    expect(ms).toBeGreaterThanOrEqual(250);
  });

  it('retries 0 overrides --retries: a refused connection is not retried on that route', async () => {
    // Round-robin alternates, so two requests reach the refusing backend once before it is ejected.
    const noRetry = [await send('noretry.test', '/'), await send('noretry.test', '/')];
    expect(noRetry.map((r) => r.status)).toContain(502);
    const withRetry = [await send('retry.test', '/'), await send('retry.test', '/')];
    expect(withRetry.map((r) => r.status)).toEqual([200, 200]);
  });

  it('maxBodyBytes: a larger Content-Length is refused before any byte goes upstream', async () => {
    const before = uploads.get('web')!.complete;
    const r = await send('body.test', '/upload', { method: 'POST', body: 'x'.repeat(100) });
    expect(r.status).toBe(413);
    expect((await send('body.test', '/upload', { method: 'POST', body: 'small' })).status).toBe(200);
    expect(uploads.get('web')!.complete).toBe(before + 1);
  });

  it('maxBodyBytes: a chunked body is counted while streaming and the upstream exchange aborted', async () => {
    const web = uploads.get('web')!;
    const before = { ...web };
    const r = await send('body.test', '/upload', {
      method: 'POST',
      headers: { 'transfer-encoding': 'chunked' },
      body: ['12345', 'x'.repeat(100), 'more'],
    });
    expect(r.status).toBe(413);
    await waitFor('the backend saw its request cut off', () => web.aborted > before.aborted, 5_000);
    expect(web.complete).toBe(before.complete);
  });

  it('rateLimit: a client past its burst gets 429 with Retry-After in whole seconds', async () => {
    const statuses: number[] = [];
    let retryAfter: string | undefined;
    for (let i = 0; i < 3; i++) {
      const r = await send('rate.test', '/');
      statuses.push(r.status);
      if (r.status === 429) retryAfter = String(r.headers['retry-after']);
    }
    expect(statuses).toEqual([200, 200, 429]);
    expect(retryAfter).toMatch(/^[1-9]\d*$/);
    expect(Number(retryAfter)).toBeLessThanOrEqual(10);
    // Another client address (through a trusted proxy) has its own bucket.
    expect((await send('rate.test', '/', { headers: { 'x-forwarded-for': '192.0.2.7' } })).status).toBe(200);
  });

  it('allow and deny match the client address after --trusted-proxies', async () => {
    expect((await send('allow.test', '/')).status).toBe(403);
    expect((await send('allow.test', '/', { headers: { 'x-forwarded-for': '10.1.2.3' } })).status).toBe(200);
    expect((await send('local.test', '/')).status).toBe(200);
    expect((await send('deny.test', '/')).status).toBe(403);
    expect((await send('deny.test', '/', { headers: { 'x-forwarded-for': '192.0.2.1' } })).status).toBe(200);
  });

  it('services splits new requests exactly by weight (smooth weighted, 90/10 of every 100)', async () => {
    const counts = { web: 0, canary: 0 };
    for (let i = 0; i < 100; i++) counts[seen(await send('split.test', '/')).name as 'web' | 'canary']++;
    expect(counts).toEqual({ web: 90, canary: 10 });
  });

  it('services with sticky: a client keeps the service it got', async () => {
    const first = await send('sticky.test', '/');
    const cookie = String(first.headers['set-cookie']?.[0] ?? '').split(';')[0] ?? '';
    expect(cookie).toMatch(/^lb_sticky=/);
    const pinned = seen(first).name;
    for (let i = 0; i < 6; i++) expect(seen(await send('sticky.test', '/', { headers: { cookie } })).name).toBe(pinned);
    // Without the cookie, the 1:1 split alternates.
    const names = new Set<string>();
    for (let i = 0; i < 4; i++) names.add(seen(await send('sticky.test', '/')).name);
    expect(names).toEqual(new Set(['web', 'canary']));
  });

  it('a route invalid in one field is rejected whole: counted, and its traffic falls through', async () => {
    expect(seen(await send('invalid.test', '/api/x')).name).toBe('fallback');
    expect(seen(await send('badheader.test', '/')).name).toBe('fallback');
    expect(await metric('balancer_invalid_entries_total')).toBeGreaterThanOrEqual(2);
    const routes = await tableRoutes();
    expect(routes.find((r) => r.host === 'invalid.test')).toBeUndefined();
    expect(routes.find((r) => r.host === 'badheader.test')).toBeUndefined();
  });

  it('/api/table shows each route with its policies and source', async () => {
    const routes = await tableRoutes();
    const byHost = (h: string): TableRoute | undefined => routes.find((r) => r.host === h);
    expect(byHost('strip.test')).toMatchObject({
      source: '/routes/strip',
      policies: { stripPrefix: true, addPrefix: '/v2' },
    });
    expect(byHost('rate.test')?.policies).toEqual({ rateLimit: { average: 1, burst: 2, period: '10s' } });
    expect(byHost('split.test')?.services).toEqual([
      { name: 'web', weight: 90 },
      { name: 'canary', weight: 10 },
    ]);
    expect(byHost('flag.test')).toMatchObject({ source: 'flag', policies: { stripPrefix: true } });
    expect(byHost('old.test')?.policies).toEqual({ redirect: { to: 'https://new.example/', code: 301 } });
  });

  it('a route edited in etcd applies live, without a restart', async () => {
    await client.put('/routes/strip').value(JSON.stringify({ ...ROUTES.strip, addPrefix: '/v3' }));
    await waitFor(
      'the edited route applies',
      async () => seen(await send('strip.test', '/api/users')).url === '/v3/users',
      5_000,
    );
  });
});
