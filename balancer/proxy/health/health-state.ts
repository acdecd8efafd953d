// Which backends failed their active health check. Written by the prober (one process, or the
// primary of --workers N, whose reports reach the workers over IPC), read by the picker per request.

export class HealthState {
  private unhealthy: ReadonlySet<string> = new Set();

  constructor() {
    // Bound once: the picker calls this for every candidate of every request.
    this.isUnhealthy = this.isUnhealthy.bind(this);
  }

  isUnhealthy(id: string): boolean {
    return this.unhealthy.has(id);
  }

  /** The whole set, replaced in one assignment (a worker gets it whole from the primary). */
  replace(ids: Iterable<string>): void {
    this.unhealthy = new Set(ids);
  }

  set(id: string, healthy: boolean): void {
    if (healthy === !this.unhealthy.has(id)) return;
    const next = new Set(this.unhealthy);
    if (healthy) next.delete(id);
    else next.add(id);
    this.unhealthy = next;
  }

  ids(): string[] {
    return [...this.unhealthy].sort();
  }
}
