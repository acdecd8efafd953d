// The certificate store: validation with stable codes naming the origin, SNI selection (exact beats
// wildcard, one label deep, default = first in flag-then-etcd order), and a bad replacement keeping the
// previous certificate serving. Certificates are made by the test (openssl, EC P-256, with a chain).
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CertInput, type CertSlot, CertStore, loadCert } from '../../../../../balancer/proxy/tls/cert-store.js';
import { type IssuedCert, makeTlsPki, type TlsTestPki } from '../../../../helpers/tls-certs.js';

let pki: TlsTestPki;
const c: Record<string, IssuedCert> = {};

beforeAll(async () => {
  pki = await makeTlsPki();
  const want: Record<string, Parameters<TlsTestPki['issue']>[0]> = {
    dflt: { dns: ['default.test'] },
    wild: { dns: ['*.example.com'] },
    exact: { dns: ['a.example.com'] },
    shared1: { dns: ['shared.test', '*.z.test'] },
    shared2: { dns: ['shared.test'] },
    legacy: { cn: 'Legacy.Test', noSan: true },
    ipOnly: { cn: 'ip-only.test', ips: ['127.0.0.1'] },
    mixed: { dns: ['MiXed.Test.', 'second.test'], ips: ['::1'] },
  };
  for (const [k, o] of Object.entries(want)) c[k] = await pki.issue(o);
}, 60_000);
afterAll(() => pki?.cleanup());

const fileInput = (index: number, cert: IssuedCert, over: Partial<CertInput> = {}): CertInput => ({
  slot: { kind: 'file', index },
  name: cert.certFile,
  cert: cert.certPem,
  key: cert.keyPem,
  certOrigin: cert.certFile,
  keyOrigin: cert.keyFile,
  ...over,
});
const etcdInput = (name: string, cert: IssuedCert): CertInput => ({
  slot: { kind: 'etcd', name },
  name,
  cert: cert.certPem,
  key: cert.keyPem,
  certOrigin: `/tls/${name}`,
  keyOrigin: `/tls/${name}`,
});
const at = (cert: IssuedCert): string => cert.certFile;

describe('loadCert', () => {
  it('reads names, validity and the chain from a full-chain PEM', () => {
    const { info, context } = loadCert(fileInput(0, c.mixed as IssuedCert));
    const leaf = new X509Certificate((c.mixed as IssuedCert).leafPem);
    expect(info).toMatchObject({
      dnsNames: ['mixed.test', 'second.test'],
      namesFrom: 'san',
      chainLength: 2,
      fingerprint256: leaf.fingerprint256,
    });
    expect(info.issuer).toContain('edge-test-intermediate');
    const days = (info.notAfter.getTime() - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(1.9);
    expect(days).toBeLessThan(2.01);
    expect(info.notBefore.getTime()).toBeLessThanOrEqual(Date.now());
    expect(context.context).toBeDefined();
  });

  it.each([
    ['legacy', { dnsNames: ['legacy.test'], namesFrom: 'cn' }], // no SAN extension: the CN
    ['ipOnly', { dnsNames: [], namesFrom: 'san' }], // a SAN without DNS entries: never the CN
    ['wild', { dnsNames: ['*.example.com'], namesFrom: 'san' }],
  ])('names of %s', (k, want) => {
    expect(loadCert(fileInput(0, c[k] as IssuedCert)).info).toMatchObject(want);
  });

  it('accepts a combined file (key and chain in one PEM)', () => {
    const x = c.exact as IssuedCert;
    expect(loadCert(fileInput(0, x, { cert: x.keyPem + x.certPem })).info.chainLength).toBe(2);
  });

  const encrypted = (): string =>
    createPrivateKey((c.exact as IssuedCert).keyPem)
      .export({ format: 'pem', type: 'pkcs8', cipher: 'aes-256-cbc', passphrase: 'secret' })
      .toString();
  const corrupt = (pem: string): string => pem.replace(/(BEGIN CERTIFICATE-----\n)(.{8})/, '$1AAAA$2');
  it.each<[string, string, 'cert' | 'key', () => Partial<CertInput>, RegExp]>([
    ['not PEM at all', 'ERR_TLS_CERT', 'cert', () => ({ cert: 'hello' }), /no PEM certificate/],
    ['a broken leaf', 'ERR_TLS_CERT', 'cert', () => ({ cert: corrupt((c.exact as IssuedCert).certPem) }), /1 of 2/],
    [
      'a broken chain member',
      'ERR_TLS_CERT',
      'cert',
      () => ({ cert: (c.exact as IssuedCert).leafPem + corrupt((c.wild as IssuedCert).leafPem) }),
      /certificate 2 of 2 does not parse/,
    ],
    ['a garbage key', 'ERR_TLS_KEY', 'key', () => ({ key: 'nope' }), /does not parse/],
    ['a certificate as the key', 'ERR_TLS_KEY', 'key', () => ({ key: (c.exact as IssuedCert).certPem }), /./],
    ['an encrypted key', 'ERR_TLS_KEY', 'key', () => ({ key: encrypted() }), /encrypted/],
    ['another key', 'ERR_TLS_KEY_MISMATCH', 'cert', () => ({ key: (c.wild as IssuedCert).keyPem }), /does not match/],
  ])('rejects %s with %s naming the %s origin', (_t, code, side, over, text) => {
    const input = fileInput(0, c.exact as IssuedCert, over());
    let err: unknown;
    try {
      loadCert(input);
    } catch (e) {
      err = e;
    }
    const origin = side === 'cert' ? input.certOrigin : input.keyOrigin;
    expect(err).toMatchObject({ name: 'CertError', code, origin });
    expect((err as Error).message.startsWith(`${origin}: `)).toBe(true);
    expect((err as Error).message).toMatch(text);
  });

  it('a mismatch names the key file too', () => {
    const input = fileInput(0, c.exact as IssuedCert, { key: (c.wild as IssuedCert).keyPem });
    expect(() => loadCert(input)).toThrow(input.keyOrigin);
  });
});

describe('CertStore.select', () => {
  const store = new CertStore();
  beforeAll(() => {
    // Deliberately inserted out of order: the order is by slot, not by insertion.
    for (const input of [
      etcdInput('b-etcd', c.shared2 as IssuedCert),
      etcdInput('a-etcd', c.shared1 as IssuedCert),
      fileInput(2, c.exact as IssuedCert),
      fileInput(1, c.wild as IssuedCert),
      fileInput(3, c.legacy as IssuedCert),
      fileInput(0, c.dflt as IssuedCert),
    ]) {
      expect(store.put(input).ok).toBe(true);
    }
  });

  it('lists files by flag position, then etcd names sorted', () => {
    expect(store.list().map((i) => i.name)).toEqual([
      at(c.dflt as IssuedCert),
      at(c.wild as IssuedCert),
      at(c.exact as IssuedCert),
      at(c.legacy as IssuedCert),
      'a-etcd',
      'b-etcd',
    ]);
  });

  it.each<[string, string | undefined, () => string]>([
    ['exact beats an earlier wildcard', 'a.example.com', () => at(c.exact as IssuedCert)],
    ['case and a trailing dot do not matter', 'A.Example.COM.', () => at(c.exact as IssuedCert)],
    ['wildcard covers one label', 'b.example.com', () => at(c.wild as IssuedCert)],
    ['wildcard covers no second label', 'x.b.example.com', () => at(c.dflt as IssuedCert)],
    ['wildcard does not cover the apex', 'example.com', () => at(c.dflt as IssuedCert)],
    ['no match → the first certificate', 'unknown.test', () => at(c.dflt as IssuedCert)],
    ['no SNI → the first certificate', undefined, () => at(c.dflt as IssuedCert)],
    ['empty SNI → the first certificate', '', () => at(c.dflt as IssuedCert)],
    ['a CN-only certificate is selectable', 'legacy.test', () => at(c.legacy as IssuedCert)],
    ['two etcd names claim a name: the sorted first wins', 'shared.test', () => 'a-etcd'],
    ['etcd wildcard', 'q.z.test', () => 'a-etcd'],
  ])('%s (%s)', (_t, servername, want) => {
    expect(store.select(servername)?.info.name).toBe(want());
  });

  it('hands out the one context made at load, not one per handshake', () => {
    expect(store.select('a.example.com')?.context).toBe(store.select('a.example.com')?.context);
  });

  it('a file certificate beats an etcd one for the same name', () => {
    const s = new CertStore();
    s.put(etcdInput('a', c.exact as IssuedCert));
    s.put(fileInput(0, c.dflt as IssuedCert));
    s.put(fileInput(1, c.exact as IssuedCert));
    expect(s.select('a.example.com')?.info.slot).toEqual({ kind: 'file', index: 1 });
  });
});

describe('CertStore changes', () => {
  it('an invalid replacement is returned as the error and the previous certificate keeps serving', () => {
    const s = new CertStore();
    let changes = 0;
    s.onChange(() => changes++);
    expect(s.put(fileInput(0, c.exact as IssuedCert))).toMatchObject({ ok: true, changed: true });
    const before = s.select('a.example.com');
    const bad = s.put(fileInput(0, c.wild as IssuedCert, { key: (c.exact as IssuedCert).keyPem }));
    expect(bad).toMatchObject({ ok: false, error: { code: 'ERR_TLS_KEY_MISMATCH' } });
    expect(s.select('a.example.com')).toBe(before);
    expect(s.list()).toHaveLength(1);
    expect(changes).toBe(1);
  });

  it('the same pair again is no change; a new pair replaces the slot', () => {
    const s = new CertStore();
    let changes = 0;
    s.onChange(() => changes++);
    s.put(fileInput(0, c.exact as IssuedCert));
    expect(s.put(fileInput(0, c.exact as IssuedCert))).toMatchObject({ ok: true, changed: false });
    expect(changes).toBe(1);
    s.put(fileInput(0, c.wild as IssuedCert, { name: at(c.exact as IssuedCert) }));
    expect(changes).toBe(2);
    expect(s.size).toBe(1);
    expect(s.select('a.example.com')?.info.dnsNames).toEqual(['*.example.com']);
    expect(s.firstPem()).toEqual({ cert: (c.wild as IssuedCert).certPem, key: (c.wild as IssuedCert).keyPem });
  });

  it('a deleted etcd certificate is no longer served', () => {
    const s = new CertStore();
    const slot: CertSlot = { kind: 'etcd', name: 'x' };
    s.put(fileInput(0, c.dflt as IssuedCert));
    s.put(etcdInput('x', c.exact as IssuedCert));
    expect(s.select('a.example.com')?.info.name).toBe('x');
    expect(s.delete(slot)).toBe(true);
    expect(s.delete(slot)).toBe(false);
    expect(s.select('a.example.com')?.info.name).toBe(at(c.dflt as IssuedCert));
  });

  it('an empty store selects nothing', () => {
    const s = new CertStore();
    expect(s.select('a.example.com')).toBeUndefined();
    expect(s.first()).toBeUndefined();
    expect(s.firstPem()).toBeUndefined();
  });
});
