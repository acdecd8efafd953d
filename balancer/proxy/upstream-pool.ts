// One keep-alive agent per backend id, so sockets are reused across requests to that backend and
// can be closed when it leaves the table. An agent is keyed by id but tied to the backend's URL:
// if the id's target changes, the old agent is retired and a new one is made.
import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import type { Backend } from '../types.js';

/** A backend address in the shape http-proxy takes; a fresh object per attempt (its identity matters). */
export interface UpstreamTarget {
  protocol: string;
  hostname: string;
  host: string;
  port: string;
}

/** The shape of `http.request` and `https.request` that the HTTP edge uses. */
export type RequestFn = (options: http.RequestOptions) => http.ClientRequest;

/** One backend's keep-alive agent, target (for http-proxy's `ws()`) and request function (node:http or node:https). */
export interface Upstream {
  readonly url: string;
  readonly target: UpstreamTarget;
  readonly agent: http.Agent;
  readonly request: RequestFn;
}

// What http-proxy 1.18.1 passed for an https target: verification on even if NODE_TLS_REJECT_UNAUTHORIZED=0.
const httpsRequest: RequestFn = (options) => https.request({ ...options, rejectUnauthorized: true });

export interface UpstreamPoolOptions {
  readonly maxSocketsPerBackend: number;
  /** Idle keep-alive sockets are closed after this; keep it below the backends' keep-alive (Node: 5 s). */
  readonly agentIdleTimeoutMs: number;
}

function retire(agent: http.Agent): void {
  // Idle sockets go now; sockets still serving a request close when the agent would pool them.
  agent.on('free', (socket: Socket) => socket.destroy());
  for (const list of Object.values(agent.freeSockets)) for (const s of list ?? []) s.destroy();
}

export class UpstreamPool {
  private readonly upstreams = new Map<string, Upstream>();
  private readonly agentOptions: http.AgentOptions;

  constructor(opts: UpstreamPoolOptions) {
    const maxSockets = opts.maxSocketsPerBackend;
    this.agentOptions = {
      keepAlive: true,
      keepAliveMsecs: 1_000,
      maxSockets,
      maxFreeSockets: maxSockets,
      timeout: opts.agentIdleTimeoutMs,
      scheduling: 'lifo',
    };
  }

  get(backend: Backend): Upstream {
    let up = this.upstreams.get(backend.id);
    if (up === undefined || up.url !== backend.target) {
      if (up !== undefined) retire(up.agent);
      const u = new URL(backend.target);
      const hostname = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
      const tls = u.protocol === 'https:';
      const port = u.port || (tls ? '443' : '80');
      up = {
        url: backend.target,
        target: { protocol: u.protocol, hostname, host: hostname, port },
        agent: tls ? new https.Agent(this.agentOptions) : new http.Agent(this.agentOptions),
        request: tls ? httpsRequest : http.request,
      };
      this.upstreams.set(backend.id, up);
    }
    return up;
  }

  /** The backend left the table: close its idle sockets now, busy ones when released. */
  release(id: string): void {
    const up = this.upstreams.get(id);
    if (up === undefined) return;
    this.upstreams.delete(id);
    retire(up.agent);
  }

  /** Destroys every socket, busy or idle. */
  close(): void {
    for (const up of this.upstreams.values()) up.agent.destroy();
    this.upstreams.clear();
  }
}
