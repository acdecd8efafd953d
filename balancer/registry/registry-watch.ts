// The balancer's etcd edge: keeps the TableStore equal to the registry. One consistent snapshot of
// both prefixes (registry-snapshot.ts), then a watch per prefix from snapshot + 1. etcd3's watcher
// resumes from the server's current revision after a reconnect, not from the last event it delivered,
// and so loses events silently (measured: 1,000 of 5,000 events delivered after a cut 20 ms into a
// replay, with no error). So every disconnect or error cancels the watchers and goes through
// snapshot → diff → re-watch instead; the last table is served meanwhile. A periodic check re-reads
// the snapshot and reports drift. The table's revision promises that every change at or below it is
// in the table; how it advances is in watch-progress.ts.
import { performance } from 'node:perf_hooks';
import type { Etcd3, IWatchResponse, Watcher } from 'etcd3';
import { retryForever, sleep } from '../../common/backoff.js';
import { ErrorCode } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import { InvalidValues } from './invalid-values.js';
import { RestoreGrace } from './restore-grace.js';
import {
  countDrift,
  decodeSnapshot,
  diffSnapshot,
  registryBases,
  type DecoderOptions,
  type KeyKind,
  type RawKv,
} from './registry-decoder.js';
import { readSnapshot, type Snapshot } from './registry-snapshot.js';
import { applyEvents, buildTable, withRevision } from '../table/route-table.js';
import type { TableStore } from '../table/table-store.js';
import type { RegistryEvent, RouteRule, RouteTable } from '../types.js';
import { WatchProgress } from './watch-progress.js';

export interface RegistryWatchEvents {
  onInvalid(key: string, reason: string): void;
  onApplied(revision: number, changes: number, applyMs: number): void;
  /** The table's revision moved without a change to apply (see watch-progress.ts). */
  onRevision?(revision: number): void;
  onReconnect(): void;
  onConnection(state: 'connected' | 'disconnected'): void;
  onDrift(changes: number): void;
}

export interface RegistryWatchOptions {
  readonly client: Etcd3;
  readonly prefix: string;
  readonly routesPrefix: string;
  readonly flagRoutes: readonly RouteRule[];
  readonly defaultService: string | undefined;
  readonly allowBackend?: (host: string) => boolean;
  readonly store: TableStore;
  /** The watch adds its own `component: 'registry-watch'` binding: pass the parent logger. */
  readonly log: Logger;
  /** Period of the consistency check; 0 disables it. */
  readonly resyncMs: number;
  /** After etcd lost its data: how long entries missing from the new registry keep serving (0 = not at all). */
  readonly restoreGraceMs?: number;
  readonly events?: RegistryWatchEvents;
}

export interface RegistryWatchStatus {
  readonly connected: boolean;
  readonly ready: boolean;
  readonly revision: number;
  readonly lastSync: Date | undefined;
  readonly lastError: string | undefined;
}

const KINDS: readonly KeyKind[] = ['entry', 'route'];
const STOP_WAIT_MS = 5000;

interface Change extends RawKv {
  readonly put: boolean;
}
/** One watch response: etcd never splits one revision's events across responses. */
interface Batch {
  readonly kind: KeyKind;
  readonly header: number;
  readonly changes: readonly Change[];
}

const message = (err: unknown): string => (err instanceof Error ? err.message : String(err));

export class RegistryWatch {
  private readonly log: Logger;
  private readonly decoder: DecoderOptions;
  private readonly bases: Readonly<Record<KeyKind, string>>;
  private readonly abort = new AbortController();
  private started = false;
  private stopped = false;
  private synced = false;
  /**
   * Per prefix, the newest revision whose changes are in the table. Per watcher because etcd orders
   * events within one watcher only: a catching-up watcher may deliver older revisions than its sibling.
   */
  private readonly applied: Record<KeyKind, number> = { entry: 0, route: 0 };
  /** The highest revision ever applied: a snapshot below it means etcd was restored or wiped. */
  private highest = 0;
  /** The revision the table reflects; unlike `applied`, it also moves while a prefix is quiet. */
  private readonly progress = new WatchProgress();
  private watchers: Watcher[] = [];
  private readonly canceledByEtcd = new WeakSet<Watcher>();
  /** Bumped whenever watchers are dropped, so late events from old watchers are ignored. */
  private generation = 0;
  private connectedWatchers = 0;
  private pending: Batch[] = [];
  private flushTask: NodeJS.Immediate | undefined;
  /**
   * Keys the watch changed since the last snapshot, with the revision. The watch keeps applying while a
   * check reads (changes are never held back), so a check must not revert keys that moved past its snapshot.
   */
  private readonly newer = new Map<string, number>();
  private worker: Promise<void> | undefined;
  private wantResync = false;
  private wantCheck = false;
  private checkTimer: NodeJS.Timeout | undefined;
  private readonly invalid: InvalidValues;
  private readonly grace: RestoreGrace;
  private connected = false;
  private lastSync: Date | undefined;
  private lastError: string | undefined;

  constructor(private readonly opts: RegistryWatchOptions) {
    this.log = opts.log.child({ component: 'registry-watch' });
    this.decoder = { prefix: opts.prefix, routesPrefix: opts.routesPrefix, allowBackend: opts.allowBackend };
    const { entries, routes } = registryBases(opts);
    this.bases = { entry: entries, route: routes };
    this.invalid = new InvalidValues(this.decoder, this.log, opts.events?.onInvalid.bind(opts.events));
    this.grace = new RestoreGrace(opts.restoreGraceMs ?? 0, (deletes) => this.endGrace(deletes));
  }

  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    this.wantResync = true;
    this.kick();
    this.scheduleCheck();
  }

  /** Cancels the watchers and timers; bounded, so a dead etcd cannot hold shutdown. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.abort.abort();
    clearTimeout(this.checkTimer);
    this.grace.stop();
    if (this.flushTask !== undefined) clearImmediate(this.flushTask);
    this.connected = false;
    const done = Promise.allSettled([...this.dropWatchers(), this.worker]);
    const bound = new AbortController();
    await Promise.race([done, sleep(STOP_WAIT_MS, bound.signal)]);
    bound.abort();
  }

  status(): RegistryWatchStatus {
    const { ready, current } = this.opts.store;
    return {
      connected: this.connected,
      ready,
      revision: current.revision,
      lastSync: this.lastSync,
      lastError: this.lastError,
    };
  }

  // ---- one worker runs snapshots, so a reconnect and a check never interleave -------------------

  private kick(): void {
    if (this.worker !== undefined || this.stopped) return;
    this.worker = (async () => {
      while (!this.stopped && (this.wantResync || this.wantCheck)) {
        const resync = this.wantResync;
        this.wantResync = this.wantCheck = false; // a resync is also a check
        await (resync ? this.resync() : this.check());
      }
    })()
      .catch((err: unknown) => this.log.error({ err }, 'registry watch worker failed'))
      .finally(() => {
        this.worker = undefined;
        if (this.wantResync || this.wantCheck) this.kick();
      });
  }

  private scheduleCheck(): void {
    if (this.stopped || this.opts.resyncMs <= 0) return;
    this.checkTimer = setTimeout(() => {
      this.wantCheck = true;
      this.kick();
      this.scheduleCheck();
    }, this.opts.resyncMs);
    this.checkTimer.unref();
  }

  /** Start and recovery: snapshot (retrying forever, serving the last table), diff, watch from snapshot + 1. */
  private async resync(): Promise<void> {
    const recovering = this.synced;
    this.flushNow(); // events delivered before the loss are real: apply them
    this.dropWatchers();
    const snapshot = await retryForever(() => readSnapshot(this.opts.client, this.bases), {
      initialMs: 100,
      maxMs: 3000,
      signal: this.abort.signal,
      onError: (err, attempt, delayMs) => {
        this.lastError = message(err);
        this.setConnected(false);
        const level = attempt === 1 || attempt % 20 === 0 ? 'warn' : 'debug';
        this.log[level](
          { err, attempt, delayMs, code: ErrorCode.etcdUnavailable },
          'registry snapshot failed; serving the last table',
        );
      },
    });
    if (snapshot === undefined || this.stopped) return;
    // No watcher ran during the read, so everything applied is at or below a healthy snapshot.
    this.applySnapshot(snapshot, snapshot.revision < this.highest);
    this.watch(snapshot.revision + 1);
    if (recovering) this.opts.events?.onReconnect();
  }

  /** Periodic consistency check: the watch stays up and keeps applying while the snapshot is read. */
  private async check(): Promise<void> {
    if (!this.synced) return;
    const before = this.highest;
    try {
      const snapshot = await readSnapshot(this.opts.client, this.bases);
      if (this.stopped) return;
      if (snapshot.revision < before) {
        this.wantResync = true; // etcd went backwards: the watchers see another history, start over
        return;
      }
      this.flushNow(); // what the watch delivered during the read is not drift
      const applied = { ...this.applied };
      const revisions = new Map(snapshot.kvs.map((kv) => [kv.key, kv.revision]));
      const drift = countDrift(this.applySnapshot(snapshot, false), revisions, applied);
      if (drift > 0) {
        this.log.warn(
          { drift, revision: snapshot.revision },
          'consistency check corrected the table: the watch missed changes',
        );
        this.opts.events?.onDrift(drift);
      }
    } catch (err) {
      this.lastError = message(err);
      this.log.warn(
        { err, code: ErrorCode.etcdUnavailable },
        'consistency check failed; will retry at the next period',
      );
    }
  }

  // ---- snapshot -------------------------------------------------------------------------------

  /**
   * Makes the table equal to the snapshot, except keys the watch has already moved past it; `rebuild`
   * (etcd went backwards) starts from an empty table instead. Returns the corrections it applied.
   */
  private applySnapshot(snapshot: Snapshot, rebuild: boolean): RegistryEvent[] {
    const started = performance.now();
    const rev = snapshot.revision;
    if (rebuild) this.newer.clear();
    const isNewer = (key: string): boolean => (this.newer.get(key) ?? 0) > rev;
    const { events, rejected } = decodeSnapshot(
      this.decoder,
      snapshot.kvs.filter((kv) => !isNewer(kv.key)),
    );
    this.invalid.snapshot(rejected, isNewer);
    const current = this.opts.store.current;
    const corrections = this.grace.corrections(diffSnapshot(current, events).filter((e) => !isNewer(e.key)));
    for (const [key, r] of this.newer) if (r <= rev) this.newer.delete(key);
    let next: RouteTable;
    this.progress.snapshot(rev, rebuild);
    if (rebuild) {
      const carried = this.grace.begin(current, events);
      this.log.warn(
        { revision: rev, applied: this.highest, carried: carried.length, graceMs: this.opts.restoreGraceMs ?? 0 },
        'etcd revision went backwards (restored or wiped): rebuilding the table; ' +
          'entries it lacks keep serving until republished or the grace ends',
      );
      this.applied.entry = this.applied.route = this.highest = rev;
      next = buildTable([...carried, ...events], rev, this.opts.flagRoutes, this.opts.defaultService);
    } else {
      for (const kind of KINDS) this.applied[kind] = Math.max(this.applied[kind], rev);
      this.highest = Math.max(this.highest, rev);
      const revision = this.progress.revision();
      next =
        corrections.length > 0
          ? applyEvents(current, corrections, revision, this.opts.flagRoutes)
          : withRevision(current, revision);
    }
    this.opts.store.swap(next);
    if (!this.synced) {
      this.synced = true;
      this.opts.store.markReady();
      this.log.info(
        { revision: rev, entries: next.entries.size, routes: next.routeKeys.size },
        'registry snapshot loaded',
      );
    }
    this.lastSync = new Date();
    if (next !== current) this.opts.events?.onApplied(next.revision, corrections.length, performance.now() - started);
    return corrections;
  }

  // ---- watch ----------------------------------------------------------------------------------

  private watch(fromRevision: number): void {
    const gen = this.generation;
    for (const kind of KINDS) {
      // `.watcher()` rather than `.create()`: our listeners are on before anything is emitted, and
      // create() leaves a stray once('error') listener and never settles while etcd is down.
      const w = this.opts.client.watch().prefix(this.bases[kind]).startRevision(String(fromRevision)).watcher();
      w.on('data', (res: IWatchResponse) => this.onData(gen, kind, res));
      w.on('connected', (res: IWatchResponse) => {
        if (gen !== this.generation) return;
        this.progress.created(kind, Number(res.header.revision), fromRevision);
        if (++this.connectedWatchers === KINDS.length) this.setConnected(true);
      });
      w.on('disconnected', (err) => this.onLost(gen, err));
      w.on('error', (err) => {
        this.canceledByEtcd.add(w); // etcd3 already detached it (e.g. compaction)
        this.onLost(gen, err);
      });
      this.watchers.push(w);
    }
  }

  private onData(gen: number, kind: KeyKind, res: IWatchResponse): void {
    // Empty responses (progress notifications) are kept too: their header moves the table's revision.
    if (gen !== this.generation) return;
    const changes = res.events.map((ev) => ({
      revision: Number(ev.kv.mod_revision),
      put: ev.type === 'Put',
      key: ev.kv.key.toString(),
      value: ev.kv.value,
    }));
    this.pending.push({ kind, header: Number(res.header.revision), changes });
    this.scheduleFlush();
  }

  /** setImmediate, not a timer: responses already read off the socket are applied together, none waits. */
  private scheduleFlush(): void {
    this.flushTask ??= setImmediate(() => {
      this.flushTask = undefined;
      this.flushNow();
    });
  }

  /** Any disconnect or error: never let etcd3 resume on its own (it would skip events); re-list instead. */
  private onLost(gen: number, err: unknown): void {
    if (gen !== this.generation || this.stopped) return;
    this.lastError = message(err);
    this.log.warn({ err }, 'registry watch interrupted; re-reading the snapshot');
    this.setConnected(false);
    this.flushNow();
    this.dropWatchers(); // synchronously, before etcd3's own reconnect timer fires
    this.wantResync = true;
    this.kick();
  }

  private dropWatchers(): Promise<void>[] {
    this.generation++;
    this.connectedWatchers = 0;
    this.progress.dropped();
    const cancels = this.watchers
      .filter((w) => !this.canceledByEtcd.has(w))
      .map((w) => w.cancel().catch((err: unknown) => this.log.debug({ err }, 'watcher cancel failed')));
    this.watchers = [];
    return cancels;
  }

  private flushNow(): void {
    if (this.flushTask !== undefined) clearImmediate(this.flushTask);
    this.flushTask = undefined;
    const started = performance.now();
    const batches = this.pending;
    this.pending = [];
    const events: RegistryEvent[] = [];
    for (const { kind, header, changes } of batches) {
      this.progress.response(kind, header, changes.at(-1)?.revision);
      const floor = this.applied[kind];
      for (const change of changes) {
        if (change.revision <= floor) continue; // already in the table, from a snapshot
        this.applied[kind] = Math.max(this.applied[kind], change.revision);
        this.highest = Math.max(this.highest, change.revision);
        if (this.opts.resyncMs > 0) this.newer.set(change.key, change.revision); // only checks need it; pruned by each
        this.grace.settle(change.key);
        const event = this.invalid.decodeChange(change.key, change.put, change.value);
        if (event !== undefined) events.push(event);
      }
    }
    const current = this.opts.store.current;
    const revision = this.progress.revision();
    if (events.length > 0) {
      this.opts.store.swap(applyEvents(current, events, revision, this.opts.flagRoutes));
      this.opts.events?.onApplied(revision, events.length, performance.now() - started);
    } else if (this.synced && revision > current.revision) {
      this.opts.store.swap(withRevision(current, revision));
      this.opts.events?.onRevision?.(revision);
    }
    // Headers heard in this flush vouch for the sibling watcher from the next flush on.
    if (this.progress.settle()) this.scheduleFlush();
  }

  /** The restore grace ended: entries nobody republished leave the table. */
  private endGrace(deletes: RegistryEvent[]): void {
    if (this.stopped) return;
    const started = performance.now();
    const current = this.opts.store.current;
    this.opts.store.swap(applyEvents(current, deletes, current.revision, this.opts.flagRoutes));
    this.log.info({ removed: deletes.length }, 'restore grace ended: entries not republished removed');
    this.opts.events?.onApplied(current.revision, deletes.length, performance.now() - started);
  }

  private setConnected(on: boolean): void {
    if (this.connected === on || this.stopped) return;
    this.connected = on;
    this.log.info({ connected: on }, on ? 'registry watch connected' : 'registry watch disconnected');
    this.opts.events?.onConnection(on ? 'connected' : 'disconnected');
  }
}
