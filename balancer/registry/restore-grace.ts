// After etcd lost its data (a snapshot below the highest revision ever applied), the new registry is
// empty or partial until every sidekick notices that its lease is gone and republishes: up to one
// keepalive period later. Serving the wiped registry as it is would answer 503 "no live backend" for
// services whose backends are alive. So the entries the new registry lacks are carried over for a
// bounded grace: a republished entry has the same key (instance ids are stable) and simply replaces its
// carried copy; whatever is still carried when the grace ends is removed. A carried backend that is in
// fact dead costs nothing a client sees: the connect fails, it is ejected and the request retried.
// Routes are not carried: nobody republishes them, so keeping them would only delay the truth.
import type { RegistryEvent, RouteTable } from '../types.js';

/** Puts for the entries of `old` that `fresh` (a full snapshot's events) does not list. */
export function carriedEntries(old: RouteTable, fresh: readonly RegistryEvent[]): RegistryEvent[] {
  const listed = new Set<string>();
  for (const event of fresh) if (event.kind === 'entry-put') listed.add(event.key);
  const carried: RegistryEvent[] = [];
  for (const [key, backend] of old.entries) if (!listed.has(key)) carried.push({ kind: 'entry-put', key, backend });
  return carried;
}

/**
 * Corrections from a consistency check, minus the deletes of keys still carried: the check reads the
 * same registry the carry-over was made from, and the grace timer, not the check, ends the carry-over.
 */
export function withoutCarriedDeletes(
  corrections: readonly RegistryEvent[],
  carried: ReadonlySet<string>,
): RegistryEvent[] {
  if (carried.size === 0) return [...corrections];
  return corrections.filter((e) => !(e.kind === 'entry-delete' && carried.has(e.key)));
}

/** The deletes that end a carry-over. */
export function expireCarried(carried: ReadonlySet<string>): RegistryEvent[] {
  return [...carried].sort().map((key) => ({ kind: 'entry-delete', key }));
}

/** The carry-over state of one registry watch: which keys are carried, and the timer that ends them. */
export class RestoreGrace {
  private carried = new Set<string>();
  private timer: NodeJS.Timeout | undefined;

  /** `onExpire` gets the deletes for the entries nobody republished within `graceMs`. */
  constructor(
    private readonly graceMs: number,
    private readonly onExpire: (deletes: RegistryEvent[]) => void,
  ) {}

  get size(): number {
    return this.carried.size;
  }

  /** etcd went backwards: the puts to add to the table rebuilt from `fresh`; starts the grace. */
  begin(old: RouteTable, fresh: readonly RegistryEvent[]): RegistryEvent[] {
    this.stop();
    if (this.graceMs <= 0) return [];
    const carried = carriedEntries(old, fresh);
    this.carried = new Set(carried.map((e) => e.key));
    if (carried.length > 0) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        const deletes = expireCarried(this.carried);
        this.carried.clear();
        if (deletes.length > 0) this.onExpire(deletes);
      }, this.graceMs);
      this.timer.unref();
    }
    return carried;
  }

  /** The registry spoke for `key` again (a put or delete from the watch or a snapshot): no longer carried. */
  settle(key: string): void {
    if (this.carried.delete(key) && this.carried.size === 0) this.stop();
  }

  /** Snapshot corrections: puts settle their keys; deletes of still-carried keys wait for the timer. */
  corrections(events: readonly RegistryEvent[]): RegistryEvent[] {
    if (this.carried.size === 0) return [...events];
    for (const e of events) if (e.kind === 'entry-put') this.settle(e.key);
    return withoutCarriedDeletes(events, this.carried);
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.carried.clear();
  }
}
