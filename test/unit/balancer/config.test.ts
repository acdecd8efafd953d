// Balancer configuration: the defaults and names the issue promises, precedence, and errors that
// name their flag (all of them at once).
import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import { loadBalancerConfig, parseHstsMaxAge } from '../../../balancer/config.js';
import { ConfigError } from '../../../common/errors.js';

function problems(argv: string[], env: Record<string, string> = {}): readonly string[] {
  try {
    loadBalancerConfig(argv, env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error(`expected a ConfigError for ${JSON.stringify(argv)}`);
}

describe('loadBalancerConfig', () => {
  it('has the promised defaults', () => {
    const { config } = loadBalancerConfig([], {});
    expect(config).toMatchObject({
      etcdEndpoints: ['http://127.0.0.1:2379'],
      prefix: '/services',
      routesPrefix: '/routes',
      resync: 60_000,
      lb: 'round-robin',
      retries: 2,
      workers: 1,
      admin: { host: '127.0.0.1', port: 9090 },
      route: [],
      backendsAllow: undefined,
      trustedProxies: [],
      defaultService: undefined,
    });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it.each([
    ['flag beats env', ['--lb', 'least-request'], { BALANCER_LB: 'round-robin' }, 'lb', 'least-request'],
    ['env beats default', [], { BALANCER_RETRIES: '5' }, 'retries', 5],
    [
      'ETCD_ENDPOINTS is honoured',
      [],
      { ETCD_ENDPOINTS: '10.0.0.1:2379,10.0.0.2:2379' },
      'etcdEndpoints',
      ['http://10.0.0.1:2379', 'http://10.0.0.2:2379'],
    ],
    [
      'BALANCER_ETCD_ENDPOINTS beats ETCD_ENDPOINTS',
      [],
      { BALANCER_ETCD_ENDPOINTS: 'a:1', ETCD_ENDPOINTS: 'b:2' },
      'etcdEndpoints',
      ['http://a:1'],
    ],
    ['--upstream-timeout takes a duration', ['--upstream-timeout', '1500ms'], {}, 'upstreamTimeout', 1500],
    ['--workers auto is the core count', ['--workers', 'auto'], {}, 'workers', availableParallelism()],
    ['--listen :8080 is all interfaces', ['--listen', ':8080'], {}, 'listen', { host: '0.0.0.0', port: 8080 }],
    ['--default-service', ['--default-service', 'web'], {}, 'defaultService', 'web'],
  ] as const)('%s', (_t, argv, env, key, want) => {
    expect(loadBalancerConfig([...argv], env).config[key]).toEqual(want);
  });

  it('collects repeated --route flags in order, each parsed', () => {
    const { config } = loadBalancerConfig(
      ['--route', 'api.example.com/v1=api', '--route', '*.example.com=web', '--route=/static=assets'],
      {},
    );
    expect(config.route.map((r) => [r.host, r.pathPrefix, r.service])).toEqual([
      ['api.example.com', '/v1', 'api'],
      ['*.example.com', '/', 'web'],
      [undefined, '/static', 'assets'],
    ]);
  });

  it('parses CIDR lists for --trusted-proxies and --backends-allow', () => {
    const { config } = loadBalancerConfig(
      ['--trusted-proxies', '10.0.0.0/8,::1/128', '--backends-allow', '172.16.0.0/12'],
      {},
    );
    expect(config.trustedProxies).toHaveLength(2);
    expect(config.backendsAllow).toHaveLength(1);
  });

  it.each([
    [['--lb', 'random'], '--lb'],
    [['--retries', '11'], '--retries'],
    [['--admin', '127.0.0.1:8080', '--listen', '127.0.0.1:8080'], '--admin'],
    [['--routes-prefix', '/services/routes'], '--routes-prefix'],
    [['--default-service', 'bad name'], '--default-service'],
    [['--resync', '10ms'], '--resync'],
    [['--etcd-user', 'u'], '--etcd-user'],
    [['--route', 'a.example.com'], '--route'],
  ])('%j is rejected naming %s', (argv, flag) => {
    expect(problems(argv).some((p) => p.startsWith(flag))).toBe(true);
  });

  it('reports every problem at once, cross-checks included', () => {
    const found = problems(['--lb', 'x', '--retries', 'y', '--etcd-user', 'u']);
    expect(found.map((p) => p.split(':')[0])).toEqual(
      expect.arrayContaining(['--lb', '--retries', '--etcd-user and --etcd-password']),
    );
  });
});

describe('TLS and access log options', () => {
  const tls = ['--tls-listen', '127.0.0.1:8443', '--tls-cert', 'a.pem', '--tls-key', 'a-key.pem'];

  it('are off by default', () => {
    expect(loadBalancerConfig([], {}).config).toMatchObject({
      tlsListen: undefined,
      tlsCert: [],
      tlsKey: [],
      tlsPrefix: undefined,
      redirectHttps: false,
      hsts: undefined,
      accessLog: 'off',
      accessLogFormat: 'json',
    });
  });

  it('pair the n-th --tls-key with the n-th --tls-cert, in flag order', () => {
    const { config } = loadBalancerConfig(
      ['--tls-listen', ':8443', '--tls-cert', 'a.pem', '--tls-key', 'a.key', '--tls-cert=b.pem', '--tls-key=b.key'],
      {},
    );
    expect(config.tlsListen).toEqual({ host: '0.0.0.0', port: 8443 });
    expect(config.tlsCert).toEqual(['a.pem', 'b.pem']);
    expect(config.tlsKey).toEqual(['a.key', 'b.key']);
  });

  it.each<[string, string[], Record<string, string>, string, unknown]>([
    ['--tls-prefix', ['--tls-prefix', '/tls/'], {}, 'tlsPrefix', '/tls'],
    ['--redirect-https alone', ['--redirect-https'], {}, 'redirectHttps', true],
    ['--redirect-https=false', ['--redirect-https=false'], {}, 'redirectHttps', false],
    ['--hsts in seconds', ['--hsts', '31536000'], {}, 'hsts', 31_536_000],
    ['--hsts in days', ['--hsts', '365d'], {}, 'hsts', 31_536_000],
    ['--hsts 0 (tells browsers to forget)', ['--hsts', '0'], {}, 'hsts', 0],
    ['--hsts off from env', [], { BALANCER_HSTS: 'off' }, 'hsts', undefined],
    [
      '--access-log to a file',
      ['--access-log', '/var/log/balancer/access.log'],
      {},
      'accessLog',
      '/var/log/balancer/access.log',
    ],
    ['--access-log stdout', ['--access-log', 'stdout'], {}, 'accessLog', 'stdout'],
    ['--access-log-format from env', [], { BALANCER_ACCESS_LOG_FORMAT: 'combined' }, 'accessLogFormat', 'combined'],
  ])('%s', (_t, argv, env, key, want) => {
    const { config } = loadBalancerConfig([...tls, ...argv], env);
    expect((config as unknown as Record<string, unknown>)[key]).toEqual(want);
  });

  it('take certificate pairs from the environment (comma separated)', () => {
    const env = { BALANCER_TLS_LISTEN: ':8443', BALANCER_TLS_CERTS: 'a.pem,b.pem', BALANCER_TLS_KEYS: 'a.k,b.k' };
    const { config } = loadBalancerConfig([], env);
    expect([config.tlsCert, config.tlsKey]).toEqual([
      ['a.pem', 'b.pem'],
      ['a.k', 'b.k'],
    ]);
  });

  it.each([
    ['12h', 43_200],
    ['90m', 5400],
    ['10s', 10],
  ])('parseHstsMaxAge(%s) = %d', (raw, want) => {
    expect(parseHstsMaxAge(raw)).toBe(want);
  });

  it.each<[string[], string]>([
    [['--tls-listen', ':8443', '--tls-cert', 'a.pem'], '--tls-key'],
    [['--tls-listen', ':8443', '--tls-cert', 'a', '--tls-key', 'b', '--tls-key', 'c'], '--tls-key'],
    [['--tls-listen', ':8443'], '--tls-cert'],
    [['--tls-cert', 'a.pem', '--tls-key', 'a.key'], '--tls-cert'],
    [['--hsts', '1d'], '--hsts'],
    [['--redirect-https'], '--redirect-https'],
    [['--tls-prefix', '/tls'], '--tls-prefix'],
    [['--tls-listen', 'nowhere'], '--tls-listen'],
    [[...tls, '--hsts', '1y'], '--hsts'],
    [[...tls, '--hsts', '500ms'], '--hsts'],
    [[...tls, '--hsts', '-1'], '--hsts'],
    [[...tls, '--redirect-https=maybe'], '--redirect-https'],
    [[...tls, '--tls-prefix', '/services/tls'], '--tls-prefix'],
    [[...tls, '--tls-prefix', '/routes'], '--tls-prefix'],
    [[...tls, '--listen', '127.0.0.1:8443'], '--tls-listen'],
    [[...tls, '--admin', '127.0.0.1:8443'], '--tls-listen'],
    [['--access-log', ' '], '--access-log'],
    [['--access-log-format', 'xml'], '--access-log-format'],
  ])('%j is rejected naming %s', (argv, flag) => {
    expect(problems(argv).some((p) => p.startsWith(`${flag}:`) || p.startsWith(`${flag} `))).toBe(true);
  });
});
