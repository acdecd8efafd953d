// Routes a container declares: sidekick.route (+ sidekick.route.<field>) and nginx-proxy's
// VIRTUAL_HOST / VIRTUAL_PATH / VIRTUAL_PORT, labels beating environment variables; into the entry.
import { describe, expect, it } from 'vitest';
import { decodeEntry } from '../../../common/registry.js';
import type { Container } from '../../../sidekick/container.js';
import { resolveRoutes } from '../../../sidekick/declared-routes.js';
import { declaredRouteLines } from '../../../sidekick/dry-run.js';
import { desiredEntries, type EntryOptions } from '../../../sidekick/entries.js';
import { resolveServices, type SpecOptions } from '../../../sidekick/service-spec.js';
import { binding, container, port } from '../../helpers/container-fixture.js';

const OFF: SpecOptions = { all: false, implicit: false };
const opts: EntryOptions = {
  ...OFF,
  prefix: '/services',
  node: 'n1',
  mode: 'host',
  hostIp: '192.0.2.10',
  network: undefined,
};

/** Each declared route as its canonical `host+path` and its non-default fields. */
function brief(c: Container): Array<[string, Record<string, unknown>]> {
  return resolveRoutes(c).routes.map((r) => {
    const { host, pathPrefix, lb, sticky, policy } = r;
    const extra: Record<string, unknown> = {};
    if (lb !== undefined) extra.lb = lb;
    if (sticky) extra.sticky = true;
    if (policy?.stripPrefix !== undefined) extra.stripPrefix = policy.stripPrefix;
    if (policy?.addPrefix !== undefined) extra.addPrefix = policy.addPrefix;
    if (policy?.timeoutMs !== undefined) extra.timeoutMs = policy.timeoutMs;
    if (policy?.retries !== undefined) extra.retries = policy.retries;
    if (policy?.requestHeaders !== undefined) extra.requestHeaders = true;
    return [`${host ?? ''}${pathPrefix}`, extra];
  });
}

describe('resolveRoutes', () => {
  it.each<[string, Partial<Container>, Array<[string, Record<string, unknown>]>]>([
    ['no route labels', {}, []],
    ['one rule', { labels: { 'sidekick.route': 'api.test/v1' } }, [['api.test/v1', {}]]],
    [
      'several rules, spaces and an empty item',
      { labels: { 'sidekick.route': ' a.test , b.test/x,, /static ' } },
      [
        ['a.test/', {}],
        ['b.test/x', {}],
        ['/static', {}],
      ],
    ],
    ['a wildcard host, normalised', { labels: { 'sidekick.route': '*.Example.COM/' } }, [['*.example.com/', {}]]],
    [
      'policy labels: JSON values and plain strings',
      {
        labels: {
          'sidekick.route': 'a.test/api',
          'sidekick.route.stripPrefix': 'true',
          'sidekick.route.addPrefix': '/v2',
          'sidekick.route.timeout': '5s',
          'sidekick.route.retries': '2',
          'sidekick.route.lb': 'least-request',
          'sidekick.route.sticky': 'true',
          'sidekick.route.requestHeaders': '{"set":{"X-Env":"prod"}}',
        },
      },
      [
        [
          'a.test/api',
          {
            stripPrefix: '/api',
            addPrefix: '/v2',
            timeoutMs: 5000,
            retries: 2,
            lb: 'least-request',
            sticky: true,
            requestHeaders: true,
          },
        ],
      ],
    ],
    [
      'policies apply to every rule',
      { labels: { 'sidekick.route': 'a.test/x,b.test/x', 'sidekick.route.stripPrefix': 'true' } },
      [
        ['a.test/x', { stripPrefix: '/x' }],
        ['b.test/x', { stripPrefix: '/x' }],
      ],
    ],
    [
      'VIRTUAL_HOST as env',
      { env: { VIRTUAL_HOST: 'a.test, b.test' } },
      [
        ['a.test/', {}],
        ['b.test/', {}],
      ],
    ],
    [
      'VIRTUAL_HOST + VIRTUAL_PATH as labels',
      { labels: { VIRTUAL_HOST: 'a.test', VIRTUAL_PATH: '/app' } },
      [['a.test/app', {}]],
    ],
    [
      'label beats env',
      { labels: { VIRTUAL_HOST: 'label.test' }, env: { VIRTUAL_HOST: 'env.test' } },
      [['label.test/', {}]],
    ],
    [
      'sidekick.route beats VIRTUAL_HOST',
      { labels: { 'sidekick.route': 'a.test', VIRTUAL_HOST: 'b.test' } },
      [['a.test/', {}]],
    ],
    [
      'policy labels apply to VIRTUAL_HOST routes',
      { env: { VIRTUAL_HOST: 'a.test', VIRTUAL_PATH: '/p' }, labels: { 'sidekick.route.stripPrefix': 'true' } },
      [['a.test/p', { stripPrefix: '/p' }]],
    ],
  ])('%s', (_what, over, expected) => {
    const r = resolveRoutes(container(over));
    expect(r.warnings).toEqual([]);
    expect(brief(container(over))).toEqual(expected);
  });

  it.each<[string, Partial<Container>, number, string]>([
    [
      'a bad host',
      { labels: { 'sidekick.route': 'a b.test,ok.test' } },
      1,
      'invalid route from label sidekick.route=a b.test',
    ],
    [
      'a bad policy drops the routes it applies to',
      { labels: { 'sidekick.route': 'a.test', 'sidekick.route.retries': '-1' } },
      0,
      'retries',
    ],
    [
      'an unknown field',
      { labels: { 'sidekick.route': 'a.test', 'sidekick.route.strip': 'true' } },
      1,
      'unknown label sidekick.route.strip',
    ],
    [
      'a service field',
      { labels: { 'sidekick.route': 'a.test', 'sidekick.route.service': 'x' } },
      1,
      'unknown label sidekick.route.service',
    ],
    ['a regex VIRTUAL_HOST', { env: { VIRTUAL_HOST: '~^a\\.test$,b.test' } }, 1, 'regular expression'],
    ['a regex VIRTUAL_PATH', { env: { VIRTUAL_HOST: 'a.test', VIRTUAL_PATH: '~^/api' } }, 0, 'regular expression'],
    [
      'a timeout that is not a duration string',
      { labels: { 'sidekick.route': 'a.test', 'sidekick.route.timeout': '5' } },
      0,
      'timeout',
    ],
  ])('%s: warned, the others kept', (_what, over, kept, warning) => {
    const r = resolveRoutes(container(over));
    expect(r.routes).toHaveLength(kept);
    expect(r.warnings.join('\n')).toContain(warning);
  });
});

describe('resolveServices with declared routes', () => {
  const twoPorts = [port(80, [binding('0.0.0.0', 32768)]), port(8080, [binding('0.0.0.0', 32769)])];

  it.each<[string, Partial<Container>, string, number]>([
    ['VIRTUAL_HOST opts in, named by its first host', { env: { VIRTUAL_HOST: 'WWW.a.test,b.test' } }, 'www.a.test', 80],
    ['as a label too', { labels: { VIRTUAL_HOST: 'a.test' } }, 'a.test', 80],
    [
      'sidekick.service names it',
      { labels: { 'sidekick.service': 'web' }, env: { VIRTUAL_HOST: 'a.test' } },
      'web',
      80,
    ],
    [
      'VIRTUAL_PORT chooses the port',
      { env: { VIRTUAL_HOST: 'a.test', VIRTUAL_PORT: '8080' }, ports: twoPorts },
      'a.test',
      8080,
    ],
    [
      'sidekick.port beats VIRTUAL_PORT',
      { labels: { 'sidekick.port': '80' }, env: { VIRTUAL_HOST: 'a.test', VIRTUAL_PORT: '8080' }, ports: twoPorts },
      'a.test',
      80,
    ],
  ])('%s', (_what, over, service, p) => {
    const r = resolveServices(container(over), OFF);
    expect(r.warnings).toEqual([]);
    expect(r.specs.map((s) => [s.service, s.port])).toEqual([[service, p]]);
    expect(r.specs[0]?.routes?.length).toBeGreaterThan(0);
  });

  it('an invalid VIRTUAL_PORT is not published, naming it', () => {
    const r = resolveServices(container({ env: { VIRTUAL_HOST: 'a.test', VIRTUAL_PORT: 'http' } }), OFF);
    expect(r.specs).toEqual([]);
    expect(r.warnings.join()).toContain('VIRTUAL_PORT="http"');
  });

  it('a container that does not opt in reports nothing about its route labels', () => {
    expect(resolveServices(container({ labels: { 'sidekick.route': 'a b' } }), OFF)).toEqual({
      specs: [],
      warnings: [],
    });
  });

  it('routes are not guessed for several services or UDP', () => {
    const multi = container({
      labels: { SERVICE_80_NAME: 'a', SERVICE_8080_NAME: 'b', 'sidekick.route': 'a.test' },
      ports: twoPorts,
    });
    const r = resolveServices(multi, OFF);
    expect(r.specs.map((s) => s.routes)).toEqual([undefined, undefined]);
    expect(r.warnings.join()).toContain('one TCP service only');
    const udp = container({
      labels: { 'sidekick.service': 'dns', 'sidekick.route': 'a.test' },
      ports: [port(53, [binding('0.0.0.0', 53)], 'udp')],
    });
    expect(resolveServices(udp, OFF).specs[0]?.routes).toBeUndefined();
  });
});

describe('desiredEntries with declared routes', () => {
  it('writes the routes into the entry value, canonically, and the value decodes', () => {
    const c = container({
      labels: { 'sidekick.service': 'web', 'sidekick.route': 'a.test/api', 'sidekick.route.stripPrefix': 'true' },
    });
    const r = desiredEntries(c, opts);
    expect(r.warnings).toEqual([]);
    const [value] = [...r.entries.values()];
    expect(JSON.parse(value ?? '').routes).toEqual([{ host: 'a.test', pathPrefix: '/api', stripPrefix: true }]);
    const d = decodeEntry(value ?? '');
    expect(d.ok && d.value.rejectedRoutes).toBeUndefined();
  });
});

describe('declaredRouteLines (--dry-run)', () => {
  it('prints each declared route with its service, container and fields', () => {
    const c = container({
      env: { VIRTUAL_HOST: 'b.test,a.test', VIRTUAL_PATH: '/api' },
      labels: { 'sidekick.route.stripPrefix': 'true' },
    });
    expect(declaredRouteLines('/services', desiredEntries(c, opts).entries)).toEqual([
      'a.test/api → b.test (container web-1) {"stripPrefix":true}',
      'b.test/api → b.test (container web-1) {"stripPrefix":true}',
    ]);
  });
});
