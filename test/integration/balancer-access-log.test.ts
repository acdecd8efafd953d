// --access-log through the balancer program against a real etcd and a real backend: the JSON fields
// for a proxied request, one we answered and one over HTTP/2 with TLS; a request refused at admission
// and one whose client left before the response (499); the combined format; rotation
// with SIGHUP (logrotate's move-then-signal); workers appending to one file; an unopenable file at start.
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import { connect as h2connect } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Etcd3 } from 'etcd3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startBalancerProgram } from '../helpers/balancer-program.js';
import { startEtcd, type EtcdServer } from '../helpers/etcd.js';
import { runProgram, stopAllPrograms } from '../helpers/program.js';
import { makeTlsPki, type IssuedCert, type TlsTestPki } from '../helpers/tls-certs.js';
import { waitFor } from '../helpers/wait.js';

let etcd: EtcdServer;
let client: Etcd3;
let backend: Server;
let pki: TlsTestPki;
let cert: IssuedCert;
let dir: string;
const BODY = 'hello from a\n';

beforeAll(async () => {
  etcd = await startEtcd();
  client = etcd.client();
  pki = await makeTlsPki();
  cert = await pki.issue({ dns: ['web.test'] });
  backend = createServer((req, res) => {
    req.resume();
    res.setHeader('content-type', 'text/plain');
    res.end(BODY);
  });
  await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
  const port = (backend.address() as AddressInfo).port;
  await client.put('/services/web/a').value(JSON.stringify({ host: '127.0.0.1', port }));
});
afterEach(async () => {
  await stopAllPrograms();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});
afterAll(async () => {
  backend?.closeAllConnections();
  backend?.close();
  pki?.cleanup();
  await etcd?.destroy();
});

function logFile(): string {
  dir = mkdtempSync(join(tmpdir(), 'access-log-'));
  return join(dir, 'access.log');
}

function lines(file: string): string[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l !== '');
}

/** Lines of `file` once it holds at least `n` (lines are flushed within a second). */
function waitLines(file: string, n: number): Promise<string[]> {
  return waitFor(`${n} access log lines in ${file}`, () => (lines(file).length >= n ? lines(file) : undefined), 5_000);
}

function get(
  port: number,
  path: string,
  headers: Record<string, string>,
): Promise<{ status: number; requestId: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers, agent: false }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, requestId: String(res.headers['x-request-id']), body }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

describe('access log', () => {
  it('writes one JSON line per request with the documented fields', async () => {
    const file = logFile();
    const b = await startBalancerProgram(etcd.endpoint, [
      ...['--access-log', file, '--default-service', 'web', '--route', 'ghost.test=ghost'],
    ]);
    const ok = await get(b.proxyPort, '/hello?x=1&y=%20', {
      host: 'web.test',
      'user-agent': 'access-test/1.0',
      referer: 'http://ref.test/',
    });
    const refused = await get(b.proxyPort, '/nothing', { host: 'ghost.test' });
    expect(ok.status).toBe(200);
    expect(refused.status).toBe(503);
    const [first, second] = (await waitLines(file, 2)).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(first).toEqual({
      time: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      requestId: ok.requestId,
      client: '127.0.0.1',
      method: 'GET',
      host: 'web.test',
      path: '/hello?x=1&y=%20',
      protocol: 'HTTP/1.1',
      tls: false,
      status: 200,
      bytes: Buffer.byteLength(BODY),
      durationMs: expect.any(Number),
      service: 'web',
      backend: 'web/a',
      upstreamMs: expect.any(Number),
      attempts: 1,
      userAgent: 'access-test/1.0',
      referer: 'http://ref.test/',
    });
    expect(Math.abs(Date.parse(String(first?.time)) - Date.now())).toBeLessThan(30_000);
    expect(first?.upstreamMs as number).toBeLessThanOrEqual(first?.durationMs as number);
    expect(second).toMatchObject({
      requestId: refused.requestId,
      host: 'ghost.test',
      path: '/nothing',
      status: 503,
      bytes: Buffer.byteLength(refused.body),
      service: 'ghost',
      backend: null,
      upstreamMs: null,
      attempts: 0,
      userAgent: null,
    });
  });

  it('records a request refused at admission (404) and one whose client left first (499)', async () => {
    // A backend that holds every request: the client gives up while the balancer waits for its headers.
    let arrived!: () => void;
    const held = new Promise<void>((r) => (arrived = r));
    const slow = createServer(() => arrived());
    await new Promise<void>((r) => slow.listen(0, '127.0.0.1', r));
    try {
      await client
        .put('/services/slow/a')
        .value(JSON.stringify({ host: '127.0.0.1', port: (slow.address() as AddressInfo).port }));
      const file = logFile();
      const b = await startBalancerProgram(etcd.endpoint, ['--access-log', file, '--route', 'slow.test=slow']);
      const refused = await get(b.proxyPort, '/x', { host: 'nowhere.test' });
      expect(refused.status).toBe(404);
      const gone = request({ host: '127.0.0.1', port: b.proxyPort, path: '/held', headers: { host: 'slow.test' } });
      gone.on('error', () => undefined); // we hang up ourselves
      gone.end();
      await held;
      gone.destroy();
      const [first, second] = (await waitLines(file, 2)).map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(first).toMatchObject({
        requestId: refused.requestId,
        host: 'nowhere.test',
        path: '/x',
        status: 404,
        bytes: Buffer.byteLength(refused.body),
        service: null,
        backend: null,
        attempts: 0,
      });
      expect(second).toMatchObject({
        host: 'slow.test',
        path: '/held',
        status: 499,
        bytes: 0,
        service: 'slow',
        backend: 'slow/a',
        upstreamMs: null,
        attempts: 1,
      });
    } finally {
      await client.delete().key('/services/slow/a');
      slow.closeAllConnections();
      slow.close();
    }
  });

  it('marks HTTP/2 over TLS in the protocol and tls fields', async () => {
    const file = logFile();
    const b = await startBalancerProgram(etcd.endpoint, [
      ...['--access-log', file, '--default-service', 'web'],
      ...['--tls-listen', '127.0.0.1:0', '--tls-cert', cert.certFile, '--tls-key', cert.keyFile],
    ]);
    const session = h2connect(`https://127.0.0.1:${b.tlsPort!}`, { rejectUnauthorized: false, servername: 'web.test' });
    const body = await new Promise<string>((resolve, reject) => {
      const req = session.request({
        ':method': 'GET',
        ':path': '/h2?q=1',
        ':authority': 'web.test',
        'user-agent': 'h2-client',
      });
      let text = '';
      req.setEncoding('utf8');
      req.on('data', (d: string) => (text += d));
      req.on('end', () => resolve(text));
      req.on('error', reject);
      req.end();
    });
    session.close();
    expect(body).toBe(BODY);
    const [line] = (await waitLines(file, 1)).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(line).toMatchObject({
      method: 'GET',
      host: 'web.test',
      path: '/h2?q=1',
      protocol: 'HTTP/2',
      tls: true,
      status: 200,
      bytes: Buffer.byteLength(BODY),
      service: 'web',
      userAgent: 'h2-client',
    });
  });

  it('writes the nginx combined format with --access-log-format combined', async () => {
    const file = logFile();
    const b = await startBalancerProgram(etcd.endpoint, [
      ...['--access-log', file, '--access-log-format', 'combined', '--default-service', 'web'],
    ]);
    await get(b.proxyPort, '/c?d=1', { host: 'web.test', 'user-agent': 'ua "quoted"', referer: 'http://r.test/' });
    const [line] = await waitLines(file, 1);
    expect(line).toMatch(
      new RegExp(
        String.raw`^127\.0\.0\.1 - - \[\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] ` +
          String.raw`"GET /c\?d=1 HTTP/1\.1" 200 ${Buffer.byteLength(BODY)} "http://r\.test/" "ua \\x22quoted\\x22"$`,
      ),
    );
  });

  it('reopens the file on SIGHUP after logrotate moved it; no line is lost', async () => {
    const file = logFile();
    const b = await startBalancerProgram(etcd.endpoint, ['--access-log', file, '--default-service', 'web']);
    for (let i = 0; i < 3; i++) await get(b.proxyPort, `/before/${i}`, { host: 'web.test' });
    await waitLines(file, 3);
    renameSync(file, `${file}.1`);
    b.p.proc.kill('SIGHUP');
    await waitFor('the log reopened', () => existsSync(file), 5_000);
    for (let i = 0; i < 4; i++) await get(b.proxyPort, `/after/${i}`, { host: 'web.test' });
    const after = await waitLines(file, 4);
    const paths = (ls: string[]): unknown[] => ls.map((l) => (JSON.parse(l) as { path: string }).path);
    expect(paths(lines(`${file}.1`))).toEqual(['/before/0', '/before/1', '/before/2']);
    expect(paths(after)).toEqual(['/after/0', '/after/1', '/after/2', '/after/3']);
  });

  it('with --workers 2 both workers append whole lines to one file', async () => {
    const file = logFile();
    const b = await startBalancerProgram(etcd.endpoint, [
      ...['--access-log', file, '--default-service', 'web', '--workers', '2'],
    ]);
    const n = 200;
    const ids = new Set<string>();
    for (let i = 0; i < n; i += 20) {
      const batch = await Promise.all(
        Array.from({ length: 20 }, (_, j) =>
          get(b.proxyPort, `/w/${i + j}?pad=${'p'.repeat((i + j) * 7)}`, { host: 'web.test' }),
        ),
      );
      for (const r of batch) ids.add(r.requestId);
    }
    const all = await waitLines(file, n);
    expect(all).toHaveLength(n);
    const parsed = all.map((l) => JSON.parse(l) as { requestId: string; status: number });
    expect(new Set(parsed.map((r) => r.requestId))).toEqual(ids);
    expect(parsed.every((r) => r.status === 200)).toBe(true);
  });

  it('exits 2 naming --access-log when the file cannot be opened', async () => {
    const missing = join(tmpdir(), `no-such-dir-${process.pid}`, 'access.log');
    const r = await runProgram('balancer', [
      ...['--etcd-endpoints', etcd.endpoint, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0'],
      ...['--access-log', missing],
    ]);
    expect(r.code).toBe(2);
    expect(r.output).toMatch(/invalid configuration: --access-log: cannot open .*no-such-dir/);
  });
});
