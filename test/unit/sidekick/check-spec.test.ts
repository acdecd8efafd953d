// Check labels → the entry's `check`, and UDP ports → `"protocol": "udp"`.
import { describe, expect, it } from 'vitest';
import type { EntryCheck } from '../../../common/registry.js';
import { resolveCheck } from '../../../sidekick/check-spec.js';
import { desiredEntries, type EntryOptions } from '../../../sidekick/entries.js';
import { resolveServices } from '../../../sidekick/service-spec.js';
import { binding, container, port } from '../../helpers/container-fixture.js';

type Sources = { labels?: Record<string, string>; env?: Record<string, string> };
const http = (path: string, intervalMs = 10_000, timeoutMs = 2_000): EntryCheck => ({
  type: 'http',
  path,
  intervalMs,
  timeoutMs,
});
const tcp = (intervalMs = 10_000, timeoutMs = 2_000): EntryCheck => ({ type: 'tcp', intervalMs, timeoutMs });

describe('resolveCheck: which check a port gets', () => {
  it.each<[string, Sources, EntryCheck | undefined]>([
    ['nothing set', {}, undefined],
    ['label sidekick.check=<path>', { labels: { 'sidekick.check': '/healthz' } }, http('/healthz')],
    ['label sidekick.check=tcp', { labels: { 'sidekick.check': 'tcp' } }, tcp()],
    ['label sidekick.check=TCP', { labels: { 'sidekick.check': 'TCP' } }, tcp()],
    [
      'sidekick interval and timeout labels',
      { labels: { 'sidekick.check': '/h', 'sidekick.check.interval': '5s', 'sidekick.check.timeout': '1s' } },
      http('/h', 5_000, 1_000),
    ],
    ['env SERVICE_CHECK_HTTP', { env: { SERVICE_CHECK_HTTP: '/status' } }, http('/status')],
    ['label SERVICE_CHECK_TCP=true', { labels: { SERVICE_CHECK_TCP: 'true' } }, tcp()],
    ['env SERVICE_CHECK_TCP=1', { env: { SERVICE_CHECK_TCP: '1' } }, tcp()],
    ['env SERVICE_CHECK_TCP=false: no check', { env: { SERVICE_CHECK_TCP: 'false' } }, undefined],
    [
      'registrator interval/timeout (bare numbers are seconds)',
      { env: { SERVICE_CHECK_HTTP: '/h', SERVICE_CHECK_INTERVAL: '15', SERVICE_CHECK_TIMEOUT: '3s' } },
      http('/h', 15_000, 3_000),
    ],
    ['per-port env form', { env: { SERVICE_80_CHECK_HTTP: '/p' } }, http('/p')],
    ['per-port form of another port does not apply', { env: { SERVICE_81_CHECK_HTTP: '/p' } }, undefined],
    [
      'per-port beats container-wide (same source kind)',
      { env: { SERVICE_CHECK_HTTP: '/all', SERVICE_80_CHECK_TCP: 'true' } },
      tcp(),
    ],
    [
      'sidekick label beats registrator label',
      { labels: { 'sidekick.check': '/a', SERVICE_CHECK_HTTP: '/b' } },
      http('/a'),
    ],
    [
      'any label beats env (env is often baked into the image)',
      { labels: { 'sidekick.check': '/l' }, env: { SERVICE_80_CHECK_HTTP: '/e' } },
      http('/l'),
    ],
    [
      'label SERVICE_<port> beats sidekick.check',
      { labels: { 'sidekick.check': '/a', SERVICE_80_CHECK_HTTP: '/b' } },
      http('/b'),
    ],
    [
      'each setting is looked up on its own: env interval with a label kind',
      { labels: { 'sidekick.check': '/h' }, env: { SERVICE_CHECK_INTERVAL: '20s' } },
      http('/h', 20_000),
    ],
    [
      'label interval beats env interval',
      {
        labels: { 'sidekick.check': '/h', 'sidekick.check.interval': '3s' },
        env: { SERVICE_80_CHECK_INTERVAL: '20s' },
      },
      http('/h', 3_000),
    ],
    [
      'a container-wide label beats a per-port env',
      { labels: { 'sidekick.check': '/h', SERVICE_CHECK_INTERVAL: '3s' }, env: { SERVICE_80_CHECK_INTERVAL: '20s' } },
      http('/h', 3_000),
    ],
    [
      'a short interval caps the default timeout',
      { labels: { 'sidekick.check': 'tcp', 'sidekick.check.interval': '1s' } },
      tcp(1_000, 1_000),
    ],
    [
      'whitespace around values is trimmed',
      { labels: { 'sidekick.check': ' /h ', 'sidekick.check.interval': ' 5s ' } },
      http('/h', 5_000),
    ],
  ])('%s', (_label, src, expected) => {
    const r = resolveCheck(container(src), 80, 'tcp');
    expect(r.warning).toBeUndefined();
    expect(r.check).toEqual(expected);
  });

  it.each<[string, Sources, 'tcp' | 'udp', string]>([
    ['a path without /', { labels: { 'sidekick.check': 'healthz' } }, 'tcp', 'check.path must start with /'],
    ['a path with a space', { labels: { 'sidekick.check': '/a b' } }, 'tcp', 'check.path'],
    [
      'a bad interval',
      { labels: { 'sidekick.check': '/h', 'sidekick.check.interval': 'often' } },
      'tcp',
      'check.interval',
    ],
    [
      'an interval below 1s',
      { env: { SERVICE_CHECK_TCP: 'true', SERVICE_CHECK_INTERVAL: '100ms' } },
      'tcp',
      'check.interval',
    ],
    [
      'a timeout above the interval',
      { labels: { 'sidekick.check': 'tcp', 'sidekick.check.interval': '2s', 'sidekick.check.timeout': '5s' } },
      'tcp',
      'must not exceed',
    ],
    ['HTTP and TCP at the same level', { env: { SERVICE_CHECK_HTTP: '/h', SERVICE_CHECK_TCP: 'true' } }, 'tcp', 'both'],
    ['SERVICE_CHECK_TCP=maybe', { labels: { SERVICE_CHECK_TCP: 'maybe' } }, 'tcp', 'expected true or false'],
    ['an interval without a check', { labels: { 'sidekick.check.interval': '5s' } }, 'tcp', 'without a check'],
    ['a check on a UDP port', { labels: { 'sidekick.check': 'tcp' } }, 'udp', 'TCP ports only'],
  ])('%s: no check, one warning naming the container', (_label, src, protocol, reason) => {
    const r = resolveCheck(container(src), 80, protocol);
    expect(r.check).toBeUndefined();
    expect(r.warning).toContain('container web-1 port 80');
    expect(r.warning).toContain(reason);
  });
});

describe('check and protocol in the published entry', () => {
  const opts: EntryOptions = {
    prefix: '/services',
    node: 'n1',
    mode: 'host',
    hostIp: '192.0.2.10',
    network: undefined,
    all: false,
    implicit: false,
  };

  it('writes the canonical check into the value', () => {
    const c = container({
      labels: { 'sidekick.service': 'web', 'sidekick.check': '/healthz', 'sidekick.check.interval': '5s' },
    });
    const r = desiredEntries(c, opts);
    expect(r.warnings).toEqual([]);
    const value = JSON.parse([...r.entries.values()][0] ?? '{}') as Record<string, unknown>;
    expect(value.check).toEqual({ path: '/healthz', interval: '5s' });
    expect(value.protocol).toBeUndefined();
  });

  it('an invalid check publishes the container without one, with a warning', () => {
    const c = container({ labels: { 'sidekick.service': 'web', 'sidekick.check': 'no-slash' } });
    const r = desiredEntries(c, opts);
    expect(r.entries.size).toBe(1);
    expect(r.warnings).toHaveLength(1);
    const value = JSON.parse([...r.entries.values()][0] ?? '{}') as Record<string, unknown>;
    expect(value.check).toBeUndefined();
  });

  it('a UDP port is published with "protocol": "udp" and a :udp instance id', () => {
    const c = container({
      labels: { 'sidekick.service': 'dns', 'sidekick.port': '53/udp' },
      ports: [port(53, [binding('0.0.0.0', 30053)], 'udp')],
    });
    const r = desiredEntries(c, opts);
    expect(r.warnings).toEqual([]);
    expect([...r.entries.keys()]).toEqual(['/services/dns/n1:web-1:53:udp']);
    expect(JSON.parse([...r.entries.values()][0] ?? '{}')).toMatchObject({ port: 30053, protocol: 'udp' });
  });

  it('per-port registrator names get their own per-port checks', () => {
    const c = container({
      env: {
        SERVICE_80_NAME: 'web',
        SERVICE_81_NAME: 'admin',
        SERVICE_80_CHECK_HTTP: '/web-health',
        SERVICE_CHECK_TCP: 'true',
      },
      ports: [port(80, [binding('0.0.0.0', 32768)]), port(81, [binding('0.0.0.0', 32769)])],
    });
    const specs = resolveServices(c, { all: false, implicit: false }).specs;
    expect(specs.map((s) => [s.service, s.check?.type, s.check?.type === 'http' ? s.check.path : ''])).toEqual([
      ['web', 'http', '/web-health'],
      ['admin', 'tcp', ''],
    ]);
  });
});
