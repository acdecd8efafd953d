// What a table swap does, with the balancer's parts replaced by recorders: health flags come first,
// so a policy warm-up that throws cannot leave the new backend objects without their verdicts.
import { describe, expect, it } from 'vitest';
import { applyTableSwap, type SwapParts } from '../../../balancer/table-swap.js';
import { backendFromEntry, buildTable } from '../../../balancer/table/route-table.js';
import type { RegistryEvent, RouteTable } from '../../../balancer/types.js';
import { decodeRoute } from '../../../common/route-spec.js';

function put(service: string, instance: string, port = 80): RegistryEvent {
  const entry = { host: '10.0.0.1', port, weight: 1, tags: [], draining: false };
  return {
    kind: 'entry-put',
    key: `/services/${service}/${instance}`,
    backend: backendFromEntry(service, instance, entry),
  };
}

function routePut(host: string, service: string): RegistryEvent {
  const decoded = decodeRoute(`/routes/${host}`, JSON.stringify({ host, service }));
  if (!decoded.ok) throw new Error(decoded.error);
  return { kind: 'route-put', key: `/routes/${host}`, rule: decoded.value };
}

function recorder(warm: () => void = () => undefined): { parts: SwapParts; calls: string[] } {
  const calls: string[] = [];
  const parts: SwapParts = {
    proxy: {
      warmPolicies: () => (calls.push('warm'), warm()),
      releaseBackend: (id) => void calls.push(`release ${id}`),
      closeBackendSockets: (id, drainMs) => void calls.push(`close ${id} ${drainMs}`),
      budgets: { forget: (s: Iterable<string>) => void calls.push(`budgets ${[...s].join()}`) } as never,
    },
    checks: { serviceChanged: (s, b) => void calls.push(`health ${s} ${b.map((x) => x.instance).join()}`) },
    metrics: { forgetServices: (s) => void calls.push(`metrics ${[...s].join()}`) },
    traffic: { forget: (s) => void calls.push(`traffic ${[...s].join()}`) },
    drainMs: 7,
  };
  return { parts, calls };
}

describe('applyTableSwap', () => {
  const before: RouteTable = buildTable([put('web', 'a'), put('api', 'x'), routePut('a.test', 'web')], 1, []);

  it('tells the health checks first, then warms, releases what left and forgets gone services', () => {
    const after = buildTable([put('web', 'a'), put('web', 'b'), routePut('b.test', 'web')], 2, []);
    const { parts, calls } = recorder();
    applyTableSwap(parts, before, after);
    expect(calls.slice(0, 2).sort()).toEqual(['health api ', 'health web a,b']);
    expect(calls.slice(2)).toEqual([
      'warm',
      'release api/x',
      'close api/x 7',
      'metrics api',
      'traffic api',
      'budgets api',
    ]);
  });

  it('a warm-up that throws leaves the health flags set (the store logs the throw)', () => {
    const after = buildTable([put('web', 'a', 81), routePut('b.test', 'web')], 2, []);
    const { parts, calls } = recorder(() => {
      throw new Error('bad policy');
    });
    expect(() => applyTableSwap(parts, before, after)).toThrow('bad policy');
    expect(calls.filter((c) => c.startsWith('health')).sort()).toEqual(['health api ', 'health web a']);
  });
});
