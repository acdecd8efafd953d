// Passive health: a backend that refused or dropped a connection is ejected for a cooldown, so the
// picker skips it (`isEjected`) until the entry expires. node-cache holds the expiry (stdTTL =
// cooldown seconds) and checks it on every read, so an expired ejection never lingers.
import NodeCache from 'node-cache';

export interface EjectorOptions {
  /** How long an ejected backend is skipped. Default 10 000 ms. */
  readonly cooldownMs?: number;
  /** Called when a backend becomes ejected (not when an ejection is repeated). */
  readonly onEject?: (id: string) => void;
  /** Called when an ejection expires (lazily: on the next read or periodic check). */
  readonly onRestore?: (id: string) => void;
}

export const DEFAULT_EJECT_COOLDOWN_MS = 10_000;

export class Ejector {
  readonly cooldownMs: number;
  private readonly cache: NodeCache;
  private readonly onEject: ((id: string) => void) | undefined;

  constructor(opts: EjectorOptions = {}) {
    const cooldownMs = opts.cooldownMs ?? DEFAULT_EJECT_COOLDOWN_MS;
    if (!(cooldownMs > 0)) throw new Error(`eject cooldown must be > 0 ms, got ${cooldownMs}`);
    this.cooldownMs = cooldownMs;
    this.onEject = opts.onEject;
    // The periodic sweep only matters for `onRestore` timeliness; reads check expiry themselves.
    this.cache = new NodeCache({ stdTTL: cooldownMs / 1000, checkperiod: Math.max(1, Math.ceil(cooldownMs / 1000)), useClones: false });
    const onRestore = opts.onRestore;
    if (onRestore) this.cache.on('expired', (key: string) => onRestore(key));
    // Bound once: the picker calls this for every candidate of every request.
    this.isEjected = this.isEjected.bind(this);
  }

  /** Ejects `id` for the cooldown; returns false (and keeps the running cooldown) if already ejected. */
  eject(id: string): boolean {
    if (this.cache.has(id)) return false;
    this.cache.set(id, Date.now());
    this.onEject?.(id);
    return true;
  }

  isEjected(id: string): boolean {
    return this.cache.has(id);
  }

  /** Ids currently ejected (expired entries excluded), sorted. */
  ejected(): string[] {
    return this.cache.keys().filter((k) => this.cache.has(k)).sort();
  }

  /** Forgets an ejection early: the backend left the table, or an operator cleared it. */
  restore(id: string): void {
    this.cache.del(id);
  }

  close(): void {
    this.cache.flushAll();
    this.cache.close();
  }
}
