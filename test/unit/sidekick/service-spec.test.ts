import { describe, expect, it } from 'vitest';
import type { Container } from '../../../sidekick/container.js';
import { imageBasename, resolveServices, type SpecOptions } from '../../../sidekick/service-spec.js';
import { binding, container, port } from '../../helpers/container-fixture.js';

const OFF: SpecOptions = { all: false, implicit: false };
const ALL: SpecOptions = { all: true, implicit: false };
const IMPLICIT: SpecOptions = { all: false, implicit: true };

const published = (n: number, hostPort: number, protocol: 'tcp' | 'udp' = 'tcp') =>
  port(n, [binding('0.0.0.0', hostPort)], protocol);

/** [service, port, protocol] of each spec, for compact tables. */
function brief(c: Container, opts: SpecOptions = OFF): Array<[string, number, string]> {
  return resolveServices(c, opts).specs.map((s) => [s.service, s.port, s.protocol]);
}

describe('imageBasename', () => {
  it.each([
    ['registry:5000/team/app:1.2', 'app'],
    ['registry:5000/team/app', 'app'],
    ['registry:5000/app@sha256:0123abcd', 'app'],
    ['team/app:1.2@sha256:0123abcd', 'app'],
    ['nginx', 'nginx'],
    ['nginx:1.27-alpine', 'nginx'],
    ['docker.io/library/redis:7', 'redis'],
    ['localhost:5000/a/b/c/deep-name:tag', 'deep-name'],
  ])('%s → %s', (image, name) => {
    expect(imageBasename(image)).toBe(name);
  });
});

describe('opt-in', () => {
  it.each([
    ['no label, no flags', container(), OFF, []],
    ['label sidekick.service', container({ labels: { 'sidekick.service': 'web' } }), OFF, [['web', 80, 'tcp']]],
    ['label SERVICE_NAME', container({ labels: { SERVICE_NAME: 'web' } }), OFF, [['web', 80, 'tcp']]],
    ['env SERVICE_NAME', container({ env: { SERVICE_NAME: 'web' } }), OFF, [['web', 80, 'tcp']]],
    ['--all with a published port', container({ image: 'registry:5000/team/app:1.2' }), ALL, [['app', 80, 'tcp']]],
    ['--all with exposed-only ports', container({ ports: [port(80)] }), ALL, []],
    ['--all with no ports at all', container({ ports: [] }), ALL, []],
    [
      'per-container mode without labels',
      container({ image: 'team/api:2', ports: [port(8080)] }),
      IMPLICIT,
      [['api', 8080, 'tcp']],
    ],
    [
      'per-container mode keeps the label name',
      container({ labels: { 'sidekick.service': 'web' } }),
      IMPLICIT,
      [['web', 80, 'tcp']],
    ],
    ['--all keeps the label name', container({ labels: { 'sidekick.service': 'web' } }), ALL, [['web', 80, 'tcp']]],
  ] as const)('%s', (_label, c, opts, expected) => {
    expect(brief(c, opts)).toEqual(expected);
  });

  it.each([
    ['label sidekick.ignore=true', { labels: { 'sidekick.service': 'web', 'sidekick.ignore': 'true' } }, ALL],
    ['label sidekick.ignore=1', { labels: { 'sidekick.service': 'web', 'sidekick.ignore': '1' } }, OFF],
    ['label SERVICE_IGNORE=yes', { labels: { 'sidekick.service': 'web', SERVICE_IGNORE: 'yes' } }, OFF],
    ['env SERVICE_IGNORE=true', { labels: { 'sidekick.service': 'web' }, env: { SERVICE_IGNORE: 'true' } }, OFF],
    ['env SERVICE_IGNORE=TRUE with --all', { env: { SERVICE_IGNORE: 'TRUE' } }, ALL],
    ['sidekick.ignore in per-container mode', { labels: { 'sidekick.ignore': 'on' } }, IMPLICIT],
  ] as const)('%s → nothing published, no warning', (_label, over, opts) => {
    expect(resolveServices(container(over), opts)).toEqual({ specs: [], warnings: [] });
  });

  it('label sidekick.ignore=false beats env SERVICE_IGNORE=true', () => {
    const c = container({
      labels: { 'sidekick.service': 'web', 'sidekick.ignore': 'false' },
      env: { SERVICE_IGNORE: 'true' },
    });
    expect(brief(c)).toEqual([['web', 80, 'tcp']]);
  });
});

describe('label beats env', () => {
  it.each([
    [
      'sidekick.service over env SERVICE_NAME',
      { labels: { 'sidekick.service': 'a' }, env: { SERVICE_NAME: 'b' } },
      'a',
    ],
    ['sidekick.service over label SERVICE_NAME', { labels: { 'sidekick.service': 'a', SERVICE_NAME: 'b' } }, 'a'],
    ['label SERVICE_NAME over env SERVICE_NAME', { labels: { SERVICE_NAME: 'a' }, env: { SERVICE_NAME: 'b' } }, 'a'],
  ])('name: %s', (_label, over, name) => {
    expect(resolveServices(container(over), OFF).specs.map((s) => s.service)).toEqual([name]);
  });

  it.each([
    [
      'sidekick.tags',
      { labels: { 'sidekick.service': 'w', 'sidekick.tags': 'x, y ,,' }, env: { SERVICE_TAGS: 'e' } },
      ['x', 'y'],
    ],
    [
      'label SERVICE_TAGS',
      { labels: { 'sidekick.service': 'w', SERVICE_TAGS: 'l' }, env: { SERVICE_TAGS: 'e' } },
      ['l'],
    ],
    ['env SERVICE_TAGS', { labels: { 'sidekick.service': 'w' }, env: { SERVICE_TAGS: 'e1,e2' } }, ['e1', 'e2']],
    ['none', { labels: { 'sidekick.service': 'w' } }, []],
  ])('tags: %s', (_label, over, tags) => {
    expect(resolveServices(container(over), OFF).specs[0]?.tags).toEqual(tags);
  });

  it.each([
    [
      'sidekick.weight',
      { labels: { 'sidekick.service': 'w', 'sidekick.weight': '5' }, env: { SERVICE_WEIGHT: '7' } },
      5,
    ],
    ['env SERVICE_WEIGHT', { labels: { 'sidekick.service': 'w' }, env: { SERVICE_WEIGHT: '7' } }, 7],
    ['weight 0', { labels: { 'sidekick.service': 'w', 'sidekick.weight': '0' } }, 0],
    ['default', { labels: { 'sidekick.service': 'w' } }, 1],
  ])('weight: %s', (_label, over, weight) => {
    const r = resolveServices(container(over), OFF);
    expect(r.specs[0]?.weight).toBe(weight);
    expect(r.warnings).toEqual([]);
  });

  it.each([
    ['sidekick.id', { labels: { 'sidekick.service': 'w', 'sidekick.id': 'mine' }, env: { SERVICE_ID: 'env' } }, 'mine'],
    ['label SERVICE_ID', { labels: { 'sidekick.service': 'w', SERVICE_ID: 'lbl' }, env: { SERVICE_ID: 'env' } }, 'lbl'],
    ['env SERVICE_ID', { labels: { 'sidekick.service': 'w' }, env: { SERVICE_ID: 'env' } }, 'env'],
    ['none', { labels: { 'sidekick.service': 'w' } }, undefined],
  ])('instance id: %s', (_label, over, instance) => {
    expect(resolveServices(container(over), OFF).specs[0]?.instance).toBe(instance);
  });
});

describe('weight validation', () => {
  it.each(['-1', '1.5', 'heavy', '1000001', ''])(
    'invalid sidekick.weight %j → weight 1 and a warning naming the container',
    (raw) => {
      const r = resolveServices(
        container({ name: 'api-7', labels: { 'sidekick.service': 'w', 'sidekick.weight': raw } }),
        OFF,
      );
      expect(r.specs.map((s) => s.weight)).toEqual([1]);
      expect(r.warnings).toHaveLength(1);
      expect(r.warnings[0]).toContain('api-7');
    },
  );
});

describe('port choice', () => {
  const named = { 'sidekick.service': 'svc' };
  it.each([
    ['the single published port', [published(8080, 32000)], {}, [['svc', 8080, 'tcp']]],
    ['the single exposed port', [port(9000)], {}, [['svc', 9000, 'tcp']]],
    [
      'the published one among several exposed',
      [port(443), published(80, 32768), port(9000)],
      {},
      [['svc', 80, 'tcp']],
    ],
    ['a single UDP port', [published(53, 5353, 'udp')], {}, [['svc', 53, 'udp']]],
    [
      'label sidekick.port among several',
      [published(80, 1), published(443, 2)],
      { 'sidekick.port': '443' },
      [['svc', 443, 'tcp']],
    ],
    [
      'label sidekick.port with protocol',
      [published(53, 1, 'udp'), published(53, 1)],
      { 'sidekick.port': '53/udp' },
      [['svc', 53, 'udp']],
    ],
    [
      'label sidekick.port beats the single port',
      [published(80, 1)],
      { 'sidekick.port': ' 8081 ' },
      [['svc', 8081, 'tcp']],
    ],
    ['label sidekick.port with no ports known', [], { 'sidekick.port': '7000' }, [['svc', 7000, 'tcp']]],
  ] as const)('%s', (_label, ports, labels, expected) => {
    const r = resolveServices(container({ ports, labels: { ...named, ...labels } }), OFF);
    expect(r.specs.map((s) => [s.service, s.port, s.protocol])).toEqual(expected);
    expect(r.warnings).toEqual([]);
  });

  it.each([
    ['two published ports', [published(80, 1), published(443, 2)], {}, ['80/tcp', '443/tcp']],
    ['two exposed ports', [port(80), port(443)], {}, ['80/tcp', '443/tcp']],
    ['no ports', [], {}, ['none']],
    ['invalid sidekick.port', [published(80, 1)], { 'sidekick.port': 'http' }, ['sidekick.port']],
    ['sidekick.port 0', [published(80, 1)], { 'sidekick.port': '0' }, ['sidekick.port']],
    ['sidekick.port 65536', [published(80, 1)], { 'sidekick.port': '65536' }, ['sidekick.port']],
    ['sidekick.port sctp', [published(80, 1)], { 'sidekick.port': '80/sctp' }, ['sidekick.port']],
  ] as const)('%s → skipped with one warning naming the container', (_label, ports, labels, fragments) => {
    const r = resolveServices(container({ name: 'multi-1', ports, labels: { ...named, ...labels } }), OFF);
    expect(r.specs).toEqual([]);
    expect(r.warnings).toHaveLength(1);
    expect(r.warnings[0]).toContain('multi-1');
    for (const f of fragments) expect(r.warnings[0]).toContain(f);
  });

  it('--all with several published ports and no port label warns once', () => {
    const r = resolveServices(container({ name: 'x-1', ports: [published(80, 1), published(443, 2)] }), ALL);
    expect(r.specs).toEqual([]);
    expect(r.warnings).toHaveLength(1);
    expect(r.warnings[0]).toContain('x-1');
  });

  it('an invalid service name is skipped with a warning', () => {
    const r = resolveServices(container({ name: 'bad-1', labels: { 'sidekick.service': 'web/api' } }), OFF);
    expect(r.specs).toEqual([]);
    expect(r.warnings).toHaveLength(1);
    expect(r.warnings[0]).toContain('bad-1');
    expect(r.warnings[0]).toContain('web/api');
  });
});

describe("registrator's per-port variables", () => {
  it('SERVICE_<port>_NAME publishes each named port', () => {
    const c = container({
      ports: [published(80, 1), published(443, 2), published(53, 3, 'udp')],
      env: { SERVICE_80_NAME: 'http', SERVICE_443_NAME: 'https', SERVICE_53_NAME: 'dns' },
    });
    expect(brief(c)).toEqual([
      ['dns', 53, 'udp'],
      ['http', 80, 'tcp'],
      ['https', 443, 'tcp'],
    ]);
  });

  it('label SERVICE_<port>_NAME beats env', () => {
    const c = container({ labels: { SERVICE_80_NAME: 'from-label' }, env: { SERVICE_80_NAME: 'from-env' } });
    expect(brief(c)).toEqual([['from-label', 80, 'tcp']]);
  });

  it.each([
    ['sidekick.service', { 'sidekick.service': 'web' }],
    ['SERVICE_NAME', { SERVICE_NAME: 'web' }],
  ])('a %s label beats per-port names from the environment', (_label, labels) => {
    const c = container({ labels, env: { SERVICE_80_NAME: 'legacy', SERVICE_8080_NAME: 'admin' } });
    expect(brief(c)).toEqual([['web', 80, 'tcp']]);
  });

  it('per-port names from labels still apply next to a name label', () => {
    const c = container({
      ports: [published(80, 1), published(443, 2)],
      labels: { SERVICE_NAME: 'web', SERVICE_443_NAME: 'https' },
    });
    expect(brief(c)).toEqual([['https', 443, 'tcp']]);
  });

  it('SERVICE_<port>_IGNORE, _TAGS and _ID apply to that port only', () => {
    const c = container({
      ports: [published(80, 1), published(443, 2), published(8080, 3)],
      env: {
        SERVICE_TAGS: 'all',
        SERVICE_80_NAME: 'http',
        SERVICE_443_NAME: 'https',
        SERVICE_8080_NAME: 'admin',
        SERVICE_8080_IGNORE: '1',
        SERVICE_443_TAGS: 'tls,h2',
        SERVICE_443_ID: 'custom-id',
      },
    });
    const specs = resolveServices(c, OFF).specs;
    expect(specs.map((s) => [s.service, s.tags, s.instance])).toEqual([
      ['http', ['all'], undefined],
      ['https', ['tls', 'h2'], 'custom-id'],
    ]);
  });

  it('SERVICE_IGNORE still ignores the whole container', () => {
    const c = container({ env: { SERVICE_80_NAME: 'http', SERVICE_IGNORE: '1' } });
    expect(brief(c)).toEqual([]);
  });
});
