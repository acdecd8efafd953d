// The contract between the proxy core and its two edges (HTTP exchanges, WebSocket tunnels). Types
// only: the edges depend on this file, never on proxy.ts, so the core can import the edges freely.
import type { Socket } from 'node:net';
import type httpProxy from 'http-proxy';
import type { Logger } from '../../common/logger.js';
import type { Backend, LbPolicy, Lookup, Picker, ServiceView } from '../types.js';
import type { ForwardedContext } from './forwarded.js';
import type { Inflight } from './inflight.js';
import type { PolicyCache } from './policy/compile-policy.js';
import type { RetryBudgets } from './retry-budget.js';
import type { StickyCookies } from './sticky-cookie.js';
import type { BackendPool } from './engine/backend-pool.js';
import type { UpstreamTarget } from './upstream-target.js';

/** Observability hooks (the metrics module subscribes). Service is '' when no route matched. */
export interface ProxyEvents {
  /** Every finished exchange, including ones we answered; 499 = client left before a response. */
  onResponse?(service: string, backendId: string | undefined, status: number, durationSeconds: number): void;
  onRetry?(service: string, failedBackendId: string): void;
  onEject?(service: string, backendId: string): void;
  onBudgetExhausted?(service: string): void;
  /** A backend was picked although unhealthy or ejected: every usable backend of the service was. */
  onFailOpen?(service: string): void;
  onWebSocketOpen?(service: string, backendId: string): void;
  onWebSocketClose?(service: string, backendId: string, durationSeconds: number): void;
}

/** What a picker factory is handed by the proxy (matches `createPicker`'s options). */
export interface PickerDeps {
  readonly isEjected: (id: string) => boolean;
  readonly inflight: (id: string) => number;
  readonly onFailOpen: (service: string) => void;
}

/** What both edges need from the proxy core. */
export interface EdgeContext {
  readonly engine: httpProxy;
  readonly lookup: Lookup;
  readonly picker: Picker;
  readonly defaultLb: LbPolicy;
  readonly events: ProxyEvents;
  readonly upstreamTimeoutMs: number;
  readonly sticky: StickyCookies;
  readonly policies: PolicyCache;
  /** The service's current view (a split route's other services). */
  view(service: string): ServiceView | undefined;
  /** Where `httpsRedirect` routes send plain-HTTP clients: the TLS listener's port (443 if none). */
  httpsPort(): number;
  /** Whether an address is inside --trusted-proxies. */
  isTrusted(address: string): boolean;
  forwarded(socket: Socket): ForwardedContext;
  targetFor(backend: Backend): UpstreamTarget;
  /** Ejects the backend (once per cooldown) and reports it. */
  backendFailed(backend: Backend, reason: string): void;
}

/** What an HTTP exchange needs beyond what the WebSocket edge uses. */
export interface ExchangeContext extends EdgeContext {
  readonly retries: number;
  readonly inflight: Inflight;
  readonly budgets: RetryBudgets;
  readonly log: Logger | undefined;
  /** Set once the proxy is closing: no new attempts. */
  readonly closed: boolean;
  /** The backend's keep-alive socket pool in the upstream engine. */
  pool(backend: Backend): BackendPool;
}
