import { describe, expect, it } from 'vitest';
import { compileAddressFilter } from '../../../../../balancer/proxy/policy/address-filter.js';
import { parseV4 } from '../../../../../common/cidr.js';
import { parseCidrList } from '../../../../../common/cidr.js';

const list = (s: string | undefined) => (s === undefined ? undefined : parseCidrList(s));

describe('compileAddressFilter', () => {
  it.each<[string, string | undefined, string | undefined, string, boolean]>([
    // [name, allow, deny, address, admitted]
    ['inside allow', '10.0.0.0/8', undefined, '10.1.2.3', true],
    ['outside allow', '10.0.0.0/8', undefined, '11.0.0.1', false],
    ['inside deny', undefined, '10.0.0.0/8', '10.1.2.3', false],
    ['outside deny', undefined, '10.0.0.0/8', '192.168.1.1', true],
    ['allowed but denied', '10.0.0.0/8', '10.1.0.0/16', '10.1.2.3', false],
    ['allowed, not denied', '10.0.0.0/8', '10.1.0.0/16', '10.2.0.1', true],
    ['single address', '192.168.1.10', undefined, '192.168.1.10', true],
    ['single address, neighbour', '192.168.1.10', undefined, '192.168.1.11', false],
    ['/0 allows every IPv4', '0.0.0.0/0', undefined, '255.255.255.255', true],
    ['/32 edge', '255.255.255.255/32', undefined, '255.255.255.255', true],
    ['IPv4-mapped peer inside an IPv4 allow', '10.0.0.0/8', undefined, '::ffff:10.9.9.9', true],
    ['IPv4-mapped peer inside an IPv4 deny', undefined, '10.0.0.0/8', '::ffff:10.9.9.9', false],
    ['IPv4 peer inside a mapped-form block', '::ffff:10.0.0.0/104', undefined, '10.9.9.9', true],
    ['IPv6 inside allow', 'fd00::/8', undefined, 'fd12::1', true],
    ['IPv6 outside allow', 'fd00::/8', undefined, '2001:db8::1', false],
    ['IPv6 inside deny', undefined, '2001:db8::/32', '2001:db8:1::5', false],
    ['IPv6 peer vs IPv4-only allow', '10.0.0.0/8', undefined, '::1', false],
    ['IPv4 peer vs IPv6-only allow', '::/0', undefined, '127.0.0.1', false],
    ['both families', '10.0.0.0/8,::1', undefined, '::1', true],
    ['zone id ignored', 'fe80::/10', undefined, 'fe80::1%eth0', true],
    ['unparsable address: outside allow', '0.0.0.0/0', undefined, 'unknown', false],
    ['unparsable address: not in deny', undefined, '0.0.0.0/0', 'unknown', true],
    ['leading zeros are not IPv4', '10.0.0.0/8', undefined, '010.0.0.1', false],
  ])('%s', (_name, allow, deny, address, admitted) => {
    expect(compileAddressFilter(list(allow), list(deny))!(address)).toBe(admitted);
  });

  it('is undefined without lists', () => {
    expect(compileAddressFilter(undefined, undefined)).toBeUndefined();
  });
});

describe('parseV4', () => {
  it.each<[string, number]>([
    ['0.0.0.0', 0],
    ['10.1.2.3', 0x0a010203],
    ['255.255.255.255', 0xffffffff],
    ['1.2.3', -1],
    ['1.2.3.4.5', -1],
    ['256.0.0.1', -1],
    ['1..2.3', -1],
    ['1.2.3.', -1],
    ['01.2.3.4', -1],
    ['1.2.3.1000', -1],
    ['::1', -1],
    ['', -1],
  ])('%s → %d', (text, value) => {
    expect(parseV4(text)).toBe(value);
  });
});
