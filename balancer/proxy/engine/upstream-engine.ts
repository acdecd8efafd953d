// The HTTP/1.1 upstream engine: per backend a BackendPool of keep-alive sockets, keyed by backend id
// and tied to the backend's target URL (a changed target retires the old pool). One interval timer
// for all pools (unref'd, stopped once no pool is left) closes idle sockets past `idleTimeoutMs` and
// fails bodies silent past `upstreamIdleTimeoutMs`: a sweep every min(timeouts) / 8 (≤ 1 s), so no
// per-request timer is armed.
//
// One attempt of the HTTP exchange:
//   const attempt = engine.pool(backend).request(method, path, headers, bodyOrUndefined, sink);
//   // sink: onInterim / onResponse / onData (false = pause) / onTrailers, then onEnd or onError
//   attempt.abort();   // the client left, or the caller's time-to-headers timer fired
//   attempt.resume();  // the client drained after onData returned false
// and on onError, retryDecision(...) (retry-decision.ts) says whether another backend may be tried.
import type { Backend } from '../../types.js';
import { BackendPool, type PoolStats, type PoolTarget } from './backend-pool.js';
import { type EngineOptions, type ResolvedEngineOptions, resolveEngineOptions } from './engine-options.js';
import type tls from 'node:tls';

export interface UpstreamEngineOptions extends EngineOptions {
  /** TLS options for https backends (e.g. `ca`); certificates are verified unless overridden here. */
  readonly tls?: tls.ConnectionOptions;
}

/** host, port and Host header of a backend URL (`http://10.0.0.1:8080`, `https://[::1]:8443`). */
export function poolTarget(url: string, tlsOptions: tls.ConnectionOptions | undefined): PoolTarget {
  const u = new URL(url);
  const secure = u.protocol === 'https:';
  if (!secure && u.protocol !== 'http:') throw new Error(`unsupported backend protocol ${u.protocol}`);
  const hostname = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
  const port = Number(u.port || (secure ? 443 : 80));
  return { hostname, port, authority: u.host, tls: secure ? { rejectUnauthorized: true, ...tlsOptions } : undefined };
}

export class UpstreamEngine {
  readonly options: ResolvedEngineOptions;
  private readonly pools = new Map<string, BackendPool>();
  /** Released pools whose busy sockets have not finished yet. */
  private readonly retiring = new Set<BackendPool>();
  private timer: NodeJS.Timeout | undefined;
  private readonly tlsOptions: tls.ConnectionOptions | undefined;

  constructor(opts: UpstreamEngineOptions = {}) {
    this.options = resolveEngineOptions(opts);
    this.tlsOptions = opts.tls;
    this.sweep = this.sweep.bind(this);
  }

  /** The backend's pool, made on first use; a backend whose target changed gets a new one. */
  pool(backend: Backend): BackendPool {
    const p = this.pools.get(backend.id);
    if (p !== undefined && p.url === backend.target) return p;
    if (p !== undefined) this.retire(p);
    const fresh = new BackendPool(
      backend.id,
      backend.target,
      poolTarget(backend.target, this.tlsOptions),
      this.options,
    );
    this.pools.set(backend.id, fresh);
    if (this.timer === undefined) {
      this.timer = setInterval(this.sweep, this.options.sweepMs);
      this.timer.unref();
    }
    return fresh;
  }

  /** The backend left the table: its idle sockets close now, busy ones when their exchange ends. */
  release(id: string): void {
    const p = this.pools.get(id);
    if (p === undefined) return;
    this.pools.delete(id);
    this.retire(p);
  }

  /** Releases every backend (busy sockets finish their exchange first). */
  close(): void {
    for (const id of [...this.pools.keys()]) this.release(id);
  }

  /** Destroys every socket now, busy or idle; their attempts fail. */
  destroy(): void {
    for (const p of this.pools.values()) p.destroy();
    for (const p of this.retiring) p.destroy();
    this.pools.clear();
  }

  stats(id: string): PoolStats | undefined {
    return this.pools.get(id)?.stats();
  }

  private retire(p: BackendPool): void {
    p.retire();
    if (!p.isEmpty) this.retiring.add(p);
  }

  private sweep(): void {
    for (const p of this.pools.values()) p.sweep();
    for (const p of this.retiring) {
      p.sweep();
      if (p.isEmpty) this.retiring.delete(p);
    }
    if (this.pools.size === 0 && this.retiring.size === 0 && this.timer !== undefined) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }
}
