// Deterministic generator of invalid registry and route values (and odd keys): every item it yields
// must be rejected by the balancer and counted in balancer_invalid_entries_total.
import { prng } from '../test/helpers/prng.js';

export interface FuzzItem {
  readonly key: string;
  readonly value: string | Buffer;
  readonly kind: string;
}

const BAD_HOSTS: readonly unknown[] = [
  '256.1.1.1',
  '1.2.3',
  '999.999.999.999',
  '1.2.3.4:80',
  '::g',
  '',
  ' ',
  'a b',
  '-bad-',
  'x'.repeat(300),
  'http://10.0.0.1',
  '10.0.0.1/8',
  '[::1]',
  'bad_host!',
  42,
  null,
  true,
  ['10.0.0.1'],
  { ip: '10.0.0.1' },
];
const BAD_PORTS: readonly unknown[] = [0, 65536, -1, 1.5, '80', null, 1e20, Number.NaN, [80], {}, true];
const WRONG_TYPES: readonly string[] = [
  '[]',
  '[1,2]',
  '42',
  '"10.0.0.1:80"',
  'null',
  'true',
  '""',
  '{',
  '{"host":',
  'not json',
  '{"host":"10.0.0.1","port":80',
  '\u0000',
];
const ODD_KEY_CHARS: readonly string[] = [
  ' ',
  '\t',
  '\n',
  '\u0000',
  '/',
  '%2F',
  '?',
  '#',
  'é',
  '😀',
  '\u202e',
  '*',
  ':',
  '\\',
];

function pick<T>(r: () => number, xs: readonly T[]): T {
  return xs[Math.floor(r() * xs.length)] as T;
}

function randomBytes(r: () => number, n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(r() * 256);
  b[0] = 0xff; // never a valid JSON start, and never valid UTF-8 at the first byte
  return b;
}

/** `n` invalid writes under `prefix` (entries) and `routesPrefix` (routes), tagged with `tag` in every key. */
export function* fuzzItems(
  n: number,
  seed: number,
  tag: string,
  prefix = '/services',
  routesPrefix = '/routes',
): Generator<FuzzItem> {
  const r = prng(seed);
  for (let i = 0; i < n; i++) {
    const svc = `${tag}-${i}`;
    const key = `${prefix}/${svc}/node:c${i}:80`;
    const ok = { host: '10.0.0.1', port: 80 };
    const c = i % 12;
    if (c === 0) yield { key, value: randomBytes(r, 1 + Math.floor(r() * 64)), kind: 'random bytes' };
    else if (c === 1) yield { key, value: pick(r, WRONG_TYPES), kind: 'wrong type' };
    else if (c === 2) yield { key, value: JSON.stringify({ ...ok, host: pick(r, BAD_HOSTS) }), kind: 'bad host' };
    else if (c === 3)
      yield {
        key,
        value: JSON.stringify({ ...ok, port: pick(r, BAD_PORTS) }).replace(
          '"port":null',
          `"port":${pick(r, ['0', '65536', 'null', '-0.5'])}`,
        ),
        kind: 'bad port',
      };
    else if (c === 4)
      yield {
        key,
        value: JSON.stringify({ ...ok, pad: 'x'.repeat(16 * 1024 + Math.floor(r() * 4096)) }),
        kind: 'huge value',
      };
    else if (c === 5)
      yield { key, value: JSON.stringify({ ...ok, weight: pick(r, [-1, 1.5, '2', null, []]) }), kind: 'bad weight' };
    else if (c === 6)
      yield { key, value: JSON.stringify({ ...ok, tags: pick(r, ['a,b', 1, [1, 2], { a: 1 }]) }), kind: 'bad tags' };
    else if (c === 7)
      yield { key, value: JSON.stringify({ ...ok, draining: pick(r, ['yes', 1, null, []]) }), kind: 'bad draining' };
    else if (c === 8) {
      // A valid value under a key with odd characters (service or instance): the key makes it invalid.
      const odd = pick(r, ODD_KEY_CHARS);
      const k =
        r() < 0.5 ? `${prefix}/${svc}${odd}x/node:c${i}:80` : `${prefix}/${svc}/node:c${i}${odd}${odd}:80/extra`;
      yield { key: k, value: JSON.stringify(ok), kind: 'odd key' };
    } else if (c === 9) yield { key: `${routesPrefix}/${svc}`, value: pick(r, WRONG_TYPES), kind: 'route wrong type' };
    else if (c === 10) {
      const bad = pick(r, [
        { host: `${svc}.test` },
        { service: `bad service ${i}` },
        { service: svc, host: '*' },
        { service: svc, host: `${svc}.test:8080` },
        { service: svc, pathPrefix: 'nope' },
        { service: svc, pathPrefix: '/a?b' },
        { service: svc, lb: 'random' },
        { service: 42 },
        { service: svc, host: 'a.*.test' },
      ]);
      yield { key: `${routesPrefix}/${svc}`, value: JSON.stringify(bad), kind: 'route bad field' };
    } else
      yield {
        key: `${routesPrefix}/${svc}`,
        value: randomBytes(r, 1 + Math.floor(r() * 32)),
        kind: 'route random bytes',
      };
  }
}
