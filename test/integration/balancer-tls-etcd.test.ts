// --tls-prefix through the balancer program against a real etcd: a certificate put under the prefix
// is served by SNI without a restart, a value that is not a pair (or whose key does not match) is
// skipped and counted while the previous certificate keeps serving, and a deleted key stops being served.
import type { Etcd3 } from 'etcd3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startBalancerProgram } from '../helpers/balancer-program.js';
import { startEtcd, type EtcdServer } from '../helpers/etcd.js';
import { stopAllPrograms } from '../helpers/program.js';
import { makeTlsPki, servedSan, type IssuedCert, type TlsTestPki } from '../helpers/tls-certs.js';
import { waitFor } from '../helpers/wait.js';

let etcd: EtcdServer;
let client: Etcd3;
let pki: TlsTestPki;
let web: IssuedCert;
let apps: IssuedCert;
let other: IssuedCert;

beforeAll(async () => {
  etcd = await startEtcd();
  client = etcd.client();
  pki = await makeTlsPki();
  web = await pki.issue({ dns: ['web.test'] });
  apps = await pki.issue({ dns: ['*.apps.test'] });
  other = await pki.issue({ dns: ['other.test'] });
});
afterEach(async () => {
  await stopAllPrograms();
  await client.delete().prefix('/certs/');
});
afterAll(async () => {
  pki?.cleanup();
  await etcd?.destroy();
});

async function errorsCounted(admin: string): Promise<number> {
  const text = await (await fetch(`${admin}/metrics`)).text();
  return Number(/^balancer_tls_certificate_errors_total (\d+)/m.exec(text)?.[1] ?? NaN);
}

async function start(): Promise<{ tls: number; admin: string }> {
  const b = await startBalancerProgram(etcd.endpoint, [
    ...['--tls-listen', '127.0.0.1:0', '--tls-cert', web.certFile, '--tls-key', web.keyFile],
    ...['--tls-prefix', '/certs'],
  ]);
  return { tls: b.tlsPort!, admin: b.admin };
}

describe('certificates from etcd (--tls-prefix)', () => {
  it('serves a certificate put under the prefix, and stops when its key is deleted', async () => {
    const { tls } = await start();
    expect(await servedSan(tls, 'a.apps.test')).toBe('DNS:web.test'); // the file certificate is the default
    await client.put('/certs/apps').value(JSON.stringify({ cert: apps.certPem, key: apps.keyPem }));
    await waitFor(
      'the etcd certificate served',
      async () => (await servedSan(tls, 'a.apps.test')) === 'DNS:*.apps.test',
      5_000,
    );
    expect(await servedSan(tls, 'web.test')).toBe('DNS:web.test');
    await client.delete().key('/certs/apps');
    await waitFor(
      'the deleted certificate no longer served',
      async () => (await servedSan(tls, 'a.apps.test')) === 'DNS:web.test',
      5_000,
    );
  });

  it('reads the certificates already in etcd at start', async () => {
    await client.put('/certs/other').value(JSON.stringify({ cert: other.certPem, key: other.keyPem }));
    const { tls } = await start();
    await waitFor(
      'the certificate from the snapshot served',
      async () => (await servedSan(tls, 'other.test')) === 'DNS:other.test',
      5_000,
    );
  });

  it('skips and counts an invalid value; a bad replacement leaves the previous certificate serving', async () => {
    const { tls, admin } = await start();
    await client.put('/certs/apps').value(JSON.stringify({ cert: apps.certPem, key: apps.keyPem }));
    await waitFor('served', async () => (await servedSan(tls, 'a.apps.test')) === 'DNS:*.apps.test', 5_000);
    const before = await errorsCounted(admin);
    await client.put('/certs/junk').value('not json');
    await waitFor('the junk value counted', async () => (await errorsCounted(admin)) === before + 1, 5_000);
    // The same name again, with another certificate's key: refused by the store, the old pair stays.
    await client.put('/certs/apps').value(JSON.stringify({ cert: other.certPem, key: apps.keyPem }));
    await waitFor('the mismatched pair counted', async () => (await errorsCounted(admin)) === before + 2, 5_000);
    expect(await servedSan(tls, 'a.apps.test')).toBe('DNS:*.apps.test');
    expect(await servedSan(tls, 'other.test')).toBe('DNS:web.test');
  });
});
