// The balancer's core vocabulary. The registry watcher produces `RegistryEvent`s, the table module
// turns them into an immutable `RouteTable`, the proxy only sees `Lookup` and `Picker`.
import type { Entry } from '../common/registry.js';

export type LbPolicy = 'round-robin' | 'least-request';

/** One live instance of a service, as read from `<prefix>/<service>/<instance-id>`. */
export interface Backend {
  /** `<service>/<instance-id>`: unique across the registry, stable for the instance's life. */
  readonly id: string;
  readonly service: string;
  readonly instance: string;
  readonly entry: Entry;
  /** `http://host:port` (IPv6 bracketed), the proxy target. */
  readonly target: string;
}

/** A routing rule: from `--route` flags or a key under `--routes-prefix`. */
export interface RouteRule {
  /** Lowercase; exact (`api.example.com`), wildcard (`*.example.com`) or undefined (any host). */
  readonly host: string | undefined;
  /** Always starts with `/`; `/` matches everything. */
  readonly pathPrefix: string;
  readonly service: string;
  /** Per-service picker override; undefined = the balancer's `--lb`. */
  readonly lb: LbPolicy | undefined;
  readonly sticky: boolean;
  /** Where the rule came from: `flag` or the etcd key, for /api/table and logs. */
  readonly source: string;
}

export interface ServiceView {
  readonly name: string;
  /** Sorted by id; includes draining and weight-0 backends (they finish running requests). */
  readonly backends: readonly Backend[];
}

/** An immutable snapshot; the store swaps the whole value in one assignment. */
export interface RouteTable {
  /** etcd revision this table reflects. */
  readonly revision: number;
  readonly services: ReadonlyMap<string, ServiceView>;
  /** Sorted most specific first. */
  readonly routes: readonly RouteRule[];
  readonly defaultService: string | undefined;
}

/** What the proxy needs to serve one request. */
export interface RouteMatch {
  readonly rule: RouteRule | undefined; // undefined when only --default-service matched
  readonly service: string;
  readonly view: ServiceView | undefined; // undefined when the service has no entries at all
}

export type Lookup = (host: string, path: string) => RouteMatch | undefined;

/** Chooses a backend for a request; `exclude` holds ids already tried by this request. */
export interface Picker {
  pick(view: ServiceView, policy: LbPolicy, exclude: ReadonlySet<string>, preferredId?: string): Backend | undefined;
}

/** A change read from etcd, already decoded and validated. */
export type RegistryEvent =
  | { readonly kind: 'entry-put'; readonly key: string; readonly backend: Backend }
  | { readonly kind: 'entry-delete'; readonly key: string }
  | { readonly kind: 'route-put'; readonly key: string; readonly rule: RouteRule }
  | { readonly kind: 'route-delete'; readonly key: string };
