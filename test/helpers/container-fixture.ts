// Builds `Container` literals for unit tests: a running, healthy-by-default container with one
// published port, changed per test through overrides.
import type { Container, ContainerNetwork, ContainerPort, PortBinding } from '../../sidekick/container.js';

export const FIXTURE_ID = 'c0ffee00000000000000000000000000000000000000000000000000000000ab';
export const FIXTURE_STARTED_AT = '2026-01-02T03:04:05.123456789Z';

export function container(overrides: Partial<Container> = {}): Container {
  return {
    id: FIXTURE_ID,
    name: 'web-1',
    image: 'example/web:1.0',
    labels: {},
    env: {},
    running: true,
    paused: false,
    restarting: false,
    health: 'none',
    startedAt: FIXTURE_STARTED_AT,
    stopSignal: 'SIGTERM',
    hostNetwork: false,
    ports: [port(80, [binding('0.0.0.0', 32768), binding('::', 32768)])],
    networks: [network('bridge', '172.17.0.2')],
    ...overrides,
  };
}

export function binding(hostIp: string, hostPort: number): PortBinding {
  return { hostIp, hostPort };
}

export function port(n: number, bindings: readonly PortBinding[] = [], protocol: 'tcp' | 'udp' = 'tcp'): ContainerPort {
  return { port: n, protocol, bindings };
}

export function network(name: string, ipv4: string, ipv6 = ''): ContainerNetwork {
  return { name, ipv4, ipv6 };
}
