// The etcd edge of the sidekick: reads what this sidekick owns and applies diffs to it.
import type { Etcd3 } from 'etcd3';
import { mapLimit } from '../common/limit.js';
import { decodeEntry, normalizePrefix, type Entry } from '../common/registry.js';
import type { EntryDiff, PublishedValue } from './diff.js';

/** Decides which existing registry entries belong to this sidekick (and may be adopted or deleted). */
export type Ownership = (entry: Entry) => boolean;

const WRITE_CONCURRENCY = 16;

export class Publisher {
  constructor(
    private readonly client: Etcd3,
    private readonly prefix: string,
    private readonly owns: Ownership,
  ) {}

  /** Every entry under the prefix that this sidekick owns, with the lease it hangs on. */
  async readOwned(): Promise<Map<string, PublishedValue>> {
    const res = await this.client
      .getAll()
      .prefix(`${normalizePrefix(this.prefix)}/`)
      .exec();
    const owned = new Map<string, PublishedValue>();
    for (const kv of res.kvs) {
      const decoded = decodeEntry(kv.value);
      if (!decoded.ok || !this.owns(decoded.value)) continue; // not ours, or not valid: never touch
      owned.set(kv.key.toString(), { value: kv.value.toString(), lease: String(kv.lease) });
    }
    return owned;
  }

  /** Puts are idempotent (same key, same value, same lease), so a retry after a timeout is safe. */
  async apply(diff: EntryDiff, leaseId: string): Promise<void> {
    await mapLimit(diff.puts, WRITE_CONCURRENCY, ([key, value]) =>
      this.client.put(key).value(value).lease(leaseId).exec(),
    );
    await mapLimit(diff.deletes, WRITE_CONCURRENCY, (key) => this.client.delete().key(key).exec());
  }
}
