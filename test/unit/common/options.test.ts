import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkEtcdSettings, etcdOptionDefs, type EtcdSettings } from '../../../common/etcd-client.js';
import { ConfigError, ErrorCode } from '../../../common/errors.js';
import { flagName, option, parseOptions, renderHelp, renderMarkdownTable } from '../../../common/options.js';
import {
  durationAtLeast,
  parseBoolean,
  parseDurationMs,
  parseEndpoints,
  parseEnum,
  parseInteger,
  parseIp,
  parseKeyPrefix,
  parseListenAddress,
  parseNonEmpty,
} from '../../../common/parsers.js';

const defs = {
  ttl: option({ env: ['APP_TTL'], default: 10_000, parse: durationAtLeast(2000), group: 'g', describe: 'lease ttl' }),
  mode: option({
    env: ['APP_MODE', 'MODE'],
    default: 'host' as 'host' | 'container',
    parse: parseEnum('host', 'container'),
    group: 'g',
    describe: 'mode',
  }),
  all: option({ env: ['APP_ALL'], default: false, parse: parseBoolean, boolean: true, group: 'g', describe: 'all' }),
  dockerHost: option({
    env: ['DOCKER_HOST'],
    default: 'unix:///var/run/docker.sock',
    parse: parseNonEmpty,
    group: 'h',
    describe: 'docker',
  }),
  tag: option({
    env: ['APP_TAG'],
    default: Object.freeze([]) as readonly string[],
    parse: (raw: string) => [parseNonEmpty(raw)],
    repeatable: true,
    group: 'h',
    describe: 'tags',
  }),
};

/** Runs parseOptions and returns the ConfigError it throws (fails the test when it does not). */
function problems(argv: string[], env: Record<string, string> = {}): readonly string[] {
  try {
    parseOptions(defs, argv, env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).code).toBe(ErrorCode.config);
    return (err as ConfigError).problems;
  }
  throw new Error(`expected a ConfigError for ${JSON.stringify(argv)}`);
}

describe('flagName', () => {
  it.each([
    ['ttl', '--ttl'],
    ['dockerHost', '--docker-host'],
    ['etcdEndpoints', '--etcd-endpoints'],
  ])('%s → %s', (key, flag) => {
    expect(flagName(key)).toBe(flag);
  });
});

describe('parseOptions precedence: flags > env > defaults', () => {
  it.each([
    ['defaults', [], {}, { ttl: 10_000, mode: 'host', all: false, dockerHost: 'unix:///var/run/docker.sock', tag: [] }],
    [
      'env',
      [],
      { APP_TTL: '5s', MODE: 'container', APP_ALL: 'true', DOCKER_HOST: 'tcp://d:2375', APP_TAG: 'a, b\nc' },
      { ttl: 5000, mode: 'container', all: true, dockerHost: 'tcp://d:2375', tag: ['a', 'b', 'c'] },
    ],
    [
      'flags over env',
      ['--ttl', '3s', '--mode=host', '--all=false', '--docker-host', 'unix:///x', '--tag', 'z'],
      { APP_TTL: '5s', APP_MODE: 'container', APP_ALL: '1', DOCKER_HOST: 'tcp://d:2375', APP_TAG: 'a' },
      { ttl: 3000, mode: 'host', all: false, dockerHost: 'unix:///x', tag: ['z'] },
    ],
    ['first env name wins', [], { APP_MODE: 'container', MODE: 'host' }, { mode: 'container' }],
    ['empty env is unset', [], { APP_TTL: '', APP_MODE: '', MODE: 'container' }, { ttl: 10_000, mode: 'container' }],
    ['--flag value', ['--ttl', '4s'], {}, { ttl: 4000 }],
    ['--flag=value', ['--ttl=4s'], {}, { ttl: 4000 }],
    ['--flag=value with = in the value', ['--docker-host=tcp://a=b:1'], {}, { dockerHost: 'tcp://a=b:1' }],
    ['bare boolean', ['--all'], {}, { all: true }],
    ['bare boolean followed by another flag', ['--all', '--ttl', '7s'], {}, { all: true, ttl: 7000 }],
    ['boolean =true', ['--all=true'], { APP_ALL: 'false' }, { all: true }],
    ['repeatable flag collects every occurrence', ['--tag', 'a', '--tag=b'], {}, { tag: ['a', 'b'] }],
  ])('%s', (_label, argv, env, expected) => {
    expect(parseOptions(defs, argv, env).values).toMatchObject(expected);
  });

  it('returns frozen values', () => {
    const { values } = parseOptions(defs, ['--tag', 'a'], {});
    expect(Object.isFrozen(values)).toBe(true);
    expect(Object.isFrozen(values.tag)).toBe(true);
  });

  it.each([
    [['--help'], true, false],
    [['-h'], true, false],
    [['--version'], false, true],
    [['-v', '--all'], false, true],
    [[], false, false],
  ])('%j → help %s, version %s', (argv, help, version) => {
    const r = parseOptions(defs, argv, {});
    expect(r.help).toBe(help);
    expect(r.version).toBe(version);
  });
});

describe('parseOptions errors', () => {
  it.each([
    ['unknown flag', ['--bogus'], ['--bogus', 'unknown']],
    ['unknown flag with value', ['--bogus=1'], ['--bogus', 'unknown']],
    ['missing value', ['--ttl'], ['--ttl', 'needs a value']],
    ['bad duration', ['--ttl', 'soon'], ['--ttl', 'duration']],
    ['too small', ['--ttl', '1s'], ['--ttl', '2000']],
    ['bad enum', ['--mode=bridge'], ['--mode', 'host, container']],
    ['bad boolean', ['--all=maybe'], ['--all', 'true or false']],
    ['given twice', ['--ttl', '3s', '--ttl', '4s'], ['--ttl', 'more than once']],
    ['positional', ['serve'], ['"serve"']],
  ])('%s', (_label, argv, fragments) => {
    const ps = problems(argv);
    expect(ps).toHaveLength(1);
    for (const f of fragments) expect(ps[0]).toContain(f);
  });

  it('names the flag and the environment variable for a bad env value', () => {
    const ps = problems([], { MODE: 'bridge' });
    expect(ps).toHaveLength(1);
    expect(ps[0]).toContain('--mode');
    expect(ps[0]).toContain('MODE');
  });

  it('reports every problem at once, each naming its flag', () => {
    const ps = problems(['--ttl', 'x', '--mode', 'y', '--bogus', '--all=z'], { DOCKER_HOST: ' ' });
    expect(ps).toHaveLength(5);
    for (const flag of ['--ttl', '--mode', '--bogus', '--all', '--docker-host']) {
      expect(ps.filter((p) => p.startsWith(flag))).toHaveLength(1);
    }
    try {
      parseOptions(defs, ['--ttl', 'x', '--mode', 'y'], {});
    } catch (err) {
      expect((err as Error).message).toContain('--ttl');
      expect((err as Error).message).toContain('--mode');
    }
  });
});

describe('renderHelp / renderMarkdownTable', () => {
  it('list every flag with its env variables and defaults', () => {
    const help = renderHelp(defs, 'usage: app [options]', ['app --all']);
    const table = renderMarkdownTable(defs);
    for (const flag of ['--ttl', '--mode', '--all', '--docker-host', '--tag']) {
      expect(help).toContain(flag);
      expect(table).toContain(`\`${flag}\``);
    }
    expect(help).toContain('DOCKER_HOST');
    expect(help).toContain('(default host)');
    expect(table).toContain('`APP_MODE`, `MODE`');
  });
});

describe('parsers', () => {
  it.each([
    ['500ms', 500],
    ['10s', 10_000],
    ['10', 10_000],
    ['1.5s', 1500],
    ['2m', 120_000],
    ['1h', 3_600_000],
    [' 3s ', 3000],
  ])('parseDurationMs(%j) = %s', (raw, ms) => {
    expect(parseDurationMs(raw)).toBe(ms);
  });

  it.each(['', 's', '-1s', '10 s', '1d', 'ten'])('parseDurationMs(%j) throws', (raw) => {
    expect(() => parseDurationMs(raw)).toThrow(/duration/);
  });

  it.each([
    ['1s', false],
    ['2s', true],
    ['60s', true],
    ['61s', false],
  ])('durationAtLeast(2000, 60000)(%s) accepted: %s', (raw, ok) => {
    const parse = durationAtLeast(2000, 60_000);
    if (ok) expect(parse(raw)).toBe(parseDurationMs(raw));
    else expect(() => parse(raw)).toThrow(/between/);
  });

  it.each([
    ['true', true],
    ['1', true],
    ['YES', true],
    ['on', true],
    ['false', false],
    ['0', false],
    ['No', false],
    ['off', false],
  ])('parseBoolean(%s) = %s', (raw, v) => {
    expect(parseBoolean(raw)).toBe(v);
  });

  it('parseBoolean rejects other words', () => {
    expect(() => parseBoolean('y')).toThrow(/true or false/);
  });

  it.each([
    ['5', 5],
    ['0', 0],
    ['-3', -3],
  ])('parseInteger(-5, 5)(%s) = %s', (raw, n) => {
    expect(parseInteger(-5, 5)(raw)).toBe(n);
  });

  it.each(['6', '-6', '1.5', '1e1', '', 'x'])('parseInteger(-5, 5)(%j) throws', (raw) => {
    expect(() => parseInteger(-5, 5)(raw)).toThrow(/integer/);
  });

  it.each([
    ['127.0.0.1:9090', { host: '127.0.0.1', port: 9090 }],
    [':8080', { host: '0.0.0.0', port: 8080 }],
    ['[::1]:80', { host: '::1', port: 80 }],
    ['localhost:0', { host: 'localhost', port: 0 }],
  ])('parseListenAddress(%s)', (raw, expected) => {
    expect(parseListenAddress(raw)).toEqual(expected);
  });

  it.each(['127.0.0.1', '127.0.0.1:65536', '::1:80', '[zz]:80', 'a:b'])('parseListenAddress(%j) throws', (raw) => {
    expect(() => parseListenAddress(raw)).toThrow();
  });

  it.each([
    ['10.0.0.1', '10.0.0.1'],
    [' fd00::1 ', 'fd00::1'],
  ])('parseIp(%j) = %s', (raw, ip) => {
    expect(parseIp(raw)).toBe(ip);
  });

  it.each(['host.example', '10.0.0', ''])('parseIp(%j) throws', (raw) => {
    expect(() => parseIp(raw)).toThrow(/IPv4 or IPv6/);
  });

  it.each([
    ['127.0.0.1:2379', ['http://127.0.0.1:2379']],
    ['https://e1:2379, e2:2379', ['https://e1:2379', 'http://e2:2379']],
    ['http://[::1]:2379/', ['http://[::1]:2379']],
  ])('parseEndpoints(%j)', (raw, list) => {
    expect(parseEndpoints(raw)).toEqual(list);
  });

  it.each(['', ' , ', 'e1', 'http://e1', 'http://:2379x'])('parseEndpoints(%j) throws', (raw) => {
    expect(() => parseEndpoints(raw)).toThrow();
  });

  it.each([
    ['/services', '/services'],
    ['/services/', '/services'],
    ['/a/b-c_d.e', '/a/b-c_d.e'],
    ['/', '/'],
  ])('parseKeyPrefix(%j) = %s', (raw, v) => {
    expect(parseKeyPrefix(raw)).toBe(v);
  });

  it.each(['services', '/a//b', '/a b', ''])('parseKeyPrefix(%j) throws', (raw) => {
    expect(() => parseKeyPrefix(raw)).toThrow(/key prefix/);
  });

  it('parseNonEmpty trims and rejects blanks', () => {
    expect(parseNonEmpty('  x ')).toBe('x');
    expect(() => parseNonEmpty('  ')).toThrow(/empty/);
  });
});

describe('etcd options', () => {
  const etcdDefs = etcdOptionDefs('SIDEKICK');
  const settings = (over: Partial<EtcdSettings> = {}): EtcdSettings => ({
    ...parseOptions(etcdDefs, [], {}).values,
    ...over,
  });

  it('defaults to a local etcd with a 3s timeout and no TLS/auth', () => {
    expect(settings()).toEqual({
      etcdEndpoints: ['http://127.0.0.1:2379'],
      etcdCa: '',
      etcdCert: '',
      etcdKey: '',
      etcdUser: '',
      etcdPassword: '',
      etcdTimeout: 3000,
    });
  });

  it.each([
    ['ETCD_ENDPOINTS', { ETCD_ENDPOINTS: 'e1:2379,e2:2379' }, ['http://e1:2379', 'http://e2:2379']],
    [
      'SIDEKICK_ETCD_ENDPOINTS beats ETCD_ENDPOINTS',
      { ETCD_ENDPOINTS: 'e1:2379', SIDEKICK_ETCD_ENDPOINTS: 'e9:2379' },
      ['http://e9:2379'],
    ],
  ])('%s', (_label, env, endpoints) => {
    expect(parseOptions(etcdDefs, [], env).values.etcdEndpoints).toEqual(endpoints);
  });

  it('no problems for the defaults', () => {
    expect(checkEtcdSettings(settings())).toEqual([]);
  });

  it.each([
    ['cert without key', { etcdCert: '/nonexistent/cert.pem' }, ['--etcd-cert', '--etcd-key']],
    ['key without cert', { etcdKey: '/nonexistent/key.pem' }, ['--etcd-cert', '--etcd-key']],
    ['user without password', { etcdUser: 'root' }, ['--etcd-user', '--etcd-password']],
    ['password without user', { etcdPassword: 'pw' }, ['--etcd-user', '--etcd-password']],
    ['CA with only http endpoints', { etcdCa: '/nonexistent/ca.pem' }, ['--etcd-ca', 'https://']],
  ])('%s is a problem naming the flags', (_label, over, fragments) => {
    const ps = checkEtcdSettings(settings(over));
    const match = ps.filter((p) => fragments.every((f) => p.includes(f)));
    expect(match).toHaveLength(1);
  });

  it('an unreadable TLS file is a problem naming its flag and path', () => {
    const ps = checkEtcdSettings(settings({ etcdEndpoints: ['https://e1:2379'], etcdCa: '/nonexistent/ca.pem' }));
    expect(ps).toHaveLength(1);
    expect(ps[0]).toContain('--etcd-ca');
    expect(ps[0]).toContain('/nonexistent/ca.pem');
  });

  it('readable TLS files with an https endpoint and both cert and key pass', () => {
    const dir = mkdtempSync(join(tmpdir(), 'etcd-tls-'));
    for (const f of ['ca.pem', 'cert.pem', 'key.pem']) writeFileSync(join(dir, f), 'x');
    const ps = checkEtcdSettings(
      settings({
        etcdEndpoints: ['https://e1:2379'],
        etcdCa: join(dir, 'ca.pem'),
        etcdCert: join(dir, 'cert.pem'),
        etcdKey: join(dir, 'key.pem'),
      }),
    );
    expect(ps).toEqual([]);
  });
});
