// The route-table model of a test backend listening on 127.0.0.1: what a stub lookup hands the proxy
// edge in the integration tests, without going through etcd or the route table.
import type { Backend } from '../../balancer/types.js';

/** Backend `<service>/<name>` at 127.0.0.1:`port`, weight 1, no tags, not draining. */
export function backendFor(name: string, port: number, service = 'web'): Backend {
  return {
    id: `${service}/${name}`,
    service,
    instance: name,
    entry: { host: '127.0.0.1', port, weight: 1, tags: [], draining: false },
    target: `http://127.0.0.1:${port}`,
    health: { unhealthy: false },
  };
}
