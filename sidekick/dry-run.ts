// --dry-run: what this sidekick would publish right now, without touching etcd.
import { mapLimit } from '../common/limit.js';
import type { DockerSource } from './docker-source.js';
import { desiredEntries, type EntryOptions } from './entries.js';

export interface DryRunResult {
  /** `<key> <value>` lines, sorted by key, as `etcdctl get` would show them. */
  readonly entries: ReadonlyArray<readonly [key: string, value: string]>;
  readonly warnings: readonly string[];
}

export async function dryRun(
  docker: DockerSource,
  opts: EntryOptions,
  only: string | undefined,
): Promise<DryRunResult> {
  const ids = only !== undefined ? [only] : await docker.list();
  const containers = await mapLimit(ids, 8, (id) => docker.inspect(id));
  const entries: Array<readonly [string, string]> = [];
  const warnings: string[] = [];
  for (const c of containers) {
    if (!c) continue;
    const r = desiredEntries(c, opts);
    entries.push(...r.entries);
    warnings.push(...r.warnings);
  }
  entries.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return { entries, warnings };
}
