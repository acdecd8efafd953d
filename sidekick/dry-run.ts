// --dry-run: what this sidekick would publish right now, without touching etcd.
import { mapLimit } from '../common/limit.js';
import { decodeEntry, parseEntryKey } from '../common/registry.js';
import { declaredRouteJson, ruleId } from '../common/route-spec.js';
import type { DockerSource } from './docker-source.js';
import { desiredEntries, type EntryOptions } from './entries.js';

export interface DryRunResult {
  /** `<key> <value>` lines, sorted by key, as `etcdctl get` would show them. */
  readonly entries: ReadonlyArray<readonly [key: string, value: string]>;
  /** One line per declared route: `<host><path> → <service> (container <name>) <fields>`, sorted. */
  readonly routes: readonly string[];
  readonly warnings: readonly string[];
}

/** The routes the entries declare, readable: the rule, its service, the container and its other fields. */
export function declaredRouteLines(prefix: string, entries: Iterable<readonly [string, string]>): string[] {
  const lines: string[] = [];
  for (const [key, value] of entries) {
    const parsed = parseEntryKey(prefix, key);
    const decoded = decodeEntry(value);
    if (!parsed.ok || !decoded.ok) continue;
    for (const route of decoded.value.routes ?? []) {
      const { host: _host, pathPrefix: _path, ...fields } = declaredRouteJson(route);
      const rest = Object.keys(fields).length > 0 ? ` ${JSON.stringify(fields)}` : '';
      const who = decoded.value.container?.name ?? parsed.value.instance;
      lines.push(`${ruleId(route)} → ${parsed.value.service} (container ${who})${rest}`);
    }
  }
  return lines.sort();
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
  return { entries, routes: declaredRouteLines(opts.prefix, entries), warnings };
}
