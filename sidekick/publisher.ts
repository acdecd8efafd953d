// The etcd edge of the sidekick: reads entries of its node and writes them conditionally.
// Every write is a transaction on the key's mod revision as last seen: if the key changed since
// (another sidekick, an operator), nothing is written and the current state comes back instead.
import type { Etcd3, IKeyValue } from 'etcd3';
import { mapLimit } from '../common/limit.js';
import { decodeEntry, normalizePrefix, type Entry } from '../common/registry.js';
import type { Observed } from './claims.js';
import type { LeaseReading } from './lease-judge.js';

/** Decides which registry entries are of this sidekick's node (and followed container). */
export type Ownership = (entry: Entry) => boolean;

export type WriteResult =
  { readonly ok: true; readonly mod: string } | { readonly ok: false; readonly seen?: Observed };

const READ_CONCURRENCY = 16;

function observed(kv: IKeyValue | undefined): Observed | undefined {
  if (!kv) return undefined;
  return { value: kv.value.toString(), lease: String(kv.lease), mod: String(kv.mod_revision) };
}

export class Publisher {
  constructor(
    private readonly client: Etcd3,
    private readonly prefix: string,
    private readonly owns: Ownership,
  ) {}

  /** Whether a stored value is an entry of ours (invalid values never are: never touched). */
  isMine(value: string): boolean {
    const decoded = decodeEntry(value);
    return decoded.ok && this.owns(decoded.value);
  }

  /**
   * Every entry of ours under the prefix: one read of the whole registry, so it runs once per
   * process (to adopt or delete what an earlier run left), never per resync.
   */
  async scanOwned(): Promise<Map<string, Observed>> {
    const res = await this.client
      .getAll()
      .prefix(`${normalizePrefix(this.prefix)}/`)
      .exec();
    const owned = new Map<string, Observed>();
    for (const kv of res.kvs) {
      const seen = observed(kv);
      if (seen && this.isMine(seen.value)) owned.set(kv.key.toString(), seen);
    }
    return owned;
  }

  /** Reads these keys one by one: the periodic check costs O(own entries), not O(registry). */
  async read(keys: readonly string[]): Promise<Map<string, Observed | undefined>> {
    const values = await mapLimit(keys, READ_CONCURRENCY, async (key) => {
      const res = await this.client.get(key).exec();
      return observed(res.kvs[0]);
    });
    return new Map(keys.map((k, i) => [k, values[i]]));
  }

  /** Puts `value` on `lease` if the key's mod revision is still `seenMod` ('0': the key is absent). */
  async putIf(key: string, value: string, lease: string, seenMod: string): Promise<WriteResult> {
    const res = await this.client
      .if(key, 'Mod', '==', seenMod)
      .then(this.client.put(key).value(value).lease(lease))
      .else(this.client.get(key))
      .commit();
    if (res.succeeded) return { ok: true, mod: String(res.header.revision) };
    return { ok: false, seen: observed(res.responses[0]?.response_range?.kvs[0]) };
  }

  /** Deletes the key if its mod revision is still `seenMod`. */
  async deleteIf(key: string, seenMod: string): Promise<WriteResult> {
    const res = await this.client
      .if(key, 'Mod', '==', seenMod)
      .then(this.client.delete().key(key))
      .else(this.client.get(key))
      .commit();
    if (res.succeeded) return { ok: true, mod: String(res.header.revision) };
    return { ok: false, seen: observed(res.responses[0]?.response_range?.kvs[0]) };
  }

  /** Remaining and granted TTL of any lease, in seconds (≤ 0 remaining: gone). */
  async leaseTtl(lease: string): Promise<LeaseReading> {
    const res = await this.client.leaseClient.leaseTimeToLive({ ID: lease, keys: false });
    return { ttl: Number(res.TTL), granted: Number(res.grantedTTL) };
  }
}
