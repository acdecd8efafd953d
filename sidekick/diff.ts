// desired vs published → the writes that make etcd match (pure).

export interface PublishedValue {
  readonly value: string;
  /** Lease the key is attached to in etcd ('0' = none); undefined when only known from memory. */
  readonly lease?: string;
}

export interface EntryDiff {
  readonly puts: ReadonlyArray<readonly [key: string, value: string]>;
  readonly deletes: readonly string[];
}

/**
 * A key is (re)put when it is missing, its value differs, or it hangs on another lease than
 * ours (an earlier run's lease, or none after someone re-put it by hand). Keys published but no
 * longer desired are deleted. Output is sorted so the writes are deterministic.
 */
export function diffEntries(
  desired: ReadonlyMap<string, string>,
  published: ReadonlyMap<string, PublishedValue>,
  leaseId?: string,
): EntryDiff {
  const puts: Array<readonly [string, string]> = [];
  const deletes: string[] = [];
  for (const [key, value] of desired) {
    const have = published.get(key);
    const wrongLease = leaseId !== undefined && have?.lease !== undefined && have.lease !== leaseId;
    if (!have || have.value !== value || wrongLease) puts.push([key, value]);
  }
  for (const key of published.keys()) if (!desired.has(key)) deletes.push(key);
  puts.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  deletes.sort();
  return { puts, deletes };
}

export function isEmptyDiff(d: EntryDiff): boolean {
  return d.puts.length === 0 && d.deletes.length === 0;
}
