// `allow` / `deny`: whether a client address may use the route. Outside `allow` (when given) or
// inside `deny` → 403. IPv4-mapped IPv6 addresses (`::ffff:10.1.2.3`, what a dual-stack listener
// reports for IPv4 peers) count as their IPv4 address, as in common/cidr.ts.
import { type CidrBlock, containsAddress, inV4, parseIp, parseV4, v4Blocks } from '../../../common/cidr.js';

/** True when the address is admitted. */
export type AddressFilter = (address: string) => boolean;

/**
 * Compiles the lists once. IPv4 peers (the common case) are checked with 32-bit arithmetic and no
 * allocation; anything else goes through common/cidr.ts. An address that does not parse (a socket
 * already gone reports none) is inside no list: refused by `allow`, let through by `deny` alone.
 */
export function compileAddressFilter(
  allow: readonly CidrBlock[] | undefined,
  deny: readonly CidrBlock[] | undefined,
): AddressFilter | undefined {
  if (allow === undefined && deny === undefined) return undefined;
  const allow4 = allow === undefined ? undefined : v4Blocks(allow);
  const deny4 = deny === undefined ? [] : v4Blocks(deny);
  return (address) => {
    const v4 = parseV4(address);
    if (v4 >= 0) return (allow4 === undefined || inV4(allow4, v4)) && !inV4(deny4, v4);
    const ip = parseIp(address);
    if (ip === undefined) return allow === undefined;
    return (allow === undefined || containsAddress(allow, ip)) && (deny === undefined || !containsAddress(deny, ip));
  };
}
