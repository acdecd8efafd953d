import { describe, expect, it } from 'vitest';
import { resolveAddress, type AddressOptions } from '../../../sidekick/address.js';
import type { ContainerPort } from '../../../sidekick/container.js';
import type { ServiceSpec } from '../../../sidekick/service-spec.js';
import { binding, container, network, port } from '../../helpers/container-fixture.js';

const HOST_IP = '192.0.2.10';
const hostMode: AddressOptions = { mode: 'host', hostIp: HOST_IP, network: undefined };
const containerMode: AddressOptions = { mode: 'container', hostIp: HOST_IP, network: undefined };

function spec(p: number, protocol: 'tcp' | 'udp' = 'tcp'): ServiceSpec {
  return { service: 'web', port: p, protocol, instance: undefined, weight: 1, tags: [] };
}

describe('--address host', () => {
  it.each([
    [
      '0.0.0.0 and :: with the same port → host IP',
      [port(80, [binding('0.0.0.0', 32768), binding('::', 32768)])],
      80,
      HOST_IP,
      32768,
    ],
    [':: listed first → host IP', [port(80, [binding('::', 32768), binding('0.0.0.0', 32768)])], 80, HOST_IP, 32768],
    ['only 0.0.0.0', [port(80, [binding('0.0.0.0', 8080)])], 80, HOST_IP, 8080],
    ['only ::', [port(80, [binding('::', 8080)])], 80, HOST_IP, 8080],
    ['empty HostIp (older engines) → host IP', [port(80, [binding('', 8080)])], 80, HOST_IP, 8080],
    ['a specific HostIp 127.0.0.1', [port(80, [binding('127.0.0.1', 9000)])], 80, '127.0.0.1', 9000],
    ['a specific IPv6 HostIp', [port(80, [binding('fd00::9', 9000)])], 80, 'fd00::9', 9000],
    [
      'several specific HostIps → the lowest, deterministically',
      [port(80, [binding('10.0.0.9', 2), binding('10.0.0.1', 1)])],
      80,
      '10.0.0.1',
      1,
    ],
    [
      'a wildcard beats a specific binding',
      [port(80, [binding('127.0.0.1', 9000), binding('0.0.0.0', 9001)])],
      80,
      HOST_IP,
      9001,
    ],
    [
      'the port matching the spec among several',
      [port(80, [binding('0.0.0.0', 1)]), port(443, [binding('0.0.0.0', 2)])],
      443,
      HOST_IP,
      2,
    ],
  ])('%s', (_label, ports, p, host, hostPort) => {
    expect(resolveAddress(container({ ports }), spec(p), hostMode)).toEqual({ ok: true, host, port: hostPort });
  });

  it('matches the protocol: 53/udp is not 53/tcp', () => {
    const ports: ContainerPort[] = [
      port(53, [binding('0.0.0.0', 1053)], 'tcp'),
      port(53, [binding('0.0.0.0', 2053)], 'udp'),
    ];
    expect(resolveAddress(container({ ports }), spec(53, 'udp'), hostMode)).toEqual({
      ok: true,
      host: HOST_IP,
      port: 2053,
    });
    expect(resolveAddress(container({ ports }), spec(53, 'tcp'), hostMode)).toEqual({
      ok: true,
      host: HOST_IP,
      port: 1053,
    });
  });

  it('works with an IPv6 host IP', () => {
    expect(resolveAddress(container(), spec(80), { ...hostMode, hostIp: 'fd00::10' })).toEqual({
      ok: true,
      host: 'fd00::10',
      port: 32768,
    });
  });

  it.each([
    ['exposed but not published', [port(80)]],
    ['not known at all', []],
    ['published only for udp', [port(80, [binding('0.0.0.0', 1)], 'udp')]],
  ])('a port %s is skipped with a warning naming the container', (_label, ports) => {
    const r = resolveAddress(container({ name: 'lonely-1', ports }), spec(80), hostMode);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.warning).toContain('lonely-1');
      expect(r.warning).toContain('80');
    }
  });
});

describe('--address container', () => {
  const two = [network('frontend', '172.19.0.3'), network('backend', '172.18.0.5')].sort((a, b) =>
    a.name.localeCompare(b.name),
  );
  const published = [port(80, [binding('0.0.0.0', 32768)])];

  it.each([
    ['the only network', [network('bridge', '172.17.0.2')], {}, undefined, '172.17.0.2'],
    ['the first network by name when several', two, {}, undefined, '172.18.0.5'],
    ['the network named by --network', two, {}, 'frontend', '172.19.0.3'],
    ['the network named by label sidekick.network', two, { 'sidekick.network': 'frontend' }, undefined, '172.19.0.3'],
    ['label sidekick.network beats --network', two, { 'sidekick.network': 'frontend' }, 'backend', '172.19.0.3'],
    ['--network missing but the only network is used', [network('bridge', '172.17.0.2')], {}, 'backend', '172.17.0.2'],
    ['GlobalIPv6Address when there is no IPv4', [network('v6net', '', 'fd00:1::5')], {}, undefined, 'fd00:1::5'],
    [
      'IPv4 preferred over IPv6 on a dual-stack network',
      [network('dual', '172.20.0.4', 'fd00:2::4')],
      {},
      undefined,
      '172.20.0.4',
    ],
  ])('%s', (_label, networks, labels, net, host) => {
    const r = resolveAddress(container({ networks, labels, ports: published }), spec(80), {
      ...containerMode,
      network: net,
    });
    // The container port, never the published host port (32768).
    expect(r).toEqual({ ok: true, host, port: 80 });
  });

  it('uses the container port even when the port is published', () => {
    const r = resolveAddress(
      container({ ports: [port(8080, [binding('0.0.0.0', 49153)])] }),
      spec(8080),
      containerMode,
    );
    expect(r).toEqual({ ok: true, host: '172.17.0.2', port: 8080 });
  });

  it('does not need the port to be published', () => {
    const r = resolveAddress(container({ ports: [port(9000)] }), spec(9000), containerMode);
    expect(r).toEqual({ ok: true, host: '172.17.0.2', port: 9000 });
  });

  it.each([
    [
      'label names a network the container is not on',
      [network('bridge', '172.17.0.2')],
      { 'sidekick.network': 'backend' },
      undefined,
      'backend',
    ],
    ['no networks at all', [], {}, undefined, 'network'],
    ['no address on the chosen network', [network('none', '')], {}, undefined, 'none'],
  ])('%s → skipped with a warning naming the container', (_label, networks, labels, net, fragment) => {
    const r = resolveAddress(container({ name: 'net-1', networks, labels }), spec(80), {
      ...containerMode,
      network: net,
    });
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.warning).toContain('net-1');
      expect(r.warning).toContain(fragment);
    }
  });
});

describe('--network is a preference', () => {
  it('a container not on the --network network falls back to the first network by name', () => {
    // toContainer sorts networks by name: backend comes before frontend.
    const networks = [network('backend', '172.18.0.5'), network('frontend', '172.19.0.3')];
    const r = resolveAddress(container({ name: 'net-1', networks, labels: {} }), spec(80), {
      ...containerMode,
      network: 'other',
    });
    expect(r).toEqual({ ok: true, host: '172.18.0.5', port: 80 });
  });
});

describe('host networking', () => {
  const hostNet = { hostNetwork: true, ports: [port(8080)], networks: [network('host', '')] };
  it.each([
    ['--address host', hostMode],
    ['--address container', containerMode],
  ])('%s → host IP + container port', (_label, opts) => {
    expect(resolveAddress(container(hostNet), spec(8080), opts)).toEqual({ ok: true, host: HOST_IP, port: 8080 });
  });
});
