// Which services a container offers: opt-in, names, ports, weight, tags, declared routes.
// Sources, highest first: `sidekick.*` labels, registrator's SERVICE_* labels, SERVICE_* env vars.
import { type DeclaredRoute, isValidInstanceId, isValidServiceName, type EntryCheck } from '../common/registry.js';
import { resolveCheck } from './check-spec.js';
import type { Container, Protocol } from './container.js';
import { resolveRoutes, virtualHosts, virtualSetting } from './declared-routes.js';

export interface ServiceSpec {
  readonly service: string;
  readonly port: number;
  readonly protocol: Protocol;
  /** registrator's SERVICE_ID: replaces the computed instance id. */
  readonly instance: string | undefined;
  readonly weight: number;
  readonly tags: readonly string[];
  /** Active health check for the balancer (see check-spec.ts); undefined = none. */
  readonly check?: EntryCheck;
  /** Routes the container declares for this service (see declared-routes.ts); absent = none. */
  readonly routes?: readonly DeclaredRoute[];
}

export interface SpecResult {
  readonly specs: readonly ServiceSpec[];
  /** Reasons a container that opted in publishes less than it asked for. */
  readonly warnings: readonly string[];
}

export interface SpecOptions {
  /** `--all`: containers with published ports but no name are published as their image basename. */
  readonly all: boolean;
  /** Per-container mode: the followed container is opted in by being named on the command line. */
  readonly implicit: boolean;
}

const TRUE = new Set(['1', 'true', 'yes', 'on']);

/** label `sidekick.<name>` > label `SERVICE_<NAME>` > env `SERVICE_<NAME>` */
function attr(c: Container, sidekickLabel: string | undefined, registratorName: string): string | undefined {
  const fromLabel = sidekickLabel !== undefined ? c.labels[sidekickLabel] : undefined;
  return fromLabel ?? c.labels[registratorName] ?? c.env[registratorName];
}

/** `registry:5000/team/app:1.2@sha256:…` → `app` (registrator's default name). */
export function imageBasename(image: string): string {
  const noDigest = image.split('@')[0] ?? '';
  const lastSlash = noDigest.lastIndexOf('/');
  const tail = noDigest.slice(lastSlash + 1);
  const colon = tail.indexOf(':');
  return colon === -1 ? tail : tail.slice(0, colon);
}

function parseTags(raw: string | undefined): string[] {
  return (raw ?? '')
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t.length > 0);
}

function parsePortLabel(raw: string): { port: number; protocol: Protocol } | undefined {
  const m = /^\s*(\d{1,5})(?:\/(tcp|udp))?\s*$/.exec(raw);
  const port = m ? Number(m[1]) : 0;
  return m && port >= 1 && port <= 65535 ? { port, protocol: (m[2] ?? 'tcp') as Protocol } : undefined;
}

/** registrator's per-port variables: SERVICE_<port>_NAME, _TAGS, _IGNORE, _ID */
function perPortNames(c: Container): Array<{ port: number; name: string }> {
  const out = new Map<number, string>();
  // Label beats env: a name label is not overridden by per-port names from the environment
  // (often baked into the image).
  const nameLabel = c.labels['sidekick.service'] !== undefined || c.labels.SERVICE_NAME !== undefined;
  for (const source of nameLabel ? [c.labels] : [c.env, c.labels]) {
    for (const [k, v] of Object.entries(source)) {
      const m = /^SERVICE_(\d{1,5})_NAME$/.exec(k);
      if (m) out.set(Number(m[1]), v); // labels processed last: label beats env
    }
  }
  return [...out].map(([port, name]) => ({ port, name })).sort((a, b) => a.port - b.port);
}

export function resolveServices(c: Container, opts: SpecOptions): SpecResult {
  const warnings: string[] = [];
  if (TRUE.has((attr(c, 'sidekick.ignore', 'SERVICE_IGNORE') ?? '').toLowerCase())) return { specs: [], warnings };

  const rawWeight = attr(c, 'sidekick.weight', 'SERVICE_WEIGHT');
  let weight = 1;
  if (rawWeight !== undefined) {
    const n = Number(rawWeight);
    if (/^\d+$/.test(rawWeight.trim()) && n <= 1_000_000) weight = n;
    else
      warnings.push(
        `container ${c.name}: ignoring invalid weight ${JSON.stringify(rawWeight)} (integer 0..1000000), using 1`,
      );
  }
  const tags = parseTags(attr(c, 'sidekick.tags', 'SERVICE_TAGS'));
  const instance = attr(c, 'sidekick.id', 'SERVICE_ID');

  const make = (
    service: string,
    port: number,
    protocol: Protocol,
    portTags = tags,
    portInstance = instance,
  ): ServiceSpec | undefined => {
    if (!isValidServiceName(service)) {
      warnings.push(`container ${c.name}: invalid service name ${JSON.stringify(service)} (letters, digits, . _ -)`);
      return undefined;
    }
    if (portInstance !== undefined && !isValidInstanceId(portInstance)) {
      const id = JSON.stringify(portInstance);
      warnings.push(`container ${c.name}: invalid instance id ${id} (no '/', whitespace or control characters)`);
      return undefined;
    }
    const { check, warning } = resolveCheck(c, port, protocol);
    if (warning !== undefined) warnings.push(warning);
    return { service, port, protocol, instance: portInstance, weight, tags: portTags, check };
  };

  const perPort = perPortNames(c);
  if (perPort.length > 0) {
    const specs: ServiceSpec[] = [];
    for (const { port, name } of perPort) {
      if (TRUE.has((attr(c, undefined, `SERVICE_${port}_IGNORE`) ?? '').toLowerCase())) continue;
      const known = c.ports.find((p) => p.port === port);
      const portTags = attr(c, undefined, `SERVICE_${port}_TAGS`);
      const spec = make(
        name,
        port,
        known?.protocol ?? 'tcp',
        portTags !== undefined ? parseTags(portTags) : tags,
        attr(c, undefined, `SERVICE_${port}_ID`),
      );
      if (spec) specs.push(spec);
    }
    return withRoutes(c, specs, warnings);
  }

  // nginx-proxy's VIRTUAL_HOST opts a container in, named (as nginx-proxy groups) by its first host.
  const named = attr(c, 'sidekick.service', 'SERVICE_NAME') ?? virtualHosts(c)[0]?.toLowerCase();
  const published = c.ports.filter((p) => p.bindings.length > 0);
  let service = named;
  if (service === undefined && opts.implicit) service = imageBasename(c.image);
  if (service === undefined && opts.all && (published.length > 0 || c.hostNetwork)) service = imageBasename(c.image);
  if (service === undefined) return { specs: [], warnings };

  const portLabel = c.labels['sidekick.port'];
  const virtualPort = virtualSetting(c, 'VIRTUAL_PORT');
  const portSetting = portLabel ?? virtualPort;
  if (portSetting !== undefined) {
    const parsed = parsePortLabel(portSetting);
    if (!parsed) {
      const label = `${portLabel !== undefined ? 'sidekick.port' : 'VIRTUAL_PORT'}=${JSON.stringify(portSetting)}`;
      warnings.push(`container ${c.name}: invalid ${label} (expected 80 or 53/udp); not published`);
      return { specs: [], warnings };
    }
    const spec = make(service, parsed.port, parsed.protocol);
    return withRoutes(c, spec ? [spec] : [], warnings);
  }
  // Without a port label: the single published port, else the single exposed one.
  const candidates = published.length > 0 ? published : c.ports;
  const only = candidates.length === 1 ? candidates[0] : undefined;
  if (only === undefined) {
    const list = candidates.map((p) => `${p.port}/${p.protocol}`).join(', ') || 'none';
    warnings.push(`container ${c.name}: cannot choose a port (ports: ${list}); set label sidekick.port`);
    return { specs: [], warnings };
  }
  const spec = make(service, only.port, only.protocol);
  return withRoutes(c, spec ? [spec] : [], warnings);
}

/**
 * Attaches the container's declared routes to its one TCP service. A container that publishes
 * several services (SERVICE_<port>_NAME) or only UDP declares none: which service a route means
 * would be a guess.
 */
function withRoutes(c: Container, specs: ServiceSpec[], warnings: string[]): SpecResult {
  if (specs.length === 0) return { specs, warnings };
  const { routes, warnings: routeWarnings } = resolveRoutes(c);
  warnings.push(...routeWarnings);
  if (routes.length === 0) return { specs, warnings };
  const [only] = specs;
  if (specs.length > 1 || only?.protocol !== 'tcp') {
    warnings.push(`container ${c.name}: routes are declared for one TCP service only; ignored`);
    return { specs, warnings };
  }
  return { specs: [{ ...only, routes }], warnings };
}
