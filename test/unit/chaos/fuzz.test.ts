// The fuzz generator's promise, checked without a balancer: every item it yields is refused by the
// decoder the balancer uses (so the chaos run's "all counted, none served" can only fail for a reason
// in the balancer), and the route items cover every policy field.
import { describe, expect, it } from 'vitest';
import { fuzzItems } from '../../../chaos/fuzz.js';
import { decodePut } from '../../../balancer/registry/registry-decoder.js';
import { POLICY_FIELDS } from '../../../common/route-policy.js';

const opts = { prefix: '/services', routesPrefix: '/routes' };

describe('fuzzItems', () => {
  const items = [...fuzzItems(10_000, 7, 'fz')];

  it('yields 10,000 values, every one rejected by the decoder', () => {
    expect(items).toHaveLength(10_000);
    const accepted = items.filter((it) => decodePut(opts, it.key, it.value).ok);
    expect(accepted.map((it) => `${it.kind}: ${String(it.value).slice(0, 200)}`)).toEqual([]);
  });

  it('covers every policy field, and services, in the route values', () => {
    const policy = items.filter((it) => it.kind === 'route bad policy' || it.kind === 'route huge policy');
    expect(policy.length).toBeGreaterThan(1000);
    const fields = new Set(policy.flatMap((it) => Object.keys(JSON.parse(String(it.value)) as object)));
    for (const f of [...POLICY_FIELDS, 'services']) expect([f, fields.has(f)]).toEqual([f, true]);
  });

  it('is deterministic for a seed', () => {
    const again = [...fuzzItems(200, 7, 'fz')];
    expect(again.map((it) => [it.key, String(it.value)])).toEqual(
      items.slice(0, 200).map((it) => [it.key, String(it.value)]),
    );
  });
});
