// The HTTPS listener on real sockets with a trivial handler: SNI choice (checked on the peer certificate),
// h2 vs http/1.1 by ALPN (curl and node:http2), WebSocket over TLS, certificate files replaced and reloaded
// while a long request stays open, session resumption (also across a reload and between two listeners
// sharing ticket keys), handshake counting, HTTP/2 idle GOAWAY.
import { execFile } from 'node:child_process';
import { randomBytes, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import https from 'node:https';
import http2 from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls, { type TLSSocket } from 'node:tls';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { CertFiles } from '../../balancer/proxy/tls/cert-files.js';
import { CertStore } from '../../balancer/proxy/tls/cert-store.js';
import {
  type EdgeRequest,
  type EdgeResponse,
  type HandshakeResult,
  TlsListener,
  type TlsListenerOptions,
} from '../../balancer/proxy/tls/tls-listener.js';
import { type IssuedCert, makeTlsPki, type TlsTestPki } from '../helpers/tls-certs.js';
import { waitFor } from '../helpers/wait.js';

const run = promisify(execFile);
let pki: TlsTestPki;
const c: Record<'dflt' | 'wild' | 'exact' | 'dflt2' | 'exact2', IssuedCert> = {} as never;
beforeAll(async () => {
  pki = await makeTlsPki();
  c.dflt = await pki.issue({ dns: ['default.test'] });
  c.wild = await pki.issue({ dns: ['*.example.com'] });
  c.exact = await pki.issue({ dns: ['a.example.com'] });
  c.dflt2 = await pki.issue({ dns: ['default.test', 'renewed.test'] });
  c.exact2 = await pki.issue({ dns: ['a.example.com', 'renewed-a.test'] });
}, 60_000);
afterAll(() => pki?.cleanup());

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

/** Answers what it saw; `/slow` waits for `release()`. */
function handler(): { onRequest: TlsListenerOptions['onRequest']; release: () => void; slowStarted: () => boolean } {
  let release: () => void = () => undefined;
  let started = false;
  const gate = new Promise<void>((r) => (release = r));
  const onRequest = (req: EdgeRequest, res: EdgeResponse): void => {
    const body = JSON.stringify({
      httpVersion: req.httpVersion,
      host: req.headers[':authority'] ?? req.headers.host,
      url: req.url,
      servername: (req.socket as TLSSocket).servername,
    });
    if (req.url === '/slow') {
      started = true;
      const r = res as ServerResponse; // both response kinds have these; the union's overloads do not unify
      r.writeHead(200);
      r.write('start;');
      void gate.then(() => r.end('end'));
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(body);
  };
  return { onRequest, release: () => release(), slowStarted: () => started };
}

interface Started {
  readonly port: number;
  readonly listener: TlsListener;
  readonly files: CertFiles;
  readonly dir: string;
  readonly handshakes: HandshakeResult[];
  readonly h: ReturnType<typeof handler>;
}

async function start(over: Partial<TlsListenerOptions> = {}): Promise<Started> {
  const dir = mkdtempSync(join(tmpdir(), 'edge-tls-'));
  const pairs = (['dflt', 'wild', 'exact'] as const).map((k, i) => {
    const certFile = join(dir, `${i}.pem`);
    const keyFile = join(dir, `${i}-key.pem`);
    writeFileSync(certFile, c[k].certPem);
    writeFileSync(keyFile, c[k].keyPem);
    return { certFile, keyFile };
  });
  const store = new CertStore();
  const files = new CertFiles({ store, pairs });
  files.loadInitial();
  const h = handler();
  const handshakes: HandshakeResult[] = [];
  const wss = new WebSocketServer({ noServer: true });
  wss.on('connection', (ws) => ws.on('message', (m) => ws.send(`echo:${m.toString()}`)));
  const listener = new TlsListener({
    store,
    onRequest: h.onRequest,
    onUpgrade: (req, socket, head) => wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req)),
    onHandshake: (r) => handshakes.push(r),
    ...over,
  });
  const { port } = await listener.listen({ host: '127.0.0.1', port: 0 });
  cleanups.push(async () => {
    h.release();
    for (const ws of wss.clients) ws.terminate();
    const closed = listener.close();
    listener.closeAllConnections();
    await closed;
    rmSync(dir, { recursive: true, force: true });
  });
  return { port, listener, files, dir, handshakes, h };
}

const fp = (x: IssuedCert): string => new X509Certificate(x.leafPem).fingerprint256;

interface Hello {
  readonly san: string | undefined;
  readonly fingerprint: string;
  readonly alpn: string | false | null;
  readonly reused: boolean;
  readonly authorized: boolean;
  readonly version: string | null;
  readonly session: Buffer | undefined;
}

/** One TLS handshake; resolves once the session ticket (if any) has arrived. */
function hello(port: number, o: tls.ConnectionOptions = {}): Promise<Hello> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...o });
    let session: Buffer | undefined;
    s.on('session', (b: Buffer) => (session = b));
    s.once('error', reject);
    s.once('secureConnect', () => {
      const peer = s.getPeerCertificate();
      const info = {
        san: peer.subjectaltname,
        fingerprint: peer.fingerprint256,
        alpn: s.alpnProtocol,
        reused: s.isSessionReused(),
        authorized: s.authorized,
        version: s.getProtocol(),
      };
      // TLS 1.3 tickets come after the handshake: give them a moment.
      setTimeout(() => (s.end(), resolve({ ...info, session })), 60);
    });
  });
}

describe('TLS listener: certificates by SNI', () => {
  it.each<[string, string | undefined, () => IssuedCert]>([
    ['exact name beats the wildcard', 'a.example.com', () => c.exact],
    ['wildcard, one label', 'b.example.com', () => c.wild],
    ['wildcard does not cover two labels: default', 'x.b.example.com', () => c.dflt],
    ['unknown name: default', 'unknown.test', () => c.dflt],
    ['no SNI: default', undefined, () => c.dflt],
  ])('%s (%s)', async (_t, servername, want) => {
    const { port } = await start();
    const got = await hello(port, servername === undefined ? {} : { servername });
    expect(got.san).toBe(new X509Certificate(want().leafPem).subjectAltName);
  });

  it('serves the chain: a client trusting only the root verifies the name', async () => {
    const { port } = await start();
    const got = await hello(port, { servername: 'a.example.com', ca: pki.rootPem, rejectUnauthorized: true });
    expect(got.authorized).toBe(true);
  });

  it('refuses TLS 1.1 and counts handshakes', async () => {
    const { port, handshakes } = await start();
    await hello(port, { servername: 'a.example.com' });
    const old = hello(port, { maxVersion: 'TLSv1.1', minVersion: 'TLSv1', ciphers: 'DEFAULT@SECLEVEL=0' });
    await expect(old).rejects.toThrow();
    await waitFor('two handshakes counted', () => handshakes.length === 2);
    expect(handshakes).toEqual(['ok', 'error']);
  });
});

describe('TLS listener: protocols', () => {
  it.each<[string[] | undefined, string | false]>([
    [['h2', 'http/1.1'], 'h2'],
    [['http/1.1'], 'http/1.1'],
    [undefined, false],
  ])('ALPN %j → %s', async (alpn, want) => {
    const { port } = await start();
    expect((await hello(port, alpn ? { ALPNProtocols: alpn } : {})).alpn).toBe(want);
  });

  it.each([
    ['--http2', '2'],
    ['--http1.1', '1.1'],
  ])('curl %s -k reaches the handler with path and query', async (flag, version) => {
    const { port } = await start();
    const url = `https://a.example.com:${port}/p?q=1`;
    const { stdout } = await run(
      'curl',
      ['-sS', '-k', flag, '--resolve', `a.example.com:${port}:127.0.0.1`, '-w', '\n%{http_version}', url],
      { timeout: 10_000 },
    );
    const [body, got] = stdout.split('\n');
    expect(got).toBe(version);
    expect(JSON.parse(body ?? '')).toEqual({
      httpVersion: version === '2' ? '2.0' : '1.1',
      host: `a.example.com:${port}`,
      url: '/p?q=1',
      servername: 'a.example.com',
    });
  });

  it('a node:http2 client multiplexes requests on one session', async () => {
    const { port } = await start();
    const session = http2.connect(`https://127.0.0.1:${port}`, { servername: 'a.example.com', ca: pki.rootPem });
    cleanups.push(() => void session.destroy());
    const get = (path: string): Promise<string> =>
      new Promise((resolve, reject) => {
        const req = session.request({ ':path': path, ':authority': 'a.example.com' });
        let body = '';
        req.setEncoding('utf8');
        req.on('data', (d: string) => (body += d));
        req.on('end', () => resolve(body));
        req.on('error', reject);
      });
    const bodies = await Promise.all([get('/one'), get('/two')]);
    expect(bodies.map((b) => JSON.parse(b))).toEqual([
      { httpVersion: '2.0', host: 'a.example.com', url: '/one', servername: 'a.example.com' },
      { httpVersion: '2.0', host: 'a.example.com', url: '/two', servername: 'a.example.com' },
    ]);
    expect(session.alpnProtocol).toBe('h2');
  });

  it('a WebSocket over TLS (HTTP/1.1) reaches the upgrade path', async () => {
    const { port } = await start();
    // ws hands its options to tls.connect; its types only lack `servername`.
    const options = { servername: 'a.example.com', ca: pki.rootPem } as WebSocket.ClientOptions;
    const ws = new WebSocket(`wss://127.0.0.1:${port}/ws`, options);
    cleanups.push(() => ws.terminate());
    const reply = await new Promise<string>((resolve, reject) => {
      ws.once('open', () => ws.send('hi'));
      ws.once('message', (m) => resolve(m.toString()));
      ws.once('error', reject);
    });
    expect(reply).toBe('echo:hi');
  });

  it('an idle HTTP/2 connection gets GOAWAY; a silent open stream still completes', async () => {
    const { port, h } = await start({ idleTimeoutMs: 300 });
    const session = http2.connect(`https://127.0.0.1:${port}`, { servername: 'a.example.com', ca: pki.rootPem });
    cleanups.push(() => void session.destroy());
    const goaway = new Promise<number>((resolve) => session.once('goaway', (code) => resolve(code)));
    const req = session.request({ ':path': '/slow' });
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => (body += d));
    const ended = new Promise((r) => req.once('end', r));
    const t0 = Date.now();
    expect(await goaway).toBe(0); // NO_ERROR: a graceful close
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    h.release();
    await ended;
    expect(body).toBe('start;end');
  });
});

describe('TLS listener: live certificates', () => {
  it('replaced files + reload: the open request completes, new connections get the new certificates', async () => {
    const { port, files, h, dir } = await start();
    // A long HTTP/1.1 request and an HTTP/2 session, both opened before the change.
    const agent = new https.Agent({ keepAlive: true, ca: pki.rootPem, servername: 'a.example.com' });
    cleanups.push(() => agent.destroy());
    const slow = new Promise<{ status: number | undefined; body: string; fingerprint: string }>((resolve, reject) => {
      const req = https.get({ host: '127.0.0.1', port, path: '/slow', agent }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        const fingerprint = (res.socket as TLSSocket).getPeerCertificate().fingerprint256;
        res.on('end', () => resolve({ status: res.statusCode, body, fingerprint }));
      });
      req.on('error', reject);
    });
    await waitFor('the slow request to start', () => h.slowStarted());
    const session = http2.connect(`https://127.0.0.1:${port}`, { servername: 'a.example.com', ca: pki.rootPem });
    cleanups.push(() => void session.destroy());
    await new Promise((r) => session.once('connect', r));

    writeFileSync(join(dir, '0.pem'), c.dflt2.certPem);
    writeFileSync(join(dir, '0-key.pem'), c.dflt2.keyPem);
    writeFileSync(join(dir, '2.pem'), c.exact2.certPem);
    writeFileSync(join(dir, '2-key.pem'), c.exact2.keyPem);
    const events = await files.reload();
    expect(events.map((e) => `${e.kind}:${e.pair.certFile.split('/').pop()}`)).toEqual([
      'loaded:0.pem',
      'loaded:2.pem',
    ]);

    expect((await hello(port)).fingerprint).toBe(fp(c.dflt2)); // default context replaced
    expect((await hello(port, { servername: 'a.example.com' })).fingerprint).toBe(fp(c.exact2));
    // The old HTTP/2 connection is untouched: still the old certificate, still serving new streams.
    expect((session.socket as TLSSocket).getPeerCertificate().fingerprint256).toBe(fp(c.exact));
    const status = await new Promise<number>((resolve) => {
      const req = session.request({ ':path': '/after' });
      req.once('response', (hdrs) => resolve(Number(hdrs[':status'])));
      req.resume();
    });
    expect(status).toBe(200);
    h.release();
    expect(await slow).toEqual({ status: 200, body: 'start;end', fingerprint: fp(c.exact) });
  });
});

describe('TLS listener: session resumption', () => {
  it.each<[string, string | undefined]>([
    ['TLSv1.2', 'a.example.com'],
    ['TLSv1.2', undefined],
    ['TLSv1.3', 'a.example.com'],
    ['TLSv1.3', undefined],
  ])('%s, SNI %s: a ticket resumes, also after the default certificate was reloaded', async (version, servername) => {
    const { port, files, dir } = await start();
    const o: tls.ConnectionOptions = {
      maxVersion: version as tls.SecureVersion,
      ...(servername ? { servername } : {}),
    };
    const first = await hello(port, o);
    expect(first.version).toBe(version);
    expect(first.session).toBeDefined();
    expect((await hello(port, { ...o, session: first.session })).reused).toBe(true);
    writeFileSync(join(dir, '0.pem'), c.dflt2.certPem);
    writeFileSync(join(dir, '0-key.pem'), c.dflt2.keyPem);
    expect(await files.reload()).toHaveLength(1);
    expect((await hello(port, { ...o, session: first.session })).reused).toBe(true);
  });

  it('listeners (workers) sharing ticket keys resume each other’s sessions; with own keys not', async () => {
    const ticketKeys = randomBytes(48);
    const a = await start({ ticketKeys });
    const b = await start({ ticketKeys });
    const other = await start();
    const first = await hello(a.port, { servername: 'a.example.com' });
    expect((await hello(b.port, { servername: 'a.example.com', session: first.session })).reused).toBe(true);
    expect((await hello(other.port, { servername: 'a.example.com', session: first.session })).reused).toBe(false);
  });
});

describe('TLS listener: close', () => {
  it('close() sends GOAWAY to HTTP/2 sessions and resolves once connections end', async () => {
    const { listener, port } = await start();
    const session = http2.connect(`https://127.0.0.1:${port}`, { servername: 'a.example.com', ca: pki.rootPem });
    cleanups.push(() => void session.destroy());
    await waitFor('the server to count the connection', () => listener.connections === 1);
    const goaway = new Promise((r) => session.once('goaway', r));
    const closed = listener.close();
    await goaway;
    await closed;
    await waitFor('the TLS sockets to report close', () => listener.connections === 0, 2000);
  });
});
