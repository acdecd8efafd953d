// The access log's `client` field: who the balancer believes sent the request, from the peer and, only
// when the peer is a trusted proxy, X-Forwarded-For read from the right past the trusted hops.
import { describe, expect, it } from 'vitest';
import { clientAddress } from '../../../../balancer/proxy/access-entry.js';
import { createMatcher } from '../../../../common/cidr.js';

const trusted = createMatcher(['10.0.0.0/8']);

describe('clientAddress', () => {
  it.each([
    ['an untrusted peer is the client, whatever it forwards', '203.0.113.9', '198.51.100.1', '203.0.113.9'],
    ['a trusted peer without X-Forwarded-For is the client', '10.0.0.1', undefined, '10.0.0.1'],
    ['a trusted peer with an empty X-Forwarded-For is the client', '10.0.0.1', '', '10.0.0.1'],
    ['a trusted peer forwarding one address: that address', '10.0.0.1', '198.51.100.1', '198.51.100.1'],
    ['trusted hops are skipped from the right', '10.0.0.1', '198.51.100.1, 10.1.1.1, 10.2.2.2', '198.51.100.1'],
    ['a client-supplied left part is not believed', '10.0.0.1', '6.6.6.6, 198.51.100.1, 10.1.1.1', '198.51.100.1'],
    ['all hops trusted: the left-most', '10.0.0.1', '10.9.9.9, 10.1.1.1', '10.9.9.9'],
    ['blank hops are ignored', '10.0.0.1', '198.51.100.1, ,', '198.51.100.1'],
  ])('%s', (_what, peer, xff, expected) => {
    expect(clientAddress(peer, xff, trusted)).toBe(expected);
  });
});
