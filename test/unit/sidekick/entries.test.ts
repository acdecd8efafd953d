import { describe, expect, it } from 'vitest';
import { decodeEntry, parseEntryKey } from '../../../common/registry.js';
import type { Container } from '../../../sidekick/container.js';
import { desiredEntries, type EntryOptions } from '../../../sidekick/entries.js';
import { FIXTURE_ID, binding, container, network, port } from '../../helpers/container-fixture.js';

const opts: EntryOptions = {
  prefix: '/services',
  node: 'node1',
  mode: 'host',
  hostIp: '192.0.2.10',
  network: undefined,
  all: false,
  implicit: false,
};
const web = (over: Partial<Container> = {}) => container({ labels: { 'sidekick.service': 'web' }, ...over });

function decoded(entries: ReadonlyMap<string, string>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of entries) {
    const r = decodeEntry(v);
    if (!r.ok) throw new Error(`${k}: ${r.error}`);
    out[k] = JSON.parse(v);
  }
  return out;
}

describe('desiredEntries', () => {
  it('publishes a labelled container under <prefix>/<service>/<node>:<name>:<port>', () => {
    const r = desiredEntries(web(), opts);
    expect(r.warnings).toEqual([]);
    expect(decoded(r.entries)).toEqual({
      '/services/web/node1:web-1:80': {
        host: '192.0.2.10',
        port: 32768,
        node: 'node1',
        container: { id: FIXTURE_ID, name: 'web-1' },
      },
    });
  });

  it('writes canonical values the registry validator accepts', () => {
    const r = desiredEntries(
      web({ labels: { 'sidekick.service': 'web', 'sidekick.weight': '3', 'sidekick.tags': 'a,b' } }),
      opts,
    );
    expect(r.entries.size).toBe(1);
    const [key = '', value = ''] = [...r.entries][0] ?? [];
    expect(parseEntryKey('/services', key)).toEqual({
      ok: true,
      value: { service: 'web', instance: 'node1:web-1:80' },
    });
    expect(value).toBe(
      '{"host":"192.0.2.10","port":32768,"weight":3,"tags":["a","b"],"node":"node1",' +
        `"container":{"id":"${FIXTURE_ID}","name":"web-1"}}`,
    );
  });

  it.each([
    ['running', {}, true],
    ['healthy', { health: 'healthy' }, true],
    ['health starting', { health: 'starting' }, false],
    ['unhealthy', { health: 'unhealthy' }, false],
    ['paused', { paused: true }, false],
    ['restarting', { restarting: true }, false],
    ['stopped', { running: false }, false],
  ] as const)('lifecycle: %s → published %s', (_label, over, published) => {
    expect(desiredEntries(web(over), opts).entries.size).toBe(published ? 1 : 0);
  });

  it('gives no warnings for a container that is not live', () => {
    const r = desiredEntries(web({ running: false, ports: [port(80), port(443)] }), opts);
    expect(r).toEqual({ entries: new Map(), warnings: [] });
  });

  it('suffixes UDP instance ids with :udp', () => {
    const c = web({ ports: [port(53, [binding('0.0.0.0', 5353)], 'udp')] });
    expect([...desiredEntries(c, opts).entries.keys()]).toEqual(['/services/web/node1:web-1:53:udp']);
  });

  it('uses SERVICE_ID as the instance id', () => {
    const c = web({ env: { SERVICE_ID: 'web-primary' } });
    expect([...desiredEntries(c, opts).entries.keys()]).toEqual(['/services/web/web-primary']);
  });

  it('honours the prefix', () => {
    expect([...desiredEntries(web(), { ...opts, prefix: '/reg/' }).entries.keys()]).toEqual([
      '/reg/web/node1:web-1:80',
    ]);
  });

  it('keys do not change across restarts of the same container (new id, new start time, same name)', () => {
    const a = desiredEntries(web(), opts);
    const b = desiredEntries(web({ id: 'f'.repeat(64), startedAt: '2026-03-01T00:00:00Z' }), opts);
    expect([...b.entries.keys()]).toEqual([...a.entries.keys()]);
    expect([...b.entries.values()]).not.toEqual([...a.entries.values()]); // container id is in the value
  });

  it('publishes several services of one container (per-port names)', () => {
    const c = container({
      ports: [port(80, [binding('0.0.0.0', 8080)]), port(443, [binding('0.0.0.0', 8443)])],
      env: { SERVICE_80_NAME: 'http', SERVICE_443_NAME: 'https' },
    });
    expect(decoded(desiredEntries(c, opts).entries)).toMatchObject({
      '/services/http/node1:web-1:80': { host: '192.0.2.10', port: 8080 },
      '/services/https/node1:web-1:443': { host: '192.0.2.10', port: 8443 },
    });
  });

  it('publishes the container IP and container port with --address container (IPv6-only network)', () => {
    const c = web({ networks: [network('v6', '', 'fd00:1::5')] });
    expect(decoded(desiredEntries(c, { ...opts, mode: 'container' }).entries)).toMatchObject({
      '/services/web/node1:web-1:80': { host: 'fd00:1::5', port: 80 },
    });
  });

  it('publishes host IP + container port for host networking', () => {
    const c = web({ hostNetwork: true, ports: [port(8080)], networks: [network('host', '')] });
    expect(decoded(desiredEntries(c, opts).entries)).toMatchObject({
      '/services/web/node1:web-1:8080': { host: '192.0.2.10', port: 8080 },
    });
  });

  it('--all publishes an unlabelled container with a published port as its image basename', () => {
    const c = container({ image: 'registry:5000/team/app:1.2' });
    expect([...desiredEntries(c, { ...opts, all: true }).entries.keys()]).toEqual(['/services/app/node1:web-1:80']);
    expect(desiredEntries(c, opts).entries.size).toBe(0);
  });

  it('per-container mode publishes the followed container without labels', () => {
    const c = container({ image: 'team/api:2' });
    expect([...desiredEntries(c, { ...opts, implicit: true }).entries.keys()]).toEqual([
      '/services/api/node1:web-1:80',
    ]);
  });

  it.each([
    [
      'ambiguous port',
      web({ name: 'amb-1', ports: [port(80, [binding('0.0.0.0', 1)]), port(443, [binding('0.0.0.0', 2)])] }),
      opts,
    ],
    ['port not published in host mode', web({ name: 'amb-1', ports: [port(80)] }), opts],
    [
      'not on the labelled network',
      web({ name: 'amb-1', labels: { 'sidekick.service': 'web', 'sidekick.network': 'nope' } }),
      { ...opts, mode: 'container' as const },
    ],
  ])('%s → nothing published and exactly one warning naming the container', (_label, c, o) => {
    const r = desiredEntries(c, o);
    expect(r.entries.size).toBe(0);
    expect(r.warnings).toHaveLength(1);
    expect(r.warnings[0]).toContain('amb-1');
  });

  it('publishes the good ports and warns about the bad one', () => {
    const c = container({
      name: 'mixed-1',
      ports: [port(80, [binding('0.0.0.0', 8080)]), port(443)],
      env: { SERVICE_80_NAME: 'http', SERVICE_443_NAME: 'https' },
    });
    const r = desiredEntries(c, opts);
    expect([...r.entries.keys()]).toEqual(['/services/http/node1:mixed-1:80']);
    expect(r.warnings).toHaveLength(1);
    expect(r.warnings[0]).toContain('443');
  });
});
