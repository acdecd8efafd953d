// Route values with policies through the decoder, the invalid-value reporter and the table: a value
// with one bad field is skipped whole (logged once, counted) and its traffic falls through to the
// next rule; a valid one lands in the table with its compiled policy.
import { describe, expect, it, vi } from 'vitest';
import { PolicyCache } from '../../../../balancer/proxy/policy/compile-policy.js';
import { InvalidValues } from '../../../../balancer/registry/invalid-values.js';
import { decodePut, decodeSnapshot, diffSnapshot, type RawKv } from '../../../../balancer/registry/registry-decoder.js';
import { applyEvents, buildTable } from '../../../../balancer/table/route-table.js';
import { matchRoute } from '../../../../balancer/table/route-index.js';
import type { RegistryEvent } from '../../../../balancer/types.js';
import { ErrorCode } from '../../../../common/errors.js';
import { silentLogger } from '../../../../common/logger.js';

const policies = new PolicyCache();

const opts = { prefix: '/services', routesPrefix: '/routes' };
const general = { host: 'a.test', service: 'web' };
const specific = { host: 'a.test', pathPrefix: '/api', service: 'api', stripPrefix: true };

function kv(key: string, value: object, revision = 1): RawKv {
  return { key, value: Buffer.from(JSON.stringify(value)), revision };
}

function served(table: ReturnType<typeof buildTable>, path: string): string | undefined {
  return matchRoute(table, 'a.test', path)?.service;
}

describe('a route value with one invalid policy field', () => {
  it.each<[string, object]>([
    ['rateLimit.average negative', { rateLimit: { average: -1 } }],
    ['a hop-by-hop header', { requestHeaders: { set: { Connection: 'close' } } }],
    ['CIDR garbage', { allow: ['10.0.0.0/8', 'nonsense'] }],
    ['redirect to a non-http URL', { redirect: { to: 'file:///etc/passwd' } }],
    ['retries as a string', { retries: '3' }],
    ['timeout without unit type', { timeout: 30 }],
    ['services next to service', { services: [{ name: 'api', weight: 1 }] }],
    ['stripPrefix unrelated', { stripPrefix: '/web' }],
  ])('%s: skipped in a snapshot, its traffic falls through to the next rule', (_name, bad) => {
    const { events, rejected } = decodeSnapshot(opts, [
      kv('/routes/general', general),
      kv('/routes/specific', { ...specific, ...bad }),
    ]);
    expect(rejected.map((r) => r.rejection.key)).toEqual(['/routes/specific']);
    const table = buildTable(events, 1, []);
    expect(table.routes.map((r) => r.source)).toEqual(['/routes/general']);
    expect(served(table, '/api/x')).toBe('web');
  });

  it('a watched update that makes a route invalid removes it (never half-applied), logged and counted once', () => {
    const log = silentLogger();
    const warn = vi.spyOn(log, 'warn');
    const counted: string[] = [];
    const invalid = new InvalidValues(opts, log, (key) => counted.push(key));
    const change = (value: object): RegistryEvent | undefined =>
      invalid.decodeChange('/routes/specific', true, Buffer.from(JSON.stringify(value)));

    const generalPut = decodePut(opts, '/routes/general', JSON.stringify(general));
    if (!generalPut.ok) throw new Error(generalPut.rejection.reason);
    let table = buildTable([generalPut.event, change(specific)!], 1, []);
    expect(served(table, '/api/x')).toBe('api');
    expect(policies.for(matchRoute(table, 'a.test', '/api/x')?.rule)?.rewritePath?.('/api/x')).toBe('/x');

    const bad = { ...specific, maxBodyBytes: -5 };
    const removal = change(bad);
    expect(removal).toEqual({ kind: 'route-delete', key: '/routes/specific' });
    table = applyEvents(table, [removal!], 2, []);
    expect(served(table, '/api/x')).toBe('web');
    change(bad); // the same bad value again (a resync): not reported twice
    expect(counted).toEqual(['/routes/specific']);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0]?.[0]).toMatchObject({
      key: '/routes/specific',
      code: ErrorCode.invalidRoute,
      reason: expect.stringMatching(/maxBodyBytes must be an integer of at least 0/),
    });
    change({ ...specific, retries: 99 }); // a different bad value is reported
    expect(counted).toHaveLength(2);
  });
});

describe('a valid route with policies', () => {
  const canary = {
    host: 'a.test',
    pathPrefix: '/api',
    services: [
      { name: 'api', weight: 3 },
      { name: 'api-canary', weight: 1 },
    ],
    requestHeaders: { set: { 'X-Route': 'api' } },
    rateLimit: { average: 100 },
  };

  it('lands in the table with its compiled policy', () => {
    const { events, rejected } = decodeSnapshot(opts, [kv('/routes/general', general), kv('/routes/canary', canary)]);
    expect(rejected).toEqual([]);
    const table = buildTable(events, 1, []);
    const match = matchRoute(table, 'a.test', '/api/users');
    expect(match?.rule?.source).toBe('/routes/canary');
    expect(match?.service).toBe('api');
    const policy = policies.for(match?.rule);
    expect(policy?.split?.names).toEqual(['api', 'api-canary']);
    expect(Array.from({ length: 4 }, () => policy?.split?.pick())).toEqual(['api', 'api', 'api-canary', 'api']);
    const headers: Record<string, string> = {};
    policy?.requestHeaders?.(headers);
    expect(headers).toEqual({ 'x-route': 'api' });
    expect(policy?.admit('10.0.0.1', '/api/users', undefined)).toBeUndefined();
  });

  it('a changed policy under the same key is a correction in diffSnapshot; an unchanged one is not', () => {
    const before = decodeSnapshot(opts, [kv('/routes/canary', canary)]).events;
    const table = buildTable(before, 1, []);
    const same = decodeSnapshot(opts, [kv('/routes/canary', canary, 2)]).events;
    expect(diffSnapshot(table, same)).toEqual([]);
    const changed = decodeSnapshot(opts, [kv('/routes/canary', { ...canary, rateLimit: { average: 50 } }, 2)]).events;
    expect(diffSnapshot(table, changed).map((e) => e.kind)).toEqual(['route-put']);
  });
});
