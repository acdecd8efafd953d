// container → the registry entries it should have right now (pure).
import { encodeEntry, entryKey, instanceId, type Entry } from '../common/registry.js';
import { resolveAddress, type AddressOptions } from './address.js';
import { isLive, type Container } from './container.js';
import { resolveServices, type SpecOptions } from './service-spec.js';

export interface EntryOptions extends AddressOptions, SpecOptions {
  readonly prefix: string;
  readonly node: string;
}

export interface DesiredResult {
  /** key → canonical encoded value */
  readonly entries: ReadonlyMap<string, string>;
  readonly warnings: readonly string[];
}

export function desiredEntries(c: Container, opts: EntryOptions): DesiredResult {
  if (!isLive(c)) return { entries: new Map(), warnings: [] };
  const { specs, warnings } = resolveServices(c, opts);
  const entries = new Map<string, string>();
  const allWarnings = [...warnings];
  for (const spec of specs) {
    const addr = resolveAddress(c, spec, opts);
    if (!addr.ok) {
      allWarnings.push(addr.warning);
      continue;
    }
    const instance = spec.instance ?? instanceId(opts.node, c.name, spec.port, spec.protocol);
    const entry: Entry = {
      host: addr.host,
      port: addr.port,
      weight: spec.weight,
      tags: spec.tags,
      draining: false,
      ...(spec.protocol === 'udp' ? { protocol: 'udp' as const } : {}),
      ...(spec.check !== undefined ? { check: spec.check } : {}),
      node: opts.node,
      container: { id: c.id, name: c.name },
      ...(spec.routes !== undefined ? { routes: spec.routes } : {}),
    };
    entries.set(entryKey(opts.prefix, spec.service, instance), encodeEntry(entry));
  }
  return { entries, warnings: allWarnings };
}

/** The entry options a sidekick configuration implies. */
export function entryOptions(config: {
  prefix: string;
  node: string;
  address: 'host' | 'container';
  hostIp: string;
  network: string;
  all: boolean;
  container: string;
}): EntryOptions {
  return {
    prefix: config.prefix,
    node: config.node,
    mode: config.address,
    hostIp: config.hostIp,
    network: config.network || undefined,
    all: config.all,
    implicit: config.container !== '',
  };
}
