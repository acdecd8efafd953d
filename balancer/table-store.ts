// Owns the one live RouteTable. Readers take `store.current` per request; the registry watch is the
// only writer and replaces the whole value in one assignment, so a request never sees half a change.
import type { Logger } from '../common/logger.js';
import { emptyTable } from './route-table.js';
import type { RouteTable } from './types.js';

/** Called after every swap with the table that was replaced and the one now live. */
export type TableListener = (prev: RouteTable, next: RouteTable) => void;

function backendIds(table: RouteTable): Set<string> {
  const ids = new Set<string>();
  for (const backend of table.entries.values()) ids.add(backend.id);
  // `services` is derived from `entries`; read both so a hand-built table (tests, tools) is covered too.
  for (const view of table.services.values()) for (const backend of view.backends) ids.add(backend.id);
  return ids;
}

/**
 * Backend ids present in `prev` but not in `next`, sorted: what a subscriber releases (agents,
 * metrics series, ejector state). A backend whose entry changed keeps its id and is not vanished.
 */
export function vanishedBackends(prev: RouteTable, next: RouteTable): string[] {
  if (prev.entries === next.entries && prev.services === next.services) return [];
  const kept = backendIds(next);
  return [...backendIds(prev)].filter((id) => !kept.has(id)).sort();
}

export class TableStore {
  private table: RouteTable;
  private isReady = false;
  private resolveReady!: () => void;
  /** Resolves once the first registry snapshot has been applied. */
  readonly whenReady = new Promise<void>((r) => (this.resolveReady = r));
  private readonly listeners = new Set<TableListener>();

  constructor(defaultService?: string, private readonly log?: Logger) {
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
