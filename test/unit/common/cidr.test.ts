import { describe, expect, it } from 'vitest';
import { contains, createMatcher, formatIp, parseCidr, parseCidrList, parseIp } from '../../../common/cidr.js';

describe('parseCidr', () => {
  it.each([
    ['10.0.0.0/8', 4, 8, '10.0.0.0/8'],
    ['10.1.2.3/8', 4, 8, '10.0.0.0/8'], // host bits cleared
    ['192.168.1.7', 4, 32, '192.168.1.7/32'], // bare address = one host
    ['0.0.0.0/0', 4, 0, '0.0.0.0/0'],
    [' 172.16.0.0/12 ', 4, 12, '172.16.0.0/12'],
    ['::1/128', 6, 128, '::1/128'],
    ['::/0', 6, 0, '::/0'],
    ['fd00::/8', 6, 8, 'fd00::/8'],
    ['2001:DB8:0:0:1::/64', 6, 64, '2001:db8::/64'],
    ['2001:db8::ffff:0:1/128', 6, 128, '2001:db8::ffff:0:1/128'],
    ['::ffff:10.0.0.0/104', 4, 8, '10.0.0.0/8'], // IPv4-mapped block is the IPv4 block
    ['::ffff:1.2.3.4', 4, 32, '1.2.3.4/32'],
  ] as const)('%s → family %i /%i (%s)', (text, family, prefix, canonical) => {
    const b = parseCidr(text);
    expect(b.family).toBe(family);
    expect(b.prefix).toBe(prefix);
    expect(b.text).toBe(canonical);
  });

  it.each([
    '',
    'foo',
    '10.0.0.0/33',
    '::1/129',
    '10.0.0/8',
    '10.0.0.256/8',
    '10.0.0.0/',
    '10.0.0.0/-1',
    '10.0.0.0/8/8',
    '1::2::3/64',
    'fe80::1%eth0/64',
    '10.0.0.0/ 8',
    '010.0.0.0/8',
  ])('rejects %j with a clear message', (text) => {
    expect(() => parseCidr(text)).toThrow(`expected CIDR such as 10.0.0.0/8, got ${JSON.stringify(text)}`);
  });
});

describe('parseCidrList', () => {
  it('accepts arrays and comma-separated text, ignoring blanks', () => {
    expect(parseCidrList(['10.0.0.0/8', '::1/128']).map((b) => b.text)).toEqual(['10.0.0.0/8', '::1/128']);
    expect(parseCidrList('10.0.0.0/8, ::1/128,').map((b) => b.text)).toEqual(['10.0.0.0/8', '::1/128']);
    expect(parseCidrList('')).toEqual([]);
  });

  it('reports every bad item at once', () => {
    expect(() => parseCidrList(['10.0.0.0/8', 'nope', '1.2.3.4/40'])).toThrow(
      'expected CIDR such as 10.0.0.0/8, got "nope"; expected CIDR such as 10.0.0.0/8, got "1.2.3.4/40"',
    );
  });
});

describe('parseIp', () => {
  it.each([
    ['1.2.3.4', 4, 0x01020304n],
    ['::ffff:1.2.3.4', 4, 0x01020304n],
    ['::FFFF:7f00:1', 4, 0x7f000001n],
    ['::1', 6, 1n],
    ['fe80::1%eth0', 6, (0xfe80n << 112n) | 1n],
    ['2001:db8::', 6, 0x20010db8n << 96n],
    ['1:2:3:4:5:6:7:8', 6, 0x00010002000300040005000600070008n],
    ['64:ff9b::1.2.3.4', 6, (0x64ff9bn << 96n) | 0x01020304n],
  ] as const)('%s', (text, family, value) => {
    expect(parseIp(text)).toEqual({ family, value });
  });

  it.each(['', 'localhost', '1.2.3', '1.2.3.4.5', '::g', '1.2.3.4/32'])('rejects %j', (text) => {
    expect(parseIp(text)).toBeUndefined();
  });
});

describe('contains', () => {
  const list = parseCidrList(['10.0.0.0/8', '192.168.1.0/24', '::1/128', 'fd00::/8']);
  it.each([
    ['10.0.0.1', true],
    ['10.255.255.255', true],
    ['11.0.0.0', false],
    ['9.255.255.255', false],
    ['192.168.1.200', true],
    ['192.168.2.1', false],
    ['::ffff:10.2.3.4', true], // dual-stack listener's view of an IPv4 peer
    ['::ffff:11.2.3.4', false],
    ['::1', true],
    ['::2', false],
    ['fd12:3456::1', true],
    ['fe80::1', false],
    ['127.0.0.1', false],
    ['not-an-ip', false],
    ['', false],
  ] as const)('%s → %s', (ip, expected) => {
    expect(contains(list, ip)).toBe(expected);
  });

  it('an empty list contains nothing; 0.0.0.0/0 does not contain IPv6; ::/0 does not contain IPv4', () => {
    expect(contains([], '10.0.0.1')).toBe(false);
    expect(contains(parseCidrList('0.0.0.0/0'), '::1')).toBe(false);
    expect(contains(parseCidrList('0.0.0.0/0'), '::ffff:8.8.8.8')).toBe(true);
    expect(contains(parseCidrList('::/0'), '8.8.8.8')).toBe(false);
  });
});

describe('createMatcher', () => {
  it('parses once and matches; accepts text, string arrays and parsed blocks', () => {
    const m1 = createMatcher('127.0.0.0/8,::1/128');
    const m2 = createMatcher(['127.0.0.0/8']);
    const m3 = createMatcher(parseCidrList(['127.0.0.0/8']));
    for (const m of [m1, m2, m3]) {
      expect(m('127.0.0.1')).toBe(true);
      expect(m('::ffff:127.0.0.1')).toBe(true);
      expect(m('10.0.0.1')).toBe(false);
    }
    expect(m1('::1')).toBe(true);
    expect(createMatcher([])('127.0.0.1')).toBe(false);
    expect(() => createMatcher(['bad'])).toThrow('expected CIDR such as 10.0.0.0/8, got "bad"');
  });
});

describe('createMatcher fast path', () => {
  // The IPv4 fast path must answer exactly what the general path (contains) answers, for every
  // address form a socket or a header could carry, edge prefixes included.
  const lists = [
    '0.0.0.0/0',
    '10.0.0.0/8,192.168.1.0/24',
    '255.255.255.255/32,1.0.0.0/31',
    '::/0',
    '::ffff:10.0.0.0/104,fd00::/8',
  ];
  const addresses = [
    ...[
      '10.0.0.0',
      '10.255.255.255',
      '11.0.0.0',
      '192.168.1.255',
      '192.168.2.0',
      '255.255.255.255',
      '1.0.0.1',
      '1.0.0.2',
    ],
    ...[
      '0.0.0.0',
      '010.0.0.1',
      '1.2.3',
      '1.2.3.4.5',
      '256.1.1.1',
      '1..2.3',
      '',
      'x',
      '::1',
      '::ffff:10.1.2.3',
      'fd00::9',
    ],
  ];
  it.each(lists)('%s agrees with contains() on every address', (list) => {
    const match = createMatcher(list);
    const blocks = parseCidrList(list);
    for (const a of addresses) expect([a, match(a)]).toEqual([a, contains(blocks, a)]);
  });
});

describe('formatIp', () => {
  it.each([
    [4, 0x0a000001n, '10.0.0.1'],
    [6, 0n, '::'],
    [6, 1n, '::1'],
    [6, 0x20010db8000000000001000000000001n, '2001:db8::1:0:0:1'],
    [6, 0x00010002000300040005000600070008n, '1:2:3:4:5:6:7:8'],
  ] as const)('%i %s → %s', (family, value, text) => {
    expect(formatIp(family, value)).toBe(text);
  });
});
