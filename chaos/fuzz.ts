// Deterministic generator of invalid registry and route values (and odd keys): every item it yields
// must be rejected by the balancer and counted in balancer_invalid_entries_total. Route values
// include the policy fields (wrong types, negative numbers, huge header lists, CIDR garbage,
// redirects to non-http URLs); test/unit/chaos/fuzz.test.ts checks that each item is invalid.
// Entries' declared `routes` get the same garbage: such an entry is still a backend (under the one
// service `<tag>-declared`, which no route names), but each of its routes must be refused and counted.
import { prng } from '../test/helpers/prng.js';
import { POLICY_FIELDS } from '../common/route-policy.js';

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

/** Printable junk for CIDR lists: digits, dots, colons, slashes, letters. */
function junk(r: () => number): string {
  const chars = '0123456789abcdefgxyz.:/%- ';
  const n = 1 + Math.floor(r() * 20);
  let out = '';
  for (let i = 0; i < n; i++) out += chars[Math.floor(r() * chars.length)];
  // A junk string that happens to be a valid address is made invalid, so every item stays refused.
  return `${out}/999`;
}

const negative = (r: () => number): number => -1 - Math.floor(r() * 1e6);

/** One invalid policy field (name → value) for a route that is otherwise valid. */
function badPolicy(r: () => number, svc: string): Record<string, unknown> {
  const field = pick(r, [...POLICY_FIELDS, 'services'] as const);
  const values: Record<typeof field, readonly unknown[]> = {
    stripPrefix: [false, 1, 'api', '/a?b', '/unrelated', null, [], {}],
    addPrefix: [true, 'v2', '/a b', '', null, 5, '/x#y'],
    requestHeaders: [
      [],
      'x-a: b',
      { set: [] },
      { set: { 'Bad Name': 'v' } },
      { set: { 'x-a': 'a\r\nInjected: 1' } },
      { set: { 'x-a': 'a\u0000' } },
      { set: { 'x-a': 1 } },
      { remove: 'x-a' },
      { remove: [1] },
      { set: { Connection: 'close' } },
      { set: { 'X-Forwarded-For': '1.2.3.4' } },
      { remove: ['Host'] },
      { set: { 'Content-Length': '0' } },
      { add: { 'x-a': 'b' } },
    ],
    responseHeaders: [
      { remove: ['Transfer-Encoding'] },
      { set: { 'X-Request-Id': 'forged' } },
      { set: { 'x-a': '\u{1f600}' } },
      { set: { 'x-a': 'v'.repeat(4097) } },
      { set: { 'x-a': '1', 'X-A': '2' } },
      null,
    ],
    redirect: [
      'https://x.test',
      { to: 'ftp://x.test/' },
      { to: 'javascript:alert(1)' },
      { to: 'file:///etc/passwd' },
      { to: 'data:text/html,hi' },
      { to: '/relative' },
      { to: '//x.test/' },
      { to: 'https:x.test' },
      { to: 'https://u:p@x.test/' },
      { to: 'https://x.test/?q=1' },
      { to: 'https://x.test', code: pick(r, [200, 303, '301', -301, 0]) },
      { to: 'https://x.test', keepPath: 'no' },
      { to: 42 },
      {},
    ],
    httpsRedirect: ['yes', 1, null, []],
    timeout: [5, '-1s', 'soon', '1ms', '99h', null, '', '5 s'],
    retries: [negative(r), 1.5, 11, '2', null, 1e9, -0.5],
    maxBodyBytes: [negative(r), 0.5, '1mb', 1e300, null, []],
    rateLimit: [
      10,
      {},
      { average: 0 },
      { average: negative(r) },
      { average: '10' },
      { average: 1, burst: 0 },
      { average: 1, burst: negative(r) },
      { average: 1, period: 1000 },
      { average: 1, period: '0s' },
      { average: 1e12 },
      { average: 1, perClient: true },
    ],
    allow: ['10.0.0.0/8', [], ['10.0.0.0/33'], ['999.1.1.1'], ['example.com'], [1], [junk(r)], ['fe80::1%eth0']],
    deny: [['::/129'], ['10.0.0.0/8', junk(r)], [' 10.0.0.1'], {}, [null]],
    services: [
      [],
      {},
      [{ name: svc, weight: 0 }],
      [{ name: svc, weight: negative(r) }],
      [{ name: `bad name ${svc}`, weight: 1 }],
      [{ name: svc }],
      [
        { name: svc, weight: 1 },
        { name: svc, weight: 1 },
      ],
      Array.from({ length: 17 }, (_, k) => ({ name: `${svc}-${k}`, weight: 1 })),
    ],
  };
  const value = pick(r, values[field]);
  // `services` replaces `service`; for the other fields the route keeps its valid service.
  return field === 'services' ? { services: value } : { service: svc, [field]: value };
}

/** Policy fields far beyond their bounds: huge header lists and address lists, CIDR garbage. */
function hugePolicy(r: () => number, svc: string): Record<string, unknown> {
  const n = 33 + Math.floor(r() * 400);
  switch (Math.floor(r() * 4)) {
    case 0:
      return {
        service: svc,
        requestHeaders: { set: Object.fromEntries(Array.from({ length: n }, (_, k) => [`x-h${k}`, 'v'])) },
      };
    case 1:
      return { service: svc, responseHeaders: { remove: Array.from({ length: n }, (_, k) => `x-h${k}`) } };
    case 2:
      return {
        service: svc,
        allow: Array.from({ length: 257 + Math.floor(r() * 1000) }, (_, k) => `10.0.${k >> 8}.${k & 255}`),
      };
    default:
      return { service: svc, deny: Array.from({ length: 1 + Math.floor(r() * 50) }, () => junk(r)) };
  }
}

/** An entry's `routes` that must be refused: not a list, too many, not objects, a service, bad policies. */
function badDeclaredRoutes(r: () => number, svc: string): unknown {
  switch (Math.floor(r() * 5)) {
    case 0:
      return pick(r, [{}, `${svc}.test`, 42, null, true, { host: `${svc}.test` }]);
    case 1:
      return Array.from({ length: 17 + Math.floor(r() * 20) }, (_, k) => ({ host: `${svc}-${k}.test` }));
    case 2:
      return [pick(r, [`${svc}.test/x`, 1, null, [], [{ host: `${svc}.test` }]])];
    case 3:
      return [
        pick(r, [{ host: `${svc}.test`, service: svc }, { host: `${svc}.test`, pathPrefix: 'p' }, { host: '*' }]),
      ];
    default: {
      const { service: _service, ...bad } = r() < 0.7 ? badPolicy(r, svc) : hugePolicy(r, svc);
      return [{ host: `${svc}.test`, pathPrefix: '/p', ...bad }];
    }
  }
}

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
    const c = i % 15;
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
    } else if (c === 11)
      yield {
        key: `${routesPrefix}/${svc}`,
        value: randomBytes(r, 1 + Math.floor(r() * 32)),
        kind: 'route random bytes',
      };
    else if (c === 14)
      yield {
        key: `${prefix}/${tag}-declared/node:c${i}:80`,
        value: JSON.stringify({ ...ok, routes: badDeclaredRoutes(r, svc) }),
        kind: 'entry bad routes',
      };
    else {
      const route = { host: `${svc}.test`, pathPrefix: '/p', ...(c === 12 ? badPolicy(r, svc) : hugePolicy(r, svc)) };
      yield {
        key: `${routesPrefix}/${svc}`,
        value: JSON.stringify(route),
        kind: c === 12 ? 'route bad policy' : 'route huge policy',
      };
    }
  }
}
