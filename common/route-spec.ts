// The route contract shared by whoever writes routes (operators, tools) and the balancer (reader).
// Key:   <routesPrefix>/<name>        e.g. /routes/api-v1   (name: free text, see parseRouteKey)
// Value: {"host": "api.example.com", "pathPrefix": "/v1", "service": "api", "lb": "least-request", "sticky": true}
//        plus the optional policy fields of route-policy.ts (stripPrefix, redirect, rateLimit, services, …).
// Flag:  --route '<host><path>=<service>'  e.g. api.example.com/v1=api, *.example.com=web, /static=assets, =web
//        or --route '<the same JSON object as a route value>'
import { isIP } from 'node:net';
import {
  type Decoded,
  isRecord,
  isValidHost,
  isValidServiceName,
  normalizePrefix,
  parseJsonValue,
} from './registry-basics.js';
import { INVISIBLE, MAX_PATH_PREFIX_LENGTH, validatePathPrefix } from './route-path.js';
import { policyJson, type RoutePolicy, validatePolicy, validateServices } from './route-policy.js';

export { MAX_PATH_PREFIX_LENGTH, validatePathPrefix };
export type { RoutePolicy };

export type LbPolicy = 'round-robin' | 'least-request';

/** A routing rule: from `--route` flags or a key under `--routes-prefix`. */
export interface RouteRule {
  /** Lowercase; exact (`api.example.com`), wildcard (`*.example.com`) or undefined (any host). */
  readonly host: string | undefined;
  /** Always starts with `/`; `/` matches everything. */
  readonly pathPrefix: string;
  readonly service: string;
  /** Per-service picker override; undefined = the balancer's `--lb`. */
  readonly lb: LbPolicy | undefined;
  readonly sticky: boolean;
  /** Where the rule came from: `flag` or the etcd key, for /api/table and logs. */
  readonly source: string;
  /**
   * The route's policies (path rewrite, headers, redirect, limits, address lists, weighted split);
   * undefined when the value sets none, so the proxy's per-request cost for a plain route is this
   * one check. With `policy.services` (a split), `service` is the first service with weight > 0; a
   * redirect-only route has `service` `''` (it needs no backend). Optional in the type only so that
   * hand-built rules (tests, tools) need not spell it; validateRoute always sets the key.
   */
  readonly policy?: RoutePolicy | undefined;
}

export const DEFAULT_ROUTES_PREFIX = '/routes';
export const MAX_ROUTE_NAME_LENGTH = 512;
export const LB_POLICIES: readonly LbPolicy[] = Object.freeze(['round-robin', 'least-request']);

const FLAG_SYNTAX =
  '<host><path>=<service> such as api.example.com/v1=api, *.example.com=web, /static=assets or =web, ' +
  'or a JSON route object';

/** `<prefix>/` with the root prefix `/` giving `/`, not `//`. */
function routesBase(prefix: string): string {
  const p = normalizePrefix(prefix);
  return p === '/' ? '/' : `${p}/`;
}

export function routeKey(prefix: string, name: string): string {
  return `${routesBase(prefix)}${name}`;
}

/** Returns the route's name (the part after the prefix). The name is opaque: it only identifies the rule. */
export function parseRouteKey(prefix: string, key: string): Decoded<string> {
  const base = routesBase(prefix);
  if (!key.startsWith(base)) return { ok: false, error: `key is outside the routes prefix ${base}` };
  const name = key.slice(base.length);
  if (name.length === 0) return { ok: false, error: 'route key needs a name after the prefix' };
  if (name.length > MAX_ROUTE_NAME_LENGTH)
    return { ok: false, error: `route name longer than ${MAX_ROUTE_NAME_LENGTH} characters` };
  if (INVISIBLE.test(name)) return { ok: false, error: 'route name must not contain whitespace or control characters' };
  return { ok: true, value: name };
}

/**
 * Normalises a rule's host: lowercase, no trailing dot, IPv6 without brackets (the form `matchRoute`
 * compares against once it strips the request's port). IPv6 literals are not canonicalised
 * (`::0001` stays distinct from `::1`): write them the way clients send them.
 */
export function normalizeRouteHost(raw: string): Decoded<string> {
  const host = raw.toLowerCase();
  if (host.startsWith('[') && host.endsWith(']')) {
    const inner = host.slice(1, -1);
    return isIP(inner) === 6
      ? { ok: true, value: inner }
      : { ok: false, error: `host ${JSON.stringify(raw)} is not a valid IPv6 address` };
  }
  if (isIP(host) !== 0) return { ok: true, value: host };
  const bad: Decoded<string> = {
    ok: false,
    error: `host must be a DNS name, an IP address or *.<domain>, got ${JSON.stringify(raw.slice(0, 64))}`,
  };
  if (host === '*') return { ok: false, error: 'host "*" is not a pattern: omit host to match any host' };
  if (host.includes(':'))
    return {
      ok: false,
      error: `host must not include a port (the request's port is ignored), got ${JSON.stringify(raw.slice(0, 64))}`,
    };
  const wildcard = host.startsWith('*.');
  const name = stripOneDot(wildcard ? host.slice(2) : host);
  if (name.includes('*'))
    return { ok: false, error: `only a leading "*." label may be a wildcard, got ${JSON.stringify(raw.slice(0, 64))}` };
  // A wildcard over an IP address (`*.10.0.0.1`) matches nothing a client would send.
  if (!isValidHost(name) || name.endsWith('.') || (wildcard && isIP(name) !== 0)) return bad;
  return { ok: true, value: wildcard ? `*.${name}` : name };
}

function stripOneDot(s: string): string {
  return s.endsWith('.') ? s.slice(0, -1) : s;
}

export function isLbPolicy(v: unknown): v is LbPolicy {
  return (LB_POLICIES as readonly unknown[]).includes(v);
}

const SERVICE_ERROR =
  'service must be a service name (letters, digits, ".", "_", "-"; starting with a letter or digit)';
/** A bad value can carry dozens of problems; the log line names the first few. */
const MAX_REPORTED_ERRORS = 8;

function report(errors: readonly string[]): { ok: false; error: string } {
  const more = errors.length - MAX_REPORTED_ERRORS;
  const shown = more > 0 ? [...errors.slice(0, MAX_REPORTED_ERRORS), `and ${more} more`] : errors;
  return { ok: false, error: shown.join('; ') };
}

/** A route as a container declares it in its entry's `routes`: a rule whose service is the entry's own. */
export type DeclaredRoute = Omit<RouteRule, 'service' | 'source'> & { readonly policy: RoutePolicy | undefined };

/** At most this many routes in one entry's `routes`. */
export const MAX_DECLARED_ROUTES = 16;

/** Host, path prefix, lb, sticky and the policies: what every route has besides its service(s). */
function routeBody(
  input: Readonly<Record<string, unknown>>,
  split: RoutePolicy['services'],
  errors: string[],
): DeclaredRoute {
  const { host, pathPrefix = '/', lb, sticky = false } = input;
  let normalizedHost: string | undefined;
  if (host !== undefined) {
    if (typeof host !== 'string') errors.push('host must be a string (omit it to match any host)');
    else {
      const h = normalizeRouteHost(host);
      if (h.ok) normalizedHost = h.value;
      else errors.push(h.error);
    }
  }
  const path = validatePathPrefix(pathPrefix);
  if (!path.ok) errors.push(path.error);
  if (lb !== undefined && !isLbPolicy(lb)) errors.push(`lb must be one of ${LB_POLICIES.join(', ')}`);
  if (typeof sticky !== 'boolean') errors.push('sticky must be a boolean');
  const policy = validatePolicy(input, path.ok ? path.value : undefined, split, errors);
  return {
    host: normalizedHost,
    pathPrefix: path.ok ? path.value : '/',
    lb: lb as LbPolicy | undefined,
    sticky: sticky === true,
    policy,
  };
}

/** The one shape of a RouteRule (same key order everywhere, so the proxy's reads stay monomorphic). */
export function makeRule(body: DeclaredRoute, service: string, source: string): RouteRule {
  const { host, pathPrefix, lb, sticky, policy } = body;
  return Object.freeze({ host, pathPrefix, service, lb, sticky, source, policy });
}

/**
 * The one validator for route values and flags; unknown fields are ignored. Strict: every problem
 * is reported, and a value with any invalid known field is refused whole (never half-applied).
 * Exactly one of `service` and `services`, except that a `redirect` route may name neither.
 */
export function validateRoute(input: unknown, source: string): Decoded<RouteRule> {
  if (!isRecord(input)) return { ok: false, error: 'route value must be a JSON object' };
  const { service, services } = input;
  const errors: string[] = [];
  if (service !== undefined && (typeof service !== 'string' || !isValidServiceName(service)))
    errors.push(SERVICE_ERROR);
  const split = services === undefined ? undefined : validateServices(services, errors);
  if (service !== undefined && services !== undefined) errors.push('give service or services, not both');
  if (service === undefined && services === undefined && input.redirect === undefined) errors.push(SERVICE_ERROR);
  const body = routeBody(input, split, errors);
  if (errors.length > 0) return report(errors);
  const primary = typeof service === 'string' ? service : (split?.find((s) => s.weight > 0)?.name ?? '');
  return { ok: true, value: makeRule(body, primary, source) };
}

/**
 * A route of an entry's `routes` (declared by a container): the fields of a route value except
 * `service` and `services`, because a declared route always serves its own entry's service (a split
 * spans services, so no one container owns it: use a route key). Same strictness as validateRoute.
 */
export function validateDeclaredRoute(input: unknown): Decoded<DeclaredRoute> {
  if (!isRecord(input)) return { ok: false, error: 'a declared route must be a JSON object' };
  const errors: string[] = [];
  if (input.service !== undefined || input.services !== undefined)
    errors.push("a declared route serves its entry's service: service and services are not allowed");
  const body = routeBody(input, undefined, errors);
  return errors.length > 0 ? report(errors) : { ok: true, value: Object.freeze(body) };
}

/** Canonical JSON of a declared route (fixed order, defaults omitted): what the sidekick writes. */
export function declaredRouteJson(route: DeclaredRoute): Record<string, unknown> {
  return routeJson({ ...route, service: '' });
}

/** `host + path`: what two routes must share to compete for the same requests. */
export function ruleId(rule: Pick<RouteRule, 'host' | 'pathPrefix'>): string {
  return `${rule.host ?? ''}${rule.pathPrefix}`;
}

/** Decodes the value stored at `key`; the rule's `source` is the key, for logs and /api/table. */
export function decodeRoute(key: string, raw: string | Buffer): Decoded<RouteRule> {
  const parsed = parseJsonValue(raw);
  return parsed.ok ? validateRoute(parsed.value, key) : parsed;
}

/** Canonical encoding (fixed field order, defaults omitted), for tools that write routes. */
export function encodeRoute(rule: Omit<RouteRule, 'source'>): string {
  return JSON.stringify(routeJson(rule));
}

/** The route as a plain JSON object, canonical; also what /api/table can show for a rule's policies. */
export function routeJson(rule: Omit<RouteRule, 'source'>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (rule.host !== undefined) out.host = rule.host;
  if (rule.pathPrefix !== '/') out.pathPrefix = rule.pathPrefix;
  const split = rule.policy?.services;
  if (split !== undefined) out.services = split.map(({ name, weight }) => ({ name, weight }));
  else if (rule.service !== '') out.service = rule.service;
  if (rule.lb !== undefined) out.lb = rule.lb;
  if (rule.sticky) out.sticky = true;
  if (rule.policy !== undefined) policyJson(rule.policy, rule.pathPrefix, out);
  return out;
}

/**
 * Option parser for `--route`: `<host><path>=<service>`, or a JSON object with the fields of a route
 * value (`{"host": …, "pathPrefix": …, "service": …, "stripPrefix": true, …}`). Throws an Error saying
 * what was expected.
 */
export function parseRouteFlag(raw: string): RouteRule {
  const text = raw.trim();
  if (text.startsWith('{')) {
    const parsed = parseJsonValue(text);
    const decoded = parsed.ok ? validateRoute(parsed.value, 'flag') : parsed;
    if (!decoded.ok) throw new Error(`${decoded.error} in --route ${JSON.stringify(text.slice(0, 200))}`);
    return decoded.value;
  }
  // Service names cannot contain '=', so the last one separates; a path may contain '='.
  const eq = text.lastIndexOf('=');
  if (eq === -1) throw new Error(`expected ${FLAG_SYNTAX}, got ${JSON.stringify(raw)}`);
  const target = text.slice(0, eq);
  const slash = target.indexOf('/');
  const host = slash === -1 ? target : target.slice(0, slash);
  const pathPrefix = slash === -1 ? '/' : target.slice(slash);
  const decoded = validateRoute({ service: text.slice(eq + 1), pathPrefix, ...(host !== '' ? { host } : {}) }, 'flag');
  if (!decoded.ok) throw new Error(`${decoded.error} in ${JSON.stringify(raw)}; expected ${FLAG_SYNTAX}`);
  return decoded.value;
}
