// The fuzz generator's promise, checked without a balancer: every item it yields is refused by the
// decoder the balancer uses (so the chaos run's "all counted, none served" can only fail for a reason
// in the balancer), and the route items cover every policy field. An entry with bad declared routes
// is applied as a backend but its routes are refused (a partial rejection, counted the same way).
import { describe, expect, it } from 'vitest';
import { fuzzItems } from '../../../chaos/fuzz.js';
import { decodePut } from '../../../balancer/registry/registry-decoder.js';
import { POLICY_FIELDS } from '../../../common/route-policy.js';

const opts = { prefix: '/services', routesPrefix: '/routes' };

describe('fuzzItems', () => {
  const items = [...fuzzItems(10_000, 7, 'fz')];

  it('yields 10,000 values, every one rejected by the decoder', () => {
    expect(items).toHaveLength(10_000);
    const accepted = items.filter((it) => {
      const d = decodePut(opts, it.key, it.value);
      return d.ok && d.partial === undefined;
    });
    expect(accepted.map((it) => `${it.kind}: ${String(it.value).slice(0, 200)}`)).toEqual([]);
  });

  it('covers every policy field, and services, in the route values', () => {
    const policy = items.filter((it) => it.kind === 'route bad policy' || it.kind === 'route huge policy');
    expect(policy.length).toBeGreaterThan(1000);
    const fields = new Set(policy.flatMap((it) => Object.keys(JSON.parse(String(it.value)) as object)));
    for (const f of [...POLICY_FIELDS, 'services']) expect([f, fields.has(f)]).toEqual([f, true]);
  });

  it('includes entries whose every declared route is refused, with every policy field', () => {
    const declared = items.filter((it) => it.kind === 'entry bad routes');
    expect(declared.length).toBeGreaterThan(600);
    for (const it of declared) {
      const d = decodePut(opts, it.key, it.value);
      if (d.ok && d.event.kind === 'entry-put')
        expect([it.value, d.event.backend.entry.routes]).toEqual([it.value, undefined]);
    }
    const fields = new Set(
      declared.flatMap((it) => {
        const routes = (JSON.parse(String(it.value)) as { routes?: unknown }).routes;
        return Array.isArray(routes) ? routes.flatMap((x) => (x && typeof x === 'object' ? Object.keys(x) : [])) : [];
      }),
    );
    for (const f of [...POLICY_FIELDS, 'services', 'service']) expect([f, fields.has(f)]).toEqual([f, true]);
  });

  it('is deterministic for a seed', () => {
    const again = [...fuzzItems(200, 7, 'fz')];
    expect(again.map((it) => [it.key, String(it.value)])).toEqual(
      items.slice(0, 200).map((it) => [it.key, String(it.value)]),
    );
  });
});
