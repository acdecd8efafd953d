// The registry contract's `check` and `protocol` fields: what is accepted, what is rejected, how it encodes.
import { describe, expect, it } from 'vitest';
import {
  CHECK_DEFAULT_INTERVAL_MS,
  CHECK_DEFAULT_TIMEOUT_MS,
  decodeEntry,
  encodeEntry,
  validateCheck,
  validateEntry,
  type Entry,
  type EntryCheck,
} from '../../../common/registry.js';

describe('validateCheck: accepted', () => {
  it.each<[unknown, EntryCheck]>([
    [{ path: '/healthz' }, { type: 'http', path: '/healthz', intervalMs: 10_000, timeoutMs: 2_000 }],
    [{ tcp: true }, { type: 'tcp', intervalMs: 10_000, timeoutMs: 2_000 }],
    [{ path: '/' }, { type: 'http', path: '/', intervalMs: 10_000, timeoutMs: 2_000 }],
    [
      { path: '/status?full=1&x=%2F', interval: '5s', timeout: '500ms' },
      { type: 'http', path: '/status?full=1&x=%2F', intervalMs: 5_000, timeoutMs: 500 },
    ],
    [
      { tcp: true, interval: '1m' },
      { type: 'tcp', intervalMs: 60_000, timeoutMs: 2_000 },
    ],
    // The default timeout never exceeds the interval.
    [
      { tcp: true, interval: '1s' },
      { type: 'tcp', intervalMs: 1_000, timeoutMs: 1_000 },
    ],
    [
      { tcp: true, interval: '1.5s', timeout: '1.5s' },
      { type: 'tcp', intervalMs: 1_500, timeoutMs: 1_500 },
    ],
    [
      { tcp: true, interval: '1h', timeout: '60s' },
      { type: 'tcp', intervalMs: 3_600_000, timeoutMs: 60_000 },
    ],
    [
      { path: '/h', timeout: '100ms' },
      { type: 'http', path: '/h', intervalMs: 10_000, timeoutMs: 100 },
    ],
    [
      { path: `/${'a'.repeat(1023)}` },
      { type: 'http', path: `/${'a'.repeat(1023)}`, intervalMs: 10_000, timeoutMs: 2_000 },
    ],
  ])('%j', (input, expected) => {
    expect(validateCheck(input)).toEqual({ ok: true, value: expected });
  });

  it('defaults are 10s and 2s, as the issue promises', () => {
    expect([CHECK_DEFAULT_INTERVAL_MS, CHECK_DEFAULT_TIMEOUT_MS]).toEqual([10_000, 2_000]);
  });
});

describe('validateCheck: rejected', () => {
  it.each<[string, unknown, string]>([
    ['a string', '/healthz', 'check must be'],
    ['an array', [{ path: '/' }], 'check must be'],
    ['null', null, 'check must be'],
    ['empty object', {}, 'exactly one'],
    ['both path and tcp', { path: '/h', tcp: true }, 'exactly one'],
    ['tcp false', { tcp: false }, 'tcp must be true'],
    ['tcp "true"', { tcp: 'true' }, 'tcp must be true'],
    ['path without leading slash', { path: 'healthz' }, 'path must start with /'],
    ['path empty', { path: '' }, 'path must start with /'],
    ['path a number', { path: 5 }, 'path must'],
    ['path with a space', { path: '/a b' }, 'path must'],
    ['path with CRLF', { path: '/a\r\nHost: evil' }, 'path must'],
    ['path with a tab', { path: '/a\tb' }, 'path must'],
    ['path with non-ASCII', { path: '/grüße' }, 'path must'],
    ['path with a bad percent escape', { path: '/a%zz' }, 'path must'],
    ['path with a fragment', { path: '/a#b' }, 'path must'],
    ['path too long', { path: `/${'a'.repeat(1024)}` }, 'at most 1024'],
    ['unknown field', { path: '/h', intervall: '5s' }, 'unknown field "intervall"'],
    ['interval a number', { tcp: true, interval: 10 }, 'check.interval'],
    ['interval garbage', { tcp: true, interval: 'soon' }, 'check.interval'],
    ['interval below 1s', { tcp: true, interval: '999ms' }, 'check.interval'],
    ['interval above 1h', { tcp: true, interval: '61m' }, 'check.interval'],
    ['interval negative', { tcp: true, interval: '-5s' }, 'check.interval'],
    ['interval huge string', { tcp: true, interval: `${'9'.repeat(40)}s` }, 'check.interval'],
    ['timeout below 100ms', { tcp: true, timeout: '99ms' }, 'check.timeout'],
    ['timeout above 60s', { tcp: true, interval: '5m', timeout: '61s' }, 'check.timeout'],
    ['timeout above the interval', { tcp: true, interval: '2s', timeout: '3s' }, 'must not exceed'],
    ['timeout above the default interval', { path: '/h', timeout: '11s' }, 'must not exceed'],
  ])('%s', (_label, input, reason) => {
    const r = validateCheck(input);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toContain(reason);
  });
});

describe('entries with check and protocol', () => {
  const base = { host: '10.0.0.1', port: 80 };

  it.each<[unknown, Partial<Entry>]>([
    [{ ...base, protocol: 'udp' }, { protocol: 'udp' }],
    [{ ...base, protocol: 'tcp' }, { protocol: 'tcp' }],
    [
      { ...base, check: { path: '/healthz' } },
      { check: { type: 'http', path: '/healthz', intervalMs: 10_000, timeoutMs: 2_000 } },
    ],
    [
      { ...base, protocol: 'tcp', check: { tcp: true } },
      { check: { type: 'tcp', intervalMs: 10_000, timeoutMs: 2_000 } },
    ],
  ])('accepts %j', (input, fields) => {
    expect(validateEntry(input)).toMatchObject({ ok: true, value: fields });
  });

  it('an absent protocol is left absent (readers take it as tcp) and check/protocol never land in extra', () => {
    const r = validateEntry({ ...base, check: { tcp: true }, protocol: 'tcp' });
    if (!r.ok) throw new Error(r.error);
    expect(r.value.extra).toBeUndefined();
    const plain = validateEntry(base);
    if (!plain.ok) throw new Error(plain.error);
    expect(plain.value.protocol).toBeUndefined();
    expect(Object.isFrozen(r.value.check)).toBe(true);
  });

  it.each<[string, unknown, string]>([
    ['protocol sctp', { ...base, protocol: 'sctp' }, 'protocol'],
    ['protocol UDP (case matters)', { ...base, protocol: 'UDP' }, 'protocol'],
    ['protocol a number', { ...base, protocol: 17 }, 'protocol'],
    ['check on a udp entry', { ...base, protocol: 'udp', check: { tcp: true } }, 'udp'],
    ['an invalid check', { ...base, check: { path: 'x' } }, 'check.path'],
    ['check null', { ...base, check: null }, 'check must be'],
  ])('rejects %s (the balancer skips and counts it)', (_label, input, reason) => {
    const r = validateEntry(input);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toContain(reason);
  });

  it.each([
    ['{"host":"10.0.0.1","port":53,"protocol":"udp"}', '{"host":"10.0.0.1","port":53,"protocol":"udp"}'],
    ['{"host":"10.0.0.1","port":80,"protocol":"tcp"}', '{"host":"10.0.0.1","port":80}'],
    [
      '{"host":"10.0.0.1","port":80,"check":{"path":"/h","interval":"10s","timeout":"2s"}}',
      '{"host":"10.0.0.1","port":80,"check":{"path":"/h"}}',
    ],
    [
      '{"host":"10.0.0.1","port":80,"check":{"tcp":true,"interval":"1500ms"}}',
      '{"host":"10.0.0.1","port":80,"check":{"tcp":true,"interval":"1500ms"}}',
    ],
    [
      '{"host":"10.0.0.1","port":80,"check":{"tcp":true,"interval":"1s"}}',
      '{"host":"10.0.0.1","port":80,"check":{"tcp":true,"interval":"1s"}}',
    ],
    [
      '{"host":"10.0.0.1","port":80,"check":{"timeout":"0.5s","path":"/h"}}',
      '{"host":"10.0.0.1","port":80,"check":{"path":"/h","timeout":"500ms"}}',
    ],
    [
      '{"node":"n","check":{"path":"/h","interval":"1m"},"draining":true,"port":80,"host":"10.0.0.1"}',
      '{"host":"10.0.0.1","port":80,"draining":true,"check":{"path":"/h","interval":"60s"},"node":"n"}',
    ],
  ])('encodes %s canonically as %s, and that decodes to the same entry', (raw, canonical) => {
    const r = decodeEntry(raw);
    if (!r.ok) throw new Error(r.error);
    expect(encodeEntry(r.value)).toBe(canonical);
    const again = decodeEntry(canonical);
    if (!again.ok) throw new Error(again.error);
    expect(again.value.check).toEqual(r.value.check);
    expect(again.value.protocol ?? 'tcp').toBe(r.value.protocol ?? 'tcp');
  });
});
