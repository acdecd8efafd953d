// The --tls-prefix value contract: which keys name a certificate and which values can be one.
import { describe, expect, it } from 'vitest';
import { certName, decodeCertValue, MAX_CERT_VALUE_BYTES } from '../../../../balancer/registry/cert-values.js';

const CERT = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
const KEY = '-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n';

describe('certName', () => {
  it.each([
    ['/certs/web', '/certs/', 'web'],
    ['/certs/www.example.com', '/certs/', 'www.example.com'],
    ['/certs/', '/certs/', undefined],
    ['/certs/a/b', '/certs/', undefined],
    ['/other/web', '/certs/', undefined],
  ])('%s under %s → %s', (key, base, expected) => {
    expect(certName(key, base)).toBe(expected);
  });
});

describe('decodeCertValue', () => {
  it('accepts an object with a certificate PEM and a private key PEM', () => {
    expect(decodeCertValue(JSON.stringify({ cert: CERT, key: KEY }))).toEqual({
      ok: true,
      value: { cert: CERT, key: KEY },
    });
  });

  it.each([
    ['not JSON', 'cert', /not JSON/],
    ['an array', '[]', /not a JSON object/],
    ['null', 'null', /not a JSON object/],
    ['no cert', JSON.stringify({ key: KEY }), /"cert"/],
    ['cert not PEM', JSON.stringify({ cert: 'abc', key: KEY }), /"cert"/],
    ['no key', JSON.stringify({ cert: CERT }), /"key"/],
    ['key is a certificate', JSON.stringify({ cert: CERT, key: CERT }), /"key"/],
    ['too large', JSON.stringify({ cert: CERT + 'x'.repeat(MAX_CERT_VALUE_BYTES), key: KEY }), /larger than/],
  ])('refuses %s', (_what, raw, reason) => {
    const d = decodeCertValue(Buffer.from(raw));
    expect(d.ok).toBe(false);
    if (!d.ok) expect(d.reason).toMatch(reason);
  });

  it('accepts EC and RSA key blocks', () => {
    for (const kind of ['EC ', 'RSA ']) {
      const key = KEY.replaceAll('PRIVATE KEY', `${kind}PRIVATE KEY`);
      expect(decodeCertValue(JSON.stringify({ cert: CERT, key })).ok).toBe(true);
    }
  });
});
