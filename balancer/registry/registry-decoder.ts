// Pure mapping from etcd key/values to RegistryEvents, and the diff that corrects a table from a
// snapshot. No I/O: the etcd edge (registry-watch.ts) reads and watches, this decides what it means.
import { isIP } from 'node:net';
import { decodeEntry, encodeEntry, normalizePrefix, parseEntryKey } from '../../common/registry.js';
import { decodeRoute, encodeRoute, parseRouteKey, routeKey } from '../../common/route-spec.js';
import { backendFromEntry } from '../table/route-table.js';
import type { Backend, RegistryEvent, RouteRule, RouteTable } from '../types.js';

export interface DecoderOptions {
  /** Entry prefix, e.g. `/services`: keys are `<prefix>/<service>/<instance>`. */
  readonly prefix: string;
  /** Route prefix, e.g. `/routes`: keys are `<routesPrefix>/<name>`. */
  readonly routesPrefix: string;
  /** Built from `--backends-allow`; when set, only IP hosts it accepts are served. */
  readonly allowBackend?: ((host: string) => boolean) | undefined;
}

export interface Rejection {
  readonly key: string;
  readonly reason: string;
}

export type DecodedPut =
  /** `partial`: the value is applied, but part of it (an entry's declared routes) was refused. */
  | { readonly ok: true; readonly event: RegistryEvent; readonly partial?: Rejection }
  /** `removal` deletes the key from the table: a value we cannot validate is never served, not even the old one. */
  | { readonly ok: false; readonly rejection: Rejection; readonly removal: RegistryEvent | undefined };

export type KeyKind = 'entry' | 'route';

/** The key prefixes to read and watch, each ending in `/`. */
export function registryBases(opts: Pick<DecoderOptions, 'prefix' | 'routesPrefix'>): {
  readonly entries: string;
  readonly routes: string;
} {
  return { entries: `${normalizePrefix(opts.prefix)}/`, routes: routeKey(opts.routesPrefix, '') };
}

/** Which family a key belongs to; the longer base wins when one prefix is nested in the other. */
export function classifyKey(opts: DecoderOptions, key: string): KeyKind | undefined {
  const { entries, routes } = registryBases(opts);
  const inEntries = key.startsWith(entries);
  const inRoutes = key.startsWith(routes);
  if (inEntries && inRoutes) return routes.length > entries.length ? 'route' : 'entry';
  return inEntries ? 'entry' : inRoutes ? 'route' : undefined;
}

function entryPut(opts: DecoderOptions, key: string, value: string | Buffer): RegistryEvent | string {
  const parsed = parseEntryKey(opts.prefix, key);
  if (!parsed.ok) return parsed.error;
  const decoded = decodeEntry(value);
  if (!decoded.ok) return decoded.error;
  const { host } = decoded.value;
  if (opts.allowBackend !== undefined) {
    if (isIP(host) === 0)
      return `host ${JSON.stringify(host)} is a DNS name: --backends-allow can only check IP addresses`;
    if (!opts.allowBackend(host)) return `host ${host} is not in --backends-allow`;
  }
  return {
    kind: 'entry-put',
    key,
    backend: backendFromEntry(parsed.value.service, parsed.value.instance, decoded.value),
  };
}

function routePut(opts: DecoderOptions, key: string, value: string | Buffer): RegistryEvent | string {
  const name = parseRouteKey(opts.routesPrefix, key);
  if (!name.ok) return name.error;
  const rule = decodeRoute(key, value);
  return rule.ok ? { kind: 'route-put', key, rule: rule.value } : rule.error;
}

/** A put (from a snapshot or a watch) → the event to apply, or why it was refused. */
export function decodePut(opts: DecoderOptions, key: string, value: string | Buffer): DecodedPut {
  const kind = classifyKey(opts, key);
  if (kind === undefined)
    return {
      ok: false,
      rejection: { key, reason: 'key is outside the registry and routes prefixes' },
      removal: undefined,
    };
  const result = kind === 'entry' ? entryPut(opts, key, value) : routePut(opts, key, value);
  if (typeof result !== 'string') {
    const dropped = result.kind === 'entry-put' ? result.backend.entry.rejectedRoutes : undefined;
    return dropped === undefined
      ? { ok: true, event: result }
      : { ok: true, event: result, partial: { key, reason: dropped } };
  }
  return { ok: false, rejection: { key, reason: result }, removal: decodeDelete(opts, key) };
}

/** A delete carries only the key; applyEvents ignores deletes of keys it never accepted. */
export function decodeDelete(opts: DecoderOptions, key: string): RegistryEvent | undefined {
  const kind = classifyKey(opts, key);
  if (kind === undefined) return undefined;
  return kind === 'entry' ? { kind: 'entry-delete', key } : { kind: 'route-delete', key };
}

/** A key/value as read from etcd, with its mod revision. */
export interface RawKv {
  readonly key: string;
  readonly value: Buffer;
  readonly revision: number;
}

/**
 * A snapshot's valid puts, and the refused key/values (the value lets the caller report each one once);
 * a value applied with a refused part (an entry's invalid declared route) is in both.
 */
export function decodeSnapshot(
  opts: DecoderOptions,
  kvs: Iterable<RawKv>,
): { events: RegistryEvent[]; rejected: { rejection: Rejection; value: Buffer; partial?: boolean }[] } {
  const events: RegistryEvent[] = [];
  const rejected: { rejection: Rejection; value: Buffer; partial?: boolean }[] = [];
  for (const kv of kvs) {
    const decoded = decodePut(opts, kv.key, kv.value);
    if (decoded.ok) events.push(decoded.event);
    if (!decoded.ok) rejected.push({ rejection: decoded.rejection, value: kv.value });
    else if (decoded.partial !== undefined)
      rejected.push({ rejection: decoded.partial, value: kv.value, partial: true });
  }
  return { events, rejected };
}

/**
 * How many of a consistency check's corrections mean the watch missed a change. A put whose snapshot
 * revision is above what the watch of its kind applied is merely still on its way. A delete carries
 * no revision in a snapshot, so one racing the check counts: rare, and erring towards reporting.
 */
export function countDrift(
  corrections: readonly RegistryEvent[],
  snapshotRevisions: ReadonlyMap<string, number>,
  applied: Readonly<Record<KeyKind, number>>,
): number {
  return corrections.filter((e) => {
    if (e.kind === 'entry-delete' || e.kind === 'route-delete') return true;
    return (snapshotRevisions.get(e.key) ?? 0) <= applied[e.kind === 'entry-put' ? 'entry' : 'route'];
  }).length;
}

function sameBackend(a: Backend, b: Backend): boolean {
  // encodeEntry is canonical (fixed order, defaults omitted, unknown fields kept), so equal text is equal entries.
  return a === b || (a.id === b.id && encodeEntry(a.entry) === encodeEntry(b.entry));
}

function sameRule(a: RouteRule, b: RouteRule): boolean {
  return (
    a === b ||
    (a.host === b.host &&
      a.pathPrefix === b.pathPrefix &&
      a.service === b.service &&
      a.lb === b.lb &&
      a.sticky === b.sticky &&
      a.source === b.source &&
      // encodeRoute is canonical, so equal text is equal policies; plain rules skip the encoding.
      (a.policy === b.policy ||
        (a.policy !== undefined && b.policy !== undefined && encodeRoute(a) === encodeRoute(b))))
  );
}

/**
 * The events that turn `table` into `snapshot` (the valid puts of a full read): deletes for keys the
 * snapshot no longer has (sorted by key), then puts for new or changed entries and routes (each in snapshot order).
 * Unchanged keys produce nothing, so applying the result only rebuilds the services it touches.
 * Deletes in `snapshot` are ignored: a snapshot lists what exists.
 */
export function diffSnapshot(table: RouteTable, snapshot: readonly RegistryEvent[]): RegistryEvent[] {
  const entries = new Map<string, Backend>();
  const routes = new Map<string, RouteRule>();
  for (const event of snapshot) {
    if (event.kind === 'entry-put') entries.set(event.key, event.backend);
    else if (event.kind === 'route-put') routes.set(event.key, event.rule);
  }
  const deletes: RegistryEvent[] = [];
  for (const key of table.entries.keys()) if (!entries.has(key)) deletes.push({ kind: 'entry-delete', key });
  for (const key of table.routeKeys.keys()) if (!routes.has(key)) deletes.push({ kind: 'route-delete', key });
  deletes.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const puts: RegistryEvent[] = [];
  for (const [key, backend] of entries) {
    const old = table.entries.get(key);
    if (old === undefined || !sameBackend(old, backend)) puts.push({ kind: 'entry-put', key, backend });
  }
  for (const [key, rule] of routes) {
    const old = table.routeKeys.get(key);
    if (old === undefined || !sameRule(old, rule)) puts.push({ kind: 'route-put', key, rule });
  }
  return [...deletes, ...puts];
}
