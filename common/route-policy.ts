// The optional policy fields of a route value (etcd `/routes/<name>` or a JSON `--route`), validated
// strictly: every problem is reported, and a route with any invalid policy field is rejected whole.
// Unknown top-level fields are ignored (route-spec.ts); unknown keys INSIDE a policy object are
// refused, because ignoring them (a typo, or a newer option) would apply half a policy.
import { type CidrBlock, parseCidr } from './cidr.js';
import { headerRulesJson, type HeaderRules, validateHeaderRules } from './route-headers.js';
import { INVISIBLE, isUnderPrefix, validatePathPrefix } from './route-path.js';
import { isRecord, isValidServiceName } from './registry-basics.js';
import { parseDurationMs } from './parsers.js';

export type { HeaderRules };
export type RedirectCode = 301 | 302 | 307 | 308;

export interface RedirectRule {
  /** Normalised absolute http(s) URL (WHATWG `href`). */
  readonly to: string;
  readonly code: RedirectCode;
  /** Append the request's path and query to `to`. */
  readonly keepPath: boolean;
}

export interface RateLimitRule {
  /** Tokens added per period (> 0, may be fractional). */
  readonly average: number;
  /** Bucket size: requests a client may send at once. */
  readonly burst: number;
  readonly periodMs: number;
}

export interface WeightedService {
  readonly name: string;
  readonly weight: number;
}

/** Every key is present (undefined when not given), so all policies share one object shape. */
export interface RoutePolicy {
  /** Resolved prefix to strip (`true` becomes the route's pathPrefix). */
  readonly stripPrefix: string | undefined;
  readonly addPrefix: string | undefined;
  readonly requestHeaders: HeaderRules | undefined;
  readonly responseHeaders: HeaderRules | undefined;
  readonly redirect: RedirectRule | undefined;
  /** Accepted now, honoured once the balancer terminates TLS (edge issue). */
  readonly httpsRedirect: boolean;
  readonly timeoutMs: number | undefined;
  readonly retries: number | undefined;
  readonly maxBodyBytes: number | undefined;
  readonly rateLimit: RateLimitRule | undefined;
  readonly allow: readonly CidrBlock[] | undefined;
  readonly deny: readonly CidrBlock[] | undefined;
  /** A weighted split; the rule's `service` is then the first service with weight > 0. */
  readonly services: readonly WeightedService[] | undefined;
}

export const MAX_SPLIT_SERVICES = 16;
export const MAX_SPLIT_WEIGHT = 1_000_000;
export const MAX_ROUTE_RETRIES = 10;
export const MAX_ADDRESS_RULES = 256;
export const MAX_REDIRECT_LENGTH = 2048;
export const MAX_RATE = 1_000_000_000;
/** The `--upstream-timeout` bounds. */
export const TIMEOUT_RANGE_MS = Object.freeze([10, 3_600_000] as const);
export const PERIOD_RANGE_MS = Object.freeze([1, 86_400_000] as const);
export const DEFAULT_REDIRECT_CODE: RedirectCode = 308;
export const DEFAULT_RATE_PERIOD_MS = 1000;
const REDIRECT_CODES: readonly number[] = [301, 302, 307, 308];

/** The policy field names, in canonical (encoding) order. */
export const POLICY_FIELDS = Object.freeze([
  'stripPrefix',
  'addPrefix',
  'requestHeaders',
  'responseHeaders',
  'redirect',
  'httpsRedirect',
  'timeout',
  'retries',
  'maxBodyBytes',
  'rateLimit',
  'allow',
  'deny',
] as const);

function quote(v: unknown): string {
  return (JSON.stringify(v) ?? String(v)).slice(0, 64);
}

function unknownKeys(field: string, input: Record<string, unknown>, known: readonly string[], errors: string[]): void {
  for (const k of Object.keys(input))
    if (!known.includes(k)) errors.push(`${field}: unknown key ${quote(k)} (expected ${known.join(', ')})`);
}

function isInt(v: unknown, min: number, max: number): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;
}

function duration(field: string, raw: unknown, [min, max]: readonly [number, number], errors: string[]) {
  if (typeof raw !== 'string') {
    errors.push(`${field} must be a duration string such as 500ms, 5s or 1m`);
    return undefined;
  }
  try {
    const ms = parseDurationMs(raw);
    if (ms >= min && ms <= max) return ms;
  } catch {
    // reported below
  }
  errors.push(`${field} must be a duration from ${min}ms to ${max}ms such as 500ms, 5s or 1m, got ${quote(raw)}`);
  return undefined;
}

function validateStrip(raw: unknown, pathPrefix: string | undefined, errors: string[]): string | undefined {
  if (raw === true) return pathPrefix;
  if (typeof raw !== 'string') {
    errors.push('stripPrefix must be true or a path prefix string');
    return undefined;
  }
  const p = validatePathPrefix(raw, 'stripPrefix');
  if (!p.ok) return void errors.push(p.error);
  if (pathPrefix !== undefined && !isUnderPrefix(p.value, pathPrefix) && !isUnderPrefix(pathPrefix, p.value))
    errors.push(`stripPrefix ${quote(raw)} can never match a path under pathPrefix ${quote(pathPrefix)}`);
  return p.value;
}

function validateRedirect(raw: unknown, errors: string[]): RedirectRule | undefined {
  const shape = 'redirect must be {"to": "https://…", "code": 301|302|307|308, "keepPath": boolean}';
  if (!isRecord(raw)) return void errors.push(shape);
  const before = errors.length;
  unknownKeys('redirect', raw, ['to', 'code', 'keepPath'], errors);
  const { to, code = DEFAULT_REDIRECT_CODE, keepPath = true } = raw;
  if (!REDIRECT_CODES.includes(code as number)) errors.push(`redirect.code must be 301, 302, 307 or 308`);
  if (typeof keepPath !== 'boolean') errors.push('redirect.keepPath must be a boolean');
  let href: string | undefined;
  if (typeof to !== 'string' || !/^https?:\/\//i.test(to) || to.length > MAX_REDIRECT_LENGTH || INVISIBLE.test(to)) {
    errors.push(`redirect.to must be an absolute http:// or https:// URL of at most ${MAX_REDIRECT_LENGTH} characters`);
  } else {
    let url: URL | undefined;
    try {
      url = new URL(to);
    } catch {
      errors.push(`redirect.to is not a valid URL: ${quote(to)}`);
    }
    if (url !== undefined) {
      if (url.hostname === '') errors.push('redirect.to needs a host');
      if (url.username !== '' || url.password !== '') errors.push('redirect.to must not carry credentials');
      if (to.includes('#')) errors.push('redirect.to must not have a fragment');
      if (keepPath !== false && to.includes('?'))
        errors.push('redirect.to must not have a query when keepPath is true (the request query is appended)');
      href = url.href;
    }
  }
  if (errors.length > before || href === undefined) return undefined;
  return Object.freeze({ to: href, code: code as RedirectCode, keepPath: keepPath as boolean });
}

function validateRateLimit(raw: unknown, errors: string[]): RateLimitRule | undefined {
  if (!isRecord(raw)) return void errors.push('rateLimit must be {"average": n, "burst": m, "period": "1s"}');
  const before = errors.length;
  unknownKeys('rateLimit', raw, ['average', 'burst', 'period'], errors);
  const { average, burst, period } = raw;
  const avgOk = typeof average === 'number' && Number.isFinite(average) && average > 0 && average <= MAX_RATE;
  if (!avgOk) errors.push(`rateLimit.average must be a number above 0 and at most ${MAX_RATE}`);
  if (burst !== undefined && !isInt(burst, 1, MAX_RATE))
    errors.push(`rateLimit.burst must be an integer from 1 to ${MAX_RATE}`);
  const periodMs =
    period === undefined ? DEFAULT_RATE_PERIOD_MS : duration('rateLimit.period', period, PERIOD_RANGE_MS, errors);
  if (errors.length > before || periodMs === undefined || !avgOk) return undefined;
  // Default burst: one period's worth, so "100 per second" also allows 100 at once.
  const size = burst === undefined ? Math.max(1, Math.ceil(average)) : (burst as number);
  return Object.freeze({ average, burst: size, periodMs });
}

function validateAddresses(field: string, raw: unknown, errors: string[]): readonly CidrBlock[] | undefined {
  if (!Array.isArray(raw) || raw.length === 0 || raw.length > MAX_ADDRESS_RULES) {
    errors.push(`${field} must be a list of 1 to ${MAX_ADDRESS_RULES} CIDRs or addresses such as 10.0.0.0/8 or ::1`);
    return undefined;
  }
  const blocks: CidrBlock[] = [];
  const before = errors.length;
  for (const item of raw as unknown[]) {
    if (typeof item !== 'string' || item !== item.trim() || item.length > 64) {
      errors.push(`${field}: expected CIDR such as 10.0.0.0/8, got ${quote(item)}`);
      continue;
    }
    try {
      blocks.push(parseCidr(item));
    } catch (err) {
      errors.push(`${field}: ${(err as Error).message}`);
    }
    if (errors.length - before >= 5) break; // enough to see the problem; keeps the log line short
  }
  return errors.length > before ? undefined : Object.freeze(blocks);
}

/** `services`: a weighted split. Names unique and valid, integer weights, at least one above 0. */
export function validateServices(raw: unknown, errors: string[]): readonly WeightedService[] | undefined {
  const shape = `services must be a list of 1 to ${MAX_SPLIT_SERVICES} {"name": service, "weight": integer}`;
  if (!Array.isArray(raw) || raw.length === 0 || raw.length > MAX_SPLIT_SERVICES) return void errors.push(shape);
  const before = errors.length;
  const out: WeightedService[] = [];
  const names = new Set<string>();
  for (const [i, item] of (raw as unknown[]).entries()) {
    if (!isRecord(item)) {
      errors.push(`services[${i}] must be {"name": service, "weight": integer}`);
      continue;
    }
    unknownKeys(`services[${i}]`, item, ['name', 'weight'], errors);
    const { name, weight } = item;
    if (typeof name !== 'string' || !isValidServiceName(name))
      errors.push(`services[${i}].name must be a service name, got ${quote(name)}`);
    else if (names.has(name)) errors.push(`services[${i}].name ${name} is listed twice`);
    else names.add(name);
    if (!isInt(weight, 0, MAX_SPLIT_WEIGHT))
      errors.push(`services[${i}].weight must be an integer from 0 to ${MAX_SPLIT_WEIGHT}`);
    if (typeof name === 'string' && typeof weight === 'number') out.push(Object.freeze({ name, weight }));
  }
  if (errors.length === before && !out.some((s) => s.weight > 0))
    errors.push('services needs at least one service with weight above 0');
  return errors.length > before ? undefined : Object.freeze(out);
}

/**
 * Validates the policy fields of `input` (plus the already validated `services`). Undefined when the
 * value sets none of them: such a route costs the proxy nothing. `pathPrefix` is undefined when the
 * route's own pathPrefix was invalid (then stripPrefix is checked on its own).
 */
export function validatePolicy(
  input: Readonly<Record<string, unknown>>,
  pathPrefix: string | undefined,
  services: readonly WeightedService[] | undefined,
  errors: string[],
): RoutePolicy | undefined {
  const v = input;
  const before = errors.length;
  const addPrefix = v.addPrefix === undefined ? undefined : validatePathPrefix(v.addPrefix, 'addPrefix');
  if (addPrefix?.ok === false) errors.push(addPrefix.error);
  if (v.httpsRedirect !== undefined && typeof v.httpsRedirect !== 'boolean')
    errors.push('httpsRedirect must be a boolean');
  if (v.retries !== undefined && !isInt(v.retries, 0, MAX_ROUTE_RETRIES))
    errors.push(`retries must be an integer from 0 to ${MAX_ROUTE_RETRIES}`);
  if (v.maxBodyBytes !== undefined && !isInt(v.maxBodyBytes, 0, Number.MAX_SAFE_INTEGER))
    errors.push('maxBodyBytes must be an integer of at least 0');
  const policy: RoutePolicy = {
    stripPrefix: v.stripPrefix === undefined ? undefined : validateStrip(v.stripPrefix, pathPrefix, errors),
    addPrefix: addPrefix?.ok === true ? addPrefix.value : undefined,
    requestHeaders:
      v.requestHeaders === undefined ? undefined : validateHeaderRules('requestHeaders', v.requestHeaders, errors),
    responseHeaders:
      v.responseHeaders === undefined ? undefined : validateHeaderRules('responseHeaders', v.responseHeaders, errors),
    redirect: v.redirect === undefined ? undefined : validateRedirect(v.redirect, errors),
    httpsRedirect: v.httpsRedirect === true,
    timeoutMs: v.timeout === undefined ? undefined : duration('timeout', v.timeout, TIMEOUT_RANGE_MS, errors),
    retries: v.retries as number | undefined,
    maxBodyBytes: v.maxBodyBytes as number | undefined,
    rateLimit: v.rateLimit === undefined ? undefined : validateRateLimit(v.rateLimit, errors),
    allow: v.allow === undefined ? undefined : validateAddresses('allow', v.allow, errors),
    deny: v.deny === undefined ? undefined : validateAddresses('deny', v.deny, errors),
    services,
  };
  if (errors.length > before) return undefined;
  const given = services !== undefined || POLICY_FIELDS.some((f) => v[f] !== undefined && v[f] !== false);
  return given ? Object.freeze(policy) : undefined;
}

export function formatDuration(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

/**
 * The policy as JSON fields of a route value (canonical: fixed order, defaults omitted), added to
 * `out`. What `encodeRoute` writes and what /api/table can show; CIDRs in their canonical text.
 */
export function policyJson(policy: RoutePolicy, pathPrefix: string, out: Record<string, unknown>): void {
  const p = policy;
  if (p.stripPrefix !== undefined) out.stripPrefix = p.stripPrefix === pathPrefix ? true : p.stripPrefix;
  if (p.addPrefix !== undefined) out.addPrefix = p.addPrefix;
  if (p.requestHeaders !== undefined) out.requestHeaders = headerRulesJson(p.requestHeaders);
  if (p.responseHeaders !== undefined) out.responseHeaders = headerRulesJson(p.responseHeaders);
  if (p.redirect !== undefined) {
    const { to, code, keepPath } = p.redirect;
    out.redirect = { to, ...(code !== DEFAULT_REDIRECT_CODE ? { code } : {}), ...(keepPath ? {} : { keepPath }) };
  }
  if (p.httpsRedirect) out.httpsRedirect = true;
  if (p.timeoutMs !== undefined) out.timeout = formatDuration(p.timeoutMs);
  if (p.retries !== undefined) out.retries = p.retries;
  if (p.maxBodyBytes !== undefined) out.maxBodyBytes = p.maxBodyBytes;
  if (p.rateLimit !== undefined) {
    const { average, burst, periodMs } = p.rateLimit;
    out.rateLimit = {
      average,
      burst,
      ...(periodMs !== DEFAULT_RATE_PERIOD_MS ? { period: formatDuration(periodMs) } : {}),
    };
  }
  if (p.allow !== undefined) out.allow = p.allow.map((b) => b.text);
  if (p.deny !== undefined) out.deny = p.deny.map((b) => b.text);
}
