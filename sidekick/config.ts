// Sidekick configuration: flags > environment > defaults, validated once, frozen.
import type { NetworkInterfaceInfo } from 'node:os';
import { checkEtcdSettings, etcdOptionDefs } from '../common/etcd-client.js';
import { LOG_FORMATS, LOG_LEVELS } from '../common/logger.js';
import { option, parseOptions, type OptionValues } from '../common/options.js';
import {
  durationAtLeast,
  parseBoolean,
  parseEnum,
  parseIp,
  parseKeyPrefix,
  parseListenAddress,
  parseNonEmpty,
  type ListenAddress,
} from '../common/parsers.js';
import { DEFAULT_PREFIX } from '../common/registry.js';

function parseMetrics(raw: string): ListenAddress | 'off' {
  return raw.trim() === 'off' ? 'off' : parseListenAddress(raw);
}

function parseDockerHost(raw: string): string {
  const v = raw.trim();
  if (!/^(unix:\/\/\/|tcp:\/\/|http:\/\/|https:\/\/|\/)/.test(v))
    throw new Error(`expected unix:///path, tcp://host:port or a socket path, got ${JSON.stringify(raw)}`);
  return v;
}

/** etcd leases have whole seconds; checked while parsing so it is reported with every other problem. */
function parseTtl(raw: string): number {
  const ms = durationAtLeast(2000, 3_600_000)(raw);
  if (ms % 1000 !== 0) throw new Error(`etcd leases have whole seconds, got ${JSON.stringify(raw)}`);
  return ms;
}

function parseNodeName(raw: string): string {
  const v = parseNonEmpty(raw);
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(v))
    throw new Error(`expected a node name of letters, digits, . _ -, got ${JSON.stringify(raw)}`);
  return v;
}

export const sidekickOptions = {
  ...etcdOptionDefs('SIDEKICK'),
  prefix: option({
    env: ['SIDEKICK_PREFIX'],
    default: DEFAULT_PREFIX,
    parse: parseKeyPrefix,
    group: 'registry',
    placeholder: 'path',
    describe: 'etcd key prefix for entries: <prefix>/<service>/<instance-id>',
  }),
  ttl: option({
    env: ['SIDEKICK_TTL'],
    default: 10_000,
    defaultText: '10s',
    parse: parseTtl,
    group: 'registry',
    placeholder: 'duration',
    describe: 'lease TTL: entries of a crashed sidekick expire after this (whole seconds, ≥ 2s)',
  }),
  resync: option({
    env: ['SIDEKICK_RESYNC'],
    default: 30_000,
    defaultText: '30s',
    parse: durationAtLeast(1000),
    group: 'registry',
    placeholder: 'duration',
    describe: 'full reconcile interval (Docker and etcd re-read and corrected)',
  }),
  node: option({
    env: ['SIDEKICK_NODE'],
    default: '',
    defaultText: 'hostname',
    parse: parseNodeName,
    group: 'registry',
    placeholder: 'name',
    describe: 'this host’s name in instance ids and the "node" field',
  }),
  hostIp: option({
    env: ['SIDEKICK_HOST_IP'],
    default: '',
    defaultText: 'first non-loopback IPv4',
    parse: parseIp,
    group: 'addresses',
    placeholder: 'ip',
    describe: 'advertised IP of this host, used with published ports and host networking',
  }),
  address: option({
    env: ['SIDEKICK_ADDRESS'],
    default: 'host' as 'host' | 'container',
    parse: parseEnum('host', 'container'),
    group: 'addresses',
    placeholder: 'host|container',
    describe: 'publish host IP + published port, or the container’s own IP + container port',
  }),
  network: option({
    env: ['SIDEKICK_NETWORK'],
    default: '',
    parse: parseNonEmpty,
    group: 'addresses',
    placeholder: 'name',
    describe:
      'Docker network whose container IP is published with --address container (label sidekick.network overrides)',
  }),
  container: option({
    env: ['SIDEKICK_CONTAINER'],
    default: '',
    parse: parseNonEmpty,
    group: 'containers',
    placeholder: 'name|id',
    describe: 'per-container mode: follow only this container, exit when it is removed',
  }),
  all: option({
    env: ['SIDEKICK_ALL'],
    default: false,
    parse: parseBoolean,
    boolean: true,
    group: 'containers',
    describe: 'also publish containers with published ports but no sidekick.service label (name = image basename)',
  }),
  dockerHost: option({
    env: ['SIDEKICK_DOCKER_HOST', 'DOCKER_HOST'],
    default: 'unix:///var/run/docker.sock',
    parse: parseDockerHost,
    group: 'containers',
    placeholder: 'url',
    describe: 'Docker Engine API endpoint (read-only access is enough)',
  }),
  dockerTimeout: option({
    env: ['SIDEKICK_DOCKER_TIMEOUT'],
    default: 10_000,
    defaultText: '10s',
    parse: durationAtLeast(100, 600_000),
    group: 'containers',
    placeholder: 'duration',
    describe: 'deadline for each Docker API call (list, inspect); an expired call counts as a Docker error',
  }),
  metrics: option({
    env: ['SIDEKICK_METRICS'],
    default: parseListenAddress('127.0.0.1:9091') as ListenAddress | 'off',
    defaultText: '127.0.0.1:9091',
    parse: parseMetrics,
    group: 'operations',
    placeholder: 'host:port|off',
    describe: 'listener for /healthz and /metrics',
  }),
  logLevel: option({
    env: ['SIDEKICK_LOG_LEVEL', 'LOG_LEVEL'],
    default: 'info' as (typeof LOG_LEVELS)[number],
    parse: parseEnum(...LOG_LEVELS),
    group: 'operations',
    placeholder: 'level',
    describe: 'log level: fatal, error, warn, info, debug, trace, silent',
  }),
  logFormat: option({
    env: ['SIDEKICK_LOG_FORMAT', 'LOG_FORMAT'],
    default: 'auto' as (typeof LOG_FORMATS)[number],
    parse: parseEnum(...LOG_FORMATS),
    group: 'operations',
    placeholder: 'format',
    describe: 'logs as JSON lines, or pretty (coloured, for people); auto = pretty on a terminal',
  }),
  dryRun: option({
    env: ['SIDEKICK_DRY_RUN'],
    default: false,
    parse: parseBoolean,
    boolean: true,
    group: 'operations',
    describe: 'print the entries this host would publish (as key value lines) and exit; etcd is not contacted',
  }),
};

export type SidekickConfig = OptionValues<typeof sidekickOptions>;

export interface HostFacts {
  readonly hostname: string;
  readonly interfaces: NodeJS.Dict<NetworkInterfaceInfo[]>;
}

/** First non-internal IPv4 on a physical-looking interface, by interface name: deterministic. */
export function detectHostIp(interfaces: HostFacts['interfaces']): string | undefined {
  const names = Object.keys(interfaces)
    .filter((n) => !/^(docker|br-|veth|virbr|cni|flannel|cali|lo)/.test(n))
    .sort();
  for (const name of names) {
    const addr = (interfaces[name] ?? []).find((a) => a.family === 'IPv4' && !a.internal);
    if (addr) return addr.address;
  }
  return undefined;
}

export interface LoadedConfig {
  readonly config: SidekickConfig;
  readonly help: boolean;
  readonly version: boolean;
  /** Facts worth a log line at start (e.g. a guessed host IP). */
  readonly notes: readonly string[];
}

export function loadSidekickConfig(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  facts: HostFacts,
): LoadedConfig {
  const parsed = parseOptions(sidekickOptions, argv, env, checkEtcdSettings);
  const v = parsed.values;
  const notes: string[] = [];
  let hostIp = v.hostIp;
  if (hostIp === '') {
    hostIp = detectHostIp(facts.interfaces) ?? '127.0.0.1';
    notes.push(`--host-ip not set; advertising ${hostIp}`);
  }
  let node = v.node;
  if (node === '') node = facts.hostname.replace(/[^A-Za-z0-9._-]/g, '-') || 'localhost';
  const config = Object.freeze({ ...v, hostIp, node });
  return { config, help: parsed.help, version: parsed.version, notes };
}
