// The client address the policies key on (allow/deny, rateLimit): the direct peer, unless the peer
// is inside --trusted-proxies; then the nearest X-Forwarded-For hop that is not itself trusted, read
// from the right (each trusted proxy appended the peer it saw), as nginx's real_ip_recursive does.
import { isIP } from 'node:net';
import type { ForwardedContext } from '../forwarded.js';

/** Hops examined from the right; a longer chain is cut there (the rest was written by whoever). */
export const MAX_FORWARDED_HOPS = 32;

function unmapped(address: string): string {
  return address.length > 7 && address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

/**
 * `xff` is the X-Forwarded-For header as the client sent it (before the proxy appends the peer).
 * A hop that is not an IP address ends the walk: the last trusted hop's word is then all we have,
 * so the answer is the hop to its right (or the peer). Port suffixes and brackets are not accepted.
 */
export function clientAddress(
  peer: ForwardedContext,
  xff: string | string[] | undefined,
  isTrusted: (address: string) => boolean,
): string {
  if (!peer.trusted || xff === undefined) return peer.peer;
  const hops = (Array.isArray(xff) ? xff.join(',') : xff).split(',');
  let client = peer.peer;
  for (let i = hops.length - 1, n = 0; i >= 0 && n < MAX_FORWARDED_HOPS; i--, n++) {
    const hop = unmapped(hops[i]!.trim());
    if (isIP(hop) === 0) return client;
    client = hop;
    if (!isTrusted(hop)) return hop;
  }
  return client;
}
