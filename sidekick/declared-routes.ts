// Which routes a container declares for its service (pure): label `sidekick.route=<host><path>[,…]`
// (the `--route` rule syntax without `=service`), or nginx-proxy's VIRTUAL_HOST (comma-separated
// hosts) with VIRTUAL_PATH, as labels or environment variables (label beats env); plus
// `sidekick.route.<field>=<value>` for any field of a route value, applied to each declared route.
// A value is read as JSON when it parses as JSON (`true`, `3`, `{"set":…}`, `[…]`), else as the
// string it is (`/api`, `5s`). A route that fails the registry's rules is dropped with a warning
// and the container is still published, as with a bad check.
import { type DeclaredRoute, MAX_DECLARED_ROUTES, ruleId, validateDeclaredRoute } from '../common/route-spec.js';
import { POLICY_FIELDS } from '../common/route-policy.js';
import type { Container } from './container.js';

export interface RoutesResult {
  readonly routes: readonly DeclaredRoute[];
  readonly warnings: readonly string[];
}

const ROUTE_LABEL = 'sidekick.route';
const FIELD_LABEL = `${ROUTE_LABEL}.`;
/** The fields `sidekick.route.<field>` may set: a route value's, except what the label itself gives. */
const FIELDS: ReadonlySet<string> = new Set([...POLICY_FIELDS, 'lb', 'sticky']);

/** nginx-proxy's variables: label beats environment variable. */
export function virtualSetting(c: Container, name: 'VIRTUAL_HOST' | 'VIRTUAL_PATH' | 'VIRTUAL_PORT') {
  return c.labels[name] ?? c.env[name];
}

/** VIRTUAL_HOST's hosts, trimmed, empty items skipped. */
export function virtualHosts(c: Container): string[] {
  return (virtualSetting(c, 'VIRTUAL_HOST') ?? '')
    .split(',')
    .map((h) => h.trim())
    .filter((h) => h.length > 0);
}

function labelValue(raw: string): unknown {
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return raw;
  }
}

/** `<host><path>` → host and pathPrefix, as `--route` splits them (the host ends at the first `/`). */
function splitRule(rule: string): Record<string, unknown> {
  const slash = rule.indexOf('/');
  const host = slash === -1 ? rule : rule.slice(0, slash);
  return { ...(host !== '' ? { host } : {}), pathPrefix: slash === -1 ? '/' : rule.slice(slash) };
}

/** The rules without policies, from `sidekick.route` if set, else from VIRTUAL_HOST × VIRTUAL_PATH. */
function rules(c: Container, warnings: string[]): Array<{ rule: Record<string, unknown>; from: string }> {
  const label = c.labels[ROUTE_LABEL];
  if (label !== undefined) {
    return label
      .split(',')
      .map((r) => r.trim())
      .filter((r) => r.length > 0)
      .map((r) => ({ rule: splitRule(r), from: `label ${ROUTE_LABEL}=${r}` }));
  }
  const path = virtualSetting(c, 'VIRTUAL_PATH')?.trim() || '/';
  if (path.startsWith('~')) {
    warnings.push(`container ${c.name}: VIRTUAL_PATH ${JSON.stringify(path)} is a regular expression; no route`);
    return [];
  }
  const out: Array<{ rule: Record<string, unknown>; from: string }> = [];
  for (const host of virtualHosts(c)) {
    if (host.startsWith('~'))
      warnings.push(`container ${c.name}: VIRTUAL_HOST ${host} is a regular expression; skipped`);
    else out.push({ rule: { host, pathPrefix: path }, from: `VIRTUAL_HOST ${host}` });
  }
  return out;
}

/** The `sidekick.route.<field>` labels as route fields; unknown fields are warned about and ignored. */
function fields(c: Container, warnings: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(c.labels)) {
    if (!k.startsWith(FIELD_LABEL)) continue;
    const field = k.slice(FIELD_LABEL.length);
    if (FIELDS.has(field)) Object.defineProperty(out, field, { value: labelValue(v), enumerable: true });
    else warnings.push(`container ${c.name}: unknown label ${k} (a route field such as stripPrefix); ignored`);
  }
  return out;
}

export function resolveRoutes(c: Container): RoutesResult {
  const warnings: string[] = [];
  const declared = rules(c, warnings);
  if (declared.length === 0) return { routes: [], warnings };
  const extra = fields(c, warnings);
  const routes: DeclaredRoute[] = [];
  const seen = new Set<string>();
  for (const { rule, from } of declared) {
    const decoded = validateDeclaredRoute({ ...extra, ...rule });
    if (!decoded.ok) {
      warnings.push(`container ${c.name}: invalid route from ${from}: ${decoded.error}; not declared`);
      continue;
    }
    const id = ruleId(decoded.value);
    if (seen.has(id)) continue; // the same rule twice in one label: once is enough
    seen.add(id);
    routes.push(decoded.value);
  }
  if (routes.length > MAX_DECLARED_ROUTES) {
    warnings.push(`container ${c.name}: more than ${MAX_DECLARED_ROUTES} routes; only the first are declared`);
    routes.length = MAX_DECLARED_ROUTES;
  }
  return { routes, warnings };
}
