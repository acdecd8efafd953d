// `allow` / `deny`: whether a client address may use the route. Outside `allow` (when given) or
// inside `deny` → 403. IPv4-mapped IPv6 addresses (`::ffff:10.1.2.3`, what a dual-stack listener
// reports for IPv4 peers) count as their IPv4 address, as in common/cidr.ts.
import { type CidrBlock, containsAddress, parseIp } from '../../../common/cidr.js';

/** True when the address is admitted. */
export type AddressFilter = (address: string) => boolean;

interface V4Block {
  readonly base: number;
  readonly mask: number;
}

/** Dotted quad → unsigned 32-bit number; -1 when not a plain IPv4 address. No allocation. */
export function parseV4(s: string): number {
  let value = 0;
  let part = -1;
  let dots = 0;
  let digits = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x2e /* . */) {
      if (part < 0 || ++dots > 3) return -1;
      value = value * 256 + part;
      part = -1;
      digits = 0;
    } else if (c >= 0x30 && c <= 0x39) {
      // No leading zeros (`010` is octal to some parsers): node:net refuses them too.
      if (digits > 0 && part === 0) return -1;
      part = part < 0 ? c - 0x30 : part * 10 + (c - 0x30);
      if (part > 255 || ++digits > 3) return -1;
    } else return -1;
  }
  if (part < 0 || dots !== 3) return -1;
  return value * 256 + part;
}

function v4Blocks(blocks: readonly CidrBlock[]): V4Block[] {
  return blocks
    .filter((b) => b.family === 4)
    .map((b) => {
      const mask = b.prefix === 0 ? 0 : (0xffffffff << (32 - b.prefix)) >>> 0;
      return { base: (Number(b.base) & mask) >>> 0, mask };
    });
}

function inV4(blocks: readonly V4Block[], ip: number): boolean {
  for (const b of blocks) if ((ip & b.mask) >>> 0 === b.base) return true;
  return false;
}

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
