// Wires the pure core (entries, claims) to its edges (Docker, etcd). Listen, then list: the event
// stream is opened first and every (re)connect triggers a full reconcile, so nothing between the
// list and the subscription is missed. Events are hints; every decision comes from a fresh inspect,
// except a terminating kill: its withdrawal needs nothing from Docker and does not wait for it.
import { EtcdAuthenticationFailedError, type Etcd3 } from 'etcd3';
import { Backoff } from '../common/backoff.js';
import { CodedError, ErrorCode } from '../common/errors.js';
import { mapLimit } from '../common/limit.js';
import type { Logger } from '../common/logger.js';
import type { SidekickConfig } from './config.js';
import type { Container } from './container.js';
import type { DockerEvent, DockerSource } from './docker-source.js';
import { desiredEntries, entryOptions, type EntryOptions } from './entries.js';
import { KillTracker } from './kill-tracker.js';
import { LeaseSession } from './lease-session.js';
import type { SidekickMetrics } from './metrics.js';
import { Publisher } from './publisher.js';
import { hasChanges, RegistryWriter, type Changes } from './registry-writer.js';
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
  private readonly writer: RegistryWriter;
  private readonly queue: WorkQueue;
  private readonly kills = new KillTracker();
  private readonly entryOptions: EntryOptions;
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
    const publisher = new Publisher(
      deps.etcd,
      config.prefix,
      (e) =>
        e.node === config.node &&
        (target === '' ||
          e.container?.name === target ||
          e.container?.id === target ||
          (target.length >= 12 && e.container?.id.startsWith(target) === true)),
    );
    this.writer = new RegistryWriter({
      publisher,
      lease: () => this.session.id(),
      log: this.log,
      node: config.node,
      metrics: deps.metrics,
      reconcileAll: () => this.queue.markAll(),
    });
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
    // A kill ending the run the last inspect saw: withdraw now, without a reconcile (its inspect
    // would wait on Docker's container lock while the container stops). die/stop/destroy follow.
    if (e.action === 'kill' && this.kills.killed(e.id, e.attributes.signal, e.time)) void this.withdraw(key);
    else this.queue.mark(key);
  }

  private async withdraw(key: string): Promise<void> {
    try {
      const changes = await this.writer.applyContainer(key, () => new Map());
      this.etcdSucceeded();
      if (hasChanges(changes)) this.logChanges(key.slice(0, 12), changes, 'kill');
    } catch (err) {
      this.failed('container', err);
    }
  }

  status(): SidekickStatus {
    const entries = this.writer.size;
    return {
      dockerConnected: this.dockerConnected,
      etcdOk: this.etcdOk,
      lastFullReconcile: this.lastFull?.toISOString(),
      entries,
      lease: this.session.leaseId,
    };
  }

  /** Resolves when no reconcile is queued or running. */
  async idle(): Promise<void> {
    await this.queue.idle();
    await this.writer.idle();
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
    try {
      const c = await this.deps.docker.inspect(key);
      if (c) this.kills.observed(c);
      if (c && this.deps.config.container !== '') this.seenTarget = true;
      const changes = await this.writer.applyContainer(key, () => this.desiredFor(c));
      this.etcdSucceeded();
      if (hasChanges(changes)) this.logChanges(c?.name ?? key.slice(0, 12), changes);
      if (!c) this.forgetContainer(key);
      this.deps.metrics.reconciles.inc({ kind: 'container', result: 'ok' });
    } catch (err) {
      this.failed('container', err);
    }
  }

  private async reconcileAll(): Promise<void> {
    const { metrics, config } = this.deps;
    try {
      const ids = config.container !== '' ? [config.container] : await this.deps.docker.list();
      const containers = await mapLimit(ids, INSPECT_CONCURRENCY, (id) => this.deps.docker.inspect(id));
      for (const c of containers) if (c) this.kills.observed(c);
      if (config.container === '') this.kills.retainRuns(new Set(containers.flatMap((c) => (c ? [c.id] : []))));
      // Computed under the write lock: a kill that arrives while Docker answers is seen.
      const changes = await this.writer.applyAll(
        () => new Map(containers.map((c, i) => [config.container || (ids[i] as string), this.desiredFor(c)])),
      );
      if (changes.puts.length + changes.deletes.length > 0) {
        this.log.info(
          { put: changes.puts.length, deleted: changes.deletes.length, entries: this.writer.size },
          'full reconcile corrected the registry',
        );
      }
      this.etcdSucceeded();
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

  private logChanges(container: string, changes: Changes, on?: 'kill'): void {
    this.log.info(
      {
        container,
        put: changes.puts,
        deleted: changes.deletes,
        ...(changes.yielded.length > 0 ? { yielded: changes.yielded } : {}),
        ...(changes.waiting.length > 0 ? { waiting: changes.waiting } : {}),
        ...(on ? { on } : {}),
      },
      'registry updated',
    );
  }

  private etcdSucceeded(): void {
    this.etcdOk = true;
    this.deps.metrics.etcdConnected.set(1);
  }

  private forgetContainer(key: string): void {
    this.kills.forget(key);
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
      const code = err instanceof CodedError ? err.code : undefined;
      this.log.warn({ code, err: (err as Error).message, kind, retryInMs: delay }, 'reconcile failed; will retry');
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
    await this.writer.idle();
    this.writer.stop();
    const revoked = await this.session.close(this.deps.config.etcdTimeout);
    this.log.info(
      { revoked },
      revoked ? 'lease revoked; entries withdrawn' : 'stopped without revoking; entries expire after the TTL',
    );
  }
}
