// Where clients reach a service port. Deterministic: the same container always yields the same
// address (registrator picked a random network and paired container IPs with host ports).
import type { Container } from './container.js';
import type { ServiceSpec } from './service-spec.js';

export type AddressMode = 'host' | 'container';

export interface AddressOptions {
  readonly mode: AddressMode;
  /** The advertised IP of this Docker host. */
  readonly hostIp: string;
  /** `--network`: preferred network for container addresses. */
  readonly network: string | undefined;
}

export type AddressResult =
  | { readonly ok: true; readonly host: string; readonly port: number }
  | { readonly ok: false; readonly warning: string };

const WILDCARDS = new Set(['', '0.0.0.0', '::']);

export function resolveAddress(c: Container, spec: ServiceSpec, opts: AddressOptions): AddressResult {
  // Host networking: the process listens on the host itself, on its container port.
  if (c.hostNetwork) return { ok: true, host: opts.hostIp, port: spec.port };
  return opts.mode === 'host' ? hostAddress(c, spec, opts) : containerAddress(c, spec, opts);
}

function hostAddress(c: Container, spec: ServiceSpec, opts: AddressOptions): AddressResult {
  const port = c.ports.find((p) => p.port === spec.port && p.protocol === spec.protocol);
  const bindings = port?.bindings ?? [];
  if (bindings.length === 0) {
    const hint = 'publish it (-p) or use --address container';
    return { ok: false, warning: `container ${c.name}: port ${spec.port}/${spec.protocol} is not published; ${hint}` };
  }
  // A binding on all interfaces is reached through the advertised host IP; one on a specific IP
  // only through that IP. Docker often lists both 0.0.0.0 and :: with the same host port.
  const wildcard = bindings.find((b) => WILDCARDS.has(b.hostIp));
  if (wildcard) return { ok: true, host: opts.hostIp, port: wildcard.hostPort };
  const specific = [...bindings].sort((a, b) => a.hostIp.localeCompare(b.hostIp) || a.hostPort - b.hostPort)[0];
  if (!specific) return { ok: false, warning: `container ${c.name}: no usable binding for port ${spec.port}` };
  return { ok: true, host: specific.hostIp, port: specific.hostPort };
}

function containerAddress(c: Container, spec: ServiceSpec, opts: AddressOptions): AddressResult {
  const wanted = c.labels['sidekick.network'] ?? opts.network;
  let network = wanted !== undefined ? c.networks.find((n) => n.name === wanted) : undefined;
  // A label is this container's demand: publishing another network's IP could be unreachable.
  // --network is a host-wide preference: containers not on it fall back as below.
  if (network === undefined && c.labels['sidekick.network'] !== undefined) {
    return { ok: false, warning: `container ${c.name}: not attached to network ${JSON.stringify(wanted)}` };
  }
  network ??= c.networks[0]; // networks are sorted by name: the only one, else the first by name
  if (!network) return { ok: false, warning: `container ${c.name}: has no network to take an address from` };
  const ip = network.ipv4 || network.ipv6;
  if (!ip) return { ok: false, warning: `container ${c.name}: no IP address on network ${network.name}` };
  // Never a container IP with a host port: the container port is what listens on that IP.
  return { ok: true, host: ip, port: spec.port };
}
