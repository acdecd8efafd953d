import type { ContainerInspectInfo } from 'dockerode';
import { describe, expect, it } from 'vitest';
import { isLive, toContainer, type Container } from '../../../sidekick/container.js';
import { container } from '../../helpers/container-fixture.js';

// Trimmed but otherwise verbatim shape of `docker inspect` (Engine 27, API 1.47) for
// `docker run -d --name web-1 -p 80 --network backend --health-cmd ... example/web:1.0`.
function inspectJson(): Record<string, unknown> {
  return {
    Id: '5e2b6f0f3a0e8d4c1b9a7f6e5d4c3b2a19081726354453627180f9e8d7c6b5a4',
    Created: '2026-01-02T03:04:00.000000000Z',
    Path: '/docker-entrypoint.sh',
    Args: ['nginx', '-g', 'daemon off;'],
    State: {
      Status: 'running',
      Running: true,
      Paused: false,
      Restarting: false,
      OOMKilled: false,
      Dead: false,
      Pid: 4242,
      ExitCode: 0,
      Error: '',
      StartedAt: '2026-01-02T03:04:05.123456789Z',
      FinishedAt: '0001-01-01T00:00:00Z',
      Health: { Status: 'healthy', FailingStreak: 0, Log: [] },
    },
    Image: 'sha256:9f8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a39281706f5e4d3c2b1a0',
    Name: '/web-1',
    RestartCount: 0,
    HostConfig: {
      NetworkMode: 'backend',
      PortBindings: { '80/tcp': [{ HostIp: '', HostPort: '' }] },
      RestartPolicy: { Name: 'no', MaximumRetryCount: 0 },
    },
    Config: {
      Hostname: '5e2b6f0f3a0e',
      User: '',
      ExposedPorts: { '80/tcp': {}, '443/tcp': {}, '53/udp': {} },
      Env: [
        'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
        'SERVICE_TAGS=a,b',
        'DATABASE_URL=postgres://u:p@db/app?sslmode=disable&x=1',
        'EMPTY=',
        'NOVALUE',
      ],
      Cmd: ['nginx', '-g', 'daemon off;'],
      Healthcheck: { Test: ['CMD-SHELL', 'curl -f http://localhost/ || exit 1'], Interval: 1_000_000_000 },
      Image: 'registry:5000/team/web:1.0',
      Labels: { 'sidekick.service': 'web', 'com.docker.compose.project': 'demo' },
      StopSignal: 'SIGQUIT',
    },
    NetworkSettings: {
      Bridge: '',
      SandboxID: 'abc',
      Ports: {
        '80/tcp': [
          { HostIp: '0.0.0.0', HostPort: '32768' },
          { HostIp: '::', HostPort: '32768' },
        ],
        '443/tcp': null,
        '53/udp': null,
      },
      Networks: {
        frontend: {
          IPAMConfig: null,
          Links: null,
          Aliases: ['web-1', '5e2b6f0f3a0e'],
          NetworkID: 'n2',
          EndpointID: 'e2',
          Gateway: '',
          IPAddress: '',
          IPPrefixLen: 0,
          IPv6Gateway: 'fd00:1::1',
          GlobalIPv6Address: 'fd00:1::5',
          GlobalIPv6PrefixLen: 64,
          MacAddress: '02:42:ac:12:00:05',
        },
        backend: {
          IPAMConfig: null,
          Links: null,
          Aliases: ['web-1'],
          NetworkID: 'n1',
          EndpointID: 'e1',
          Gateway: '172.18.0.1',
          IPAddress: '172.18.0.5',
          IPPrefixLen: 16,
          IPv6Gateway: '',
          GlobalIPv6Address: '',
          GlobalIPv6PrefixLen: 0,
          MacAddress: '02:42:ac:12:00:05',
        },
      },
    },
  };
}

const toModel = (json: Record<string, unknown>): Container => toContainer(json as unknown as ContainerInspectInfo);

describe('toContainer on real docker inspect JSON', () => {
  it('maps the whole model', () => {
    expect(toModel(inspectJson())).toEqual({
      id: '5e2b6f0f3a0e8d4c1b9a7f6e5d4c3b2a19081726354453627180f9e8d7c6b5a4',
      name: 'web-1',
      image: 'registry:5000/team/web:1.0',
      labels: { 'sidekick.service': 'web', 'com.docker.compose.project': 'demo' },
      env: {
        PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
        SERVICE_TAGS: 'a,b',
        DATABASE_URL: 'postgres://u:p@db/app?sslmode=disable&x=1',
        EMPTY: '',
      },
      running: true,
      paused: false,
      restarting: false,
      health: 'healthy',
      startedAt: '2026-01-02T03:04:05.123456789Z',
      stopSignal: 'SIGQUIT',
      hostNetwork: false,
      ports: [
        { port: 53, protocol: 'udp', bindings: [] },
        {
          port: 80,
          protocol: 'tcp',
          bindings: [
            { hostIp: '0.0.0.0', hostPort: 32768 },
            { hostIp: '::', hostPort: 32768 },
          ],
        },
        { port: 443, protocol: 'tcp', bindings: [] },
      ],
      networks: [
        { name: 'backend', ipv4: '172.18.0.5', ipv6: '' },
        { name: 'frontend', ipv4: '', ipv6: 'fd00:1::5' },
      ],
    });
  });

  it('keeps "=" inside env values and drops entries without one', () => {
    const c = toModel(inspectJson());
    expect(c.env.DATABASE_URL).toBe('postgres://u:p@db/app?sslmode=disable&x=1');
    expect('NOVALUE' in c.env).toBe(false);
  });

  it('sorts ports by number then protocol, and networks by name', () => {
    const json = inspectJson();
    (json.Config as Record<string, unknown>).ExposedPorts = { '8080/udp': {}, '8080/tcp': {}, '22/tcp': {} };
    (json.NetworkSettings as Record<string, unknown>).Ports = {};
    const c = toModel(json);
    expect(c.ports.map((p) => `${p.port}/${p.protocol}`)).toEqual(['22/tcp', '8080/tcp', '8080/udp']);
    expect(c.networks.map((n) => n.name)).toEqual(['backend', 'frontend']);
  });

  it('reads host networking (empty Ports, network "host")', () => {
    const json = inspectJson();
    (json.HostConfig as Record<string, unknown>).NetworkMode = 'host';
    (json.NetworkSettings as Record<string, unknown>).Ports = {};
    (json.NetworkSettings as Record<string, unknown>).Networks = { host: { IPAddress: '', GlobalIPv6Address: '' } };
    const c = toModel(json);
    expect(c.hostNetwork).toBe(true);
    expect(c.ports.map((p) => [p.port, p.bindings.length])).toEqual([
      [53, 0],
      [80, 0],
      [443, 0],
    ]);
  });

  it('ports only in NetworkSettings.Ports are kept too', () => {
    const json = inspectJson();
    (json.Config as Record<string, unknown>).ExposedPorts = undefined;
    const c = toModel(json);
    expect(c.ports.map((p) => p.port)).toEqual([53, 80, 443]);
  });

  it('drops bindings without a usable host port and sctp ports', () => {
    const json = inspectJson();
    (json.Config as Record<string, unknown>).ExposedPorts = { '9000/sctp': {} };
    (json.NetworkSettings as Record<string, unknown>).Ports = {
      '80/tcp': [
        { HostIp: '', HostPort: '' },
        { HostIp: '', HostPort: '8080' },
      ],
      '9000/sctp': [{ HostIp: '', HostPort: '9000' }],
    };
    const c = toModel(json);
    expect(c.ports).toEqual([{ port: 80, protocol: 'tcp', bindings: [{ hostIp: '', hostPort: 8080 }] }]);
  });

  it.each([
    ['starting', 'starting'],
    ['healthy', 'healthy'],
    ['unhealthy', 'unhealthy'],
    [undefined, 'none'],
  ])('State.Health.Status %s → health %s', (status, health) => {
    const json = inspectJson();
    const state = json.State as Record<string, unknown>;
    if (status === undefined) delete state.Health;
    else state.Health = { Status: status, FailingStreak: 0, Log: [] };
    expect(toModel(json).health).toBe(health);
  });

  it.each([
    ['paused', { Status: 'paused', Running: true, Paused: true }, { running: true, paused: true, restarting: false }],
    [
      'restarting',
      { Status: 'restarting', Running: true, Restarting: true },
      { running: true, paused: false, restarting: true },
    ],
    ['exited', { Status: 'exited', Running: false }, { running: false, paused: false, restarting: false }],
  ])('reads state %s', (_label, stateOver, expected) => {
    const json = inspectJson();
    json.State = { ...(json.State as object), Paused: false, Restarting: false, ...stateOver };
    expect(toModel(json)).toMatchObject(expected);
  });

  it('tolerates missing sections and defaults the stop signal to SIGTERM', () => {
    const c = toModel({ Id: 'abc', Name: '/x' });
    expect(c).toEqual({
      id: 'abc',
      name: 'x',
      image: '',
      labels: {},
      env: {},
      running: false,
      paused: false,
      restarting: false,
      health: 'none',
      startedAt: '',
      stopSignal: 'SIGTERM',
      hostNetwork: false,
      ports: [],
      networks: [],
    });
  });

  it('tolerates null Labels, Env, Ports and Networks', () => {
    const json = inspectJson();
    Object.assign(json.Config as object, { Labels: null, Env: null, ExposedPorts: null });
    Object.assign(json.NetworkSettings as object, { Ports: null, Networks: null });
    const c = toModel(json);
    expect([c.labels, c.env, c.ports, c.networks]).toEqual([{}, {}, [], []]);
  });
});

describe('isLive', () => {
  it.each([
    ['running, no healthcheck', {}, true],
    ['running and healthy', { health: 'healthy' }, true],
    ['health starting', { health: 'starting' }, false],
    ['unhealthy', { health: 'unhealthy' }, false],
    ['paused', { paused: true }, false],
    ['restarting', { restarting: true }, false],
    ['not running', { running: false }, false],
    ['not running but healthy', { running: false, health: 'healthy' }, false],
  ] as const)('%s → %s', (_label, over, live) => {
    expect(isLive(container(over))).toBe(live);
  });

  it('agrees with the mapping of real inspect output', () => {
    const json = inspectJson();
    expect(isLive(toModel(json))).toBe(true);
    (json.State as Record<string, unknown>).Health = { Status: 'starting' };
    expect(isLive(toModel(json))).toBe(false);
  });
});
