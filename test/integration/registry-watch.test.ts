// The balancer's registry watch against a real etcd: snapshot, live changes, cuts during a burst,
// compaction, garbage, outage and data loss. Oracle: the table equals a fresh read of the registry.
import { isIP } from 'node:net';
import type { Etcd3 } from 'etcd3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createMatcher } from '../../common/cidr.js';
import { RegistryWatch, type RegistryWatchOptions } from '../../balancer/registry/registry-watch.js';
import { applyEvents } from '../../balancer/table/route-table.js';
import { TableStore } from '../../balancer/table/table-store.js';
import type { RouteTable } from '../../balancer/types.js';
import { createEtcdClient } from '../../common/etcd-client.js';
import { createLogger, silentLogger } from '../../common/logger.js';
import { decodeEntry, encodeEntry, parseEntryKey } from '../../common/registry.js';
import { decodeRoute, encodeRoute } from '../../common/route-spec.js';
import { readPrefix, startEtcd, type EtcdServer } from '../helpers/etcd.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import { delay, waitFor } from '../helpers/wait.js';

let etcd: EtcdServer;
let writer: Etcd3;
let etcdDown = false;
let cleanups: (() => Promise<void> | void)[] = [];
let nextNs = 0;

beforeAll(async () => {
  etcd = await startEtcd();
  writer = etcd.client();
});
afterEach(async () => {
  for (const fn of cleanups.reverse())
    await Promise.resolve()
      .then(fn)
      .catch((err: unknown) => console.error('cleanup failed', err));
  cleanups = [];
  if (etcdDown) await etcd.start(); // a test may leave it stopped
  etcdDown = false;
});
afterAll(async () => {
  await etcd?.destroy();
});

const entryValue = (port: number, host = '127.0.0.1'): string =>
  encodeEntry({ host, port, weight: 1, tags: [], draining: false });
const routeValue = (service: string, pathPrefix: string): string =>
  encodeRoute({ host: undefined, pathPrefix, service, lb: undefined, sticky: false });

interface Harness {
  readonly watch: RegistryWatch;
  readonly store: TableStore;
  readonly prefix: string;
  readonly routesPrefix: string;
  readonly seen: { invalid: string[]; reconnects: number; drift: number[]; connection: string[]; applyMs: number[] };
}

function namespace(): { prefix: string; routesPrefix: string } {
  const ns = `/rw${process.pid}-${nextNs++}`;
  return { prefix: `${ns}/services`, routesPrefix: `${ns}/routes` };
}

/** A watch under test on its own client (built the production way), closed after the test. */
function startWatch(
  endpoint: string,
  extra: Partial<RegistryWatchOptions> = {},
  ns = namespace(),
): Harness & { client: Etcd3 } {
  const client = createEtcdClient({
    etcdEndpoints: [endpoint],
    etcdCa: '',
    etcdCert: '',
    etcdKey: '',
    etcdUser: '',
    etcdPassword: '',
    etcdTimeout: 3000,
  });
  const store = new TableStore(undefined);
  const seen: Harness['seen'] = { invalid: [], reconnects: 0, drift: [], connection: [], applyMs: [] };
  const watch = new RegistryWatch({
    client,
    ...ns,
    flagRoutes: [],
    defaultService: undefined,
    store,
    log: process.env.TEST_LOG ? createLogger('test', 'debug', 'pretty') : silentLogger(),
    resyncMs: 60_000,
    events: {
      onInvalid: (key) => seen.invalid.push(key),
      onApplied: (_rev, _n, ms) => seen.applyMs.push(ms),
      onReconnect: () => seen.reconnects++,
      onConnection: (state) => seen.connection.push(state),
      onDrift: (n) => seen.drift.push(n),
    },
    ...extra,
  });
  cleanups.push(async () => {
    await watch.stop();
    client.close();
  });
  return { watch, store, client, seen, ...ns };
}

async function proxyToEtcd(): Promise<TcpProxy> {
  const proxy = await startTcpProxy({ port: etcd.clientPort });
  cleanups.push(() => proxy.close());
  return proxy;
}

/** What the table serves, as canonical text per key. */
function tableView(t: RouteTable): { entries: Record<string, string>; routes: Record<string, string> } {
  return {
    entries: Object.fromEntries([...t.entries].map(([k, b]) => [k, encodeEntry(b.entry)])),
    routes: Object.fromEntries([...t.routeKeys].map(([k, r]) => [k, encodeRoute(r)])),
  };
}

/** The oracle: a fresh read of both prefixes, keeping only what the shared validators accept. */
async function registryView(
  h: { prefix: string; routesPrefix: string },
  allowIp?: (ip: string) => boolean,
): Promise<ReturnType<typeof tableView>> {
  const entries: Record<string, string> = {};
  for (const [k, v] of Object.entries(await readPrefix(writer, `${h.prefix}/`))) {
    const d = decodeEntry(v);
    const allowed = allowIp === undefined || (d.ok && isIP(d.value.host) !== 0 && allowIp(d.value.host));
    if (d.ok && allowed && parseEntryKey(h.prefix, k).ok) entries[k] = encodeEntry(d.value);
  }
  const routes: Record<string, string> = {};
  for (const [k, v] of Object.entries(await readPrefix(writer, `${h.routesPrefix}/`))) {
    const d = decodeRoute(k, v);
    if (d.ok) routes[k] = encodeRoute(d.value);
  }
  return { entries, routes };
}

async function expectConverged(h: Harness, allowIp?: (ip: string) => boolean, timeoutMs = 15_000): Promise<void> {
  let want = await registryView(h, allowIp);
  await waitFor(
    'table == registry',
    async () => {
      want = await registryView(h, allowIp);
      return JSON.stringify(sortKeys(tableView(h.store.current))) === JSON.stringify(sortKeys(want));
    },
    timeoutMs,
    25,
  ).catch(() => undefined);
  expect(tableView(h.store.current)).toEqual(want);
}

function sortKeys(v: ReturnType<typeof tableView>): unknown {
  return [Object.entries(v.entries).sort(), Object.entries(v.routes).sort()];
}

/**
 * One revision touching both prefixes: once the table's revision reaches it, both watchers are past
 * every earlier write.
 */
async function marker(h: { prefix: string; routesPrefix: string }, n: number): Promise<number> {
  const res = await writer.kv.txn({
    success: [
      { request_put: { key: Buffer.from(`${h.prefix}/marker/m`), value: Buffer.from(entryValue(1000 + n)) } },
      {
        request_put: {
          key: Buffer.from(`${h.routesPrefix}/marker`),
          value: Buffer.from(routeValue('marker', `/m${n}`)),
        },
      },
    ],
  });
  return Number(res.header.revision);
}

/** Resolves with the ms from now until the store first satisfies `check`. */
function timeUntil(store: TableStore, check: (t: RouteTable) => boolean, timeoutMs = 1000): Promise<number> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      unsubscribe();
      reject(new Error(`table did not change within ${timeoutMs} ms`));
    }, timeoutMs);
    const unsubscribe = store.subscribe((_prev, next) => {
      if (!check(next)) return;
      clearTimeout(timer);
      unsubscribe();
      resolve(performance.now() - started);
    });
  });
}

describe('snapshot and live changes', () => {
  it('loads existing keys as the first snapshot and is ready only after it', async () => {
    const ns = namespace();
    for (let i = 0; i < 25; i++) await writer.put(`${ns.prefix}/s${i % 3}/i${i}`).value(entryValue(2000 + i));
    await writer.put(`${ns.routesPrefix}/api`).value(routeValue('s1', '/api'));
    const proxy = await proxyToEtcd();
    proxy.block(true); // hold the first snapshot back: ready must wait for it
    const h = startWatch(`http://127.0.0.1:${proxy.port}`, {}, ns);
    const readiness: [boolean, number][] = [];
    h.store.subscribe((_p, next) => readiness.push([h.store.ready, next.entries.size]));
    h.watch.start();
    await delay(800);
    expect(h.store.ready).toBe(false);
    expect(h.watch.status()).toMatchObject({ ready: false, connected: false, revision: 0 });
    expect(h.watch.status().lastError).toBeDefined();
    proxy.block(false);
    await waitFor('ready', () => h.store.ready, 10_000);
    expect(h.store.current.entries.size).toBe(25);
    expect(h.store.current.services.get('s1')?.backends).toHaveLength(8);
    expect(h.store.current.routes.map((r) => r.source)).toEqual([`${ns.routesPrefix}/api`]);
    expect(readiness[0]).toEqual([false, 25]); // the full table was live the moment it became ready
    await expectConverged(h);
    await waitFor('connected', () => h.watch.status().connected, 5000);
    expect(h.watch.status().lastSync).toBeInstanceOf(Date);
  });

  it('applies a put, an overwrite, a delete and a route put without waiting for the resync timer', async () => {
    const h = startWatch(etcd.endpoint);
    h.watch.start();
    await waitFor('connected', () => h.watch.status().connected, 10_000);
    const key = `${h.prefix}/web/n1:web:80`;
    const latencies: number[] = [];
    for (let i = 0; i < 5; i++) {
      const seen = timeUntil(h.store, (t) => t.entries.get(key)?.entry.port === 3000 + i);
      await writer.put(key).value(entryValue(3000 + i));
      latencies.push(await seen);
    }
    const gone = timeUntil(h.store, (t) => !t.entries.has(key) && !t.services.has('web'));
    await writer.delete().key(key);
    latencies.push(await gone);
    const routeKey = `${h.routesPrefix}/web`;
    const routed = timeUntil(h.store, (t) => t.routes.some((r) => r.source === routeKey && r.service === 'web'));
    await writer.put(routeKey).value(routeValue('web', '/web'));
    latencies.push(await routed);
    const latencyMs = latencies.map((l) => l.toFixed(1)).join(' ');
    const applyMaxMs = Math.max(...h.seen.applyMs).toFixed(2);
    console.info(`registry-watch: put→table latency ms ${latencyMs}; apply ms max ${applyMaxMs}`);
    expect(h.seen.drift).toEqual([]);
    expect(h.seen.reconnects).toBe(0);
    await expectConverged(h);
  });

  it('the revision follows entry-only changes (routes prefix quiet) and never runs ahead of the table', async () => {
    const h = startWatch(etcd.endpoint);
    h.watch.start();
    await waitFor('connected', () => h.watch.status().connected, 10_000);
    // Every table the store publishes must hold every put at or below its revision.
    const written = new Map<number, number>(); // revision → port of that put
    const violations: string[] = [];
    const key = `${h.prefix}/web/n1:web:80`;
    h.store.subscribe((_prev, next) => {
      let newest = 0;
      for (const rev of written.keys()) if (rev <= next.revision && rev > newest) newest = rev;
      // Ports rise with each put, and a later put may already be in before its revision is recorded here.
      const port = next.entries.get(key)?.entry.port ?? 0;
      if (newest > 0 && port < written.get(newest)!)
        violations.push(`revision ${next.revision} has port ${port}, lacks the put at ${newest}`);
    });
    for (let i = 0; i < 20; i++) {
      const res = await writer.kv.put({ key: Buffer.from(key), value: Buffer.from(entryValue(4000 + i)) });
      const revision = Number(res.header.revision);
      written.set(revision, 4000 + i);
      await waitFor(`table revision ≥ ${revision}`, () => h.store.current.revision >= revision, 2000, 1);
    }
    expect(violations).toEqual([]);
    expect(h.watch.status().revision).toBe(h.store.current.revision);
    await expectConverged(h);
  });
});

describe('faults', () => {
  it('a burst of 2,400 changes with the watch cut repeatedly ends with table == registry', async () => {
    const proxy = await proxyToEtcd();
    const h = startWatch(`http://127.0.0.1:${proxy.port}`);
    h.watch.start();
    await waitFor('connected', () => h.watch.status().connected, 10_000);
    let seed = 7;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const op = async (i: number): Promise<void> => {
      const kind = rand(10);
      if (kind < 1) {
        const key = `${h.routesPrefix}/r${rand(12)}`;
        await (rand(3) === 0 ? writer.delete().key(key) : writer.put(key).value(routeValue(`s${rand(4)}`, `/p${i}`)));
        return;
      }
      const key = `${h.prefix}/s${rand(4)}/i${rand(50)}`;
      await (kind < 4 ? writer.delete().key(key) : writer.put(key).value(entryValue(1 + (i % 60_000))));
    };
    const started = Date.now();
    let cuts = 0;
    // Cut at fixed points in the burst and, independently, every 150 ms: some cuts land while the watch
    // is replaying history after the previous one, which is where etcd3 alone loses events.
    const cutter = setInterval(() => {
      proxy.cut();
      cuts++;
    }, 150);
    try {
      for (let i = 0; i < 2400; i += 8) {
        await Promise.all([0, 1, 2, 3, 4, 5, 6, 7].map((j) => op(i + j)));
        if (i % 400 === 200) {
          proxy.cut();
          cuts++;
        }
      }
    } finally {
      clearInterval(cutter);
    }
    const burstMs = Date.now() - started;
    const last = await marker(h, 1);
    await waitFor(`table revision ≥ ${last}`, () => h.store.current.revision >= last, 20_000, 10);
    expect(tableView(h.store.current)).toEqual(await registryView(h));
    // No periodic check runs here (60 s): recoveries are snapshots after each cut, counted as reconnects.
    const recoveries = h.seen.reconnects;
    console.info(
      `registry-watch: burst 2400 ops in ${burstMs} ms, ${cuts} cuts, ${recoveries} recoveries, rev ${last}`,
    );
    expect(h.seen.reconnects).toBeGreaterThanOrEqual(3);
    // The watch keeps working after the storm.
    const key = `${h.prefix}/after/x`;
    const seen = timeUntil(h.store, (t) => t.entries.has(key), 5000);
    await writer.put(key).value(entryValue(4242));
    await seen;
  });

  it('compaction past the watch revision while the watch is cut: the table resyncs and is correct', async () => {
    const proxy = await proxyToEtcd();
    const h = startWatch(`http://127.0.0.1:${proxy.port}`);
    for (let i = 0; i < 10; i++) await writer.put(`${h.prefix}/web/i${i}`).value(entryValue(5000 + i));
    h.watch.start();
    await waitFor('connected', () => h.watch.status().connected, 10_000);
    await expectConverged(h);
    proxy.block(true);
    await waitFor('disconnected', () => !h.watch.status().connected, 10_000);
    for (let i = 0; i < 10; i += 2) await writer.delete().key(`${h.prefix}/web/i${i}`);
    for (let i = 0; i < 30; i++) await writer.put(`${h.prefix}/api/i${i % 7}`).value(entryValue(6000 + i));
    const route = await writer.put(`${h.routesPrefix}/api`).value(routeValue('api', '/api')).exec();
    await writer.kv.compact({ revision: route.header.revision, physical: true });
    expect(tableView(h.store.current).entries).toHaveProperty(`${h.prefix}/web/i0`); // still serving the last table
    proxy.block(false);
    const last = await marker(h, 2);
    await waitFor(`table revision ≥ ${last}`, () => h.store.current.revision >= last, 15_000, 10);
    expect(tableView(h.store.current)).toEqual(await registryView(h));
    expect(h.seen.reconnects).toBeGreaterThanOrEqual(1);
  });

  it('compaction between snapshot and watch start cancels the watcher: resynced, not silently dead', async () => {
    const h = startWatch(etcd.endpoint);
    await writer.put(`${h.prefix}/web/a`).value(entryValue(7000));
    // Between the snapshot's last read and the watch's creation, write and compact past the snapshot revision.
    const kv = h.client.kv;
    const range = kv.range.bind(kv);
    let armed = true;
    kv.range = async (req, options) => {
      const res = await range(req, options);
      if (armed && req.key?.toString().startsWith(h.routesPrefix)) {
        armed = false;
        await writer.put(`${h.prefix}/web/b`).value(entryValue(7001));
        const del = await writer.delete().key(`${h.prefix}/web/a`).exec();
        await writer.kv.compact({ revision: del.header.revision, physical: true });
      }
      return res;
    };
    h.watch.start();
    await waitFor(
      'resynced after the compaction error',
      () => h.seen.reconnects >= 1 && h.watch.status().connected,
      10_000,
    );
    expect(h.watch.status().lastError).toMatch(/compact|cancel/i);
    await expectConverged(h);
    expect(Object.keys(tableView(h.store.current).entries)).toEqual([`${h.prefix}/web/b`]);
    const seen = timeUntil(h.store, (t) => t.entries.has(`${h.prefix}/web/c`));
    await writer.put(`${h.prefix}/web/c`).value(entryValue(7002));
    await seen;
  });

  it('periodic checks during a write burst neither lose nor revert changes, and repair injected drift', async () => {
    const h = startWatch(etcd.endpoint, { resyncMs: 40 });
    // A slow snapshot read, so watch events newer than the snapshot arrive while it is in flight.
    const kv = h.client.kv;
    const range = kv.range.bind(kv);
    kv.range = async (req, options) => {
      const res = await range(req, options);
      await delay(15);
      return res;
    };
    // Every value written below is larger than the previous one for its key: a smaller one served means a revert.
    const highest = new Map<string, number>();
    let reverts = 0;
    h.store.subscribe((_prev, next) => {
      for (const [key, backend] of next.entries) {
        if (backend.entry.port < (highest.get(key) ?? 0)) reverts++;
        else highest.set(key, backend.entry.port);
      }
    });
    h.watch.start();
    await waitFor('connected', () => h.watch.status().connected, 10_000);
    const checksBefore = h.watch.status().lastSync?.getTime() ?? 0;
    for (let i = 0; i < 600; i += 6) {
      await Promise.all(
        [0, 1, 2, 3, 4, 5].map((j) => {
          const key = `${h.prefix}/s${(i + j) % 3}/i${(i * 7 + j) % 40}`;
          return (i + j) % 5 === 0 ? writer.delete().key(key) : writer.put(key).value(entryValue(1 + i + j));
        }),
      );
    }
    const last = await marker(h, 3);
    await waitFor(`table revision ≥ ${last}`, () => h.store.current.revision >= last, 10_000, 10);
    expect(tableView(h.store.current)).toEqual(await registryView(h));
    expect(h.watch.status().lastSync?.getTime() ?? 0).toBeGreaterThan(checksBefore); // checks did run during the burst
    expect(reverts).toBe(0);
    // Nothing was lost, so the checks that ran during the burst must have corrected nothing: what the
    // watch delivered while a (slow) snapshot read was in flight is not drift.
    expect(h.seen.drift).toEqual([]);
    // A lost event, simulated by removing a served key behind the watch's back: the next check restores it.
    const victim = `${h.prefix}/marker/m`;
    h.store.swap(applyEvents(h.store.current, [{ kind: 'entry-delete', key: victim }], h.store.current.revision, []));
    await waitFor('drift repaired', () => h.store.current.entries.has(victim), 2000, 5);
    expect(h.seen.drift).toEqual([1]);
  });

  it('garbage is skipped and counted once; valid keys are served; a valid key turned garbage disappears', async () => {
    const allow = createMatcher('127.0.0.0/8');
    const h = startWatch(etcd.endpoint, { resyncMs: 250, allowBackend: allow });
    const p = h.prefix;
    await writer.put(`${p}/web/good1`).value(entryValue(8001));
    await writer.put(`${p}/web/good2`).value(entryValue(8002));
    const garbage: [string, string][] = [
      [`${p}/web/notjson`, 'not json{'],
      [`${p}/web/port0`, entryValue(0)],
      [`${p}/web/badhost`, JSON.stringify({ host: 'bad host!', port: 80 })],
      [`${p}/web/outside`, entryValue(80, '10.1.2.3')],
      [`${p}/web/dnsname`, entryValue(80, 'web.internal')],
      [`${p}/web/too/deep`, entryValue(80)],
      [`${h.routesPrefix}/noservice`, JSON.stringify({ pathPrefix: '/x' })],
    ];
    for (const [k, v] of garbage) await writer.put(k).value(v);
    await writer.put(`${h.routesPrefix}/ok`).value(routeValue('web', '/ok'));
    h.watch.start();
    await waitFor('ready', () => h.store.ready, 10_000);
    expect(Object.keys(tableView(h.store.current).entries).sort()).toEqual([`${p}/web/good1`, `${p}/web/good2`]);
    expect(Object.keys(tableView(h.store.current).routes)).toEqual([`${h.routesPrefix}/ok`]);
    expect([...h.seen.invalid].sort()).toEqual(garbage.map(([k]) => k).sort());

    const gone = timeUntil(h.store, (t) => !t.entries.has(`${p}/web/good1`));
    await writer.put(`${p}/web/good1`).value('{"host": "127.0.0.1", "port": 0}');
    await gone;
    await writer.put(`${h.routesPrefix}/ok`).value('{"service": ""}');
    await waitFor('route removed', () => h.store.current.routes.length === 0, 2000, 10);
    expect(h.store.current.services.get('web')?.backends.map((b) => b.instance)).toEqual(['good2']);
    const before = h.seen.invalid.length;
    expect(before).toBe(garbage.length + 2);
    // Several consistency checks later: nothing logged or counted twice, no drift.
    const sync = h.watch.status().lastSync?.getTime() ?? 0;
    await waitFor('three more checks', () => (h.watch.status().lastSync?.getTime() ?? 0) > sync + 600, 5000);
    expect(h.seen.invalid).toHaveLength(before);
    expect(h.seen.drift).toEqual([]);
    // The same garbage value written again is a new version but the same value: still reported
    // once; a new value is reported.
    await writer.put(`${p}/web/port0`).value(entryValue(0));
    await writer.put(`${p}/web/port0`).value(entryValue(70_000));
    await waitFor('new garbage counted', () => h.seen.invalid.length === before + 1, 2000, 10);
    await expectConverged(h, allow);
  });

  it('etcd stopped: the last table is served, status says disconnected; after restart changes flow again', async () => {
    const h = startWatch(etcd.endpoint);
    await writer.put(`${h.prefix}/web/a`).value(entryValue(9001));
    h.watch.start();
    await waitFor('connected', () => h.watch.status().connected, 10_000);
    const served = h.store.current;
    etcdDown = true;
    await etcd.stop();
    await waitFor('disconnected', () => !h.watch.status().connected, 10_000);
    expect(h.seen.connection).toEqual(['connected', 'disconnected']);
    await delay(2000);
    expect(h.store.current.entries).toBe(served.entries);
    expect(h.watch.status()).toMatchObject({ connected: false, ready: true });
    expect(h.watch.status().lastError).toBeDefined();
    await etcd.start();
    etcdDown = false;
    const seen = timeUntil(h.store, (t) => t.entries.has(`${h.prefix}/web/b`), 15_000);
    await writer.put(`${h.prefix}/web/b`).value(entryValue(9002));
    await seen;
    await waitFor('connected again', () => h.watch.status().connected, 10_000);
    expect(h.seen.reconnects).toBeGreaterThanOrEqual(1);
    await expectConverged(h);
  });

  it('etcd wiped: the table converges to the empty, then newly written registry', async () => {
    const h = startWatch(etcd.endpoint);
    for (let i = 0; i < 20; i++) await writer.put(`${h.prefix}/web/i${i}`).value(entryValue(9100 + i));
    await writer.put(`${h.routesPrefix}/web`).value(routeValue('web', '/'));
    h.watch.start();
    await waitFor('connected', () => h.watch.status().connected, 10_000);
    await expectConverged(h);
    const oldRevision = h.store.current.revision;
    etcdDown = true;
    await etcd.stop();
    await etcd.start({ fresh: true });
    etcdDown = false;
    await waitFor(
      'table emptied',
      () => h.store.current.entries.size === 0 && h.store.current.routeKeys.size === 0,
      15_000,
    );
    expect(h.store.current.revision).toBeLessThan(oldRevision);
    await writer.put(`${h.prefix}/api/x`).value(entryValue(9200));
    await writer.put(`${h.routesPrefix}/api`).value(routeValue('api', '/api'));
    await expectConverged(h);
    expect(Object.keys(tableView(h.store.current).entries)).toEqual([`${h.prefix}/api/x`]);
  });

  it('etcd wiped, --restore-grace: lost entries serve until republished, the rest leave when grace ends', async () => {
    const graceMs = 4000;
    const h = startWatch(etcd.endpoint, { restoreGraceMs: graceMs });
    for (let i = 0; i < 6; i++) await writer.put(`${h.prefix}/web/i${i}`).value(entryValue(9300 + i));
    await writer.put(`${h.routesPrefix}/web`).value(routeValue('web', '/'));
    h.watch.start();
    await waitFor('connected', () => h.watch.status().connected, 10_000);
    await expectConverged(h);
    const oldRevision = h.store.current.revision;
    etcdDown = true;
    await etcd.stop();
    await etcd.start({ fresh: true });
    etcdDown = false;
    await waitFor('rebuilt from the wiped registry', () => h.store.current.revision < oldRevision, 15_000);
    const wipedAt = Date.now();
    // Routes are not carried (nobody republishes them); every entry is.
    expect(h.store.current.routeKeys.size).toBe(0);
    expect(h.store.current.services.get('web')?.backends.map((b) => b.instance)).toEqual([
      'i0',
      'i1',
      'i2',
      'i3',
      'i4',
      'i5',
    ]);
    // Half the instances come back, one on another port: the registry's value replaces the carried one.
    await writer.put(`${h.prefix}/web/i0`).value(entryValue(9400));
    await writer.put(`${h.prefix}/web/i1`).value(entryValue(9301));
    await writer.put(`${h.prefix}/web/i2`).value(entryValue(9302));
    await waitFor(
      'republished value applied',
      () => h.store.current.entries.get(`${h.prefix}/web/i0`)?.entry.port === 9400,
      5000,
    );
    expect(h.store.current.entries.size).toBe(6);
    await waitFor('grace over', () => h.store.current.entries.size === 3, graceMs + 5000);
    expect(Date.now() - wipedAt).toBeGreaterThanOrEqual(graceMs - 1000);
    await expectConverged(h);
    expect(h.store.current.services.get('web')?.backends.map((b) => b.instance)).toEqual(['i0', 'i1', 'i2']);
  });
});
