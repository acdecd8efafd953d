// Certificate files on a real filesystem: fatal errors at start naming the file, changes picked up by
// polling (in place, by rename, by a symlink flip), a half-written pair not reported while it settles,
// a settled bad pair reported once while the previous certificate keeps serving, reload() on demand.
import { mkdtempSync, renameSync, rmSync, symlinkSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type CertFileEvent, CertFiles } from '../../../../../balancer/proxy/tls/cert-files.js';
import { CertStore } from '../../../../../balancer/proxy/tls/cert-store.js';
import { type IssuedCert, makeTlsPki, type TlsTestPki } from '../../../../helpers/tls-certs.js';

let pki: TlsTestPki;
let one: IssuedCert;
let two: IssuedCert;
let three: IssuedCert;
beforeAll(async () => {
  pki = await makeTlsPki();
  one = await pki.issue({ dns: ['one.test'] });
  two = await pki.issue({ dns: ['two.test'] });
  three = await pki.issue({ dns: ['three.test'] });
}, 60_000);
afterAll(() => pki?.cleanup());

let dir: string;
let files: CertFiles | undefined;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'edge-certfiles-'));
});
afterEach(() => {
  files?.stop();
  files = undefined;
  rmSync(dir, { recursive: true, force: true });
});

const certPath = (): string => join(dir, 'cert.pem');
const keyPath = (): string => join(dir, 'key.pem');
function place(c: IssuedCert, how: 'write' | 'rename' = 'write'): void {
  for (const [file, text] of [
    [certPath(), c.certPem],
    [keyPath(), c.keyPem],
  ] as const) {
    if (how === 'write') writeFileSync(file, text);
    else {
      writeFileSync(`${file}.tmp`, text);
      renameSync(`${file}.tmp`, file);
    }
  }
}

function setup(pollMs?: number): { store: CertStore; events: CertFileEvent[]; files: CertFiles } {
  const store = new CertStore();
  const events: CertFileEvent[] = [];
  files = new CertFiles({
    store,
    pairs: [{ certFile: certPath(), keyFile: keyPath() }],
    onEvent: (e) => events.push(e),
    ...(pollMs === undefined ? {} : { pollMs }),
  });
  return { store, events, files };
}
const served = (store: CertStore): readonly string[] | undefined => store.first()?.info.dnsNames;
const kinds = (events: readonly CertFileEvent[]): string[] => events.map((e) => `${e.kind}:${e.reason}`);

describe('CertFiles at start', () => {
  it('loads every pair into its flag slot', () => {
    place(one);
    const { store, events, files } = setup();
    const infos = files.loadInitial();
    expect(infos.map((i) => i.dnsNames)).toEqual([['one.test']]);
    expect(store.list()[0]).toMatchObject({ name: certPath(), slot: { kind: 'file', index: 0 } });
    expect(kinds(events)).toEqual(['loaded:start']);
  });

  it.each([
    ['a missing key file', () => writeFileSync(certPath(), one.certPem), 'ERR_TLS_FILE_READ', keyPath],
    [
      'a key of another certificate',
      () => (place(one), writeFileSync(keyPath(), two.keyPem)),
      'ERR_TLS_KEY_MISMATCH',
      certPath,
    ],
    ['a broken certificate', () => (place(one), writeFileSync(certPath(), 'x')), 'ERR_TLS_CERT', certPath],
  ])('throws for %s with %s naming the file', (_t, arrange, code, file) => {
    arrange();
    const { store, files } = setup();
    expect(() => files.loadInitial()).toThrow(expect.objectContaining({ code, origin: file() }));
    expect(() => files.loadInitial()).toThrow(file());
    expect(store.size).toBe(0);
  });
});

describe('CertFiles polling', () => {
  it.each(['write', 'rename'] as const)('picks up a pair replaced by %s', async (how) => {
    place(one);
    const { store, events, files } = setup();
    files.loadInitial();
    expect(await files.poll()).toEqual([]);
    place(two, how);
    expect(kinds(await files.poll())).toEqual(['loaded:change']);
    expect(served(store)).toEqual(['two.test']);
    expect(kinds(events)).toEqual(['loaded:start', 'loaded:change']);
  });

  it('follows a symlink flip (certbot live/ → archive/)', async () => {
    writeFileSync(join(dir, 'c1.pem'), one.certPem);
    writeFileSync(join(dir, 'k1.pem'), one.keyPem);
    writeFileSync(join(dir, 'c2.pem'), two.certPem);
    writeFileSync(join(dir, 'k2.pem'), two.keyPem);
    symlinkSync('c1.pem', certPath());
    symlinkSync('k1.pem', keyPath());
    const { store, files } = setup();
    files.loadInitial();
    for (const [link, target] of [
      [certPath(), 'c2.pem'],
      [keyPath(), 'k2.pem'],
    ] as const) {
      symlinkSync(target, `${link}.new`);
      renameSync(`${link}.new`, link);
    }
    expect(kinds(await files.poll())).toEqual(['loaded:change']);
    expect(served(store)).toEqual(['two.test']);
  });

  it('a half-replaced pair (new cert, old key) is not reported when the key follows before the next poll', async () => {
    place(one);
    const { store, events, files } = setup();
    files.loadInitial();
    writeFileSync(certPath(), two.certPem);
    expect(await files.poll()).toEqual([]);
    expect(served(store)).toEqual(['one.test']);
    writeFileSync(keyPath(), two.keyPem);
    expect(kinds(await files.poll())).toEqual(['loaded:change']);
    expect(kinds(events)).toEqual(['loaded:start', 'loaded:change']);
  });

  it('a bad pair that stays is reported once, the previous one serving; a fix loads', async () => {
    place(one);
    const { store, events, files } = setup();
    files.loadInitial();
    writeFileSync(keyPath(), three.keyPem);
    expect(await files.poll()).toEqual([]); // might be half-written: wait one poll
    const settled = await files.poll();
    expect(settled).toMatchObject([{ kind: 'error', error: { code: 'ERR_TLS_KEY_MISMATCH', origin: certPath() } }]);
    expect(await files.poll()).toEqual([]);
    utimesSync(keyPath(), new Date(), new Date(Date.now() + 5000)); // same bad content, new stat
    expect(await files.poll()).toEqual([]);
    expect(served(store)).toEqual(['one.test']);
    place(three);
    expect(kinds(await files.poll())).toEqual(['loaded:change']);
    expect(served(store)).toEqual(['three.test']);
    expect(kinds(events)).toEqual(['loaded:start', 'error:change', 'loaded:change']);
  });

  it('a file missing for two polls is reported naming it; it coming back loads', async () => {
    place(one);
    const { store, files } = setup();
    files.loadInitial();
    unlinkSync(keyPath());
    expect(await files.poll()).toEqual([]);
    expect(await files.poll()).toMatchObject([
      { kind: 'error', error: { code: 'ERR_TLS_FILE_READ', origin: keyPath() } },
    ]);
    place(two);
    expect(kinds(await files.poll())).toEqual(['loaded:change']);
    expect(served(store)).toEqual(['two.test']);
  });

  it('a touch or an identical rewrite reloads nothing', async () => {
    place(one);
    const { events, files } = setup();
    files.loadInitial();
    utimesSync(certPath(), new Date(), new Date(Date.now() + 5000));
    place(one, 'rename');
    expect(await files.poll()).toEqual([]);
    expect(kinds(events)).toEqual(['loaded:start']);
  });

  it('with the default period, a replaced pair serves within 5 s', async () => {
    place(one);
    const { store, files } = setup();
    files.loadInitial();
    files.start();
    const t0 = Date.now();
    place(two, 'rename');
    while (served(store)?.[0] !== 'two.test' && Date.now() - t0 < 6000) await new Promise((r) => setTimeout(r, 50));
    const took = Date.now() - t0;
    expect(served(store)).toEqual(['two.test']);
    expect(took).toBeLessThan(5000);
  });
});

describe('CertFiles.reload', () => {
  it('reports a bad pair at once, every time it is asked; an unchanged pair is no event', async () => {
    place(one);
    const { store, files } = setup();
    files.loadInitial();
    expect(await files.reload()).toEqual([]);
    writeFileSync(certPath(), 'garbage');
    expect(await files.reload()).toMatchObject([{ kind: 'error', reason: 'reload', error: { code: 'ERR_TLS_CERT' } }]);
    expect(await files.reload()).toMatchObject([{ kind: 'error', reason: 'reload' }]);
    expect(served(store)).toEqual(['one.test']);
    place(two);
    expect(kinds(await files.reload())).toEqual(['loaded:reload']);
    expect(served(store)).toEqual(['two.test']);
  });
});
