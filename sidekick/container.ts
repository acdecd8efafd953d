// The narrow model of a Docker container: only the fields registration decides on.
// Everything downstream is tested with plain literals of this type, never with SDK objects.
import type { ContainerInspectInfo } from 'dockerode';

export type Health = 'none' | 'starting' | 'healthy' | 'unhealthy';
export type Protocol = 'tcp' | 'udp';

export interface PortBinding {
  readonly hostIp: string;
  readonly hostPort: number;
}

export interface ContainerPort {
  readonly port: number;
  readonly protocol: Protocol;
  /** Empty when the port is only exposed, not published. */
  readonly bindings: readonly PortBinding[];
}

export interface ContainerNetwork {
  readonly name: string;
  readonly ipv4: string;
  readonly ipv6: string;
}

export interface Container {
  readonly id: string;
  /** Without the leading slash. */
  readonly name: string;
  readonly image: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly env: Readonly<Record<string, string>>;
  readonly running: boolean;
  readonly paused: boolean;
  readonly restarting: boolean;
  readonly health: Health;
  /** Docker's State.StartedAt: identifies one run of the container. */
  readonly startedAt: string;
  readonly stopSignal: string;
  readonly hostNetwork: boolean;
  /** Sorted by port then protocol. */
  readonly ports: readonly ContainerPort[];
  /** Sorted by name. */
  readonly networks: readonly ContainerNetwork[];
}

function parseEnv(list: readonly string[] | null | undefined): Record<string, string> {
  const env: Record<string, string> = {};
  for (const item of list ?? []) {
    const eq = item.indexOf('=');
    if (eq > 0) env[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return env;
}

function parsePortKey(key: string): { port: number; protocol: Protocol } | undefined {
  const m = /^(\d+)(?:\/(tcp|udp|sctp))?$/.exec(key);
  if (!m || m[2] === 'sctp') return undefined;
  return { port: Number(m[1]), protocol: (m[2] ?? 'tcp') as Protocol };
}

function toHealth(status: string | undefined): Health {
  return status === 'starting' || status === 'healthy' || status === 'unhealthy' ? status : 'none';
}

/** Maps `docker inspect` output to the model. Tolerates missing sections (old and new API versions). */
export function toContainer(info: ContainerInspectInfo): Container {
  const state = info.State ?? ({} as ContainerInspectInfo['State']);
  const config = info.Config ?? ({} as ContainerInspectInfo['Config']);
  const settings = info.NetworkSettings ?? ({} as ContainerInspectInfo['NetworkSettings']);
  const portKeys = new Set<string>([...Object.keys(config.ExposedPorts ?? {}), ...Object.keys(settings.Ports ?? {})]);
  const ports: ContainerPort[] = [];
  for (const key of portKeys) {
    const parsed = parsePortKey(key);
    if (!parsed) continue;
    const raw = (settings.Ports ?? {})[key] as Array<{ HostIp?: string; HostPort?: string }> | null | undefined;
    const bindings = (raw ?? [])
      .map((b) => ({ hostIp: b.HostIp ?? '', hostPort: Number(b.HostPort) }))
      .filter((b) => Number.isInteger(b.hostPort) && b.hostPort > 0);
    ports.push({ ...parsed, bindings });
  }
  ports.sort((a, b) => a.port - b.port || a.protocol.localeCompare(b.protocol));
  const networks = Object.entries(settings.Networks ?? {})
    .map(([name, n]) => ({ name, ipv4: n?.IPAddress ?? '', ipv6: n?.GlobalIPv6Address ?? '' }))
    .sort((a, b) => a.name.localeCompare(b.name));
  const health = (state as { Health?: { Status?: string } }).Health?.Status;
  return {
    id: info.Id,
    name: (info.Name ?? '').replace(/^\//, ''),
    image: config.Image ?? '',
    labels: { ...(config.Labels ?? {}) },
    env: parseEnv(config.Env),
    running: state.Running === true,
    paused: state.Paused === true,
    restarting: state.Restarting === true,
    health: toHealth(health),
    startedAt: state.StartedAt ?? '',
    stopSignal: (config as { StopSignal?: string }).StopSignal ?? 'SIGTERM',
    hostNetwork: info.HostConfig?.NetworkMode === 'host',
    ports,
    networks,
  };
}

/** Live means: running, not paused or restarting, and healthy when the image has a HEALTHCHECK. */
export function isLive(c: Container): boolean {
  return c.running && !c.paused && !c.restarting && (c.health === 'none' || c.health === 'healthy');
}
