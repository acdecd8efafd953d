// The balancer's core vocabulary. The registry watcher produces `RegistryEvent`s, the table module
// turns them into an immutable `RouteTable`, the proxy only sees `Lookup` and `Picker`.
import type { Entry } from '../common/registry.js';
import type { DeclaredRoute, LbPolicy, RouteRule } from '../common/route-spec.js';

export type { DeclaredRoute, LbPolicy, RouteRule };

/** One live instance of a service, as read from `<prefix>/<service>/<instance-id>`. */
export interface Backend {
  /** `<service>/<instance-id>`: unique across the registry, stable for the instance's life. */
  readonly id: string;
  readonly service: string;
  readonly instance: string;
  readonly entry: Entry;
  /** `http://host:port` (IPv6 bracketed), the proxy target. */
  readonly target: string;
  /**
   * The table's one mutable part: the active check's verdict on this backend object. Written off the
   * hot path (proxy/health/health-state.ts, at a probe flip or a table swap), read by the picker per
   * request as a plain field instead of a lookup by id.
   */
  readonly health: BackendHealth;
}

export interface BackendHealth {
  unhealthy: boolean;
}

export interface ServiceView {
  readonly name: string;
  /** Sorted by id; includes draining and weight-0 backends (they finish running requests), never udp ones. */
  readonly backends: readonly Backend[];
}

/** An immutable snapshot; the store swaps the whole value in one assignment. */
export interface RouteTable {
  /** etcd revision this table reflects. */
  readonly revision: number;
  readonly services: ReadonlyMap<string, ServiceView>;
  /** Sorted most specific first: `--route` flags merged with the rules in `routeKeys`. */
  readonly routes: readonly RouteRule[];
  readonly defaultService: string | undefined;
  /**
   * etcd entry key → backend, so an `entry-delete` (which carries only the key) finds its service.
   * Every valid entry, udp ones included: the consistency check diffs the registry against this.
   */
  readonly entries: ReadonlyMap<string, Backend>;
  /** etcd route key → rule, so a `route-put`/`route-delete` replaces or removes the rule of that key. */
  readonly routeKeys: ReadonlyMap<string, RouteRule>;
  /** Entries with `"protocol": "udp"`: in `entries`, never in a service view (HTTP is not sent to them). */
  readonly udpEntries: number;
  /** Routes declared by entries (their `routes`), by rule id (`host + pathPrefix`): see declared-routes.ts. */
  readonly declared: DeclaredState;
}

/** One entry's declaration of a route. */
export interface Declaration {
  readonly backend: Backend;
  readonly route: DeclaredRoute;
}

/**
 * A rule declared by more than one party: `route` — a `--route` flag or an etcd route key serves it;
 * `service` — several services declare it, the lexically first serves it; `instances` — instances of
 * the serving service declare different fields, the lexically first instance's apply.
 */
export interface RouteConflict {
  readonly host: string | undefined;
  readonly pathPrefix: string;
  readonly reason: 'route' | 'service' | 'instances';
  /** What serves the rule: `flag`, the etcd key, the service, or (instances) the backend id. */
  readonly winner: string;
  /** What declared it and is not served: services, or (instances) backend ids; sorted. */
  readonly losers: readonly string[];
}

export interface DeclaredState {
  /** Rule id → every entry declaring it, sorted by service, then backend id. */
  readonly declarations: ReadonlyMap<string, readonly Declaration[]>;
  /** Rule id → the declared rule that is served (part of `routes`). */
  readonly rules: ReadonlyMap<string, RouteRule>;
  /** Rule id → how a conflict over it was resolved. */
  readonly conflicts: ReadonlyMap<string, RouteConflict>;
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
