import { describe, expect, it } from 'vitest';
import { checkEtcdSettings, etcdClientOptions, type EtcdSettings } from '../../../common/etcd-client.js';

const base: EtcdSettings = {
  etcdEndpoints: ['http://127.0.0.1:2379', 'http://127.0.0.2:2379'],
  etcdCa: '',
  etcdCert: '',
  etcdKey: '',
  etcdUser: '',
  etcdPassword: '',
  etcdTimeout: 3000,
};

describe('etcdClientOptions', () => {
  const grpc = etcdClientOptions(base).grpcOptions as Record<string, unknown>;

  it('pings no more often than etcd tolerates (min time 5 s), and never on idle channels', () => {
    // Closer pings earn "too_many_pings" GOAWAYs, which cut the balancer's watch and the sidekick's keepalive.
    expect(grpc['grpc.keepalive_time_ms']).toBeGreaterThan(5000);
    expect(grpc['grpc.keepalive_permit_without_calls']).toBe(0);
    // ...yet still notices a frozen member well inside a lease TTL.
    expect(
      (grpc['grpc.keepalive_time_ms'] as number) + (grpc['grpc.keepalive_timeout_ms'] as number),
    ).toBeLessThanOrEqual(10_000);
  });

  it('lists every endpoint and puts a deadline on unary calls only', () => {
    const o = etcdClientOptions(base);
    expect(o.hosts).toEqual(base.etcdEndpoints);
    const call = o.defaultCallOptions as (ctx: { isStream: boolean }) => { deadline?: number };
    const before = Date.now();
    expect(call({ isStream: true }).deadline).toBeUndefined();
    const deadline = call({ isStream: false }).deadline ?? 0;
    expect(deadline - before).toBeGreaterThanOrEqual(3000);
    expect(deadline - before).toBeLessThan(3000 + 1000);
  });

  it('adds password auth only when a user is given', () => {
    expect(etcdClientOptions(base).auth).toBeUndefined();
    expect(etcdClientOptions({ ...base, etcdUser: 'u', etcdPassword: 'p' }).auth).toMatchObject({
      username: 'u',
      password: 'p',
    });
  });
});

describe('checkEtcdSettings', () => {
  it.each([
    [{}, []],
    [
      { etcdCert: '/nonexistent/c.pem' },
      ['--etcd-cert and --etcd-key: give both or neither', '--etcd-cert: cannot read /nonexistent/c.pem: ENOENT'],
    ],
    [{ etcdUser: 'root' }, ['--etcd-user and --etcd-password: give both or neither']],
    [
      { etcdCa: '/nonexistent/ca.pem' },
      [
        '--etcd-ca: TLS files given but no --etcd-endpoints URL uses https://',
        '--etcd-ca: cannot read /nonexistent/ca.pem: ENOENT',
      ],
    ],
  ] as const)('%o → %o', (change, problems) => {
    expect(checkEtcdSettings({ ...base, ...change })).toEqual(problems);
  });
});
