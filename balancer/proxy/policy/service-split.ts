// `services`: a weighted split of a route's traffic between services (canary releases), with
// nginx's smooth weighted round-robin: deterministic, interleaved, exact over each cycle
// ({web: 90, canary: 10} sends exactly 10 of every 100 new requests to canary, spread out).
//
// Sticky (`"sticky": true`): no second cookie. The sticky cookie (../sticky-cookie.ts, `lb_sticky`)
// holds an opaque signed token of the backend id `<service>/<instance>`; `StickyCookies.preferred`
// maps it back to that id, `serviceOfBackendId` takes the service from it, and `pick(service)` keeps
// the client there while the service has weight > 0. The split only ever sees a service name, so
// however the cookie is encoded or signed, this file does not change. Limit: once the pinned backend
// is gone its token maps to nothing, and the client gets a fresh pick (possibly another service).
import type { WeightedService } from '../../../common/route-policy.js';

/** The service part of a backend id (`web-canary/node1:c:80` → `web-canary`). */
export function serviceOfBackendId(id: string | undefined): string | undefined {
  if (id === undefined) return undefined;
  const slash = id.indexOf('/');
  return slash <= 0 ? undefined : id.slice(0, slash);
}

/** Per-route split state; one instance per compiled route, so each route has its own cycle. */
export class ServiceSplit {
  readonly names: readonly string[];
  private readonly weights: Int32Array;
  private readonly current: Float64Array;

  constructor(services: readonly WeightedService[]) {
    this.names = Object.freeze(services.map((s) => s.name));
    this.weights = Int32Array.from(services, (s) => s.weight);
    this.current = new Float64Array(services.length);
  }

  /** The bit of service `name` in an `unavailable` mask, or 0 if it is not in the split. */
  bit(name: string): number {
    const i = this.names.indexOf(name);
    return i < 0 ? 0 : 1 << i;
  }

  /**
   * The service for a request. `preferred` (a sticky client's service) wins when it is in the split
   * with weight > 0 and available; a weight set to 0 moves sticky clients too (a rollback must take
   * effect). `unavailable` is a bit mask (see `bit`) of services that have no backend right now:
   * they are skipped and keep their place in the cycle, as nginx does with failed peers. If every
   * service with weight is unavailable the mask is ignored (fail open: the proxy answers 503 then).
   */
  pick(preferred?: string, unavailable = 0): string {
    if (preferred !== undefined) {
      const i = this.names.indexOf(preferred);
      if (i >= 0 && this.weights[i]! > 0 && (unavailable & (1 << i)) === 0) return preferred;
    }
    const i = this.next(unavailable);
    return this.names[i < 0 ? this.next(0) : i]!;
  }

  private next(unavailable: number): number {
    const { weights, current } = this;
    let total = 0;
    let best = -1;
    for (let i = 0; i < weights.length; i++) {
      const w = weights[i]!;
      if (w === 0 || (unavailable & (1 << i)) !== 0) continue;
      current[i]! += w;
      total += w;
      if (best < 0 || current[i]! > current[best]!) best = i;
    }
    if (best >= 0) current[best]! -= total;
    return best;
  }
}
