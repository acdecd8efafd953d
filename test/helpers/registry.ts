import type { Etcd3 } from 'etcd3';
import { waitFor } from './wait.js';

export type Entries = Record<string, Record<string, unknown>>;

/** Every entry under `prefix`, values parsed: the oracle the sidekick tests assert on. */
export async function readEntries(client: Etcd3, prefix: string): Promise<Entries> {
  const raw = await client.getAll().prefix(prefix).strings();
  return Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, JSON.parse(v) as Record<string, unknown>]));
}

/** Waits until `check(entries)` is true and returns the entries. */
export async function waitForEntries(
  client: Etcd3,
  prefix: string,
  what: string,
  check: (e: Entries) => boolean,
  timeoutMs = 10_000,
): Promise<Entries> {
  let last: Entries = {};
  try {
    return await waitFor(
      what,
      async () => {
        last = await readEntries(client, prefix);
        return check(last) ? last : undefined;
      },
      timeoutMs,
      25,
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}; registry under ${prefix} was ${JSON.stringify(last)}`);
  }
}
