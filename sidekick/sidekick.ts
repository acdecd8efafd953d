// Wires the pure core (entries, diff) to its edges (Docker, etcd). Listen, then list: the event
// stream is opened first and every (re)connect triggers a full reconcile, so nothing between the
// list and the subscription is missed. Events are hints; every decision comes from a fresh inspect.
import { EtcdAuthenticationFailedError, type Etcd3 } from 'etcd3';
import { Backoff } from '../common/backoff.js';
import { CodedError, ErrorCode } from '../common/errors.js';
import { mapLimit } from '../common/limit.js';
import type { Logger } from '../common/logger.js';
import type { SidekickConfig } from './config.js';
import type { Container } from './container.js';
import { diffEntries, isEmptyDiff, type PublishedValue } from './diff.js';
import type { DockerEvent, DockerSource } from './docker-source.js';
import { desiredEntries, entryOptions, type EntryOptions } from './entries.js';
import { KillTracker } from './kill-tracker.js';
import { LeaseSession } from './lease-session.js';
import type { SidekickMetrics } from './metrics.js';
import { Publisher } from './publisher.js';
import { WorkQueue } from './work-queue.js';

export interface SidekickDeps {
  readonly config: SidekickConfig;
  readonly docker: DockerSource;
  readonly etcd: Etcd3;
  readonly log: Logger;
  readonly metrics: SidekickMetrics;
}

export interface SidekickStatus {
  readonly dockerConnected: boolean;
  readonly etcdOk: boolean;
  readonly lastFullReconcile: string | undefined;
  readonly entries: number;
  readonly lease: string | undefined;
}

const INSPECT_CONCURRENCY = 8;

export class Sidekick {
  private readonly log: Logger;
  private readonly session: LeaseSession;
  private readonly publisher: Publisher;
  private readonly queue: WorkQueue;
  private readonly kills = new KillTracker();
  /**
   * Reconcile keys whose latest event was a kill ending the run we last inspected: their next
   * reconcile withdraws without inspecting (the first-kill rule needs nothing more; an inspect can
   * wait on Docker's container lock while it stops the container). Any other event clears it.
   */
  private readonly withdrawOnKill = new Set<string>();
  private readonly entryOptions: EntryOptions;
  /** What this sidekick last wrote, per reconcile key (container id, or the followed container). */
  private readonly published = new Map<string, ReadonlyMap<string, string>>();
  private readonly warned = new Set<string>();
  private readonly retry = new Backoff({ initialMs: 250, maxMs: 5000 });
  private retryTimer: NodeJS.Timeout | undefined;
  private resyncTimer: NodeJS.Timeout | undefined;
  private dockerConnected = false;
  private etcdOk = false;
  private lastFull: Date | undefined;
  private seenTarget = false;
  private stopped = false;
  private removedResolve!: () => void;
  /** Per-container mode: resolves when the followed container has been removed. */
  readonly removed = new Promise<void>((r) => (this.removedResolve = r));

  constructor(private readonly deps: SidekickDeps) {
    const { config } = deps;
    this.log = deps.log.child({ component: 'sidekick' });
    this.entryOptions = entryOptions(config);
    this.session = new LeaseSession(deps.etcd, config.ttl / 1000, deps.log.child({ component: 'lease' }), (err) => {
      deps.metrics.leaseLosses.inc();
      this.log.warn({ err: err.message }, 'lease lost; granting a new one and republishing everything');
      this.queue.markAll();
    });
    // Ours: entries of this node (earlier runs included); in per-container mode only our container's.
    const target = config.container;
    this.publisher = new Publisher(
      deps.etcd,
      config.prefix,
      (e) =>
        e.node === config.node &&
        (target === '' ||
          e.container?.name === target ||
          e.container?.id === target ||
          (target.length >= 12 && e.container?.id.startsWith(target) === true)),
    );
    this.queue = new WorkQueue({
      reconcileOne: (id) => this.reconcileOne(id),
      reconcileAll: () => this.reconcileAll(),
      concurrency: 4,
    });
  }

  start(): void {
    const { metrics, config } = this.deps;
    this.deps.docker.start({
      onConnected: () => {
        this.dockerConnected = true;
        metrics.dockerConnected.set(1);
        this.log.info('Docker event stream connected; full reconcile');
        this.queue.markAll();
      },
      onDisconnected: (err) => {
        this.dockerConnected = false;
        metrics.dockerConnected.set(0);
        metrics.dockerErrors.inc();
        this.log.warn({ err: (err as Error).message }, 'Docker event stream lost; reconnecting');
      },
      onEvent: (e) => this.onEvent(e),
    });
    this.resyncTimer = setInterval(() => this.queue.markAll(), config.resync);
  }

  private onEvent(e: DockerEvent): void {
    this.deps.metrics.dockerEvents.inc({ action: e.action });
    this.log.debug({ container: e.id.slice(0, 12), action: e.action, attributes: e.attributes }, 'docker event');
    const key = this.deps.config.container !== '' ? this.deps.config.container : e.id;
    if (e.action === 'kill' && this.kills.killed(e.id, e.attributes.signal, e.time)) this.withdrawOnKill.add(key);
    else this.withdrawOnKill.delete(key);
    this.queue.mark(key);
  }

  status(): SidekickStatus {
    let entries = 0;
    for (const m of this.published.values()) entries += m.size;
    return {
      dockerConnected: this.dockerConnected,
      etcdOk: this.etcdOk,
      lastFullReconcile: this.lastFull?.toISOString(),
      entries,
      lease: this.session.leaseId,
    };
  }

  /** Resolves when no reconcile is queued or running (tests and --dry-run use it). */
  idle(): Promise<void> {
    return this.queue.idle();
  }

  private desiredFor(c: Container | undefined): ReadonlyMap<string, string> {
    if (!c || this.kills.suppresses(c)) return new Map<string, string>();
    const { entries, warnings } = desiredEntries(c, this.entryOptions);
    for (const w of warnings) {
      // One warning per container and message, not one per reconcile.
      const key = `${c.id}:${w}`;
      if (this.warned.has(key)) continue;
      this.warned.add(key);
      this.log.warn({ container: c.name }, w);
    }
    return entries;
  }

  private async reconcileOne(key: string): Promise<void> {
    const { metrics } = this.deps;
    try {
      const onKill = this.withdrawOnKill.delete(key);
      const c = onKill ? undefined : await this.deps.docker.inspect(key);
      if (c) this.kills.observed(c);
      if (c && this.deps.config.container !== '') this.seenTarget = true;
      const desired = onKill ? new Map<string, string>() : this.desiredFor(c);
      const before = this.published.get(key) ?? new Map<string, string>();
      const known = new Map<string, PublishedValue>([...before].map(([k, value]) => [k, { value }]));
      const diff = diffEntries(desired, known);
      if (!isEmptyDiff(diff)) {
        await this.publisher.apply(diff, await this.session.id());
        this.etcdOk = true;
        metrics.etcdConnected.set(1);
        this.log.info(
          {
            container: c?.name ?? key.slice(0, 12),
            put: diff.puts.map(([k]) => k),
            deleted: diff.deletes,
            ...(onKill ? { on: 'kill' } : {}),
          },
          'registry updated',
        );
      }
      this.setPublished(key, desired);
      if (!c && !onKill) this.forgetContainer(key);
      metrics.reconciles.inc({ kind: 'container', result: 'ok' });
    } catch (err) {
      this.failed('container', err);
    }
  }

  private async reconcileAll(): Promise<void> {
    const { metrics, config } = this.deps;
    // Every container is inspected afresh below: pending kill withdrawals are covered by it.
    this.withdrawOnKill.clear();
    try {
      const ids = config.container !== '' ? [config.container] : await this.deps.docker.list();
      const containers = await mapLimit(ids, INSPECT_CONCURRENCY, (id) => this.deps.docker.inspect(id));
      const desiredByKey = new Map<string, ReadonlyMap<string, string>>();
      const desired = new Map<string, string>();
      containers.forEach((c, i) => {
        const key = config.container !== '' ? config.container : (ids[i] as string);
        if (c) this.kills.observed(c);
        const entries = this.desiredFor(c);
        desiredByKey.set(key, entries);
        for (const [k, v] of entries) desired.set(k, v);
      });
      if (config.container === '') this.kills.retainRuns(new Set(containers.flatMap((c) => (c ? [c.id] : []))));
      const leaseId = await this.session.id();
      const actual = await this.publisher.readOwned();
      const diff = diffEntries(desired, actual, leaseId);
      if (!isEmptyDiff(diff)) {
        await this.publisher.apply(diff, leaseId);
        this.log.info(
          { put: diff.puts.length, deleted: diff.deletes.length, entries: desired.size },
          'full reconcile corrected the registry',
        );
      }
      this.etcdOk = true;
      metrics.etcdConnected.set(1);
      this.published.clear();
      for (const [key, entries] of desiredByKey) this.setPublished(key, entries);
      if (config.container !== '') {
        if (containers[0]) this.seenTarget = true;
        else this.forgetContainer(config.container);
      }
      this.lastFull = new Date();
      metrics.lastReconcile.set(this.lastFull.getTime() / 1000);
      metrics.reconciles.inc({ kind: 'full', result: 'ok' });
      this.retry.reset();
    } catch (err) {
      this.failed('full', err);
    }
  }

  private setPublished(key: string, entries: ReadonlyMap<string, string>): void {
    if (entries.size === 0) this.published.delete(key);
    else this.published.set(key, entries);
    let total = 0;
    for (const m of this.published.values()) total += m.size;
    this.deps.metrics.entriesPublished.set(total);
  }

  private forgetContainer(key: string): void {
    this.kills.forget(key);
    this.withdrawOnKill.delete(key);
    for (const w of [...this.warned]) if (w.startsWith(`${key}:`)) this.warned.delete(w);
    if (this.deps.config.container !== '' && this.seenTarget) this.removedResolve();
  }

  /** Any failure: count it, and retry with a full reconcile after a capped backoff. */
  private failed(kind: 'container' | 'full', err: unknown): void {
    const { metrics } = this.deps;
    metrics.reconciles.inc({ kind, result: 'error' });
    if (err instanceof CodedError && err.code === ErrorCode.dockerUnavailable) metrics.dockerErrors.inc();
    else {
      metrics.etcdErrors.inc();
      this.etcdOk = false;
      metrics.etcdConnected.set(0);
    }
    if (this.stopped || this.retryTimer) return;
    const delay = this.retry.next();
    if (err instanceof EtcdAuthenticationFailedError) {
      // Otherwise indistinguishable from an outage in the logs; the operator has to fix the config.
      this.log.warn(
        { code: ErrorCode.etcdAuth, err: err.message, kind, retryInMs: delay },
        'etcd rejected the credentials (--etcd-user/--etcd-password); will retry',
      );
    } else {
      this.log.warn({ err: (err as Error).message, kind, retryInMs: delay }, 'reconcile failed; will retry');
    }
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.queue.markAll();
    }, delay);
  }

  /** Ordered shutdown: stop the stream, finish running work, revoke the lease (entries vanish at once). */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.resyncTimer);
    clearTimeout(this.retryTimer);
    this.deps.docker.stop();
    await this.queue.stop();
    const revoked = await this.session.close(this.deps.config.etcdTimeout);
    this.log.info(
      { revoked },
      revoked ? 'lease revoked; entries withdrawn' : 'stopped without revoking; entries expire after the TTL',
    );
  }
}
