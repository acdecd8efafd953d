// Micro-benchmark (not a test) for issue 14 item 9: our CIDR matching (common/cidr.ts, and the
// allocation-free IPv4 path of balancer/proxy/policy/address-filter.ts) against Node's built-in
// `net.BlockList`, for the two per-request checks: is the peer inside --trusted-proxies, and does a
// route's allow/deny admit it. Each case runs the same address mix through both and checks they agree
// before timing them; ns per check are the median of interleaved rounds.
//   npx tsc -p bench/tsconfig.json && node dist/bench/cidr-micro.js [--rounds 15] [--checks 1000000]
import { BlockList, isIPv6 } from 'node:net';
import { performance } from 'node:perf_hooks';
import { compileAddressFilter } from '../balancer/proxy/policy/address-filter.js';
import { type CidrBlock, createMatcher, parseCidrList } from '../common/cidr.js';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : Number(process.argv[i + 1] ?? fallback);
}

function blockList(blocks: readonly CidrBlock[]): BlockList {
  const list = new BlockList();
  for (const b of blocks) {
    const [net = '', prefix = '0'] = b.text.split('/');
    list.addSubnet(net, Number(prefix), b.family === 4 ? 'ipv4' : 'ipv6');
  }
  return list;
}

/** BlockList needs the family; a socket's remoteAddress text is all the hot path has. */
function inList(list: BlockList, address: string): boolean {
  return list.check(address, isIPv6(address) ? 'ipv6' : 'ipv4');
}

type Check = (address: string) => boolean;

interface Case {
  readonly name: string;
  readonly ours: Check;
  readonly builtin: Check;
  readonly addresses: readonly string[];
}

const V4 = ['127.0.0.1', '10.1.2.3', '192.168.7.9', '203.0.113.77', '172.16.0.1', '8.8.8.8'];
const V6 = ['::1', 'fd00::1234', '2001:db8::77', '::ffff:10.1.2.3', '::ffff:8.8.8.8'];

function cases(): Case[] {
  const trusted = parseCidrList('10.0.0.0/8,127.0.0.0/8,::1/128,fd00::/8');
  const allow = parseCidrList('10.0.0.0/8,192.168.0.0/16,fd00::/8');
  const deny = parseCidrList('10.9.0.0/16');
  const trustedList = blockList(trusted);
  const allowList = blockList(allow);
  const denyList = blockList(deny);
  const trustedOurs = createMatcher(trusted);
  const filterOurs = compileAddressFilter(allow, deny);
  if (filterOurs === undefined) throw new Error('no filter');
  const filterBuiltin: Check = (a) => inList(allowList, a) && !inList(denyList, a);
  const out: Case[] = [];
  for (const [mix, addresses] of [
    ['IPv4 peers', V4],
    ['IPv6 and mapped peers', V6],
  ] as const) {
    out.push({
      name: `trusted-proxies, ${mix}`,
      ours: trustedOurs,
      builtin: (a) => inList(trustedList, a),
      addresses,
    });
    out.push({ name: `allow/deny, ${mix}`, ours: filterOurs, builtin: filterBuiltin, addresses });
  }
  return out;
}

/** ns per check over `n` checks cycling through the addresses; the sink defeats dead-code elimination. */
let sink = 0;
function time(check: Check, addresses: readonly string[], n: number): number {
  const t0 = performance.now();
  for (let i = 0; i < n; i++) if (check(addresses[i % addresses.length]!)) sink++;
  return ((performance.now() - t0) * 1e6) / n;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const rounds = arg('rounds', 15);
const checks = arg('checks', 1_000_000);
console.log(`node ${process.version}, ${rounds} rounds × ${checks} checks per case and implementation`);
console.log('| check | ours (ns) | net.BlockList (ns) | BlockList / ours |');
console.log('|---|---|---|---|');
for (const c of cases()) {
  for (const a of c.addresses) {
    if (c.ours(a) !== c.builtin(a)) throw new Error(`${c.name}: ${a} ours ${c.ours(a)}, BlockList ${c.builtin(a)}`);
  }
  time(c.ours, c.addresses, checks); // warm-up: let both be optimised before measuring
  time(c.builtin, c.addresses, checks);
  const ours: number[] = [];
  const builtin: number[] = [];
  for (let r = 0; r < rounds; r++) {
    // Interleaved, alternating which goes first, so drift on a shared machine hits both alike.
    if (r % 2 === 0) {
      ours.push(time(c.ours, c.addresses, checks));
      builtin.push(time(c.builtin, c.addresses, checks));
    } else {
      builtin.push(time(c.builtin, c.addresses, checks));
      ours.push(time(c.ours, c.addresses, checks));
    }
  }
  const o = median(ours);
  const b = median(builtin);
  console.log(`| ${c.name} | ${o.toFixed(0)} | ${b.toFixed(0)} | ${(b / o).toFixed(2)}× |`);
}
if (sink < 0) console.log(sink);
