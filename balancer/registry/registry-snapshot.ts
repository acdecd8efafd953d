// One consistent read of the registry: both prefixes at a single etcd revision, paged so a large
// registry never needs one huge range response. The watch resumes from `revision + 1`, so every
// page must be pinned to the same revision or a change could be neither read nor watched.
import { Range, type Etcd3 } from 'etcd3';
import type { KeyKind, RawKv } from './registry-decoder.js';

export interface Snapshot {
  readonly revision: number;
  readonly kvs: readonly RawKv[];
}

const PAGE_SIZE = 1000; // keeps each range response far below gRPC's 4 MiB default message limit
const MAX_PAGES = 10_000;

/** Both prefixes at one revision: the entries at the latest revision, then the routes at that same revision. */
export async function readSnapshot(client: Etcd3, bases: Readonly<Record<KeyKind, string>>): Promise<Snapshot> {
  const entries = await readPrefix(client, bases.entry, 0);
  const routes = await readPrefix(client, bases.route, entries.revision);
  return { revision: entries.revision, kvs: [...entries.kvs, ...routes.kvs] };
}

/** Every key under `prefix` at `atRevision` (0: the latest, which the result then reports). */
async function readPrefix(client: Etcd3, prefix: string, atRevision: number): Promise<Snapshot> {
  const { start, end } = Range.prefix(prefix);
  let key = start;
  let revision = atRevision;
  const kvs: RawKv[] = [];
  for (let page = 0; page < MAX_PAGES; page++) {
    // Later pages pin the first page's revision; if it gets compacted meanwhile the read fails and is retried.
    const res = await client.kv.range({ key, range_end: end, limit: PAGE_SIZE, ...(revision > 0 ? { revision } : {}) });
    if (revision === 0) revision = Number(res.header.revision);
    for (const kv of res.kvs) kvs.push({ key: kv.key.toString(), value: kv.value, revision: Number(kv.mod_revision) });
    const last = res.kvs.at(-1);
    if (!res.more || last === undefined) return { revision, kvs };
    key = Buffer.concat([last.key, Buffer.from([0])]);
  }
  throw new Error(`more than ${MAX_PAGES * PAGE_SIZE} keys under ${prefix}`);
}
