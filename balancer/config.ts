// Balancer configuration: flags > environment > defaults, validated once, frozen.
import { availableParallelism } from 'node:os';
import { checkEtcdSettings, etcdOptionDefs } from '../common/etcd-client.js';
import { LOG_FORMATS, LOG_LEVELS } from '../common/logger.js';
import { flagName, option, parseOptions, type OptionValues } from '../common/options.js';
import {
  durationAtLeast,
  parseBoolean,
  parseEnum,
  parseInteger,
  parseKeyPrefix,
  parseListenAddress,
  parseNonEmpty,
  type ListenAddress,
} from '../common/parsers.js';
import { DEFAULT_PREFIX, isValidServiceName } from '../common/registry.js';
import { DEFAULT_ROUTES_PREFIX, parseRouteFlag, type LbPolicy, type RouteRule } from '../common/route-spec.js';
import { parseCidrList, type CidrBlock } from '../common/cidr.js';

function parseService(raw: string): string {
  const v = parseNonEmpty(raw);
  if (!isValidServiceName(v))
    throw new Error(`expected a service name (letters, digits, . _ -), got ${JSON.stringify(raw)}`);
  return v;
}

function parseWorkers(raw: string): number {
  if (raw.trim() === 'auto') return availableParallelism();
  return parseInteger(1, 64)(raw);
}

/** `off` or an inner value: for options that are off by default and may be switched off by env or flag. */
function orOff<T>(parse: (raw: string) => T) {
  return (raw: string): T | undefined => (raw.trim() === 'off' ? undefined : parse(raw));
}

const HSTS_UNITS: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600, d: 86_400 };
const HSTS_MAX = 2_147_483_647;

/** HSTS max-age in whole seconds: a bare number is seconds (as in the header), or with a unit s, m, h, d. */
export function parseHstsMaxAge(raw: string): number {
  const m = /^(\d+)([smhd])?$/.exec(raw.trim());
  const seconds = m ? Number(m[1]) * (HSTS_UNITS[m[2] ?? 's'] ?? 1) : NaN;
  if (!m || seconds > HSTS_MAX)
    throw new Error(
      `expected seconds or a duration such as 31536000, 365d or 12h (or off), got ${JSON.stringify(raw)}`,
    );
  return seconds;
}

function parseAccessLog(raw: string): string {
  const v = raw.trim();
  if (v === '') throw new Error('expected off, stdout, stderr or a file path');
  return v;
}

const sameAddress = (a: ListenAddress, b: ListenAddress): boolean =>
  a.port !== 0 && a.port === b.port && a.host === b.host;
const overlaps = (a: string, b: string): boolean => a === b || a.startsWith(`${b}/`) || b.startsWith(`${a}/`);

const group = { proxy: 'proxy', tls: 'tls', routing: 'routing', registry: 'registry', ops: 'operations' };

export const balancerOptions = {
  ...etcdOptionDefs('BALANCER'),
  listen: option({
    env: ['BALANCER_LISTEN'],
    default: parseListenAddress('0.0.0.0:8080'),
    defaultText: '0.0.0.0:8080',
    parse: parseListenAddress,
    group: group.proxy,
    placeholder: 'host:port',
    describe: 'proxy listener for HTTP and WebSocket traffic',
  }),
  tlsListen: option({
    env: ['BALANCER_TLS_LISTEN'],
    default: undefined as ListenAddress | undefined,
    defaultText: 'off',
    parse: orOff(parseListenAddress),
    group: group.tls,
    placeholder: 'host:port',
    describe:
      'HTTPS listener beside --listen: HTTP/2 and HTTP/1.1 by ALPN, TLS ≥ 1.2, WebSocket over HTTP/1.1; ' +
      'needs --tls-cert and --tls-key',
  }),
  tlsCert: option({
    env: ['BALANCER_TLS_CERTS'],
    default: Object.freeze([]) as readonly string[],
    parse: (raw: string) => [parseNonEmpty(raw)],
    repeatable: true,
    group: group.tls,
    placeholder: 'file',
    describe:
      'certificate (PEM, may hold the chain) chosen by SNI against its DNS names (repeatable); ' +
      'the first serves when none matches; re-read when changed and on SIGHUP',
  }),
  tlsKey: option({
    env: ['BALANCER_TLS_KEYS'],
    default: Object.freeze([]) as readonly string[],
    parse: (raw: string) => [parseNonEmpty(raw)],
    repeatable: true,
    group: group.tls,
    placeholder: 'file',
    describe: 'private key (PEM, unencrypted) of the n-th --tls-cert (repeatable)',
  }),
  tlsPrefix: option({
    env: ['BALANCER_TLS_PREFIX'],
    default: undefined as string | undefined,
    defaultText: 'off',
    parse: orOff(parseKeyPrefix),
    group: group.tls,
    placeholder: 'path',
    describe:
      'also serve certificates from etcd: key <prefix>/<name>, value {"cert": PEM, "key": PEM}; ' +
      'watched, a deleted key stops being served',
  }),
  redirectHttps: option({
    env: ['BALANCER_REDIRECT_HTTPS'],
    default: false,
    parse: parseBoolean,
    boolean: true,
    group: group.tls,
    describe:
      'the plain listener answers 308 to https://<host><path> (ACME /.well-known/acme-challenge/ is still proxied)',
  }),
  hsts: option({
    env: ['BALANCER_HSTS'],
    default: undefined as number | undefined,
    defaultText: 'off',
    parse: orOff(parseHstsMaxAge),
    group: group.tls,
    placeholder: 'max-age',
    describe:
      'add Strict-Transport-Security to HTTPS responses: seconds (as in the header) or with a unit s, m, h, d (365d)',
  }),
  admin: option({
    env: ['BALANCER_ADMIN'],
    default: parseListenAddress('127.0.0.1:9090'),
    defaultText: '127.0.0.1:9090',
    parse: parseListenAddress,
    group: group.ops,
    placeholder: 'host:port',
    describe:
      'admin listener: dashboard (/), /healthz, /readyz, /metrics, /api/table, /api/stats ' +
      '(keep it on loopback or a private network)',
  }),
  prefix: option({
    env: ['BALANCER_PREFIX'],
    default: DEFAULT_PREFIX,
    parse: parseKeyPrefix,
    group: group.registry,
    placeholder: 'path',
    describe: 'etcd key prefix of the entries written by sidekicks',
  }),
  routesPrefix: option({
    env: ['BALANCER_ROUTES_PREFIX'],
    default: DEFAULT_ROUTES_PREFIX,
    parse: parseKeyPrefix,
    group: group.registry,
    placeholder: 'path',
    describe: 'etcd key prefix of route rules',
  }),
  resync: option({
    env: ['BALANCER_RESYNC'],
    default: 60_000,
    defaultText: '60s',
    parse: durationAtLeast(1000),
    group: group.registry,
    placeholder: 'duration',
    describe: 'periodic consistency check: re-read the registry and correct drift',
  }),
  restoreGrace: option({
    env: ['BALANCER_RESTORE_GRACE'],
    default: 10_000,
    defaultText: '10s',
    parse: durationAtLeast(0, 600_000),
    group: group.registry,
    placeholder: 'duration',
    describe:
      'etcd lost its data (revision went backwards): entries missing from the new registry keep serving ' +
      'this long while sidekicks republish; 0 drops them at once',
  }),
  backendsAllow: option({
    env: ['BALANCER_BACKENDS_ALLOW'],
    default: undefined as readonly CidrBlock[] | undefined,
    defaultText: 'all',
    parse: (raw: string) => parseCidrList(raw),
    group: group.registry,
    placeholder: 'cidrs',
    describe: 'only accept entries whose host is inside these CIDRs (DNS names are then rejected)',
  }),
  route: option({
    env: ['BALANCER_ROUTES'],
    default: Object.freeze([]) as readonly RouteRule[],
    parse: (raw: string) => [parseRouteFlag(raw)],
    repeatable: true,
    group: group.routing,
    placeholder: 'rule',
    describe:
      "routing rule '<host><path>=<service>' (repeatable), " +
      "e.g. 'api.example.com/v1=api', '*.example.com=web', '/static=assets'",
  }),
  defaultService: option({
    env: ['BALANCER_DEFAULT_SERVICE'],
    default: undefined as string | undefined,
    parse: parseService,
    group: group.routing,
    placeholder: 'service',
    describe: 'service for requests no rule matches (otherwise 404)',
  }),
  lb: option({
    env: ['BALANCER_LB'],
    default: 'round-robin' as LbPolicy,
    parse: parseEnum<LbPolicy>('round-robin', 'least-request'),
    group: group.routing,
    placeholder: 'policy',
    describe: 'picker: round-robin (smooth weighted) or least-request (power of two choices); routes may override',
  }),
  retries: option({
    env: ['BALANCER_RETRIES'],
    default: 2,
    parse: parseInteger(0, 10),
    group: group.proxy,
    placeholder: 'n',
    describe: 'retries on another backend after a connect failure (within a 20 % retry budget)',
  }),
  upstreamTimeout: option({
    env: ['BALANCER_UPSTREAM_TIMEOUT'],
    default: 30_000,
    defaultText: '30s',
    parse: durationAtLeast(10, 3_600_000),
    group: group.proxy,
    placeholder: 'duration',
    describe: 'time allowed for a backend’s response headers; then 504',
  }),
  upstreamIdleTimeout: option({
    env: ['BALANCER_UPSTREAM_IDLE_TIMEOUT'],
    default: 60_000,
    defaultText: '60s',
    parse: durationAtLeast(100, 3_600_000),
    group: group.proxy,
    placeholder: 'duration',
    describe: 'after the response headers, no byte from the backend for this long ends the exchange',
  }),
  clientTimeout: option({
    env: ['BALANCER_CLIENT_TIMEOUT'],
    default: 60_000,
    defaultText: '60s',
    parse: durationAtLeast(1000, 3_600_000),
    group: group.proxy,
    placeholder: 'duration',
    describe: 'a keep-alive client idle this long, or a request body with no byte for this long (408), is closed',
  }),
  ejectCooldown: option({
    env: ['BALANCER_EJECT_COOLDOWN'],
    default: 10_000,
    defaultText: '10s',
    parse: durationAtLeast(1000, 3_600_000),
    group: group.proxy,
    placeholder: 'duration',
    describe: 'how long a backend that refused a connection gets no requests',
  }),
  trustedProxies: option({
    env: ['BALANCER_TRUSTED_PROXIES'],
    default: Object.freeze([]) as readonly CidrBlock[],
    defaultText: 'none',
    parse: (raw: string) => parseCidrList(raw),
    group: group.proxy,
    placeholder: 'cidrs',
    describe: 'peers whose X-Forwarded-* headers are kept and appended to',
  }),
  stickySecret: option({
    env: ['BALANCER_STICKY_SECRET'],
    default: undefined as string | undefined,
    defaultText: 'random per start',
    parse: (raw: string) => {
      if (raw.length < 16) throw new Error('expected at least 16 characters');
      return raw;
    },
    group: group.routing,
    placeholder: 'secret',
    describe: 'HMAC key of the sticky cookie; set the same value on every balancer that serves the same clients',
  }),
  drain: option({
    env: ['BALANCER_DRAIN'],
    default: 5000,
    defaultText: '5s',
    parse: durationAtLeast(0, 3_600_000),
    group: group.proxy,
    placeholder: 'duration',
    describe: 'WebSockets to a withdrawn backend are closed within this period',
  }),
  acceptGrace: option({
    env: ['BALANCER_ACCEPT_GRACE'],
    default: 0,
    defaultText: '0s',
    parse: durationAtLeast(0, 3_600_000),
    group: group.ops,
    placeholder: 'duration',
    describe: 'on SIGTERM: /readyz answers 503 at once while the proxy keeps accepting this long, then --grace',
  }),
  grace: option({
    env: ['BALANCER_GRACE'],
    default: 10_000,
    defaultText: '10s',
    parse: durationAtLeast(0, 3_600_000),
    group: group.ops,
    placeholder: 'duration',
    describe:
      'on SIGTERM, after --accept-grace: time in-flight requests get to finish; then open WebSockets get a 1001 close',
  }),
  workers: option({
    env: ['BALANCER_WORKERS'],
    default: 1,
    parse: parseWorkers,
    group: group.ops,
    placeholder: 'n|auto',
    describe: 'proxy processes sharing the listener; auto = one per core',
  }),
  accessLog: option({
    env: ['BALANCER_ACCESS_LOG'],
    default: 'off',
    parse: parseAccessLog,
    group: group.ops,
    placeholder: 'off|stdout|stderr|file',
    describe: 'one line per request: off, stdout, stderr or a file (appended, shared by workers, reopened on SIGHUP)',
  }),
  accessLogFormat: option({
    env: ['BALANCER_ACCESS_LOG_FORMAT'],
    default: 'json' as 'json' | 'combined',
    parse: parseEnum('json', 'combined'),
    group: group.ops,
    placeholder: 'format',
    describe: 'access log lines: json (the documented fields) or combined (nginx/Apache)',
  }),
  logLevel: option({
    env: ['BALANCER_LOG_LEVEL', 'LOG_LEVEL'],
    default: 'info' as (typeof LOG_LEVELS)[number],
    parse: parseEnum(...LOG_LEVELS),
    group: group.ops,
    placeholder: 'level',
    describe: 'log level: fatal, error, warn, info, debug, trace, silent',
  }),
  logFormat: option({
    env: ['BALANCER_LOG_FORMAT', 'LOG_FORMAT'],
    default: 'auto' as (typeof LOG_FORMATS)[number],
    parse: parseEnum(...LOG_FORMATS),
    group: group.ops,
    placeholder: 'format',
    describe: 'logs as JSON lines, or pretty (coloured, for people); auto = pretty on a terminal',
  }),
};

export type BalancerConfig = OptionValues<typeof balancerOptions>;

export interface LoadedBalancerConfig {
  readonly config: BalancerConfig;
  readonly help: boolean;
  readonly version: boolean;
}

export function loadBalancerConfig(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): LoadedBalancerConfig {
  const parsed = parseOptions(balancerOptions, argv, env, crossCheck);
  return { config: parsed.values, help: parsed.help, version: parsed.version };
}

function crossCheck(v: BalancerConfig): string[] {
  const problems = checkEtcdSettings(v);
  if (sameAddress(v.listen, v.admin)) {
    problems.push(`${flagName('admin')}: must differ from --listen (admin paths are never served on the proxy port)`);
  }
  problems.push(...checkTls(v));
  if (
    v.prefix === v.routesPrefix ||
    v.routesPrefix.startsWith(`${v.prefix}/`) ||
    v.prefix.startsWith(`${v.routesPrefix}/`)
  ) {
    problems.push('--routes-prefix: must not overlap --prefix');
  }
  return problems;
}

function checkTls(v: BalancerConfig): string[] {
  const problems: string[] = [];
  if (v.tlsKey.length !== v.tlsCert.length) {
    problems.push(
      `--tls-key: ${v.tlsKey.length} given for ${v.tlsCert.length} --tls-cert ` +
        "(the n-th --tls-key is the n-th certificate's key)",
    );
  }
  if (v.tlsListen === undefined) {
    const needing = (['tlsCert', 'tlsKey', 'tlsPrefix', 'redirectHttps', 'hsts'] as const).filter((k) => {
      const value = v[k];
      return Array.isArray(value) ? value.length > 0 : value !== undefined && value !== false;
    });
    for (const k of needing) problems.push(`${flagName(k)}: needs --tls-listen`);
    return problems;
  }
  if (v.tlsCert.length === 0) problems.push('--tls-cert: --tls-listen needs at least one --tls-cert and --tls-key');
  if (sameAddress(v.tlsListen, v.listen)) problems.push('--tls-listen: must differ from --listen');
  if (sameAddress(v.tlsListen, v.admin)) problems.push('--tls-listen: must differ from --admin');
  if (v.tlsPrefix !== undefined && (overlaps(v.tlsPrefix, v.prefix) || overlaps(v.tlsPrefix, v.routesPrefix))) {
    problems.push('--tls-prefix: must not overlap --prefix or --routes-prefix');
  }
  return problems;
}
