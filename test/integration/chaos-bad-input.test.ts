// Bad input against a running balancer process (the fast half of `npm run chaos`): fuzzed registry
// and route values written through etcd, and raw malformed HTTP on the proxy port.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fuzzRegistry, rawCases, recordingBackend, slowloris } from '../../chaos/bad-input.js';
import { startBalancer, type Balancer } from '../../chaos/lib.js';
import { uniq } from '../helpers/docker.js';
import { startEtcd, type EtcdServer } from '../helpers/etcd.js';
import { stopAllPrograms } from '../helpers/program.js';

let etcd: EtcdServer;
let backend: Awaited<ReturnType<typeof recordingBackend>>;
let b: Balancer;

beforeAll(async () => {
  etcd = await startEtcd();
  backend = await recordingBackend();
  await etcd
    .client()
    .put('/services/valid/manual:v:1')
    .value(JSON.stringify({ host: '127.0.0.1', port: backend.port }));
  b = await startBalancer(etcd.endpoint, ['--route', 'valid.test=valid', '--default-service', 'valid']);
});

afterAll(async () => {
  await stopAllPrograms();
  await backend?.close();
  await etcd?.destroy();
});

describe('bad input', () => {
  it('2,000 fuzzed registry and route values: every one rejected and counted, none in the table', async () => {
    const r = await fuzzRegistry(etcd.client(), b, 2000, 7, uniq('fz'), { url: `${b.proxyUrl}/`, host: 'valid.test' });
    expect(r.leaked).toEqual([]);
    expect(r.counted).toBe(r.written);
    expect(r.validStillServed).toBe(true);
    expect(b.program.proc.exitCode).toBeNull();
  });

  it('malformed requests get 400, a 20 KB header 431, smuggling attempts 400; none reaches the backend', async () => {
    const results = await rawCases(Number(new URL(b.proxyUrl).port), backend);
    expect(results.filter((r) => !r.ok)).toEqual([]);
    expect((await fetch(`${b.proxyUrl}/after`)).status).toBe(200);
  });

  it('a slowloris client is closed at the 30 s header timeout', async () => {
    const s = await slowloris(Number(new URL(b.proxyUrl).port), 30_000);
    expect(s.closed).toBe(true);
    expect(s.closedAfterMs).toBeGreaterThanOrEqual(29_000);
    expect(s.closedAfterMs).toBeLessThanOrEqual(32_500);
    expect(backend.seen.filter((x) => x.includes('slow'))).toEqual([]);
  }, 45_000);
});
