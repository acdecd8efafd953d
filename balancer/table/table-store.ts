// Owns the one live RouteTable. Readers take `store.current` per request; the registry watch is the
// only writer and replaces the whole value in one assignment, so a request never sees half a change.
import type { Logger } from '../../common/logger.js';
import { emptyTable, isProxied } from './route-table.js';
import { diffMaps } from './persistent-map.js';
import type { Backend, RouteTable } from '../types.js';

/** Called after every swap with the table that was replaced and the one now live. */
export type TableListener = (prev: RouteTable, next: RouteTable) => void;

/**
 * Backend ids present in `prev` but not in `next`, sorted: what a subscriber releases (agents,
 * metrics series, ejector state). A backend whose entry changed keeps its id and is not vanished,
 * unless it turned udp (it leaves its view).
 * O(change): tables derived from one another share their unchanged parts, and the diff skips those.
 */
export function vanishedBackends(prev: RouteTable, next: RouteTable): string[] {
  if (prev.entries === next.entries && prev.services === next.services) return [];
  // `services` is derived from `entries`; both are diffed so that a hand-built table (tests, tools)
  // with only one of them filled is covered too. An id is kept if its key still holds it or its
  // service's view in `next` still lists it.
  const idsOf = new Map<string, Set<string>>(); // next's ids per service, built once per service the diff meets
  const nextIds = (service: string): Set<string> => {
    let ids = idsOf.get(service);
    if (ids === undefined) idsOf.set(service, (ids = new Set(next.services.get(service)?.backends.map((b) => b.id))));
    return ids;
  };
  const keptByEntry = new Set<string>();
  const vanished = new Set<string>();
  diffMaps(prev.entries, next.entries, (key, before) => {
    if (before === undefined || !isProxied(before)) return; // a udp backend was never served
    const after = next.entries.get(key);
    if (after?.id === before.id && isProxied(after)) keptByEntry.add(before.id);
    else if (!nextIds(before.service).has(before.id)) vanished.add(before.id);
  });
  diffMaps(prev.services, next.services, (service, before) => {
    const ids = nextIds(service);
    for (const { id } of before?.backends ?? []) if (!ids.has(id) && !keptByEntry.has(id)) vanished.add(id);
  });
  return [...vanished].sort();
}

/** Services present in `prev` but not in `next`: their per-service metrics and counts are dropped. O(change). */
export function goneServices(prev: RouteTable, next: RouteTable): string[] {
  const gone: string[] = [];
  diffMaps(prev.services, next.services, (name, _before, after) => {
    if (after === undefined) gone.push(name);
  });
  return gone;
}

/** Services whose view changed from `prev` to `next`, with their backends now (`[]`: gone). O(change). */
export function changedServices(prev: RouteTable, next: RouteTable): Array<[string, readonly Backend[]]> {
  const changed: Array<[string, readonly Backend[]]> = [];
  diffMaps(prev.services, next.services, (name, _before, after) => changed.push([name, after?.backends ?? []]));
  return changed;
}

export class TableStore {
  private table: RouteTable;
  private isReady = false;
  private resolveReady!: () => void;
  /** Resolves once the first registry snapshot has been applied. */
  readonly whenReady = new Promise<void>((r) => (this.resolveReady = r));
  private readonly listeners = new Set<TableListener>();

  constructor(
    defaultService?: string,
    private readonly log?: Logger,
  ) {
    this.table = emptyTable(defaultService);
  }

  get current(): RouteTable {
    return this.table;
  }

  /** False until the first registry snapshot was applied: the balancer must not claim readiness on an empty guess. */
  get ready(): boolean {
    return this.isReady;
  }

  markReady(): void {
    this.isReady = true;
    this.resolveReady();
  }

  /** Replaces the table in one assignment, then tells subscribers. A no-op when `next` is already live. */
  swap(next: RouteTable): void {
    const prev = this.table;
    if (prev === next) return;
    this.table = next;
    for (const listener of this.listeners) {
      // A failing subscriber must not stop the others or the watch loop that called us: the swap already happened.
      try {
        listener(prev, next);
      } catch (err) {
        this.log?.error({ err }, 'route table subscriber failed');
      }
    }
  }

  /** Returns the function that unsubscribes. */
  subscribe(listener: TableListener): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }
}
