// The balancer program's HTTPS listener against a real etcd and a real backend: HTTP/2 and HTTP/1.1 by
// ALPN, forwarded proto, HSTS, SNI choice, --redirect-https with the ACME exception, TLS metrics, a
// certificate replaced and reloaded with SIGHUP while a request stays open, and a bad pair at start.
import { execFile } from 'node:child_process';
import { copyFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { connect as h2connect } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import type { Etcd3 } from 'etcd3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startEtcd, type EtcdServer } from '../helpers/etcd.js';
import { startBalancerProgram } from '../helpers/balancer-program.js';
import { runProgram, stopAllPrograms, type Program } from '../helpers/program.js';
import { makeTlsPki, servedSan, type IssuedCert, type TlsTestPki } from '../helpers/tls-certs.js';
import { waitFor } from '../helpers/wait.js';

const run = promisify(execFile);
let etcd: EtcdServer;
let client: Etcd3;
let pki: TlsTestPki;
let web: IssuedCert;
let wild: IssuedCert;
let backend: Server;
let slowRelease: (() => void) | undefined;

beforeAll(async () => {
  etcd = await startEtcd();
  client = etcd.client();
  pki = await makeTlsPki();
  web = await pki.issue({ dns: ['web.test'] });
  wild = await pki.issue({ dns: ['*.apps.test'] });
  backend = createServer((req, res) => {
    const reply = (): void => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ url: req.url, method: req.method, proto: req.headers['x-forwarded-proto'] }));
    };
    if (req.url === '/slow') slowRelease = reply;
    else req.on('end', reply).resume();
  });
  await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
  const port = (backend.address() as AddressInfo).port;
  await client.put('/services/web/a').value(JSON.stringify({ host: '127.0.0.1', port }));
});
afterEach(async () => {
  await stopAllPrograms();
});
afterAll(async () => {
  backend?.closeAllConnections();
  backend?.close();
  pki?.cleanup();
  await etcd?.destroy();
});

async function startTls(extra: string[] = []): Promise<{ p: Program; plain: string; tls: number; admin: string }> {
  const b = await startBalancerProgram(etcd.endpoint, [
    ...['--tls-listen', '127.0.0.1:0', '--tls-cert', web.certFile, '--tls-key', web.keyFile],
    ...['--tls-cert', wild.certFile, '--tls-key', wild.keyFile, '--default-service', 'web'],
    ...extra,
  ]);
  return { p: b.p, plain: b.proxy, tls: b.tlsPort!, admin: b.admin };
}

async function curl(...args: string[]): Promise<string> {
  const { stdout } = await run('curl', ['-sk', '-i', '--max-time', '5', ...args]);
  return stdout;
}

describe('balancer --tls-listen', () => {
  it('serves HTTP/2 and HTTP/1.1 by ALPN with X-Forwarded-Proto https and HSTS', async () => {
    const { tls } = await startTls(['--hsts', '3600']);
    const resolve = `web.test:${tls}:127.0.0.1`;
    const h2 = await curl('--http2', '--resolve', resolve, `https://web.test:${tls}/a?b=1`);
    expect(h2).toMatch(/^HTTP\/2 200/);
    expect(h2).toMatch(/^strict-transport-security: max-age=3600\r?$/m);
    expect(h2).toContain('{"url":"/a?b=1","method":"GET","proto":"https"}');
    const h1 = await curl('--http1.1', '--resolve', resolve, `https://web.test:${tls}/h1`);
    expect(h1).toMatch(/^HTTP\/1\.1 200/);
    expect(h1).toContain('"proto":"https"');
    // A node:http2 client, with a request body.
    const session = h2connect(`https://127.0.0.1:${tls}`, { rejectUnauthorized: false, servername: 'web.test' });
    const body = await new Promise<string>((resolveBody, reject) => {
      const req = session.request({ ':method': 'POST', ':path': '/post', 'content-type': 'text/plain' });
      let text = '';
      req.setEncoding('utf8');
      req.on('data', (d: string) => (text += d));
      req.on('end', () => resolveBody(text));
      req.on('error', reject);
      req.end('hello');
    });
    session.close();
    expect(JSON.parse(body)).toEqual({ url: '/post', method: 'POST', proto: 'https' });
  });

  it('chooses the certificate by SNI: exact, wildcard, and the first one without a match', async () => {
    const { tls } = await startTls();
    expect(await servedSan(tls, 'web.test')).toBe('DNS:web.test');
    expect(await servedSan(tls, 'a.apps.test')).toBe('DNS:*.apps.test');
    expect(await servedSan(tls, 'other.test')).toBe('DNS:web.test');
    expect(await servedSan(tls)).toBe('DNS:web.test');
  });

  it('--redirect-https: 308 to https with path and query; ACME challenges still proxied', async () => {
    const { plain, tls } = await startTls(['--redirect-https']);
    const r = await curl('-H', 'Host: web.test', `${plain}/p/q?x=1`);
    expect(r).toMatch(/^HTTP\/1\.1 308 /);
    expect(r).toMatch(new RegExp(`^location: https://web\\.test:${tls}/p/q\\?x=1\r?$`, 'm'));
    const acme = await curl('-H', 'Host: web.test', `${plain}/.well-known/acme-challenge/token`);
    expect(acme).toMatch(/^HTTP\/1\.1 200 /);
    expect(acme).toContain('"url":"/.well-known/acme-challenge/token"');
  });

  it('counts handshakes and requests by protocol, and exports certificate expiry', async () => {
    const { tls, admin } = await startTls();
    await curl('--http2', '--resolve', `web.test:${tls}:127.0.0.1`, `https://web.test:${tls}/`);
    await curl(
      '--tlsv1.0',
      '--tls-max',
      '1.1',
      '--resolve',
      `web.test:${tls}:127.0.0.1`,
      `https://web.test:${tls}/`,
    ).catch(() => '');
    const m = await (await fetch(`${admin}/metrics`)).text();
    expect(m).toMatch(/^balancer_tls_handshakes_total\{result="ok"\} [1-9]/m);
    expect(m).toMatch(/^balancer_tls_handshakes_total\{result="error"\} [1-9]/m);
    expect(m).toMatch(/^balancer_client_requests_total\{protocol="HTTP\/2",tls="true"\} 1$/m);
    const expiry = new RegExp(`^balancer_tls_certificate_expiry_seconds\\{name="${web.certFile}"\\} (\\d+)`, 'm');
    expect(Number(expiry.exec(m)?.[1])).toBeGreaterThan(86_400);
  });

  it('SIGHUP reloads a replaced certificate without a restart while a request stays open', async () => {
    const other = await pki.issue({ dns: ['web.test', 'renewed.test'] });
    const live = await pki.issue({ dns: ['web.test'] });
    // Serve from copies so the test can replace the files the balancer reads.
    copyFileSync(web.certFile, live.certFile);
    copyFileSync(web.keyFile, live.keyFile);
    const started = await startBalancerProgram(etcd.endpoint, [
      ...['--tls-listen', '127.0.0.1:0', '--tls-cert', live.certFile, '--tls-key', live.keyFile],
      ...['--default-service', 'web'],
    ]);
    const p2 = started.p;
    const port = started.tlsPort!;
    const slow = curl('--http1.1', '--resolve', `web.test:${port}:127.0.0.1`, `https://web.test:${port}/slow`);
    await waitFor('slow request reached the backend', () => slowRelease !== undefined, 5000);
    copyFileSync(other.certFile, live.certFile);
    copyFileSync(other.keyFile, live.keyFile);
    p2.proc.kill('SIGHUP');
    await waitFor('new certificate served', async () => (await servedSan(port, 'web.test')).includes('renewed'), 5000);
    slowRelease?.();
    slowRelease = undefined;
    expect(await slow).toMatch(/^HTTP\/1\.1 200/);
    expect(p2.proc.exitCode).toBeNull(); // no restart
  });

  it('exits 2 naming the file when a key does not belong to its certificate', async () => {
    const r = await runProgram('balancer', [
      ...['--etcd-endpoints', etcd.endpoint, '--tls-listen', '127.0.0.1:0'],
      ...['--tls-cert', web.certFile, '--tls-key', wild.keyFile],
    ]);
    expect(r.code).toBe(2);
    expect(r.output).toContain('--tls-');
    expect(r.output).toMatch(new RegExp(`${web.certFile}|${wild.keyFile}`));
  });
});
