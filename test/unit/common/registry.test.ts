import { describe, expect, it } from 'vitest';
import {
  DEFAULT_PREFIX,
  MAX_VALUE_BYTES,
  decodeEntry,
  encodeEntry,
  entryKey,
  hostPort,
  instanceId,
  isValidHost,
  normalizePrefix,
  parseEntryKey,
  servicePrefix,
  validateEntry,
  type Entry,
} from '../../../common/registry.js';

describe('key layout', () => {
  it('uses /services as the default prefix', () => {
    expect(DEFAULT_PREFIX).toBe('/services');
  });

  it.each([
    ['node1', 'web-1', 8080, 'tcp', 'node1:web-1:8080'],
    ['node1', '/web-1', 8080, 'tcp', 'node1:web-1:8080'],
    ['node1', 'dns', 53, 'udp', 'node1:dns:53:udp'],
    ['host.example', 'app_2', 1, undefined, 'host.example:app_2:1'],
  ] as const)('instanceId(%s, %s, %s, %s) = %s', (node, name, p, proto, expected) => {
    expect(instanceId(node, name, p, proto)).toBe(expected);
  });

  it('gives the same instance id for the same container on every call (stable across restarts)', () => {
    const a = instanceId('n1', 'web-1', 80);
    const b = instanceId('n1', 'web-1', 80);
    expect(a).toBe(b);
    expect(a).not.toBe(instanceId('n1', 'web-1', 80, 'udp'));
  });

  it.each([
    ['/services', 'web', 'n1:web-1:80', '/services/web/n1:web-1:80'],
    ['/services/', 'web', 'n1:web-1:80', '/services/web/n1:web-1:80'],
    ['services', 'web', 'n1:web-1:80', '/services/web/n1:web-1:80'],
    ['/a/b', 'api', 'i', '/a/b/api/i'],
  ])('entryKey(%s, %s, %s) = %s', (prefix, service, instance, expected) => {
    expect(entryKey(prefix, service, instance)).toBe(expected);
  });

  it.each([
    ['/services', '/services'],
    ['/services/', '/services'],
    ['services//', '/services'],
    ['/x/y', '/x/y'],
  ])('normalizePrefix(%s) = %s', (raw, expected) => {
    expect(normalizePrefix(raw)).toBe(expected);
  });

  it('servicePrefix ends with a slash so web does not match web2', () => {
    expect(servicePrefix('/services', 'web')).toBe('/services/web/');
  });

  it('parseEntryKey inverts entryKey', () => {
    const key = entryKey('/services', 'web', instanceId('n1', 'web-1', 53, 'udp'));
    expect(parseEntryKey('/services', key)).toEqual({
      ok: true,
      value: { service: 'web', instance: 'n1:web-1:53:udp' },
    });
  });

  it.each([
    ['/other/web/n1:a:80', 'outside'],
    ['/services/web', 'must be'],
    ['/services/web/n1:a:80/extra', 'must be'],
    ['/services//n1:a:80', 'service'],
    ['/services/-web/n1:a:80', 'service'],
    ['/services/web/', 'instance'],
    ['/services/web/has space', 'instance'],
    ['/servicesX/web/i', 'outside'],
  ])('parseEntryKey rejects %s', (key, reason) => {
    const r = parseEntryKey('/services', key);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toContain(reason);
  });
});

describe('validateEntry: accepted values', () => {
  it.each([
    [{ host: '10.0.0.1', port: 80 }],
    [{ host: '::1', port: 1 }],
    [{ host: 'fd00::1:2', port: 65535 }],
    [{ host: 'web.example.com', port: 443 }],
    [{ host: 'web.example.com.', port: 443 }],
    [{ host: 'localhost', port: 8080 }],
    [{ host: 'a-b.c', port: 8080, weight: 0 }],
    [
      {
        host: 'a.b',
        port: 8080,
        weight: 1000,
        tags: ['x', 'y'],
        draining: true,
        node: 'n1',
        container: { id: 'abc', name: 'web-1' },
      },
    ],
  ])('accepts %j', (input) => {
    const r = validateEntry(input);
    expect(r).toMatchObject({ ok: true, value: input });
  });

  it('fills defaults: weight 1, no tags, not draining', () => {
    const r = validateEntry({ host: '10.0.0.1', port: 80 });
    expect(r).toEqual({ ok: true, value: { host: '10.0.0.1', port: 80, weight: 1, tags: [], draining: false } });
  });

  it('returns a frozen value', () => {
    const r = validateEntry({ host: '10.0.0.1', port: 80, tags: ['a'], container: { id: 'i', name: 'n' } });
    if (!r.ok) throw new Error(r.error);
    expect(Object.isFrozen(r.value)).toBe(true);
    expect(Object.isFrozen(r.value.tags)).toBe(true);
    expect(Object.isFrozen(r.value.container)).toBe(true);
  });
});

describe('validateEntry: rejected values', () => {
  const base = { host: '10.0.0.1', port: 80 };
  it.each([
    ['an array', [base], 'object'],
    ['a string', 'hello', 'object'],
    ['a number', 42, 'object'],
    ['null', null, 'object'],
    ['missing host', { port: 80 }, 'host'],
    ['missing port', { host: '10.0.0.1' }, 'port'],
    ['port 0', { ...base, port: 0 }, 'port'],
    ['port 65536', { ...base, port: 65536 }, 'port'],
    ['port 1.5', { ...base, port: 1.5 }, 'port'],
    ['port "80"', { ...base, port: '80' }, 'port'],
    ['port -1', { ...base, port: -1 }, 'port'],
    ['host ""', { ...base, host: '' }, 'host'],
    ['host 300.1.1.1', { ...base, host: '300.1.1.1' }, 'host'],
    ['host 1.2.3', { ...base, host: '1.2.3' }, 'host'],
    ['host "a b"', { ...base, host: 'a b' }, 'host'],
    ['host -x.com', { ...base, host: '-x.com' }, 'host'],
    ['host x-.com', { ...base, host: 'x-.com' }, 'host'],
    ['host [::1]', { ...base, host: '[::1]' }, 'host'],
    ['host a..b', { ...base, host: 'a..b' }, 'host'],
    ['host with a port', { ...base, host: '10.0.0.1:80' }, 'host'],
    ['host a number', { ...base, host: 10 }, 'host'],
    ['host label of 64 chars', { ...base, host: `${'a'.repeat(64)}.com` }, 'host'],
    ['weight -1', { ...base, weight: -1 }, 'weight'],
    ['weight 1.5', { ...base, weight: 1.5 }, 'weight'],
    ['weight "2"', { ...base, weight: '2' }, 'weight'],
    ['weight null', { ...base, weight: null }, 'weight'],
    ['tags not an array', { ...base, tags: 'a,b' }, 'tags'],
    ['tags containing numbers', { ...base, tags: ['a', 1] }, 'tags'],
    ['draining "yes"', { ...base, draining: 'yes' }, 'draining'],
    ['draining 1', { ...base, draining: 1 }, 'draining'],
    ['node a number', { ...base, node: 5 }, 'node'],
    ['container missing name', { ...base, container: { id: 'abc' } }, 'container'],
    ['container missing id', { ...base, container: { name: 'web' } }, 'container'],
    ['container a string', { ...base, container: 'web' }, 'container'],
  ])('rejects %s with a reason', (_label, input, reason) => {
    const r = validateEntry(input);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toContain(reason);
  });
});

describe('isValidHost', () => {
  it.each([
    ['192.168.1.1', true],
    ['::', true],
    ['2001:db8::1', true],
    ['db', true],
    ['my-db.internal', true],
    ['1.2.3.4.5', false],
    ['999.1.1.1', false],
    ['a_b.com', false],
    ['a'.repeat(254), false],
  ])('%s → %s', (host, ok) => {
    expect(isValidHost(host)).toBe(ok);
  });
});

describe('decodeEntry', () => {
  it.each([
    ['{"host":"10.0.0.1","port":80', 'JSON'],
    ['', 'JSON'],
    ['not json', 'JSON'],
    ['[]', 'object'],
    ['"10.0.0.1:80"', 'object'],
    ['10.0.0.1:80', 'JSON'],
    ['{"host":"10.0.0.1","port":"80"}', 'port'],
  ])('rejects %j (%s)', (raw, reason) => {
    const r = decodeEntry(raw);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toContain(reason);
  });

  it('accepts a Buffer', () => {
    expect(decodeEntry(Buffer.from('{"host":"h.example","port":80}'))).toMatchObject({
      ok: true,
      value: { host: 'h.example', port: 80 },
    });
  });

  /** A valid value padded with an unknown field to exactly `bytes` bytes. */
  function padded(bytes: number): string {
    const head = '{"host":"10.0.0.1","port":80,"pad":"';
    const tail = '"}';
    return head + 'x'.repeat(bytes - head.length - tail.length) + tail;
  }

  it('accepts a value of exactly 16 KiB', () => {
    const raw = padded(MAX_VALUE_BYTES);
    expect(Buffer.byteLength(raw)).toBe(16 * 1024);
    expect(decodeEntry(raw).ok).toBe(true);
  });

  it.each([
    ['a string', (raw: string) => raw],
    ['a Buffer', (raw: string) => Buffer.from(raw)],
  ])('rejects a value over 16 KiB given as %s', (_label, wrap) => {
    const raw = padded(MAX_VALUE_BYTES + 1);
    const r = decodeEntry(wrap(raw));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatch(/larger/);
  });

  it('counts bytes, not characters (multi-byte UTF-8)', () => {
    const head = '{"host":"10.0.0.1","port":80,"pad":"';
    const raw = `${head}${'é'.repeat(MAX_VALUE_BYTES / 2)}"}`; // fewer than 16 Ki characters, more than 16 KiB
    expect(raw.length).toBeLessThan(MAX_VALUE_BYTES);
    expect(decodeEntry(raw).ok).toBe(false);
  });
});

describe('encodeEntry', () => {
  it('is canonical: field order fixed and defaults omitted', () => {
    const a = decodeEntry('{"weight":1,"tags":[],"draining":false,"port":80,"host":"10.0.0.1"}');
    const b = decodeEntry('{"host":"10.0.0.1","port":80}');
    if (!a.ok || !b.ok) throw new Error('decode failed');
    expect(encodeEntry(a.value)).toBe('{"host":"10.0.0.1","port":80}');
    expect(encodeEntry(a.value)).toBe(encodeEntry(b.value));
  });

  it('writes non-default fields in a fixed order', () => {
    const e: Entry = {
      host: 'h.example',
      port: 8080,
      weight: 3,
      tags: ['a'],
      draining: true,
      node: 'n1',
      container: { id: 'abc', name: 'web-1' },
    };
    expect(encodeEntry(e)).toBe(
      '{"host":"h.example","port":8080,"weight":3,"tags":["a"],"draining":true,"node":"n1",' +
        '"container":{"id":"abc","name":"web-1"}}',
    );
  });

  it('writes weight 0 (a meaningful non-default)', () => {
    expect(JSON.parse(encodeEntry({ host: 'h.example', port: 1, weight: 0, tags: [], draining: false }))).toEqual({
      host: 'h.example',
      port: 1,
      weight: 0,
    });
  });

  it.each([
    ['{"host":"10.0.0.1","port":80,"zone":"eu-1","meta":{"a":[1,2,{"b":null}]}}'],
    ['{"host":"::1","port":443,"weight":5,"tags":["x"],"node":"n","container":{"id":"i","name":"n"},"future":true}'],
    ['{"host":"10.0.0.1","port":80,"constructor":"kept","toString":1}'],
    ['{"host":"10.0.0.1","port":80,"__proto__":{"evil":true}}'],
  ])('keeps unknown fields through decode → encode: %s', (raw) => {
    const r = decodeEntry(raw);
    if (!r.ok) throw new Error(r.error);
    expect(JSON.parse(encodeEntry(r.value))).toEqual(JSON.parse(raw));
  });

  it('unknown fields do not leak into the prototype of the decoded entry', () => {
    const r = decodeEntry('{"host":"10.0.0.1","port":80,"__proto__":{"evil":true}}');
    if (!r.ok) throw new Error(r.error);
    expect((r.value as unknown as Record<string, unknown>).evil).toBeUndefined();
    expect((r.value.extra as Record<string, unknown> | undefined)?.evil).toBeUndefined();
  });

  it('unknown fields cannot override known ones', () => {
    const e: Entry = {
      host: 'h.example',
      port: 80,
      weight: 1,
      tags: [],
      draining: false,
      extra: { host: 'evil', zone: 'z' },
    };
    expect(JSON.parse(encodeEntry(e))).toEqual({ host: 'h.example', port: 80, zone: 'z' });
  });

  it('encode → decode gives back an equal entry', () => {
    const e: Entry = {
      host: 'fd00::5',
      port: 9000,
      weight: 2,
      tags: ['canary'],
      draining: true,
      node: 'n',
      container: { id: 'i', name: 'c' },
      extra: { zone: 'eu' },
    };
    expect(decodeEntry(encodeEntry(e))).toEqual({ ok: true, value: e });
  });
});

describe('hostPort', () => {
  it.each([
    ['10.0.0.1', 80, '10.0.0.1:80'],
    ['::1', 80, '[::1]:80'],
    ['web.example', 8080, 'web.example:8080'],
  ])('%s %s → %s', (host, p, expected) => {
    expect(hostPort({ host, port: p })).toBe(expected);
  });
});
