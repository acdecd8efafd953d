import { describe, expect, it } from 'vitest';
import { carriedEntries, expireCarried, withoutCarriedDeletes } from '../../../../balancer/registry/restore-grace.js';
import { applyEvents, backendFromEntry, buildTable } from '../../../../balancer/table/route-table.js';
import type { RegistryEvent } from '../../../../balancer/types.js';
import { parseRouteFlag } from '../../../../common/route-spec.js';

const put = (service: string, instance: string, port = 8080): RegistryEvent => ({
  kind: 'entry-put',
  key: `/services/${service}/${instance}`,
  backend: backendFromEntry(service, instance, { host: '10.0.0.1', port, weight: 1, tags: [], draining: false }),
});
const del = (service: string, instance: string): RegistryEvent => ({
  kind: 'entry-delete',
  key: `/services/${service}/${instance}`,
});
const keys = (events: readonly RegistryEvent[]): string[] => events.map((e) => `${e.kind} ${e.key}`);

describe('carriedEntries: what a wiped registry lacks', () => {
  const old = buildTable(
    [
      put('web', 'n1:a:80'),
      put('web', 'n2:b:80'),
      put('api', 'n1:c:80'),
      { kind: 'route-put', key: '/routes/x', rule: parseRouteFlag('x.test/=web') },
    ],
    500,
    [],
  );

  it.each([
    [
      'an empty registry: every entry carried, routes not',
      [],
      ['entry-put /services/api/n1:c:80', 'entry-put /services/web/n1:a:80', 'entry-put /services/web/n2:b:80'],
    ],
    [
      'one entry already republished',
      [put('web', 'n1:a:80', 9090)],
      ['entry-put /services/api/n1:c:80', 'entry-put /services/web/n2:b:80'],
    ],
    ['everything republished', [put('web', 'n1:a:80'), put('web', 'n2:b:80'), put('api', 'n1:c:80')], []],
  ] as const)('%s', (_name, fresh, expected) => {
    expect(keys(carriedEntries(old, fresh)).sort()).toEqual([...expected].sort());
  });

  it('a fresh value wins over the carried copy of the same key', () => {
    const fresh = [put('web', 'n1:a:80', 9090)];
    const t = buildTable([...carriedEntries(old, fresh), ...fresh], 3, []);
    expect(t.entries.get('/services/web/n1:a:80')?.entry.port).toBe(9090);
    expect(t.services.get('web')?.backends).toHaveLength(2);
    expect(t.routeKeys.size).toBe(0);
  });
});

describe('the end of a carry-over', () => {
  it('a check keeps carried keys; other corrections pass', () => {
    const carried = new Set(['/services/web/n2:b:80']);
    const corrections = [del('web', 'n2:b:80'), del('web', 'n9:z:80'), put('api', 'n1:c:80')];
    expect(keys(withoutCarriedDeletes(corrections, carried))).toEqual([
      'entry-delete /services/web/n9:z:80',
      'entry-put /services/api/n1:c:80',
    ]);
    expect(withoutCarriedDeletes(corrections, new Set())).toEqual(corrections);
  });

  it('expiry removes exactly the still-carried entries', () => {
    const t = buildTable([put('web', 'n1:a:80'), put('web', 'n2:b:80')], 3, []);
    const after = applyEvents(t, expireCarried(new Set(['/services/web/n2:b:80'])), 3, []);
    expect(after.services.get('web')?.backends.map((b) => b.instance)).toEqual(['n1:a:80']);
    expect(expireCarried(new Set())).toEqual([]);
  });
});
