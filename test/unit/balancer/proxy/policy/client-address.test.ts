import { describe, expect, it } from 'vitest';
import { clientAddress } from '../../../../../balancer/proxy/policy/client-address.js';
import { createMatcher } from '../../../../../common/cidr.js';

const trusted = createMatcher('10.0.0.0/8');
const ctx = (peer: string) => ({ peer, trusted: trusted(peer), proto: 'http' as const });

describe('clientAddress', () => {
  it.each<[string, string, string | string[] | undefined, string]>([
    ['untrusted peer: the peer, whatever XFF says', '1.2.3.4', '9.9.9.9', '1.2.3.4'],
    ['trusted peer without XFF', '10.0.0.1', undefined, '10.0.0.1'],
    ['trusted peer: the last hop', '10.0.0.1', '203.0.113.5', '203.0.113.5'],
    ['a forged left part is ignored', '10.0.0.1', '6.6.6.6, 203.0.113.5', '203.0.113.5'],
    ['trusted hops are skipped', '10.0.0.1', '203.0.113.5, 10.1.1.1, 10.2.2.2', '203.0.113.5'],
    ['all hops trusted: the leftmost', '10.0.0.1', '10.1.1.1, 10.2.2.2', '10.1.1.1'],
    ['several header lines', '10.0.0.1', ['6.6.6.6', '203.0.113.5, 10.1.1.1'], '203.0.113.5'],
    ['IPv6 hop', '10.0.0.1', '2001:db8::1', '2001:db8::1'],
    ['IPv4-mapped hop', '10.0.0.1', '::ffff:203.0.113.5', '203.0.113.5'],
    ['garbage hop ends the walk at the last good one', '10.0.0.1', '6.6.6.6, garbage, 10.1.1.1', '10.1.1.1'],
    ['garbage right after the peer: the peer', '10.0.0.1', 'unknown', '10.0.0.1'],
    ['a port is not an address', '10.0.0.1', '203.0.113.5:4711', '10.0.0.1'],
    ['empty header', '10.0.0.1', '', '10.0.0.1'],
  ])('%s', (_name, peer, xff, expected) => {
    expect(clientAddress(ctx(peer), xff, trusted)).toBe(expected);
  });

  it('reads at most 32 hops from the right', () => {
    const chain = ['203.0.113.5', ...Array.from({ length: 40 }, (_, i) => `10.0.0.${i + 1}`)].join(', ');
    expect(clientAddress(ctx('10.0.0.1'), chain, trusted)).toBe('10.0.0.9'); // the 32nd hop from the right
  });
});
