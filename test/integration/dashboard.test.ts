// The admin dashboard in headless Chromium (Debian's /usr/bin/chromium driven by playwright-core)
// against a real etcd, a real balancer process and node:http backends: live table changes, rates
// under a bounded load, backend states, the etcd/readiness banners, a narrow window, screenshots
// in test-output/.
import { mkdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Etcd3 } from 'etcd3';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEtcd, type EtcdServer } from '../helpers/etcd.js';
import { get, runLoad } from '../helpers/load.js';
import { startProgram, stopAllPrograms, type Program } from '../helpers/program.js';
import { freePort } from '../helpers/ports.js';
import { makeTlsPki } from '../helpers/tls-certs.js';
import { delay, waitFor } from '../helpers/wait.js';

const OUTPUT = join(import.meta.dirname, '..', '..', 'test-output');
const CHROMIUM = {
  executablePath: '/usr/bin/chromium',
  args: [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
  timeout: 30_000,
};
const UI_WAIT = 15_000;

let etcd: EtcdServer | undefined;
let client: Etcd3;
let browser: Browser | undefined;
let page: Page;
let bal: { p: Program; proxy: string; admin: string };
const servers: Server[] = [];
/** What the page asked for outside its own origin (must stay empty) and its script errors. */
const foreign: string[] = [];
const pageErrors: string[] = [];

/** A loopback backend answering `name`; `fail(n)` makes the n-th request a 503. */
async function backend(name: string, fail: (n: number) => boolean = () => false): Promise<number> {
  let n = 0;
  const server = createServer((_req, res) => {
    res.statusCode = fail(++n) ? 503 : 200;
    res.end(name);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  servers.push(server);
  return (server.address() as AddressInfo).port;
}

async function register(
  service: string,
  instance: string,
  port: number,
  extra: Record<string, unknown> = {},
): Promise<void> {
  await client.put(`/services/${service}/${instance}`).value(JSON.stringify({ host: '127.0.0.1', port, ...extra }));
}

async function startBalancer(args: string[], waitReady = true): Promise<{ p: Program; proxy: string; admin: string }> {
  const p = startProgram('balancer', [
    '--etcd-endpoints',
    etcd!.endpoint,
    '--listen',
    '127.0.0.1:0',
    '--admin',
    '127.0.0.1:0',
    ...args,
  ]);
  // The line with the admin address (with --workers, workers log one without it).
  const line = await waitFor(
    'balancer listening',
    () => p.logs().find((l) => l.msg === 'balancer listening' && l.admin !== undefined),
    10_000,
  );
  const admin = `http://${String(line.admin)}`;
  if (waitReady) await waitFor('balancer ready', async () => (await fetch(`${admin}/readyz`)).status === 200, 10_000);
  return { p, proxy: `http://${String(line.proxy)}`, admin };
}

async function openDashboard(admin: string): Promise<Page> {
  const p = await browser!.newPage({ viewport: { width: 1280, height: 860 } });
  p.setDefaultTimeout(UI_WAIT);
  p.on('request', (req) => {
    if (!req.url().startsWith(`${admin}/`)) foreign.push(req.url());
  });
  p.on('pageerror', (err) => pageErrors.push(err.message));
  await p.goto(`${admin}/`, { timeout: UI_WAIT });
  return p;
}

const number = async (selector: string): Promise<number> =>
  Number.parseFloat((await page.locator(selector).textContent({ timeout: UI_WAIT })) ?? '');

function withTimeout(p: Promise<unknown>, ms: number): Promise<unknown> {
  return Promise.race([p.catch(() => undefined), delay(ms)]);
}

beforeAll(async () => {
  mkdirSync(OUTPUT, { recursive: true });
  etcd = await startEtcd();
  client = etcd.client();
  await register('web', 'a', await backend('a'));
  await register('web', 'old', await backend('old'), { draining: true });
  await register('web', 'gone', await freePort()); // nothing listens: ejected once the load reaches it
  // Nothing listens either, and no route leads there: unhealthy by its TCP check alone.
  await register('checked', 'sick', await freePort(), { check: { tcp: true, interval: '1s' } });
  await register('api', 'flaky', await backend('flaky', (n) => n % 4 === 0));
  await client.put('/routes/api').value(JSON.stringify({ pathPrefix: '/api', service: 'api' }));
  await client.put('/routes/split').value(
    JSON.stringify({
      pathPrefix: '/split',
      services: [
        { name: 'web', weight: 90 },
        { name: 'api', weight: 10 },
      ],
      stripPrefix: true,
      rateLimit: { average: 100, burst: 200 },
    }),
  );
  bal = await startBalancer(['--default-service', 'web', '--eject-cooldown', '60s']);
  browser = await chromium.launch(CHROMIUM);
  page = await openDashboard(bal.admin);
});

afterAll(async () => {
  await withTimeout(browser?.close() ?? Promise.resolve(), 10_000);
  await stopAllPrograms();
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    s.close();
  }
  await etcd?.destroy();
});

describe('admin dashboard', () => {
  it('is a self-contained page on the admin listener only, listing services, routes and backend states', async () => {
    const res = await fetch(`${bal.admin}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(res.headers.get('content-security-policy')).toContain("default-src 'none'");
    const html = await res.text();
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);
    const stats = (await (await fetch(`${bal.admin}/api/stats`)).json()) as {
      time: number;
      services: Record<string, unknown>;
      workers?: number;
    };
    expect(stats.time).toBeGreaterThan(Date.now() - 60_000);
    expect(stats.workers).toBeUndefined();
    // The proxy listener forwards these paths to backends like any other.
    expect((await get(`${bal.proxy}/api/stats`)).body).toBe('flaky');

    await page.waitForSelector('[data-backend="web/a"][data-state="up"]');
    await page.waitForSelector('[data-backend="web/old"][data-state="draining"]');
    await page.waitForSelector('[data-service="api"] [data-backend="api/flaky"]');
    const sick = page.locator('[data-backend="checked/sick"][data-state="unhealthy"]');
    await sick.waitFor({ state: 'visible' });
    expect(await sick.locator('.state.bad').textContent()).toBe('unhealthy');
    await page.waitForSelector('[data-route="/routes/api"]');
    // A route's policies are chips titled with their values; a split names its services and weights.
    const split = page.locator('[data-route="/routes/split"]');
    await split.waitFor({ state: 'visible' });
    expect(await split.textContent()).toContain('web 90, api 10');
    expect(await split.locator('[data-policy="stripPrefix"]').getAttribute('title')).toBe('stripPrefix: true');
    expect(await split.locator('[data-policy="rateLimit"]').getAttribute('title')).toBe(
      'rateLimit: {"average":100,"burst":200}',
    );
    expect(await page.locator('[data-route="/routes/api"]').textContent()).toContain('none');
    expect(await page.locator('[data-pill="etcd"]').textContent()).toBe('etcd connected');
    expect(await page.locator('[data-pill="ready"]').textContent()).toBe('ready');
    expect(await page.locator('#banners').textContent()).toBe('');
  });

  it('shows a backend started during the test, and drops it when its key is deleted', async () => {
    const port = await backend('b');
    await register('web', 'b', port);
    const row = page.locator('[data-backend="web/b"]');
    await row.waitFor({ state: 'visible' });
    expect(await row.textContent()).toContain(`127.0.0.1:${port}`);
    expect(await row.getAttribute('data-state')).toBe('up');
    await client.delete().key('/services/web/b');
    await row.waitFor({ state: 'detached' });
  });

  it('shows a declared route with its containers, and a route conflict while a route key shadows one', async () => {
    const port = await backend('d');
    const declared = (name: string, host: string) => ({ container: { id: name, name }, routes: [{ host }] });
    await register('web', 'd1', port, declared('web-d1', 'mine.test'));
    await register('web', 'd2', port, declared('web-d2', 'mine.test'));
    await register('api', 'd3', port, declared('api-d3', 'taken.test'));
    await client.put('/routes/taken').value(JSON.stringify({ host: 'taken.test', service: 'web' }));
    const row = page.locator('[data-route="declared:web"]');
    await row.waitFor({ state: 'visible' });
    expect(await row.locator('[data-declared]').textContent()).toBe('containers: web-d1, web-d2');
    const conflict = page.locator('[data-conflict="taken.test/"]');
    await conflict.waitFor({ state: 'visible' });
    expect(await conflict.textContent()).toContain('/routes/taken');
    expect(await conflict.textContent()).toContain('api');
    await client.delete().key('/routes/taken');
    await page.locator('#conflicts-section').waitFor({ state: 'hidden' });
    for (const i of ['d1', 'd2']) await client.delete().key(`/services/web/${i}`);
    await client.delete().key('/services/api/d3');
    await row.waitFor({ state: 'detached' });
  });

  it('shows requests/s above 0 and the error rate while a bounded load runs', async () => {
    const stop = new AbortController();
    const loads = Promise.all([
      runLoad({ url: `${bal.proxy}/`, concurrency: 4, durationMs: 15_000, maxRequests: 50_000, signal: stop.signal }),
      runLoad({
        url: `${bal.proxy}/api/items`,
        concurrency: 2,
        durationMs: 15_000,
        maxRequests: 20_000,
        signal: stop.signal,
      }),
    ]);
    try {
      await waitFor(
        'web requests/s > 0 on the page',
        async () => (await number('[data-service="web"] [data-rps]')) > 0,
        UI_WAIT,
        200,
      );
      await waitFor(
        'api 5xx rate > 0 on the page',
        async () => (await number('[data-service="api"] [data-errors]')) > 0,
        UI_WAIT,
        200,
      );
      await page.waitForSelector('[data-backend="web/gone"][data-state="ejected"]');
      expect(await number('[data-total-rps]')).toBeGreaterThan(0);
      await delay(6000); // some history for the sparklines
      await page.screenshot({ path: join(OUTPUT, 'dashboard.png'), fullPage: true });
      await page.setViewportSize({ width: 390, height: 844 });
      await delay(300);
      const overflow = await page.evaluate(
        () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
      );
      expect(overflow).toBeLessThanOrEqual(0);
      await page.screenshot({ path: join(OUTPUT, 'dashboard-narrow.png'), fullPage: true });
    } finally {
      stop.abort();
      await page.setViewportSize({ width: 1280, height: 860 });
    }
    const [web, api] = await loads;
    // web: `a` serves, `old` drains and `gone` refuses (retried on `a`, then ejected): no client sees a failure.
    expect(web.failures).toEqual([]);
    expect(web.ok).toBeGreaterThanOrEqual(100); // the load ran for the whole check, 6 s of it after the page was live
    expect(web.bodies).toEqual(new Map([['a', web.ok]]));
    // api: the flaky backend answers 503 to every 4th request it gets, and only this load reaches it.
    expect(api.failures.length).toBeGreaterThan(0);
    expect(api.failures.every((f) => f.status === 503)).toBe(true);
    expect(api.failures.length).toBeGreaterThanOrEqual(Math.floor(api.sent / 4));
    expect(api.failures.length).toBeLessThanOrEqual(Math.ceil(api.sent / 4));
    const stats = (await (await fetch(`${bal.admin}/api/stats`)).json()) as {
      services: Record<string, { requests: number; errors: number }>;
    };
    expect(stats.services.web?.requests).toBeGreaterThanOrEqual(web.ok);
    expect(stats.services.api?.errors).toBe(api.failures.filter((f) => f.status === 503).length);
  });

  it('--workers 2: /api/stats on the primary says so, and the page explains why it shows no rates', async () => {
    const multi = await startBalancer(['--default-service', 'web', '--workers', '2']);
    const workersPage = await openDashboard(multi.admin);
    try {
      const stats = (await (await fetch(`${multi.admin}/api/stats`)).json()) as {
        services: Record<string, unknown>;
        workers?: number;
      };
      expect(stats).toMatchObject({ services: {}, workers: 2 });
      await workersPage.locator('[data-banner="workers"]').waitFor({ state: 'visible' });
      await workersPage.waitForSelector('[data-backend="web/a"][data-state="up"]');
      expect(await workersPage.locator('[data-total-rps]').textContent()).toBe('–');
    } finally {
      await workersPage.close();
      await multi.p.stop();
    }
  });

  it('lists the served certificates with their days to expiry, with one worker and with --workers 2', async () => {
    const pki = await makeTlsPki();
    try {
      const cert = await pki.issue({ dns: ['web.test', '*.web.test'] });
      for (const workers of ['1', '2']) {
        const tls = await startBalancer([
          ...['--default-service', 'web', '--workers', workers, '--tls-listen', '127.0.0.1:0'],
          ...['--tls-cert', cert.certFile, '--tls-key', cert.keyFile],
        ]);
        const certPage = await openDashboard(tls.admin);
        try {
          const row = certPage.locator(`[data-certificate="${cert.certFile}"]`);
          await row.waitFor({ state: 'visible' });
          const text = (await row.textContent()) ?? '';
          expect(text).toContain('web.test, *.web.test');
          expect(text).toContain('file');
          const api = (await (await fetch(`${tls.admin}/api/certificates`)).json()) as {
            certificates: Array<{ name: string; daysLeft: number; source: string }>;
          };
          expect(api.certificates).toHaveLength(1);
          expect(api.certificates[0]).toMatchObject({ name: cert.certFile, source: 'file' });
          expect(text).toContain(String(api.certificates[0]?.daysLeft));
          expect(api.certificates[0]?.daysLeft).toBeGreaterThan(0);
        } finally {
          await certPage.close();
          await tls.p.stop();
        }
      }
      // Without --tls-listen the section stays hidden.
      expect(await page.locator('#certificates-section').isHidden()).toBe(true);
    } finally {
      pki.cleanup();
    }
  });

  it('shows "etcd disconnected" and "not ready" banners', async () => {
    await etcd!.stop();
    try {
      const banner = page.locator('[data-banner="etcd"]');
      await banner.waitFor({ state: 'visible', timeout: 20_000 });
      expect(await banner.textContent()).toContain('etcd disconnected');
      expect(await page.locator('[data-pill="etcd"]').textContent()).toBe('etcd disconnected');
      await page.screenshot({ path: join(OUTPUT, 'dashboard-etcd-down.png') });
      // A balancer started while etcd is down has no snapshot: not ready.
      const cold = await startBalancer([], false);
      const coldPage = await openDashboard(cold.admin);
      try {
        await coldPage.locator('[data-banner="not-ready"]').waitFor({ state: 'visible' });
        expect(await coldPage.locator('[data-banner="not-ready"]').textContent()).toContain(
          'waiting for the first registry snapshot',
        );
        await coldPage.locator('[data-banner="etcd"]').waitFor({ state: 'visible', timeout: 20_000 });
      } finally {
        await coldPage.close();
        await cold.p.stop('SIGKILL');
      }
    } finally {
      await etcd!.start();
    }
    await page.locator('[data-banner="etcd"]').waitFor({ state: 'detached', timeout: 30_000 });
    expect(foreign).toEqual([]);
    expect(pageErrors).toEqual([]);
  });
});
