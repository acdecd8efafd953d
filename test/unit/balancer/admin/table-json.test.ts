// /api/table for declared routes: each route's source and the instances declaring it, and the
// conflicts, sorted by rule.
import { describe, expect, it } from 'vitest';
import { tableJson } from '../../../../balancer/admin/admin.js';
import { backendFromEntry, buildTable } from '../../../../balancer/table/route-table.js';
import type { RegistryEvent } from '../../../../balancer/types.js';
import { validateEntry } from '../../../../common/registry.js';
import { decodeRoute } from '../../../../common/route-spec.js';

function put(service: string, instance: string, routes: object[]): RegistryEvent {
  const e = validateEntry({ host: '10.0.0.1', port: 80, node: 'n1', container: { id: 'x', name: instance }, routes });
  if (!e.ok) throw new Error(e.error);
  return {
    kind: 'entry-put',
    key: `/services/${service}/${instance}`,
    backend: backendFromEntry(service, instance, e.value),
  };
}
const src = { isEjected: () => false, isUnhealthy: () => false, inflight: () => 0 };

describe('tableJson with declared routes', () => {
  it('names the source and declarers of each route, and lists conflicts', () => {
    const key = decodeRoute('/routes/b', JSON.stringify({ host: 'b.test', service: 'api' }));
    if (!key.ok) throw new Error(key.error);
    const t = buildTable(
      [
        put('web', 'w2', [{ host: 'a.test', stripPrefix: true }]),
        put('web', 'w1', [{ host: 'a.test', stripPrefix: true }, { host: 'b.test' }]),
        put('zed', 'z1', [{ host: 'a.test' }]),
        { kind: 'route-put', key: '/routes/b', rule: key.value },
      ],
      3,
      [],
    );
    const json = tableJson(t, src) as { routes: Array<Record<string, unknown>>; conflicts: unknown[] };
    // Same specificity: ordered by source, so the route key comes first.
    expect(json.routes.map((r) => [r.host, r.source, r.declaredBy])).toEqual([
      ['b.test', '/routes/b', null],
      [
        'a.test',
        'declared:web',
        [
          { instance: 'w1', container: 'w1', node: 'n1' },
          { instance: 'w2', container: 'w2', node: 'n1' },
        ],
      ],
    ]);
    expect(json.routes[1]?.policies).toEqual({ stripPrefix: true });
    expect(json.conflicts).toEqual([
      { host: 'a.test', pathPrefix: '/', reason: 'service', winner: 'web', losers: ['zed'] },
      { host: 'b.test', pathPrefix: '/', reason: 'route', winner: '/routes/b', losers: ['web'] },
    ]);
  });
});
