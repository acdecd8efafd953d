// The registry contract shared by the sidekick (writer) and the balancer (reader).
// Key:   <prefix>/<service>/<instance-id>          e.g. /services/web/node1:web-1:8080
// Value: JSON object, see `Entry`. Unknown fields are preserved so the format can grow.
import { isIP } from 'node:net';
import { encodeCheck, validateCheck, type EntryCheck } from './entry-check.js';
import {
  type Decoded,
  isRecord,
  isValidHost,
  isValidServiceName,
  normalizePrefix,
  parseJsonValue,
} from './registry-basics.js';
import {
  declaredRouteJson,
  type DeclaredRoute,
  MAX_DECLARED_ROUTES,
  ruleId,
  validateDeclaredRoute,
} from './route-spec.js';

export {
  CHECK_DEFAULT_INTERVAL_MS,
  CHECK_DEFAULT_TIMEOUT_MS,
  encodeCheck,
  validateCheck,
  type EntryCheck,
} from './entry-check.js';
export {
  type Decoded,
  isRecord,
  isValidHost,
  isValidServiceName,
  MAX_VALUE_BYTES,
  normalizePrefix,
  parseJsonValue,
} from './registry-basics.js';
export type { DeclaredRoute };

export const DEFAULT_PREFIX = '/services';
const MAX_TAGS = 64;
const MAX_TAG_LENGTH = 256;
const MAX_WEIGHT = 1_000_000;

export interface ContainerRef {
  readonly id: string;
  readonly name: string;
}

export type EntryProtocol = 'tcp' | 'udp';

export interface Entry {
  readonly host: string;
  readonly port: number;
  readonly weight: number;
  readonly tags: readonly string[];
  readonly draining: boolean;
  /** Absent means tcp. A udp entry is never proxied to by the (HTTP) balancer. */
  readonly protocol?: EntryProtocol;
  /** Active health check the balancer runs against this backend; absent = none. */
  readonly check?: EntryCheck;
  readonly node?: string;
  readonly container?: ContainerRef;
  /**
   * Routes the container declares for its service (labels `sidekick.route*`, `VIRTUAL_HOST`…), valid
   * ones only: an invalid declared route is dropped (see `rejectedRoutes`) while the entry stays a
   * backend, because one bad label must not take a serving instance out of every other route.
   */
  readonly routes?: readonly DeclaredRoute[];
  /** Why declared routes were dropped, when some were; never encoded (the sidekick writes valid routes only). */
  readonly rejectedRoutes?: string;
  /** Fields this version does not know, kept verbatim. */
  readonly extra?: Readonly<Record<string, unknown>>;
}

const KNOWN_FIELDS = new Set([
  'host',
  'port',
  'weight',
  'tags',
  'draining',
  'protocol',
  'check',
  'node',
  'container',
  'routes',
]);
// A key segment: printable ASCII without '/', whitespace or control characters.
const SEGMENT = /^[A-Za-z0-9._:@\-[\]%+=~]{1,253}$/;

export function isValidInstanceId(id: string): boolean {
  return SEGMENT.test(id);
}

/** `<node>:<container-name>:<port>` plus `:udp` for UDP: stable across sidekick restarts. */
export function instanceId(node: string, containerName: string, port: number, protocol: 'tcp' | 'udp' = 'tcp'): string {
  const name = containerName.replace(/^\//, '');
  return protocol === 'udp' ? `${node}:${name}:${port}:udp` : `${node}:${name}:${port}`;
}

export function entryKey(prefix: string, service: string, instance: string): string {
  return `${normalizePrefix(prefix)}/${service}/${instance}`;
}

export function servicePrefix(prefix: string, service: string): string {
  return `${normalizePrefix(prefix)}/${service}/`;
}

export interface ParsedKey {
  readonly service: string;
  readonly instance: string;
}

/** Parses `<prefix>/<service>/<instance>`; anything else (deeper, shallower, odd characters) is invalid. */
export function parseEntryKey(prefix: string, key: string): Decoded<ParsedKey> {
  const base = `${normalizePrefix(prefix)}/`;
  if (!key.startsWith(base)) return { ok: false, error: `key is outside the prefix ${base}` };
  const parts = key.slice(base.length).split('/');
  if (parts.length !== 2) return { ok: false, error: 'key must be <prefix>/<service>/<instance-id>' };
  const [service = '', instance = ''] = parts;
  if (!isValidServiceName(service))
    return { ok: false, error: `invalid service name ${JSON.stringify(service.slice(0, 64))}` };
  if (!SEGMENT.test(instance))
    return { ok: false, error: `invalid instance id ${JSON.stringify(instance.slice(0, 64))}` };
  return { ok: true, value: { service, instance } };
}

/** Sets an own enumerable field, even one named `__proto__` or `constructor` (plain assignment would not). */
function defineField(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/**
 * An entry's `routes`: each route validated on its own (validateDeclaredRoute); an invalid one, or a
 * second one for the same host and path, is dropped and named in `rejected`. Not a list, more than
 * MAX_DECLARED_ROUTES, or on a udp entry (never proxied to): every route is dropped.
 */
function validateEntryRoutes(
  raw: unknown,
  udp: boolean,
): { valid: readonly DeclaredRoute[]; rejected: string | undefined } {
  if (udp) return { valid: [], rejected: 'routes: a udp entry is never proxied to, so it declares no routes' };
  if (!Array.isArray(raw) || raw.length > MAX_DECLARED_ROUTES)
    return { valid: [], rejected: `routes must be a list of at most ${MAX_DECLARED_ROUTES} route objects` };
  const valid: DeclaredRoute[] = [];
  const problems: string[] = [];
  const seen = new Set<string>();
  (raw as unknown[]).forEach((item, i) => {
    const decoded = validateDeclaredRoute(item);
    if (!decoded.ok) problems.push(`routes[${i}]: ${decoded.error}`);
    else if (seen.has(ruleId(decoded.value))) problems.push(`routes[${i}]: ${ruleId(decoded.value)} is declared twice`);
    else {
      seen.add(ruleId(decoded.value));
      valid.push(decoded.value);
    }
  });
  return { valid: Object.freeze(valid), rejected: problems.length > 0 ? problems.join('; ') : undefined };
}

/** The one strict validator: both programs accept exactly the same values. */
export function validateEntry(input: unknown): Decoded<Entry> {
  if (!isRecord(input)) return { ok: false, error: 'value must be a JSON object' };
  const { host, port, weight = 1, tags = [], draining = false, protocol, node, container } = input;
  if (typeof host !== 'string' || !isValidHost(host))
    return { ok: false, error: 'host must be an IPv4 address, IPv6 address or DNS name' };
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535)
    return { ok: false, error: 'port must be an integer from 1 to 65535' };
  if (typeof weight !== 'number' || !Number.isInteger(weight) || weight < 0 || weight > MAX_WEIGHT)
    return { ok: false, error: `weight must be an integer from 0 to ${MAX_WEIGHT}` };
  if (
    !Array.isArray(tags) ||
    tags.length > MAX_TAGS ||
    !tags.every((t) => typeof t === 'string' && t.length <= MAX_TAG_LENGTH)
  ) {
    return { ok: false, error: `tags must be an array of at most ${MAX_TAGS} strings` };
  }
  if (typeof draining !== 'boolean') return { ok: false, error: 'draining must be a boolean' };
  if (protocol !== undefined && protocol !== 'tcp' && protocol !== 'udp')
    return { ok: false, error: 'protocol must be "tcp" or "udp"' };
  let check: EntryCheck | undefined;
  if (input.check !== undefined) {
    if (protocol === 'udp') return { ok: false, error: 'check is not supported on a udp entry' };
    const decoded = validateCheck(input.check);
    if (!decoded.ok) return decoded;
    check = decoded.value;
  }
  if (node !== undefined && typeof node !== 'string') return { ok: false, error: 'node must be a string' };
  if (
    container !== undefined &&
    !(isRecord(container) && typeof container.id === 'string' && typeof container.name === 'string')
  ) {
    return { ok: false, error: 'container must be {"id": string, "name": string}' };
  }
  const routes = input.routes === undefined ? undefined : validateEntryRoutes(input.routes, protocol === 'udp');
  const extra: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(input)) if (!KNOWN_FIELDS.has(k)) defineField(extra, k, v);
  const entry: Entry = {
    host,
    port,
    weight,
    tags: Object.freeze([...(tags as string[])]),
    draining,
    ...(protocol !== undefined ? { protocol } : {}),
    ...(check !== undefined ? { check } : {}),
    ...(node !== undefined ? { node } : {}),
    ...(container !== undefined
      ? { container: Object.freeze({ id: container.id as string, name: container.name as string }) }
      : {}),
    ...(routes !== undefined && routes.valid.length > 0 ? { routes: routes.valid } : {}),
    ...(routes?.rejected !== undefined ? { rejectedRoutes: routes.rejected } : {}),
    ...(Object.keys(extra).length > 0 ? { extra: Object.freeze(extra) } : {}),
  };
  return { ok: true, value: Object.freeze(entry) };
}

export function decodeEntry(raw: string | Buffer): Decoded<Entry> {
  const parsed = parseJsonValue(raw);
  return parsed.ok ? validateEntry(parsed.value) : parsed;
}

/** Canonical encoding: fixed field order and defaults omitted, so equal entries encode to equal bytes. */
export function encodeEntry(entry: Entry): string {
  const out: Record<string, unknown> = { host: entry.host, port: entry.port };
  if (entry.weight !== 1) out.weight = entry.weight;
  if (entry.tags.length > 0) out.tags = entry.tags;
  if (entry.draining) out.draining = true;
  if (entry.protocol === 'udp') out.protocol = 'udp';
  if (entry.check !== undefined) out.check = encodeCheck(entry.check);
  if (entry.node !== undefined) out.node = entry.node;
  if (entry.container !== undefined) out.container = { id: entry.container.id, name: entry.container.name };
  if (entry.routes !== undefined && entry.routes.length > 0) out.routes = entry.routes.map(declaredRouteJson);
  for (const [k, v] of Object.entries(entry.extra ?? {})) if (!Object.hasOwn(out, k)) defineField(out, k, v);
  return JSON.stringify(out);
}

/** `host:port` with IPv6 bracketed, as used in URLs and logs. */
export function hostPort(entry: Pick<Entry, 'host' | 'port'>): string {
  return isIP(entry.host) === 6 ? `[${entry.host}]:${entry.port}` : `${entry.host}:${entry.port}`;
}
