// Brings etcd in line with what this sidekick wants, key by key (claims.ts decides, publisher.ts
// writes conditionally). All write phases run one at a time under one lock, and each computes its
// desired state only once it holds the lock, so a kill recorded meanwhile is always seen. The lock
// never waits for Docker: callers inspect first, then write; a kill withdrawal only writes.
// Ownership: entries of our node that another live lease holds are left alone (lease-judge.ts); a
// full read of the registry happens once per process, later checks read only our own keys.
import { ErrorCode } from '../common/errors.js';
import { mapLimit } from '../common/limit.js';
import type { Logger } from '../common/logger.js';
import { decide, type Observed } from './claims.js';
import { Holdings } from './holdings.js';
import { LeaseJudge, type Verdict } from './lease-judge.js';
import type { SidekickMetrics } from './metrics.js';
import type { Publisher } from './publisher.js';

export interface Changes {
  readonly puts: string[];
  readonly deletes: string[];
  /** Keys of our node left to another live sidekick (same --node). */
  readonly yielded: string[];
  /** Keys on a lease not judged yet: decided by a later reconcile. */
  readonly waiting: string[];
}

export interface WriterDeps {
  readonly publisher: Publisher;
  /** Our live lease id (grants one if needed). */
  readonly lease: () => Promise<string>;
  readonly log: Logger;
  readonly node: string;
  readonly metrics: SidekickMetrics;
  /** Something changed that a full reconcile should act on (a lease was judged, or went away). */
  readonly reconcileAll: () => void;
}

const WRITE_CONCURRENCY = 16;
/** A key that changes under us this often in a row is left to the next reconcile (it retries). */
const MAX_ATTEMPTS = 4;

export function hasChanges(c: Changes): boolean {
  return c.puts.length + c.deletes.length + c.yielded.length + c.waiting.length > 0;
}

export class RegistryWriter {
  private readonly holdings = new Holdings();
  /** Wanted keys another live sidekick holds, with its lease: not claimed while that lease lives. */
  private readonly yielded = new Map<string, string>();
  /** Keys of ours on a lease being judged: re-read by the next full reconcile. */
  private readonly waiting = new Set<string>();
  /** Our own earlier leases (lost and replaced): whatever still hangs on them is ours. */
  private readonly former = new Set<string>();
  private readonly duplicateLogged = new Set<string>();
  private readonly judge: LeaseJudge;
  private lastLease: string | undefined;
  private scanned = false;
  private tail: Promise<unknown> = Promise.resolve();

  constructor(private readonly deps: WriterDeps) {
    this.judge = new LeaseJudge({
      read: (lease) => deps.publisher.leaseTtl(lease),
      settled: () => deps.reconcileAll(),
    });
  }

  get size(): number {
    return this.holdings.size;
  }

  /** Resolves when no write phase is queued or running. */
  async idle(): Promise<void> {
    await this.tail;
  }

  stop(): void {
    this.judge.stop();
  }

  /** One container's keys: what `desired()` wants (computed under the lock) and what we hold for it. */
  applyContainer(owner: string, desired: () => ReadonlyMap<string, string>): Promise<Changes> {
    return this.serial(async () => {
      const lease = await this.currentLease();
      const want = desired();
      const changes: Changes = { puts: [], deletes: [], yielded: [], waiting: [] };
      const keys = [...new Set([...want.keys(), ...this.holdings.keysOf(owner)])];
      await mapLimit(keys, WRITE_CONCURRENCY, (key) =>
        this.settle(key, want.get(key), this.guess(key, lease), owner, lease, changes),
      );
      this.gauges();
      return changes;
    });
  }

  /**
   * Everything: the first time a read of the whole registry (entries an earlier run left), after
   * that only our own keys, one by one. `desired()` maps each owner to its keys and values.
   */
  applyAll(desired: () => ReadonlyMap<string, ReadonlyMap<string, string>>): Promise<Changes> {
    return this.serial(async () => {
      const lease = await this.currentLease();
      const want = new Map<string, { value: string; owner: string }>();
      for (const [owner, entries] of desired()) for (const [k, value] of entries) want.set(k, { value, owner });
      const own = [...new Set([...this.holdings.keys(), ...this.waiting])];
      const seen = new Map<string, Observed | undefined>(this.scanned ? await this.deps.publisher.read(own) : []);
      if (!this.scanned) {
        for (const [k, v] of await this.deps.publisher.scanOwned()) seen.set(k, v);
        for (const k of own) if (!seen.has(k)) seen.set(k, undefined);
      }
      this.waiting.clear();
      for (const k of this.yielded.keys()) if (!want.has(k)) this.yielded.delete(k);
      const changes: Changes = { puts: [], deletes: [], yielded: [], waiting: [] };
      const keys = [...new Set([...want.keys(), ...seen.keys()])];
      await mapLimit(keys, WRITE_CONCURRENCY, (key) => {
        const owner = want.get(key)?.owner ?? this.holdings.get(key)?.owner ?? '';
        const observed = seen.has(key) ? seen.get(key) : this.guess(key, lease);
        return this.settle(key, want.get(key)?.value, observed, owner, lease, changes);
      });
      this.scanned = true;
      const leases = new Set([...this.yielded.values()]);
      for (const v of seen.values()) if (v) leases.add(v.lease);
      this.judge.retain(leases);
      for (const l of this.duplicateLogged) if (!leases.has(l)) this.duplicateLogged.delete(l);
      this.gauges();
      return changes;
    });
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.tail.then(fn, fn);
    this.tail = run.catch(() => undefined);
    return run;
  }

  private async currentLease(): Promise<string> {
    const id = await this.deps.lease();
    if (this.lastLease !== undefined && this.lastLease !== id) this.former.add(this.lastLease);
    this.lastLease = id;
    return id;
  }

  /** What we believe is there: our own write, unless something says otherwise. */
  private guess(key: string, lease: string): Observed | undefined {
    const held = this.holdings.get(key);
    return held ? { value: held.value, lease, mod: held.mod } : undefined;
  }

  private verdict(lease: string): Promise<Verdict> {
    return this.former.has(lease) ? Promise.resolve('dead') : this.judge.judge(lease);
  }

  private async settle(
    key: string,
    want: string | undefined,
    initial: Observed | undefined,
    owner: string,
    lease: string,
    changes: Changes,
  ): Promise<void> {
    let seen = initial;
    const heldBy = this.yielded.get(key);
    if (want !== undefined && heldBy !== undefined) {
      if ((await this.verdict(heldBy)) === 'live') return; // theirs while that lease lives
      this.yielded.delete(key);
      seen = undefined; // unknown now: the conditional put finds out
    }
    const { publisher } = this.deps;
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const foreign = seen !== undefined && seen.lease !== '0' && seen.lease !== lease;
      const verdict = foreign && seen ? await this.verdict(seen.lease) : undefined;
      const mine = seen !== undefined && publisher.isMine(seen.value);
      const action = decide({ want, seen, ours: lease, verdict, mine });
      if (action === 'put' && want !== undefined) {
        const r = await publisher.putIf(key, want, lease, seen?.mod ?? '0');
        if (r.ok) {
          this.holdings.set(key, owner, want, r.mod);
          changes.puts.push(key);
          return;
        }
        seen = r.seen;
        continue;
      }
      if (action === 'delete' && seen !== undefined) {
        const r = await publisher.deleteIf(key, seen.mod);
        if (r.ok) {
          this.holdings.delete(key);
          changes.deletes.push(key);
          return;
        }
        seen = r.seen;
        continue;
      }
      if (action === 'none' && want !== undefined && seen !== undefined) this.holdings.set(key, owner, want, seen.mod);
      else this.holdings.delete(key);
      if (action === 'yield' && seen !== undefined) this.yieldTo(key, seen.lease, want !== undefined, changes);
      if (action === 'wait') {
        this.waiting.add(key);
        changes.waiting.push(key);
      }
      return;
    }
    throw new Error(`registry key ${key} kept changing while being written; will retry`);
  }

  private yieldTo(key: string, lease: string, wanted: boolean, changes: Changes): void {
    if (wanted) this.yielded.set(key, lease);
    changes.yielded.push(key);
    if (this.duplicateLogged.has(lease)) return;
    this.duplicateLogged.add(lease);
    this.deps.log.warn(
      { code: ErrorCode.duplicateNode, node: this.deps.node, otherLease: lease, key },
      'another live sidekick publishes entries of this node (same --node); leaving its entries to it',
    );
  }

  private gauges(): void {
    this.deps.metrics.entriesPublished.set(this.holdings.size);
    this.deps.metrics.yieldedEntries.set(this.yielded.size);
  }
}
