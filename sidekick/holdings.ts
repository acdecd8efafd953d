// What this sidekick holds in etcd right now: each key with the value and mod revision it wrote,
// and the reconcile key (container id, or the followed container) it belongs to.

export interface Holding {
  readonly owner: string;
  readonly value: string;
  readonly mod: string;
}

export class Holdings {
  private readonly byKey = new Map<string, Holding>();
  private readonly byOwner = new Map<string, Set<string>>();

  get size(): number {
    return this.byKey.size;
  }

  get(key: string): Holding | undefined {
    return this.byKey.get(key);
  }

  keys(): string[] {
    return [...this.byKey.keys()];
  }

  keysOf(owner: string): string[] {
    return [...(this.byOwner.get(owner) ?? [])];
  }

  /** Records a key; a key moves to its new owner (a container recreated under the same name). */
  set(key: string, owner: string, value: string, mod: string): void {
    this.delete(key);
    this.byKey.set(key, { owner, value, mod });
    const keys = this.byOwner.get(owner) ?? new Set<string>();
    keys.add(key);
    this.byOwner.set(owner, keys);
  }

  delete(key: string): void {
    const had = this.byKey.get(key);
    if (!had) return;
    this.byKey.delete(key);
    const keys = this.byOwner.get(had.owner);
    keys?.delete(key);
    if (keys?.size === 0) this.byOwner.delete(had.owner);
  }
}
