// Which backends failed their active health check. Written by the prober (one process, or the
// primary of --workers N, whose verdicts reach the workers over IPC). Each verdict is also written
// into the `health` flag of the live table's backend object, which the picker reads per request:
// the hot path pays a field read, the id lookups happen here, at a probe flip or a table swap.
import type { Backend, BackendHealth } from '../../types.js';

export class HealthState {
  private readonly unhealthy = new Set<string>();
  /** The live table's backends per service, and their flags by id. */
  private readonly services = new Map<string, readonly Backend[]>();
  private readonly flags = new Map<string, BackendHealth>();
  private changes = 0;

  /** Grows by one at every change of the set: a cheap "did anything flip" for callers. */
  get version(): number {
    return this.changes;
  }

  /** For the admin listener and metrics (per scrape, not per request). */
  isUnhealthy(id: string): boolean {
    return this.unhealthy.has(id);
  }

  /** A table with a new view of `service` went live (`[]`: the service left): its flags follow the set. */
  track(service: string, backends: readonly Backend[]): void {
    for (const b of this.services.get(service) ?? []) this.flags.delete(b.id);
    for (const b of backends) {
      b.health.unhealthy = this.unhealthy.has(b.id);
      this.flags.set(b.id, b.health);
    }
    if (backends.length === 0) this.services.delete(service);
    else this.services.set(service, backends);
  }

  /** Returns whether the verdict changed. */
  set(id: string, healthy: boolean): boolean {
    if (healthy === !this.unhealthy.has(id)) return false;
    if (healthy) this.unhealthy.delete(id);
    else this.unhealthy.add(id);
    const flag = this.flags.get(id);
    if (flag !== undefined) flag.unhealthy = !healthy;
    this.changes++;
    return true;
  }

  /** The whole set, as a worker gets it from the primary: O(old + new), whatever flipped. */
  replace(ids: Iterable<string>): void {
    const next = new Set(ids);
    // Deleting the entry being visited is safe in a Set's iteration.
    for (const id of this.unhealthy) if (!next.has(id)) this.set(id, true);
    for (const id of next) this.set(id, false);
  }

  /** The unhealthy ids, in no particular order (the workers' copy is a set; sort for display). */
  ids(): string[] {
    return [...this.unhealthy];
  }
}
