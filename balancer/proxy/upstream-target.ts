// A backend URL in the shape http-proxy's `ws()` takes as its target (WebSocket upgrades).
import type { Backend } from '../types.js';

export interface UpstreamTarget {
  protocol: string;
  hostname: string;
  host: string;
  port: string;
}

/** A fresh object per call: http-proxy may keep and mutate what it is given. */
export function upstreamTarget(backend: Backend): UpstreamTarget {
  const u = new URL(backend.target);
  const hostname = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
  const port = u.port || (u.protocol === 'https:' ? '443' : '80');
  return { protocol: u.protocol, hostname, host: hostname, port };
}
