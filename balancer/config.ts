// Balancer configuration: flags > environment > defaults, validated once, frozen.
import { availableParallelism } from 'node:os';
import { checkEtcdSettings, etcdOptionDefs } from '../common/etcd-client.js';
import { LOG_FORMATS, LOG_LEVELS } from '../common/logger.js';
import { flagName, option, parseOptions, type OptionValues } from '../common/options.js';
import {
  durationAtLeast,
  parseEnum,
  parseInteger,
  parseKeyPrefix,
  parseListenAddress,
  parseNonEmpty,
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

const group = { proxy: 'proxy', routing: 'routing', registry: 'registry', ops: 'operations' };

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
    describe: 'on SIGTERM: time in-flight requests get to finish',
  }),
  workers: option({
    env: ['BALANCER_WORKERS'],
    default: 1,
    parse: parseWorkers,
    group: group.ops,
    placeholder: 'n|auto',
    describe: 'proxy processes sharing the listener; auto = one per core',
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
  if (v.listen.port !== 0 && v.listen.port === v.admin.port && v.listen.host === v.admin.host) {
    problems.push(`${flagName('admin')}: must differ from --listen (admin paths are never served on the proxy port)`);
  }
  if (
    v.prefix === v.routesPrefix ||
    v.routesPrefix.startsWith(`${v.prefix}/`) ||
    v.prefix.startsWith(`${v.routesPrefix}/`)
  ) {
    problems.push('--routes-prefix: must not overlap --prefix');
  }
  return problems;
}
