// In-process micro-benchmark of the pure registry → table path at scale 3's size (10,000 entries
// over 1,000 services, 1,000 route keys): one changed entry applied to the live table, plus what
// the balancer's subscriber does on each swap (vanished backends, gone services), and a lookup.
// No etcd, no sockets: `node dist/bench/apply-micro.js [changes]`. Reports p50/p99/max per step.
import { performance } from 'node:perf_hooks';
import { applyEvents, backendFromEntry, buildTable } from '../balancer/table/route-table.js';
import { matchRoute } from '../balancer/table/route-index.js';
import { goneServices, vanishedBackends } from '../balancer/table/table-store.js';
import type { RegistryEvent, RouteTable } from '../balancer/types.js';
import { decodeRoute } from '../common/route-spec.js';

const SERVICES = 1000;
const PER_SERVICE = 10;
const pad = (n: number): string => String(n).padStart(4, '0');

function entryPut(s: number, i: number, weight: number): RegistryEvent {
  const service = `s${pad(s)}`;
  const instance = `bench:n${i}:${9000 + i}`;
  const backend = backendFromEntry(service, instance, {
    host: '127.0.0.1',
    port: 9000 + i,
    weight,
    tags: ['bench'],
    draining: false,
    node: 'bench',
  });
  return { kind: 'entry-put', key: `/scale/services/${service}/${instance}`, backend };
}

function routePut(s: number): RegistryEvent {
  const key = `/scale/routes/r${pad(s)}`;
  const rule = decodeRoute(key, JSON.stringify({ host: `s${pad(s)}.bench`, service: `s${pad(s)}` }));
  if (!rule.ok) throw new Error(rule.error);
  return { kind: 'route-put', key, rule: rule.value };
}

function quantiles(xs: number[]): string {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number): number => s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
  const us = (ms: number): string => `${(ms * 1000).toFixed(1)} µs`;
  const mean = s.reduce((a, b) => a + b, 0) / s.length;
  return `p50 ${us(q(0.5))}, p99 ${us(q(0.99))}, max ${us(q(1))}, mean ${us(mean)}`;
}

const changes = Number(process.argv[2] ?? 20_000);
const initial: RegistryEvent[] = [];
for (let s = 0; s < SERVICES; s++) for (let i = 0; i < PER_SERVICE; i++) initial.push(entryPut(s, i, 1));
for (let s = 0; s < SERVICES - 1; s++) initial.push(routePut(s));
const t0 = performance.now();
let table: RouteTable = buildTable(initial, 1, []);
console.log(`build ${initial.length} events: ${(performance.now() - t0).toFixed(1)} ms`);

const apply: number[] = [];
const subscriber: number[] = [];
const lookup: number[] = [];
const rssMax = { v: 0 };
for (let k = 0; k < changes; k++) {
  const s = (k * 7919) % SERVICES;
  // Mostly weight changes (the bench's churn), every 10th a delete and re-add of an instance.
  const event: RegistryEvent =
    k % 10 === 5
      ? { kind: 'entry-delete', key: (entryPut(s, k % PER_SERVICE, 1) as { key: string }).key }
      : entryPut(s, k % PER_SERVICE, 1 + (k % 5));
  const a0 = performance.now();
  const next = applyEvents(table, [event], k + 2, []);
  const a1 = performance.now();
  vanishedBackends(table, next);
  goneServices(table, next);
  const a2 = performance.now();
  matchRoute(next, `s${pad(s)}.bench`, '/');
  const a3 = performance.now();
  apply.push(a1 - a0);
  subscriber.push(a2 - a1);
  lookup.push(a3 - a2);
  table = next;
  if (k % 10 === 5) table = applyEvents(table, [entryPut(s, k % PER_SERVICE, 1)], k + 2, []);
  if (k % 1000 === 0) rssMax.v = Math.max(rssMax.v, process.memoryUsage().rss);
}
const warm = Math.floor(changes / 10); // leave out JIT warm-up
console.log(`apply one change at ${table.entries.size} entries: ${quantiles(apply.slice(warm))}`);
console.log(`vanishedBackends + goneServices:      ${quantiles(subscriber.slice(warm))}`);
console.log(`first lookup on the new table:        ${quantiles(lookup.slice(warm))}`);
console.log(`RSS max ${(rssMax.v / 2 ** 20).toFixed(0)} MiB`);
