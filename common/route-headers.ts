// The `requestHeaders` / `responseHeaders` fields of a route: `{"set": {name: value}, "remove": [name]}`.
// Validation only; the proxy applies the result (balancer/proxy/policy/header-rules.ts).
import { isRecord } from './registry-basics.js';

/** Validated header edits: names lower case, each named once across `set` and `remove`. */
export interface HeaderRules {
  /** `[name, value]` in the order given. */
  readonly set: readonly (readonly [string, string])[];
  readonly remove: readonly string[];
}

export const MAX_HEADER_RULES = 32;
export const MAX_HEADER_NAME_LENGTH = 128;
export const MAX_HEADER_VALUE_LENGTH = 4096;

// RFC 9110 §5.6.2 token.
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// What node:http's setHeader accepts (anything else throws at request time): tab, visible ASCII,
// space, and obs-text. So no CR, LF, NUL or other control characters, and nothing above U+00FF.
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

/**
 * Names a route may not set or remove: hop-by-hop fields (the proxy owns the connection) and the
 * ones the proxy writes itself (forwarding, request id, framing, routing). Letting a route touch
 * them would let an etcd writer forge client addresses or break message framing.
 */
export const RESERVED_HEADERS: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'forwarded',
  'x-real-ip',
  'x-request-id',
  'host',
  'content-length',
]);

export function isReservedHeader(lowerName: string): boolean {
  return RESERVED_HEADERS.has(lowerName) || lowerName.startsWith('x-forwarded-');
}

function quote(v: unknown): string {
  return (JSON.stringify(v) ?? String(v)).slice(0, 64);
}

/** Lower-case name, or undefined after recording why it is refused. */
function headerName(field: string, raw: unknown, errors: string[]): string | undefined {
  if (typeof raw !== 'string' || raw.length === 0 || raw.length > MAX_HEADER_NAME_LENGTH || !TOKEN.test(raw)) {
    errors.push(
      `${field}: header name must be an HTTP token of 1 to ${MAX_HEADER_NAME_LENGTH} characters, got ${quote(raw)}`,
    );
    return undefined;
  }
  const name = raw.toLowerCase();
  if (name === '__proto__') {
    // `headers['__proto__'] = v` would hit the prototype setter, not create a header.
    errors.push(`${field}: header name __proto__ is not supported`);
    return undefined;
  }
  if (isReservedHeader(name)) {
    errors.push(`${field}: header ${raw} is hop-by-hop or set by the proxy and cannot be changed by a route`);
    return undefined;
  }
  return name;
}

/** Validates one header-rules field; pushes every problem to `errors`. */
export function validateHeaderRules(field: string, input: unknown, errors: string[]): HeaderRules | undefined {
  if (!isRecord(input)) {
    errors.push(`${field} must be an object {"set": {name: value}, "remove": [name]}`);
    return undefined;
  }
  const before = errors.length;
  for (const k of Object.keys(input))
    if (k !== 'set' && k !== 'remove') errors.push(`${field}: unknown key ${quote(k)} (expected set, remove)`);
  const seen = new Set<string>();
  const once = (name: string): boolean => {
    if (!seen.has(name)) return (seen.add(name), true);
    errors.push(`${field}: header ${name} is named more than once`);
    return false;
  };
  const set: [string, string][] = [];
  if (input.set !== undefined) {
    if (!isRecord(input.set)) errors.push(`${field}.set must be an object of header name → string value`);
    else {
      const pairs = Object.entries(input.set);
      if (pairs.length > MAX_HEADER_RULES) errors.push(`${field}.set has more than ${MAX_HEADER_RULES} headers`);
      else
        for (const [rawName, value] of pairs) {
          const name = headerName(`${field}.set`, rawName, errors);
          if (typeof value !== 'string' || value.length > MAX_HEADER_VALUE_LENGTH || !FIELD_VALUE.test(value)) {
            errors.push(
              `${field}.set: value of ${quote(rawName)} must be a string of at most ${MAX_HEADER_VALUE_LENGTH} ` +
                'characters without CR, LF, NUL or other control characters',
            );
          } else if (name !== undefined && once(name)) set.push([name, value]);
        }
    }
  }
  const remove: string[] = [];
  if (input.remove !== undefined) {
    if (!Array.isArray(input.remove)) errors.push(`${field}.remove must be an array of header names`);
    else if (input.remove.length > MAX_HEADER_RULES)
      errors.push(`${field}.remove has more than ${MAX_HEADER_RULES} headers`);
    else
      for (const rawName of input.remove as unknown[]) {
        const name = headerName(`${field}.remove`, rawName, errors);
        if (name !== undefined && once(name)) remove.push(name);
      }
  }
  if (errors.length > before) return undefined;
  return Object.freeze({ set: Object.freeze(set.map((p) => Object.freeze(p))), remove: Object.freeze(remove) });
}

/** The JSON form of validated rules (names lower case), for encodeRoute and /api/table. */
export function headerRulesJson(rules: HeaderRules): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (rules.set.length > 0) out.set = Object.fromEntries(rules.set);
  if (rules.remove.length > 0) out.remove = [...rules.remove];
  return out;
}
